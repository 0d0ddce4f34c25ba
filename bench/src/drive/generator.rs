//! The load-generator process: reads commands on stdin, drives the server with `sse_bench`'s SSE client, answers on stdout.
//!
//! It runs as a separate process (the profiling binary re-executed as `<binary> drive
//! --url http://127.0.0.1:PORT`), so none of its allocations or CPU time are counted as
//! the server's. The protocol is in [`super::protocol`]; each command runs to its end
//! before the next is read. Streams are read with the scenario client's
//! [`read_events`](crate::runner::reader::read_events) into a [`SequenceTracker`].
//!
//! It runs on a current-thread runtime, so it uses at most one core: on a 2-core machine
//! the server's runtime keeps the other, and the server's event-loop figures are not
//! mostly the OS preempting it in favour of the generator.
//!
//! ## Checks
//! During `fanout` every stream must receive consecutive event ids (the first one it
//! sees, then +1 each time): a gap, a duplicate or an id out of order (as the
//! [`SequenceTracker`] counts them) or a stream that ends early fails the phase at once
//! with an `error` reply naming the stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use http::Uri;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Stdout};
use tokio::sync::mpsc;

use super::protocol::{Command, Phase, Reply};
use crate::client::{ClientError, ConnectOptions, SseConnection, Target};
use crate::measure::sequence::{SequenceCounts, SequenceTracker};
use crate::runner::reader::read_events as read_into;

/// Streams opened at the same time while connecting.
const CONNECT_CONCURRENCY: usize = 64;

/// Why a command failed (sent to the parent as an `error` line).
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The client failed.
    #[error("stream {stream}: {source}")]
    Client {
        /// Which stream (0-based; cycles count on from the held streams).
        stream: u64,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// A stream ended before it received what the phase needs.
    #[error("stream {stream} ended after {received} events, expected {expected}")]
    Ended {
        /// Which stream.
        stream: u64,
        /// Events received.
        received: u64,
        /// Events expected.
        expected: u64,
    },
    /// Ids were not consecutive.
    #[error(
        "stream {stream}: event ids not consecutive after {received} events ({} lost, {} duplicated, {} out of order)",
        counts.lost, counts.duplicated, counts.out_of_order
    )]
    Sequence {
        /// Which stream.
        stream: u64,
        /// Events read when the disorder showed.
        received: u64,
        /// What the tracker counted.
        counts: SequenceCounts,
    },
    /// A reading task panicked.
    #[error("a reading task failed: {0}")]
    Task(String),
    /// A URL could not be built from the base URL.
    #[error("building the URL of {path}: {source}")]
    Url {
        /// The path.
        path: &'static str,
        /// The client's error.
        #[source]
        source: ClientError,
    },
}

/// The generator's state: where to connect and the streams it holds.
struct Generator {
    events: Target,
    cycle: Target,
    options: ConnectOptions,
    streams: Vec<SseConnection>,
    out: Stdout,
}

/// Runs the generator for the server at `base` (e.g. `http://127.0.0.1:40000`) until `quit`
/// or the end of stdin, on a current-thread runtime of its own (see the module docs).
/// The process entry point (`<binary> drive --url …`) is the profiling binaries'.
///
/// # Errors
/// The runtime did not start, the server cannot be reached, or stdin/stdout failed.
pub fn run_process(base: &Uri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    crate::child::die_with_parent();
    if let Err(err) = sse_server::limits::raise_fd_limit() {
        eprintln!("load generator: warning: could not raise the open-file limit: {err}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(base))
}

async fn run(base: &Uri) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let base = Target::resolve(base).await?;
    let target = |path: &'static str| {
        base.with_path(path)
            .map_err(|source| GeneratorError::Url { path, source })
    };
    let mut generator = Generator {
        events: target("/events")?,
        cycle: target("/sse?count=1&delay=0")?,
        options: ConnectOptions::default(),
        streams: Vec::new(),
        out: tokio::io::stdout(),
    };
    generator.reply(&Reply::Ready).await?;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let command = match Command::parse(&line) {
            Ok(command) => command,
            Err(err) => {
                generator.reply(&Reply::Error(err.to_string())).await?;
                continue;
            }
        };
        if command == Command::Quit {
            break;
        }
        let reply = match generator.execute(command).await {
            Ok(reply) => reply,
            Err(err) => Reply::Error(err.to_string()),
        };
        generator.reply(&reply).await?;
    }
    Ok(())
}

