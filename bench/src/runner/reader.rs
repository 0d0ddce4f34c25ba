//! The one reading-client loop every scenario uses: connect, read and measure, then hold, churn or reconnect.
//!
//! # Hot path
//! Each received item goes to [`Recorder::on_item`] (allocation-free, lock-free). The
//! client buffers its samples and moves them into its reader thread's shard when 64
//! distinct samples have built up, and once more when it stops. Each move takes one short
//! lock, never held across an `.await`. Nothing reads the shards before every client has
//! stopped. The live event counter is bumped once per chunk.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::context::{Live, RunContext};
use super::recorder::Recorder;
use crate::client::{ClientError, ConnectOptions, Item, SseConnection};
use crate::measure::sequence::{SequenceCounts, SequenceTracker};
use crate::measure::stats::{ClientSummary, Metric, Pending, lock};
use crate::scenario::population::Behaviour;

/// Pause before a churning client retries after a failed connect.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// How one stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The run stopped (or the client had its events): the client closed it.
    Stopped,
    /// The client dropped it on purpose (churn, reconnect).
    Dropped,
    /// The server ended it cleanly.
    Clean,
    /// It broke (reset, cut).
    Broken,
}

/// Runs reading client `index` until the run stops; returns what it saw.
pub async fn run(ctx: Arc<RunContext>, index: usize, start_delay: Duration) -> ClientSummary {
    let mut summary = ClientSummary::default();
    tokio::select! {
        () = ctx.stop.cancelled() => return finish(&ctx, index, summary, Duration::ZERO),
        () = tokio::time::sleep(start_delay) => {}
    }
    let shard = ctx.shard(index);
    let mut tracker = SequenceTracker::new(ctx.feed.expected_first_id());
    // Counts of the streams already closed, for behaviours that start a fresh stream each time.
    let mut closed = SequenceCounts::default();
    let mut pending = Pending::default();
    let mut held = Duration::ZERO;
    let mut resumed_from = None;
    let mut ever_connected = false;
    loop {
        if ctx.stop.is_cancelled() {
            break;
        }
        let mut conn = match connect(&ctx, index, &tracker, &mut summary).await {
            Connected::Open(conn) => conn,
            Connected::Retry => continue,
            Connected::Stop => break,
        };
        pending.push(shard, Metric::TimeToHeaders, conn.time_to_headers());
        Live::add(&ctx.live.open_streams, 1);
        if !ever_connected {
            ever_connected = true;
            Live::add(&ctx.live.connected_clients, 1);
        }
        ctx.live.notify();
        let opened = Instant::now();
        let mut reading = Recorder::new(
            &mut tracker,
            &mut pending,
            shard,
            ctx.feed.expected_interval(),
            conn.started_at(),
            resumed_from.take(),
            &ctx.send_time,
        );
        let end = read_stream(&ctx, index, &mut conn, &mut reading, shard).await;
        held += opened.elapsed();
        summary.comments += reading.comments();
        summary.bytes += conn.bytes_received();
        Live::sub(&ctx.live.open_streams, 1);
        ctx.live.notify();
        drop(conn);
        match after_end(&ctx, end, &mut summary, &mut pending, shard) {
            Next::Stop => break,
            Next::Resume => resumed_from = Some(Instant::now()),
            Next::Fresh => {}
        }
        if ctx
            .events_per_client
            .is_some_and(|n| closed.received + tracker.counts().received >= n)
        {
            break;
        }
        if !resumes(ctx.behaviour) {
            // A new connection is a new stream (ids start again): track it on its own.
            closed.add(&tracker.counts());
            tracker = SequenceTracker::new(ctx.feed.expected_first_id());
        }
        if ctx.behaviour == Behaviour::Rejoin {
            // Wait for the runner to call everybody back (or the end of the run), then
            // come back spread as the first wave was, so the listen backlog holds.
            tokio::select! {
                () = ctx.stop.cancelled() => break,
                () = async {
                    ctx.rejoin.cancelled().await;
                    tokio::time::sleep(start_delay).await;
                } => {}
            }
        }
    }
    pending.flush(shard);
    closed.add(&tracker.counts());
    summary.events = closed;
    finish(&ctx, index, summary, held)
}

