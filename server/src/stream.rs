//! The body of one SSE response: frames from a source, keep-alive pings, and the end at shutdown.
//!
//! # Hot path
//! [`SseStream::poll_next`] runs once per event per client. It allocates nothing: a
//! frame is a shared `Bytes` handed on (a reference-count bump), the ping timer is
//! boxed once per stream and never touched per frame (a frame sets one flag), frames are
//! counted in the stream and added to the shared `events_delivered` once per wake-up
//! (when the stream goes to sleep or ends, or every [`REPORT_EVERY`] frames), not with
//! one shared atomic add per frame, and shutdown is one atomic load per event. When the stream has
//! nothing to send, the ping timer and the shutdown future (whose token takes a mutex)
//! are polled only if the waker changed since they were last polled or the timer has
//! fired: otherwise both already hold this very waker, so going to sleep costs a pointer
//! comparison and an atomic load. What is off costs one
//! predictable branch per event and no memory: the test-only knobs (`--test-frame-delay`,
//! `--test-frame-cost`) live in one `Option<Box<_>>` made at setup, `--test-drop-event`
//! picks another frame source at setup ([`crate::source::Dropping`]), and the HTTP/2
//! watchdog's stall flag is an `Option` that is `None` under HTTP/1 (under HTTP/2 it is
//! one relaxed store). When a client is behind, frames are ready back to back and
//! hyper gathers them into one vectored write (up to 16 frames per `writev`), so a
//! backlog goes out in a few system calls instead of one per event.
//!
//! # Keep-alive
//! The ping timer fires every interval and is not re-armed per frame: when it fires, the
//! stream sends `: ping` only if it sent nothing since the timer last fired. An idle
//! stream therefore gets a ping every interval, and a client never waits more than two
//! intervals after the last frame (less than two: a frame just after the timer fired,
//! then silence) for the next ping, plus the time the task takes to be scheduled.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};

use crate::frame::PING;
use crate::metrics::{Counters, bump};
use crate::watchdog::{Stall, current_stall};
use crate::watcher::Registration;

/// The headers of every SSE response, in the order they are sent (hyper adds the
/// transfer coding and the date after them; so does a lean stream, [`crate::head`]).
pub const SSE_HEADERS: [(&str, &str); 3] = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-store"),
    ("x-accel-buffering", "no"),
];

/// Where the frames of a stream come from (the hub, or a per-connection generator).
pub trait FrameSource: Unpin + Send + 'static {
    /// The next frame; `Ready(None)` ends the stream.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>>;

    /// At shutdown: the next frame that is already due, or `Ready(None)` when there is
    /// none. Events published before the shutdown are thereby delivered before the end;
    /// by default (endless generators) the stream ends at once.
    fn poll_drain(&mut self, _cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        Poll::Ready(None)
    }
}

/// Frames a busy stream hands over before adding them to `events_delivered`; the shared
/// counter is exact whenever the stream sleeps or has ended.
pub const REPORT_EVERY: u32 = 64;

/// Per-stream settings.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Interval of keep-alive comments; `None` disables them.
    pub ping_interval: Option<Duration>,
    /// Test-only pacing: wait this long after each frame (zero: off). Lets tests show a
    /// regression gate firing against a really slower server.
    pub frame_delay: Duration,
    /// Test-only cost: busy-spin this long on each frame (zero: off), a server that spends
    /// more CPU per event.
    pub frame_cost: Duration,
    /// Test-only loss: the hub event id never delivered (`None`: off). Read by the
    /// `/events` route, which then picks [`crate::source::Dropping`] as the source.
    pub drop_event: Option<u64>,
}

/// One client's response body.
pub struct SseStream<S> {
    source: S,
    registration: Registration,
    counters: Arc<Counters>,
    ping_interval: Option<Duration>,
    /// Fires every `ping_interval` (see `# Keep-alive` in the module docs).
    ping: Pin<Box<Sleep>>,
    /// A frame went out since the ping timer last fired.
    sent: bool,
    /// Frames handed over and not yet added to `counters.events_delivered`.
    unreported: u32,
    /// The waker the ping timer and the shutdown future were last polled with, both
    /// still pending (`None`: not yet, or they must be polled again).
    armed_for: Option<Waker>,
    /// The test-only pacing and cost, `None` (the only case outside tests) when both are off.
    knobs: Option<Box<TestKnobs>>,
    /// Under HTTP/2: the flag the stream watchdog reads (see [`crate::watchdog`]).
    stall: Option<Arc<Stall>>,
    done: bool,
}

impl<S: FrameSource> SseStream<S> {
    /// A stream of `source`'s frames that ends when the source ends or at shutdown.
    pub fn new(
        source: S,
        registration: Registration,
        counters: Arc<Counters>,
        options: StreamOptions,
    ) -> Self {
        let first_ping = options.ping_interval.unwrap_or(Duration::from_secs(86_400 * 365));
        Self {
            source,
            registration,
            counters,
            ping_interval: options.ping_interval,
            ping: Box::pin(tokio::time::sleep(first_ping)),
            sent: false,
            unreported: 0,
            armed_for: None,
            knobs: TestKnobs::new(&options),
            stall: current_stall(),
            done: false,
        }
    }
}