impl Generator {
    async fn reply(&mut self, reply: &Reply) -> std::io::Result<()> {
        let line = format!("{reply}\n");
        self.out.write_all(line.as_bytes()).await?;
        self.out.flush().await
    }

    async fn execute(&mut self, command: Command) -> Result<Reply, GeneratorError> {
        let (phase, count) = match command {
            Command::Warmup { cycles } => (Phase::Warmup, self.warmup(cycles).await?),
            Command::Connect { streams } => (Phase::Idle, self.connect(streams).await?),
            Command::Fanout { events, batch } => (Phase::Fanout, self.fanout(events, batch).await?),
            Command::Cycles { count } => (Phase::Cycles, self.cycles(count).await?),
            Command::Disconnect => {
                let closed = self.streams.len() as u64;
                self.streams.clear();
                (Phase::Disconnect, closed)
            }
            Command::Quit => unreachable!("handled by the command loop"),
        };
        Ok(Reply::Done { phase, count })
    }

    fn stream_number(&self, offset: u64) -> u64 {
        self.streams.len() as u64 + offset
    }

    /// Connect/first-event/close on `/sse` plus connect/close on `/events`, two at a time
    /// so both server workers see connections.
    async fn warmup(&mut self, cycles: u64) -> Result<u64, GeneratorError> {
        for i in 0..cycles {
            let (cycle, subscribe) = tokio::join!(
                one_cycle(&self.cycle, &self.options),
                SseConnection::open(&self.events, &self.options)
            );
            let stream = self.stream_number(i);
            cycle.map_err(|e| e.numbered(stream))?;
            drop(subscribe.map_err(|source| GeneratorError::Client { stream, source })?);
        }
        Ok(cycles)
    }

    /// Opens `streams` idle `/events` streams (response headers received).
    async fn connect(&mut self, streams: u64) -> Result<u64, GeneratorError> {
        let first = self.stream_number(0);
        let (events, options) = (&self.events, &self.options);
        let mut opened = futures_util::stream::iter(0..streams)
            .map(|i| async move {
                SseConnection::open(events, options)
                    .await
                    .map_err(|source| GeneratorError::Client {
                        stream: first + i,
                        source,
                    })
            })
            .buffer_unordered(CONNECT_CONCURRENCY);
        let mut held = Vec::with_capacity(streams as usize);
        while let Some(stream) = opened.next().await {
            held.push(stream?);
        }
        drop(opened);
        self.streams.extend(held);
        Ok(streams)
    }

