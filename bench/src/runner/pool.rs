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

/// Expected events per second one reader thread is given before another is started.
pub const EVENTS_PER_READER: f64 = 25_000.0;

/// Clients one reader thread is given before another is started (a connect storm of
/// thousands is paced by the threads that make the connects).
pub const CLIENTS_PER_READER: usize = 5_000;

/// How far the generator's allocator extends an arena when it grows (glibc's `M_TOP_PAD`,
/// 128 KiB by default).
pub const ARENA_GROWTH: usize = 16 << 20;

/// Makes the generator's allocator grow its arenas [`ARENA_GROWTH`] at a time. Call it in
/// the generator's process only, never in a server being measured.
///
/// Each reader thread allocates from its own glibc arena, and an arena grows by one
/// `mprotect` call at a time. Without this, a reader thread made 478 `mprotect` calls
/// while opening the 200 connections of `watcher-scale`, one in six of its system calls.
/// With this step it made 2, while the server's two workers still made 211 and 275
/// (`perf trace -s -- sse-load --scenario watcher-scale`). The step is address space
/// only: a page still becomes resident when it is first written. On other C libraries
/// this does nothing.
pub fn grow_arenas_in_large_steps() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt(3) sets one tuning parameter of glibc's allocator; it takes no
    // pointers and the value is in range.
    unsafe {
        libc::mallopt(libc::M_TOP_PAD, ARENA_GROWTH as libc::c_int);
    }
}

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
    /// Reader threads for `clients` clients that each expect `rate` events per second
    /// (`None`: as fast as the server sends): one per [`EVENTS_PER_READER`] expected
    /// events per second or per [`CLIENTS_PER_READER`] clients, whichever asks for more;
    /// one per core this process may use when the rate is open; never more than cores
    /// or clients, never fewer than one.
    ///
    /// A reader thread that sleeps between events pays a wake-up for each batch it
    /// reads, and two half-idle threads pay about twice the wake-ups of one busy thread:
    /// on the paced smoke scenarios one thread cut the generator's CPU per event by 5 to
    /// 20% against two (`--reader-threads 2`). The server's figures moved within their
    /// run-to-run spread, watcher-scale's (200 clients at one event a second) the most.
    pub fn threads_for(clients: usize, rate: Option<f64>) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        let wanted = match rate {
            Some(rate) => {
                let by_events = (clients as f64 * rate.max(0.0) / EVENTS_PER_READER).ceil();
                // Saturating float-to-int cast: a huge product asks for every core.
                (by_events as usize).max(clients.div_ceil(CLIENTS_PER_READER))
            }
            None => cores,
        };
        wanted.min(cores).min(clients).max(1)
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
    fn threads_follow_the_expected_load_within_clients_and_cores() {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        assert_eq!(ReaderPool::threads_for(1, None), 1);
        assert_eq!(ReaderPool::threads_for(0, None), 1);
        assert_eq!(ReaderPool::threads_for(10_000, None), cores);
        // Paced: 100 clients at 100 events/s is 10,000 events/s, one thread.
        assert_eq!(ReaderPool::threads_for(100, Some(100.0)), 1);
        assert_eq!(ReaderPool::threads_for(200, Some(1.0)), 1);
        // 10,000 clients at 100 events/s, or 20,000 at 1: more than one thread can.
        assert_eq!(ReaderPool::threads_for(10_000, Some(100.0)), cores.min(40));
        assert_eq!(ReaderPool::threads_for(20_000, Some(1.0)), cores.min(4));
        assert_eq!(ReaderPool::threads_for(3, Some(f64::INFINITY)), cores.min(3));
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