impl<S: FrameSource> Stream for SseStream<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let poll = self.poll_body(cx);
        if let Some(stall) = &self.stall {
            stall.set(matches!(poll, Poll::Ready(Some(_))));
        }
        poll
    }
}

impl<S: FrameSource> SseStream<S> {
    /// The next frame, ping or end.
    fn poll_body(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        let this = self;
        if this.done {
            return Poll::Ready(None);
        }
        // Per event: one atomic load. The shutdown future (whose token takes a mutex) is
        // polled only before going to sleep, in `wait`.
        if this.registration.is_shutting_down() {
            return this.end(cx);
        }
        if let Some(knobs) = this.knobs.as_deref_mut() {
            if knobs.paced(cx) {
                return this.wait(cx);
            }
        }
        match this.source.poll_frame(cx) {
            Poll::Ready(Some(frame)) => {
                this.delivered();
                this.sent = true;
                if let Some(knobs) = this.knobs.as_deref_mut() {
                    knobs.delivered();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(None) => {
                this.report();
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        this.idle(cx)
    }

    /// Nothing to send: a ping if one is due, else sleeps until a frame, the ping timer
    /// or shutdown wakes the stream.
    ///
    /// The ping timer and the shutdown future are polled only when they do not already hold
    /// this waker, or the timer has fired; a shutdown that began since is seen by the
    /// atomic load of the next poll (the flag is set before the token wakes anyone).
    fn idle(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        self.report();
        let armed = self
            .armed_for
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()));
        if armed && !self.ping.is_elapsed() {
            return Poll::Pending;
        }
        if self.ping_due(cx) {
            bump(&self.counters.pings_sent);
            return Poll::Ready(Some(Ok(PING)));
        }
        if self.registration.shutdown.as_mut().poll(cx).is_ready() {
            return self.end(cx);
        }
        if !armed {
            self.armed_for = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether a ping is due: the timer has fired and nothing was sent in the interval
    /// before. A fired timer is re-armed one interval ahead and polled again, so that it
    /// holds this waker.
    fn ping_due(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(interval) = self.ping_interval else {
            return false;
        };
        if self.ping.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.ping.as_mut().reset(Instant::now() + interval);
        if self.ping.as_mut().poll(cx).is_ready() {
            // An interval shorter than the timer's resolution: come back at once.
            cx.waker().wake_by_ref();
        }
        !std::mem::take(&mut self.sent)
    }

    /// Paced by the test-only knobs: registers for the shutdown wake-up, then waits.
    #[cold]
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        // The shutdown future may now hold another waker than `armed_for`.
        self.armed_for = None;
        self.report();
        if self.registration.shutdown.as_mut().poll(cx).is_ready() {
            return self.end(cx);
        }
        Poll::Pending
    }

    /// At shutdown: what is already queued, then the end. Ending the body makes hyper write
    /// the final chunk: a clean end, not a reset.
    fn end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        if let Poll::Ready(Some(frame)) = self.source.poll_drain(cx) {
            self.delivered();
            return Poll::Ready(Some(Ok(frame)));
        }
        self.report();
        self.done = true;
        Poll::Ready(None)
    }
}

impl<S> SseStream<S> {
    /// Counts one frame handed over.
    fn delivered(&mut self) {
        self.unreported += 1;
        if self.unreported == REPORT_EVERY {
            self.report();
        }
    }

    /// Adds the frames not yet counted to `events_delivered`.
    fn report(&mut self) {
        if self.unreported > 0 {
            let frames = std::mem::take(&mut self.unreported);
            self.counters
                .events_delivered
                .fetch_add(u64::from(frames), Ordering::Relaxed);
        }
    }
}

impl<S> Drop for SseStream<S> {
    fn drop(&mut self) {
        // A stream dropped mid-backlog (its client went away) still counts what it handed over.
        self.report();
    }
}

/// The test-only knobs of one stream: a pause and a CPU cost after every frame.
struct TestKnobs {
    delay: Duration,
    cost: Duration,
    /// Armed after each frame when `delay` is not zero.
    pacing: Option<Pin<Box<Sleep>>>,
}

impl TestKnobs {
    /// The knobs of `options`, or `None` when both are off.
    fn new(options: &StreamOptions) -> Option<Box<Self>> {
        if options.frame_delay.is_zero() && options.frame_cost.is_zero() {
            return None;
        }
        Some(Box::new(Self {
            delay: options.frame_delay,
            cost: options.frame_cost,
            pacing: (!options.frame_delay.is_zero()).then(|| Box::pin(tokio::time::sleep(Duration::ZERO))),
        }))
    }

    /// Whether the pause after the last frame is still running (then `cx` is woken at its end).
    #[cold]
    fn paced(&mut self, cx: &mut Context<'_>) -> bool {
        self.pacing
            .as_mut()
            .is_some_and(|pacing| pacing.as_mut().poll(cx).is_pending())
    }

    /// After a frame: starts the pause, burns the cost.
    #[cold]
    fn delivered(&mut self) {
        if let Some(pacing) = self.pacing.as_mut() {
            pacing.as_mut().reset(Instant::now() + self.delay);
        }
        if !self.cost.is_zero() {
            spin(self.cost);
        }
    }
}

/// Burns CPU for `cost` (the test-only frame cost).
fn spin(cost: Duration) {
    let until = std::time::Instant::now() + cost;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::Hub;
    use crate::source::HubSource;
    use crate::watcher::Watcher;
    use futures_util::{FutureExt, StreamExt};

    const INTERVAL: Duration = Duration::from_secs(10);

    fn stream(hub: &Hub, watcher: &Watcher) -> SseStream<HubSource> {
        stream_counted(hub, watcher, Arc::new(Counters::default()))
    }

    fn stream_counted(hub: &Hub, watcher: &Watcher, counters: Arc<Counters>) -> SseStream<HubSource> {
        let options = StreamOptions {
            ping_interval: Some(INTERVAL),
            frame_delay: Duration::ZERO,
            frame_cost: Duration::ZERO,
            drop_event: None,
        };
        let source = HubSource::new(hub.subscribe(None), Arc::clone(&counters));
        SseStream::new(source, watcher.register(), counters, options)
    }

    async fn next(stream: &mut SseStream<HubSource>) -> Option<Bytes> {
        let item = tokio::time::timeout(3 * INTERVAL, stream.next()).await;
        item.expect("a frame, a ping or the end within 3 intervals")
            .map(|frame| frame.unwrap_or_else(|never| match never {}))
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_stream_pings_every_interval() {
        let (hub, watcher) = (Hub::new(4), Watcher::new());
        let mut stream = stream(&hub, &watcher);
        let start = Instant::now();
        for n in 1..=3 {
            assert_eq!(next(&mut stream).await, Some(PING));
            assert_eq!(start.elapsed(), n * INTERVAL);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_frame_defers_the_ping_by_at_most_one_interval() {
        let (hub, watcher) = (Hub::new(4), Watcher::new());
        let mut stream = stream(&hub, &watcher);
        let start = Instant::now();
        assert!(stream.next().now_or_never().is_none(), "nothing to send yet");
        tokio::time::advance(Duration::from_secs(1)).await;
        hub.publish(None, b"e").unwrap();
        assert_eq!(
            next(&mut stream).await.as_deref(),
            Some(&b"id: 1\ndata: e\n\n"[..])
        );
        // The timer fires at 10 s, sees the frame and stays silent; the ping comes at 20 s,
        // 19 s after the frame: less than two intervals of silence.
        assert_eq!(next(&mut stream).await, Some(PING));
        assert_eq!(start.elapsed(), 2 * INTERVAL);
        assert_eq!(next(&mut stream).await, Some(PING));
        assert_eq!(start.elapsed(), 3 * INTERVAL);
    }

    #[tokio::test(start_paused = true)]
    async fn delivered_frames_are_counted_once_per_wake_up() {
        let (hub, watcher) = (Hub::new(256), Watcher::new());
        let counters = Arc::new(Counters::default());
        let mut stream = stream_counted(&hub, &watcher, Arc::clone(&counters));
        let delivered = || counters.events_delivered.load(Ordering::Relaxed);
        for _ in 0..100 {
            hub.publish(None, b"e").unwrap();
        }
        for _ in 0..100 {
            assert!(next(&mut stream).await.is_some_and(|frame| frame != PING));
        }
        assert_eq!(
            delivered(),
            u64::from(REPORT_EVERY),
            "a busy stream reports in batches"
        );
        assert!(stream.next().now_or_never().is_none(), "asleep");
        assert_eq!(delivered(), 100, "exact once asleep");
        hub.publish(None, b"e").unwrap();
        assert!(next(&mut stream).await.is_some());
        drop(stream);
        assert_eq!(delivered(), 101, "a dropped stream reports what it handed over");
    }

    #[tokio::test(start_paused = true)]
    async fn a_sleeping_stream_is_woken_at_shutdown() {
        let (hub, watcher) = (Hub::new(4), Watcher::new());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        watcher.start(async move {
            let _ = stopped.await;
        });
        let mut stream = stream(&hub, &watcher);
        let (got, mut frames) = tokio::sync::mpsc::unbounded_channel();
        let reader = tokio::spawn(async move {
            while let Some(frame) = next(&mut stream).await {
                got.send(frame).unwrap();
            }
        });
        // The reader sleeps (armed with its waker), is woken by the event and sleeps
        // again with the same waker: the shutdown future is not polled that time.
        hub.publish(None, b"e").unwrap();
        let frame = tokio::time::timeout(INTERVAL, frames.recv()).await.unwrap();
        assert_eq!(frame.as_deref(), Some(&b"id: 1\ndata: e\n\n"[..]));
        tokio::task::yield_now().await;
        stop.send(()).unwrap();
        tokio::time::timeout(INTERVAL / 2, reader)
            .await
            .expect("the stream ended at shutdown, before any ping")
            .unwrap();
        assert!(frames.recv().await.is_none());
    }
}