    /// Reads `events` events on every held stream (one task per stream), reporting
    /// `progress k` whenever every stream has `k` events (`k` a multiple of `batch`).
    async fn fanout(&mut self, events: u64, batch: u64) -> Result<u64, GeneratorError> {
        let streams = std::mem::take(&mut self.streams);
        let total = streams.len() as u64;
        let milestones: Arc<[AtomicU64]> = (0..=events / batch).map(|_| AtomicU64::new(0)).collect();
        // `Some(k)`: every stream has k events; `None`: a stream failed.
        let (signal, mut signals) = mpsc::unbounded_channel::<Option<u64>>();
        let mut tasks = Vec::with_capacity(streams.len());
        for (i, stream) in streams.into_iter().enumerate() {
            let milestones = Arc::clone(&milestones);
            let signal = signal.clone();
            tasks.push(tokio::spawn(async move {
                let mut stream = stream;
                let result = read_events(&mut stream, i as u64, events, |received| {
                    if received % batch == 0 {
                        let k = received / batch;
                        if milestones[k as usize].fetch_add(1, Ordering::AcqRel) + 1 == total {
                            let _ = signal.send(Some(received));
                        }
                    }
                })
                .await;
                if result.is_err() {
                    let _ = signal.send(None);
                }
                (stream, result)
            }));
        }
        drop(signal);
        // Forward progress until every reader is done (the channel closes); on the first
        // failure stop the others, which would otherwise wait for events never published.
        while let Some(signal) = signals.recv().await {
            match signal {
                Some(received) if received < events => {
                    let _ = self.reply(&Reply::Progress(received)).await;
                }
                Some(_) => {}
                None => tasks.iter().for_each(|task| task.abort()),
            }
        }
        let mut delivered = 0;
        let mut failure = None;
        for task in tasks {
            match task.await {
                Ok((stream, result)) => {
                    self.streams.push(stream);
                    match result {
                        Ok(n) => delivered += n,
                        Err(err) => failure = failure.or(Some(err)),
                    }
                }
                Err(err) if err.is_cancelled() => {}
                Err(err) => failure = failure.or(Some(GeneratorError::Task(err.to_string()))),
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(delivered),
        }
    }

    /// `count` connect → first event → close cycles on `/sse?count=1&delay=0`, one after another.
    async fn cycles(&mut self, count: u64) -> Result<u64, GeneratorError> {
        for i in 0..count {
            let stream = self.stream_number(i);
            one_cycle(&self.cycle, &self.options)
                .await
                .map_err(|e| e.numbered(stream))?;
        }
        Ok(count)
    }
}

impl GeneratorError {
    /// Puts the stream number into an error from a helper that did not know it.
    fn numbered(self, stream: u64) -> Self {
        match self {
            Self::Client { source, .. } => Self::Client { stream, source },
            Self::Ended {
                received, expected, ..
            } => Self::Ended {
                stream,
                received,
                expected,
            },
            other => other,
        }
    }
}

/// Opens a stream on `target`, reads its first event, closes it: one connection cycle.
///
/// # Errors
/// The connection failed, or the stream ended before its first event.
pub async fn one_cycle(target: &Target, options: &ConnectOptions) -> Result<(), GeneratorError> {
    let client = |source| GeneratorError::Client { stream: 0, source };
    let mut stream = SseConnection::open(target, options).await.map_err(client)?;
    let mut tracker = SequenceTracker::new(None);
    match read_into(&mut stream, &mut tracker, 1, |_, _| true)
        .await
        .map_err(client)?
    {
        (1, _) => Ok(()),
        (received, _) => Err(GeneratorError::Ended {
            stream: 0,
            received,
            expected: 1,
        }),
    }
}

/// Reads `events` events from `stream`, checking that ids are consecutive; calls
/// `on_event(received)` after each.
async fn read_events(
    stream: &mut SseConnection,
    number: u64,
    events: u64,
    mut on_event: impl FnMut(u64),
) -> Result<u64, GeneratorError> {
    let mut tracker = SequenceTracker::new(None);
    let mut disorder = None;
    let (received, open) = read_into(stream, &mut tracker, events, |received, tracker| {
        let c = tracker.counts();
        if c.lost + c.duplicated + c.out_of_order > 0 {
            disorder = Some((received, c));
            return false;
        }
        on_event(received);
        true
    })
    .await
    .map_err(|source| GeneratorError::Client {
        stream: number,
        source,
    })?;
    if let Some((received, counts)) = disorder {
        return Err(GeneratorError::Sequence {
            stream: number,
            received,
            counts,
        });
    }
    if !open && received < events {
        return Err(GeneratorError::Ended {
            stream: number,
            received,
            expected: events,
        });
    }
    Ok(received)
}
