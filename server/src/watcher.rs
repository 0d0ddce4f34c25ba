//! The one shutdown watcher of the process: every stream registers with it, one task ends them all.
//!
//! sse-starlette once started a watcher per connection and leaked them until the CPU
//! was exhausted (its issue #152). Here exactly one task awaits the shutdown signal and
//! cancels one [`CancellationToken`]; streams hold a [`Registration`] (a counter
//! guard) and a clone of the token's future, so the per-stream cost is one counter
//! increment and one small allocation at connect time.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// The process-wide shutdown watcher. Cheap to clone: clones share one watcher.
#[derive(Debug, Clone, Default)]
pub struct Watcher {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    shutdown: CancellationToken,
    started: AtomicBool,
    tasks_started: AtomicU64,
    registered: AtomicU64,
    /// Set just before `shutdown` is cancelled: a relaxed-cost check for the per-event
    /// path, where polling the token (which takes its internal mutex) would be too dear.
    shutting_down: AtomicBool,
}

/// A stream's membership in the watcher; dropping it deregisters the stream.
#[derive(Debug)]
pub struct Registration {
    inner: Arc<Inner>,
    /// Completes when the server shuts down.
    pub shutdown: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Watcher {
    /// A watcher whose task has not started yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the single watcher task, which ends every registered stream once `signal`
    /// completes. Calling it again does nothing: there is only ever one watcher task.
    pub fn start<F>(&self, signal: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.inner.started.swap(true, Ordering::AcqRel) {
            return;
        }
        self.inner.tasks_started.fetch_add(1, Ordering::Relaxed);
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            signal.await;
            tracing::info!(
                streams = inner.registered.load(Ordering::Relaxed),
                "shutdown: ending every stream"
            );
            inner.shutting_down.store(true, Ordering::Release);
            inner.shutdown.cancel();
        });
    }

    /// Registers a stream; the returned guard deregisters it when dropped.
    pub fn register(&self) -> Registration {
        self.inner.registered.fetch_add(1, Ordering::Relaxed);
        Registration {
            inner: Arc::clone(&self.inner),
            shutdown: Box::pin(self.inner.shutdown.clone().cancelled_owned()),
        }
    }

    /// The token cancelled at shutdown (the HTTP server drains on it too).
    pub fn token(&self) -> CancellationToken {
        self.inner.shutdown.clone()
    }

    /// Whether the watcher task has been started.
    pub fn started(&self) -> bool {
        self.inner.started.load(Ordering::Acquire)
    }

    /// How many watcher tasks were ever started: 1 once the server runs, never more.
    pub fn tasks_started(&self) -> u64 {
        self.inner.tasks_started.load(Ordering::Relaxed)
    }

    /// Streams registered right now.
    pub fn registered(&self) -> u64 {
        self.inner.registered.load(Ordering::Relaxed)
    }
}

impl Registration {
    /// Whether shutdown has begun: one atomic load, for checks on every event. Poll
    /// [`Registration::shutdown`] before going to sleep, to be woken at shutdown.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::Acquire)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.inner.registered.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_task_ends_every_registration() {
        let watcher = Watcher::new();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        watcher.start(async move {
            let _ = rx.await;
        });
        watcher.start(async {});
        assert_eq!(watcher.tasks_started(), 1);
        let regs: Vec<_> = (0..3).map(|_| watcher.register()).collect();
        assert_eq!(watcher.registered(), 3);
        assert!(!regs[0].is_shutting_down());
        tx.send(()).unwrap();
        for mut reg in regs {
            tokio::time::timeout(std::time::Duration::from_secs(5), &mut reg.shutdown)
                .await
                .expect("stream ended by the watcher");
            assert!(
                reg.is_shutting_down(),
                "the flag is set before the token is cancelled"
            );
        }
        assert_eq!(watcher.registered(), 0);
    }
}
