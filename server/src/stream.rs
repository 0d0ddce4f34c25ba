//! The body of one SSE response: frames from a source, keep-alive pings, and the end at shutdown.
//!
//! # Hot path
//! [`SseStream::poll_next`] runs once per event per client. It allocates nothing: a
//! frame is a shared `Bytes` handed on (a reference-count bump), the ping timer is
//! boxed once per stream and then only reset, counters are relaxed atomics, and
//! shutdown is one atomic load per event (no lock: the shutdown token, whose state sits
//! behind a mutex, is polled only before the stream sleeps). What is off costs one
//! predictable branch per event and no memory: the test-only knobs (`--test-frame-delay`,
//! `--test-frame-cost`) live in one `Option<Box<_>>` made at setup, `--test-drop-event`
//! picks another frame source at setup ([`crate::source::Dropping`]), and the HTTP/2
//! watchdog's stall flag is an `Option` that is `None` under HTTP/1 (under HTTP/2 it is
//! one relaxed store). When a client is behind, frames are ready back to back and
//! hyper gathers them into one vectored write (up to 16 frames per `writev`), so a
//! backlog goes out in a few system calls instead of one per event.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
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
    ping: Pin<Box<Sleep>>,
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
            knobs: TestKnobs::new(&options),
            stall: current_stall(),
            done: false,
        }
    }

    fn reset_ping(&mut self) {
        if let Some(interval) = self.ping_interval {
            self.ping.as_mut().reset(Instant::now() + interval);
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
                bump(&this.counters.events_delivered);
                this.reset_ping();
                if let Some(knobs) = this.knobs.as_deref_mut() {
                    knobs.delivered();
                }
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(None) => {
                this.done = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        if this.ping_interval.is_some() && this.ping.as_mut().poll(cx).is_ready() {
            bump(&this.counters.pings_sent);
            this.reset_ping();
            return Poll::Ready(Some(Ok(PING)));
        }
        this.wait(cx)
    }

    /// Nothing to send: registers for the shutdown wake-up, then waits.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        if self.registration.shutdown.as_mut().poll(cx).is_ready() {
            return self.end(cx);
        }
        Poll::Pending
    }

    /// At shutdown: what is already queued, then the end. Ending the body makes hyper write
    /// the final chunk: a clean end, not a reset.
    fn end(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Infallible>>> {
        if let Poll::Ready(Some(frame)) = self.source.poll_drain(cx) {
            bump(&self.counters.events_delivered);
            return Poll::Ready(Some(Ok(frame)));
        }
        self.done = true;
        Poll::Ready(None)
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
