//! State shared by every client of one run: where to connect, the stop signal, live counters, worker shards.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::client::Target;
use crate::measure::send_time::SendTime;
use crate::measure::stats::Shard;
use crate::scenario::feed::Feed;
use crate::scenario::population::Behaviour;

/// Concurrent streams one source address carries before the next one of 127.0.0.0/8 is
/// used (the ephemeral port range is about 28,000 ports per address pair).
pub const STREAMS_PER_SOURCE_ADDR: usize = 8_000;

/// Connects a run has in flight at most (TCP connect until response headers). The
/// reference server listens with a backlog of 128 and closes the oldest of more than
/// 1,024 connections that have not finished their request head: a crowd connecting
/// faster than a busy server accepts overflows either, and the client sees a 1 s SYN
/// retransmit or a reset. Bounding the connects in flight paces them at the speed the
/// server actually accepts, whatever the ramp.
pub const MAX_CONNECTS_IN_FLIGHT: usize = 128;

/// Counters the timeline samples while clients run (relaxed atomics, bumped once per chunk).
///
/// Whoever waits for a count (every client connected, every stream closed) is notified
/// through [`Live::until`] when a stream opens or closes or a client connects or
/// finishes; nobody polls.
#[derive(Debug, Default)]
pub struct Live {
    /// Events received so far, all clients.
    pub events: AtomicU64,
    /// Streams open right now.
    pub open_streams: AtomicU64,
    /// Streams that have been opened at least once (clients that got in).
    pub connected_clients: AtomicU64,
    /// Clients that finished (stopped, ended or failed for good).
    pub finished_clients: AtomicU64,
    /// Streams the server ended while the run was going (not at a shutdown action).
    pub early_ends: AtomicU64,
    /// Woken when `open_streams`, `connected_clients` or `finished_clients` change.
    changed: Notify,
}

impl Live {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Subtracts `n` from a counter.
    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Wakes every [`Live::until`] (once per stream opened or closed, never per event).
    pub fn notify(&self) {
        self.changed.notify_waiters();
    }

    /// Returns once `holds(self)` is true, re-checking whenever [`Live::notify`] is called.
    ///
    /// # Cancel safety
    /// Cancel safe: it only waits.
    pub async fn until(&self, holds: impl Fn(&Live) -> bool) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            // Registered before the check, so a change between the check and the wait wakes it.
            notified.as_mut().enable();
            if holds(self) {
                return;
            }
            notified.await;
        }
    }
}

/// Everything the clients of one run share.
#[derive(Debug)]
pub struct RunContext {
    /// The stream endpoints, resolved once; client `i` opens `streams[i % len]`.
    pub streams: Vec<Target>,
    /// Where an event carries its send time.
    pub send_time: SendTime,
    /// Reading clients of the run.
    pub clients: usize,
    /// How events arrive.
    pub feed: Feed,
    /// What each client does.
    pub behaviour: Behaviour,
    /// Stops every client.
    pub stop: CancellationToken,
    /// Children of `stop`, one per reader thread: client `i` waits on `thread_stops[i % len]`
    /// (see [`RunContext::thread_stop`]).
    pub thread_stops: Vec<CancellationToken>,
    /// Per-client event count after which a client is done.
    pub events_per_client: Option<u64>,
    /// Worker shards, one per reader thread; client `i` records into shard `i % len`, the
    /// shard of the thread it runs on, so a shard's lock is never contended while clients
    /// read. Each shard creates its histograms (about 180 KB each, zeroed) before the
    /// run: with 16 shards created on first use they were a fifth of the generator's CPU
    /// in a 100-client run.
    pub shards: Vec<Mutex<Shard>>,
    /// Counters for the timeline.
    pub live: Live,
    /// Cancelled when rejoining clients must leave (the pause of [`crate::scenario::plan::Action::Pause`]).
    pub leave: CancellationToken,
    /// Cancelled when they may come back.
    pub rejoin: CancellationToken,
    /// Set when SIGTERM was sent to the server (stream-end latency is measured from it).
    pub shutdown_at: OnceLock<Instant>,
    /// Whether to spread source addresses over 127.0.0.0/8.
    pub spread_sources: bool,
    /// Limit for connecting plus headers.
    pub connect_timeout: Duration,
    /// Permits for connects in flight ([`MAX_CONNECTS_IN_FLIGHT`]).
    pub connecting: Semaphore,
}

impl RunContext {
    /// The stream client `index` opens.
    pub fn stream(&self, index: usize) -> &Target {
        &self.streams[index % self.streams.len()]
    }

    /// The stop signal as client `index`'s reader thread sees it: cancelled with `stop`.
    ///
    /// A stream polls its stop signal at every wake-up, and polling a token locks its node.
    /// One node per thread is only ever locked by that thread and stays in its cache; a
    /// node per stream cost a cache miss per wake-up (and a lock of the shared root to
    /// create and drop it per stream), one shared by all threads a contended lock.
    pub fn thread_stop(&self, index: usize) -> &CancellationToken {
        &self.thread_stops[index % self.thread_stops.len()]
    }

    /// The shard of client `index`.
    pub fn shard(&self, index: usize) -> &Mutex<Shard> {
        &self.shards[index % self.shards.len()]
    }

    /// The source address client `index` connects from, when spreading.
    pub fn source_addr(&self, index: usize) -> Option<IpAddr> {
        if !self.spread_sources {
            return None;
        }
        let n = u32::try_from(index / STREAMS_PER_SOURCE_ADDR).unwrap_or(0);
        // 127.0.0.1, 127.0.0.2, ... (skipping .0 host parts is unnecessary on loopback).
        Some(IpAddr::V4(Ipv4Addr::from(
            u32::from(Ipv4Addr::new(127, 0, 0, 1)) + n,
        )))
    }
}

impl crate::measure::sampler::LiveCounts for RunContext {
    fn events(&self) -> u64 {
        Live::get(&self.live.events)
    }

    fn open_streams(&self) -> u64 {
        Live::get(&self.live.open_streams)
    }

    fn steady(&self) -> bool {
        Live::get(&self.live.connected_clients) + Live::get(&self.live.finished_clients)
            >= self.clients as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn until_is_woken_by_notify() {
        let live = std::sync::Arc::new(Live::default());
        Live::add(&live.open_streams, 2);
        let waiter = tokio::spawn({
            let live = std::sync::Arc::clone(&live);
            async move { live.until(|l| Live::get(&l.open_streams) == 0).await }
        });
        for _ in 0..2 {
            tokio::task::yield_now().await;
            Live::sub(&live.open_streams, 1);
            live.notify();
        }
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken")
            .unwrap();
    }
}
