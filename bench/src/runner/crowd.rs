//! The reading clients of a run, started and collected one group per reader thread.
//!
//! Spawning a task onto another thread's runtime wakes that thread, and a task finishing
//! wakes whoever awaits its handle. On this 2-core VM each such wake of a sleeping
//! thread costs tens of microseconds, as much as a loopback connect: one task per client
//! spawned from the runner's runtime paid it twice per client. Here the runner spawns one
//! task per reader thread; that task spawns the thread's clients on its own runtime and
//! collects their summaries there, so a run pays one cross-thread wake per thread.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::JoinSet;

use super::context::RunContext;
use super::pool::ReaderPool;
use super::reader;
use crate::measure::stats::ClientSummary;

/// The clients of a run, in one group per reader thread.
#[derive(Debug)]
pub(super) struct Crowd {
    /// One task per reader thread; each ends once all its clients have.
    groups: JoinSet<()>,
    /// Summaries of the clients that finished, whichever thread ran them.
    summaries: Arc<Mutex<Vec<ClientSummary>>>,
}

impl Crowd {
    /// Starts client `i` (of `ctx.clients`) on reader thread `i % threads`, after
    /// `start_offset(i)`.
    pub(super) fn spawn(
        pool: &ReaderPool,
        ctx: &Arc<RunContext>,
        start_offset: impl Fn(usize) -> Duration,
    ) -> Self {
        let summaries = Arc::new(Mutex::new(Vec::with_capacity(ctx.clients)));
        let mut groups = JoinSet::new();
        let threads = pool.threads();
        for thread in 0..threads.min(ctx.clients) {
            let members: Vec<(usize, Duration)> = (thread..ctx.clients)
                .step_by(threads)
                .map(|index| (index, start_offset(index)))
                .collect();
            groups.spawn_on(
                group(Arc::clone(ctx), members, Arc::clone(&summaries)),
                pool.handle(thread),
            );
        }
        Self { groups, summaries }
    }

    /// Waits until every client has finished; `None` once they all have.
    ///
    /// # Cancel safety
    /// Cancel safe, as [`JoinSet::join_next`].
    pub(super) async fn next_group_done(&mut self) -> Option<()> {
        match self.groups.join_next().await? {
            Ok(()) => Some(()),
            Err(err) => {
                tracing::warn!(%err, "a group of clients failed");
                Some(())
            }
        }
    }

    /// Gives the clients `grace` to finish after the stop, aborts the rest, and returns
    /// the summaries of every client that finished.
    pub(super) async fn finish(mut self, grace: Duration) -> Vec<ClientSummary> {
        while let Ok(Some(_)) = tokio::time::timeout(grace, self.groups.join_next()).await {}
        self.groups.abort_all();
        let mut summaries = self.summaries.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *summaries)
    }
}

/// Runs `members` (index, start offset) on the current reader thread and adds each
/// summary to `summaries` as its client finishes (a lock per client, not per event).
async fn group(
    ctx: Arc<RunContext>,
    members: Vec<(usize, Duration)>,
    summaries: Arc<Mutex<Vec<ClientSummary>>>,
) {
    let mut clients = JoinSet::new();
    for (index, offset) in members {
        clients.spawn(reader::run(Arc::clone(&ctx), index, offset));
    }
    while let Some(joined) = clients.join_next().await {
        match joined {
            Ok(summary) => summaries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(summary),
            Err(err) => tracing::warn!(%err, "client task failed"),
        }
    }
}
