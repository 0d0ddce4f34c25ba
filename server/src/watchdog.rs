//! The HTTP/2 stream watchdog: a stream whose client withholds its flow-control window is reset after `--send-timeout`.
//!
//! ## Frozen streams
//! Over HTTP/2 many streams share one socket. A client can stop taking one stream (it
//! never sends that stream a WINDOW_UPDATE) while the connection and every other
//! stream stay healthy, so no socket write ever stalls and the socket-level send timeout
//! ([`crate::listener::ClientIo`]) never fires. hyper then simply stops polling that
//! stream's body, and nothing inside the body could notice either.
//!
//! hyper runs every HTTP/2 stream as a task it hands to the connection's executor.
//! [`StreamExecutor`] spawns each such task inside a [`Watchdog`], which shares one
//! [`Stall`] flag with the stream's SSE body (the body finds it through a thread-local
//! set only while the watchdog polls its task, which is when the handler builds the
//! body). The body raises the flag whenever it hands hyper a frame and lowers it when
//! it is polled again; a task that yields while the flag is up is waiting for window
//! (or, equally bad, for send-buffer space). When that lasts `--send-timeout`, the
//! watchdog drops the task: h2 sends `RST_STREAM(CANCEL)` and frees the frames
//! buffered for the stream, and the stream counts in `clients_evicted`. The other
//! streams of the connection never notice.
//!
//! # Hot path
//! Per event the body does one relaxed atomic store; the watchdog reads the clock and
//! resets its timer only when a stall begins, and its timer is allocated on the first
//! stall of a stream, never per event.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::metrics::{Counters, bump};

/// Whether a stream's body handed out a frame and has not been polled since.
#[derive(Debug, Default)]
pub struct Stall(AtomicBool);

impl Stall {
    /// Records the outcome of one poll of the body: `true` when it returned a frame.
    pub fn set(&self, handed_a_frame: bool) {
        self.0.store(handed_a_frame, Ordering::Relaxed);
    }

    fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

thread_local! {
    /// The stall flag of the stream task being polled on this thread, if any.
    static CURRENT: RefCell<Option<Arc<Stall>>> = const { RefCell::new(None) };
}

/// The stall flag of the HTTP/2 stream whose task is running now (`None` under HTTP/1).
pub fn current_stall() -> Option<Arc<Stall>> {
    CURRENT.with(|current| current.borrow().clone())
}

/// The executor hyper spawns HTTP/2 stream tasks on: each runs inside a [`Watchdog`].
#[derive(Debug, Clone)]
pub struct StreamExecutor {
    send_timeout: Duration,
    counters: Arc<Counters>,
}

impl StreamExecutor {
    /// Stream tasks are reset after `send_timeout` without window.
    pub fn new(send_timeout: Duration, counters: Arc<Counters>) -> Self {
        Self {
            send_timeout,
            counters,
        }
    }
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, task: F) {
        tokio::spawn(Watchdog {
            task: Box::pin(task),
            stall: Some(Arc::new(Stall::default())),
            send_timeout: self.send_timeout,
            timer: None,
            stalled: false,
            counters: Arc::clone(&self.counters),
        });
    }
}

/// One HTTP/2 stream task under watch.
pub struct Watchdog<F> {
    task: Pin<Box<F>>,
    /// Moved into [`CURRENT`] while the task is polled, then taken back.
    stall: Option<Arc<Stall>>,
    send_timeout: Duration,
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether the timer is armed for the current stall.
    stalled: bool,
    counters: Arc<Counters>,
}

impl<F: Future<Output = ()>> Future for Watchdog<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let stall = this.stall.take();
        let previous = CURRENT.with(|current| current.replace(stall));
        let poll = this.task.as_mut().poll(cx);
        this.stall = CURRENT.with(|current| current.replace(previous));
        if poll.is_ready() {
            return Poll::Ready(());
        }
        if !this.stall.as_ref().is_some_and(|stall| stall.is_set()) {
            this.stalled = false;
            return Poll::Pending;
        }
        if !this.stalled {
            this.stalled = true;
            let deadline = Instant::now() + this.send_timeout;
            match this.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(deadline),
                None => this.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        if this
            .timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
        {
            bump(&this.counters.clients_evicted);
            tracing::debug!("HTTP/2 stream evicted: no window for send_timeout");
            // Dropping the task drops its h2 stream: RST_STREAM(CANCEL), buffers freed.
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that stands for a stream body: it raises the stall flag and never ends.
    struct StuckBody;

    impl Future for StuckBody {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
            current_stall()
                .expect("a stall flag inside a watched task")
                .set(true);
            Poll::Pending
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_stream_is_dropped_after_the_send_timeout() {
        let counters = Arc::new(Counters::default());
        let executor = StreamExecutor::new(Duration::from_secs(2), Arc::clone(&counters));
        let started = Instant::now();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        hyper::rt::Executor::execute(&executor, async move {
            let _done = done_tx;
            StuckBody.await;
        });
        // The task (and the sender inside it) is dropped when the watchdog gives up.
        let _ = done_rx.await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(counters.clients_evicted.load(Ordering::Relaxed), 1);
        assert!(
            current_stall().is_none(),
            "the flag is only visible inside the task"
        );
    }
}