/// What one connect attempt gave.
// Returned once per connect and moved straight into the reading loop: boxing the
// connection would add an allocation per connection for nothing.
#[allow(clippy::large_enum_variant)]
enum Connected {
    /// A stream is open.
    Open(SseConnection),
    /// It failed; try again.
    Retry,
    /// It failed for good, or the run stopped.
    Stop,
}

/// One connect attempt of client `index`, counted in `summary` (a failure also in its shard).
async fn connect(
    ctx: &RunContext,
    index: usize,
    tracker: &SequenceTracker,
    summary: &mut ClientSummary,
) -> Connected {
    summary.connections.attempted += 1;
    let options = ConnectOptions {
        // Once per reconnection, not per event: the small allocation is fine.
        last_event_id: matches!(ctx.behaviour, Behaviour::Reconnect { .. })
            .then(|| tracker.highest().map(|id| id.to_string()))
            .flatten(),
        local_addr: ctx.source_addr(index),
        timeout: ctx.connect_timeout,
    };
    // A permit per connect in flight (see `MAX_CONNECTS_IN_FLIGHT`), released once the
    // headers are in; the time spent waiting for it is not part of the connect's figures.
    let connecting = async {
        let _permit = ctx.connecting.acquire().await;
        SseConnection::open(ctx.stream(index), &options).await
    };
    let conn = tokio::select! {
        () = ctx.stop.cancelled() => return Connected::Stop,
        conn = connecting => conn,
    };
    match conn {
        Ok(conn) => {
            summary.connections.succeeded += 1;
            Connected::Open(conn)
        }
        Err(err) => {
            summary.connections.failed += 1;
            lock(ctx.shard(index)).error(err.kind());
            if ctx.behaviour == Behaviour::Hold {
                return Connected::Stop;
            }
            tokio::select! {
                () = ctx.stop.cancelled() => Connected::Stop,
                () = tokio::time::sleep(RETRY_PAUSE) => Connected::Retry,
            }
        }
    }
}

/// What a client does after a stream ended.
enum Next {
    /// Stop reading.
    Stop,
    /// Reconnect, resuming the same logical stream (the reconnect gap is timed).
    Resume,
    /// Go on (a new connection, or the behaviour decides).
    Fresh,
}

/// Counts how a stream ended and decides what the client does next.
fn after_end(
    ctx: &RunContext,
    end: End,
    summary: &mut ClientSummary,
    pending: &mut Pending,
    shard: &std::sync::Mutex<crate::measure::stats::Shard>,
) -> Next {
    let reconnects = matches!(ctx.behaviour, Behaviour::Reconnect { .. });
    match end {
        End::Clean | End::Broken => {
            if end == End::Clean {
                summary.connections.ended_clean += 1;
            } else {
                summary.connections.ended_reset += 1;
            }
            match ctx.shutdown_at.get() {
                Some(&signalled) => {
                    pending.push(shard, Metric::StreamEnd, signalled.elapsed());
                    return Next::Stop;
                }
                None if !ctx.stop.is_cancelled() => Live::add(&ctx.live.early_ends, 1),
                None => return Next::Stop,
            }
            // A reconnecting client resumes whatever ended its stream (as EventSource does).
            if reconnects { Next::Resume } else { Next::Stop }
        }
        End::Stopped => Next::Stop,
        End::Dropped if reconnects => Next::Resume,
        End::Dropped => Next::Fresh,
    }
}

