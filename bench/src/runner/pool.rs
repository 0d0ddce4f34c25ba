//! Reader threads: one single-threaded runtime per core the generator may use, the clients partitioned among them.
//!
//! On a multi-thread runtime every socket wake-up may land on another worker than the
//! one that polls the client, and an idle worker is woken through a futex to steal work:
//! with thousands of short reads per second that traffic cost the generator about a
//! fifth of its CPU (task switches and futex wake-ups in a profile of `calibrate`).
//! Here each thread runs its own current-thread runtime with its own I/O driver and
//! timers; client `i` lives on thread `i % threads` for the whole run, so its reads never
//! cross threads and a thread sleeps only in `epoll_wait` when none of its clients has
//! data. The server under test is another process and is not affected.
//!
//! The runner keeps the usual multi-thread runtime for everything else (publisher,
//! sampler, `/metrics` polls, mid-run actions); clients are spawned onto the pool from
//! there through a [`Handle`], and their `JoinHandle`s work across runtimes.

use std::num::NonZeroUsize;
use std::thread::JoinHandle;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;

/// One reader thread: its runtime's handle and what stops it.
#[derive(Debug)]
struct Worker {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Reader threads for one run; dropping the pool stops them (tasks still on them are
/// dropped) and waits for them to exit.
#[derive(Debug)]
pub struct ReaderPool {
    workers: Vec<Worker>,
}

impl ReaderPool {
    /// Reader threads for `clients` clients: one per core this process may use, never
    /// more than there are clients.
    pub fn threads_for(clients: usize) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        cores.min(clients).max(1)
    }

    /// Starts `threads` reader threads (at least one).
    ///
    /// # Errors
    /// A runtime or a thread could not be created (out of memory or threads).
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let mut workers = Vec::with_capacity(threads.max(1));
        for n in 0..threads.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let handle = runtime.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            let thread = std::thread::Builder::new()
                .name(format!("sse-load-reader-{n}"))
                .spawn(move || {
                    // Drives every task spawned on `handle` until the pool stops; the
                    // runtime (and any task still on it) is dropped on this thread.
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            workers.push(Worker {
                handle,
                stop: Some(stop),
                thread: Some(thread),
            });
        }
        Ok(Self { workers })
    }

    /// Number of reader threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// The runtime client `index` runs on.
    pub fn handle(&self, index: usize) -> &Handle {
        &self.workers[index % self.workers.len()].handle
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            if let Some(stop) = worker.stop.take() {
                let _ = stop.send(());
            }
        }
        for worker in &mut self.workers {
            if let Some(thread) = worker.thread.take() {
                // A reader thread only panics if a client task did and the runtime
                // re-raised it; the run's figures are already collected by then.
                let _ = thread.join();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn threads_never_exceed_clients_or_cores() {
        assert_eq!(ReaderPool::threads_for(1), 1);
        assert_eq!(ReaderPool::threads_for(0), 1);
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(ReaderPool::threads_for(10_000), cores);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clients_run_on_their_own_thread_and_join_across_runtimes() {
        let pool = ReaderPool::start(2).unwrap();
        assert_eq!(pool.threads(), 2);
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..6 {
            tasks.spawn_on(
                async move {
                    // Timers and the current thread come from the pool's runtime.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    (index, std::thread::current().name().map(str::to_owned))
                },
                pool.handle(index),
            );
        }
        let mut seen = Vec::new();
        while let Some(joined) = tokio::time::timeout(Duration::from_secs(10), tasks.join_next())
            .await
            .expect("clients finish")
        {
            seen.push(joined.unwrap());
        }
        seen.sort();
        assert_eq!(seen.len(), 6);
        for (index, name) in seen {
            assert_eq!(
                name.as_deref(),
                Some(format!("sse-load-reader-{}", index % 2).as_str())
            );
        }
        drop(pool);
    }

    #[tokio::test]
    async fn dropping_the_pool_drops_unfinished_tasks() {
        let pool = ReaderPool::start(1).unwrap();
        let forever = pool.handle(0).spawn(std::future::pending::<()>());
        drop(pool);
        let joined = tokio::time::timeout(Duration::from_secs(10), forever)
            .await
            .expect("the task ends with its runtime");
        assert!(joined.unwrap_err().is_cancelled());
    }
}