/// Reads one stream until it ends, the run stops, or the behaviour drops it.
///
/// The stop signal and the drop timer are polled once per wake-up, not per chunk: the
/// chunks a wake-up brings are read in one inner loop. The stop signal is the reader
/// thread's own child of the run's token ([`RunContext::thread_stop`]).
async fn read_stream(
    ctx: &RunContext,
    index: usize,
    conn: &mut SseConnection,
    reading: &mut Recorder<'_>,
    shard: &std::sync::Mutex<crate::measure::stats::Shard>,
) -> End {
    let drop_timer = async {
        match ctx.behaviour {
            Behaviour::Reconnect { every } => tokio::time::sleep(every).await,
            // A rejoining client leaves when the runner says so, once. Its own child of
            // the token: polling the shared one would lock a node every thread polls.
            Behaviour::Rejoin if !ctx.rejoin.is_cancelled() => {
                let leave = ctx.leave.child_token();
                leave.cancelled().await;
            }
            Behaviour::Hold | Behaviour::Churn | Behaviour::Rejoin => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        () = ctx.thread_stop(index).cancelled() => End::Stopped,
        () = drop_timer => End::Dropped,
        end = read_chunks(ctx, conn, reading, shard) => end,
    }
}

/// The reading half of [`read_stream`]: chunk after chunk until the stream ends or the
/// behaviour has what it wants. Cancel-safe: a chunk is recorded in the poll that reads it.
async fn read_chunks(
    ctx: &RunContext,
    conn: &mut SseConnection,
    reading: &mut Recorder<'_>,
    shard: &std::sync::Mutex<crate::measure::stats::Shard>,
) -> End {
    loop {
        let before = reading.events();
        let read = conn
            .read(&mut |item: Item<'_>, at: Instant| reading.on_item(item, at))
            .await;
        Live::add(&ctx.live.events, reading.events() - before);
        match read {
            Ok(true) => {}
            Ok(false) => return End::Clean,
            Err(err) => {
                lock(shard).stream_error(err.kind());
                return End::Broken;
            }
        }
        if ctx.behaviour == Behaviour::Churn && reading.events() > 0 {
            return End::Dropped;
        }
        if ctx.events_per_client.is_some_and(|n| reading.received() >= n) {
            return End::Stopped;
        }
    }
}

/// Reads events from `conn` into `tracker` until `limit` events arrived, the stream ends,
/// or `on_event` (called after each event with the count so far and the tracker) returns
/// `false`. Returns the events read and whether the stream is still open. Allocates
/// nothing per event; the profiling load generator ([`crate::drive`]) reads with it.
///
/// # Errors
/// The stream broke.
pub async fn read_events(
    conn: &mut SseConnection,
    tracker: &mut SequenceTracker,
    limit: u64,
    mut on_event: impl FnMut(u64, &SequenceTracker) -> bool,
) -> Result<(u64, bool), ClientError> {
    let mut received = 0;
    let mut more = true;
    while received < limit && more {
        let open = conn
            .read(&mut |item, _| {
                let Item::Event(event) = item else { return };
                if !more || received >= limit {
                    return;
                }
                match event.id.and_then(crate::client::event_number) {
                    Some(id) => tracker.observe(id),
                    None => tracker.observe_untracked(),
                }
                received += 1;
                more = on_event(received, tracker);
            })
            .await?;
        if !open {
            return Ok((received, false));
        }
    }
    Ok((received, true))
}

/// Whether the behaviour resumes one logical stream across connections (Last-Event-ID).
fn resumes(behaviour: Behaviour) -> bool {
    matches!(behaviour, Behaviour::Reconnect { .. } | Behaviour::Hold)
}

fn finish(ctx: &RunContext, _index: usize, mut summary: ClientSummary, held: Duration) -> ClientSummary {
    let secs = held.as_secs_f64();
    if summary.connections.succeeded > 0 && secs > 0.0 {
        summary.events_per_sec = Some(summary.events.received as f64 / secs);
    }
    Live::add(&ctx.live.finished_clients, 1);
    ctx.live.notify();
    summary
}
