//! Request-driven streams, the way LLM APIs stream tokens: each request (say `POST /v1/chat/completions` with `"stream": true`) answers a finite SSE stream.
//!
//! `sse-load requests --target-file F` sends the target file's stream request (method,
//! body template, headers) `--requests N` times, either
//! * **open model** (`--rate R`): requests start on a seeded schedule of arrivals at R per
//!   second, Poisson by default, burstier or smoother with `--burstiness` (see
//!   [`schedule`]), whether or not earlier ones finished; or
//! * **closed model** (`--concurrency C`): C clients each send the next request when their
//!   previous one ended.
//!
//! A stream ends at the file's `end` sentinel (`[DONE]`) or when the server closes it.
//! The figures are named as LLM serving benchmarks (vLLM's `bench serve`) name them: TTFT
//! (time to first event, TCP connect included), ITL (inter-token latency: every gap between
//! two events of a request), TPOT (time per output event after the first, per request),
//! E2EL (end-to-end latency per request), requests/s and events/s, and goodput: the share
//! (and rate) of requests that met the SLO on TTFT and TPOT.

pub mod report;
pub mod request;
pub mod schedule;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::task::JoinSet;

pub use report::RequestsReport;
pub use request::Slo;

use crate::client::Target;
use crate::description::Description;
use crate::measure::cpu::CpuStopwatch;
use crate::measure::server::CpuReading;
use crate::runner::described;
use request::{Request, Tally};

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrivals {
    /// At `rate` per second on a seeded gamma schedule (burstiness 1: Poisson).
    Open {
        /// Requests per second.
        rate: f64,
        /// Gamma shape of the gaps.
        burstiness: f64,
        /// Seed of the schedule.
        seed: u64,
    },
    /// `concurrency` clients, each sending its next request when the last one ended.
    Closed {
        /// Clients.
        concurrency: usize,
    },
}

/// A validated `sse-load requests` run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The target.
    pub description: Arc<Description>,
    /// How requests arrive.
    pub arrivals: Arrivals,
    /// Requests to send.
    pub requests: u64,
    /// The goodput SLO.
    pub slo: Slo,
    /// Limit for one request.
    pub request_timeout: Duration,
    /// `--server-pid`.
    pub server_pid: Option<u32>,
    /// Where `requests.json` goes.
    pub output_dir: PathBuf,
}

/// Errors that stop a run.
#[derive(Debug, thiserror::Error)]
pub enum RequestsError {
    /// The target or its process cannot be reached.
    #[error(transparent)]
    Run(#[from] crate::runner::run::RunError),
    /// The schedule cannot be made.
    #[error("{0}")]
    Schedule(String),
    /// The report cannot be written.
    #[error(transparent)]
    Write(#[from] crate::fs::WriteError),
}

/// Runs `config`; returns the report (also written to `requests.json`).
///
/// # Errors
/// [`RequestsError`].
pub async fn run(config: &Config) -> Result<RequestsReport, RequestsError> {
    let d = &config.description;
    let mut targets = Vec::with_capacity(d.streams.len());
    for url in &d.streams {
        let target =
            Target::resolve(url)
                .await
                .map_err(|source| crate::runner::run::RunError::Unreachable {
                    url: d.shown_url(),
                    source,
                })?;
        targets.push(target.with_headers(d.headers.pairs()));
    }
    let source = described::source(d, described::process_id(d, config.server_pid)?);
    let cpu_start = source.cpu().await;
    let generator = CpuStopwatch::start();
    let started_at = SystemTime::now();
    let started = Instant::now();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let max_lag = match config.arrivals {
        Arrivals::Open {
            rate,
            burstiness,
            seed,
        } => {
            let offsets = schedule::arrivals(config.requests, rate, burstiness, seed)
                .map_err(RequestsError::Schedule)?;
            open(config, &targets, &offsets, &tally).await
        }
        Arrivals::Closed { concurrency } => {
            closed(config, &targets, concurrency, &tally).await;
            None
        }
    };
    let wall = started.elapsed();
    let generator_cpu = generator.elapsed();
    let cpu_end = source.cpu().await;
    let server_cpu = match (cpu_start, cpu_end) {
        (Some(start), Some(end)) => CpuReading::since(&end, &start),
        _ => None,
    };
    let tally = std::mem::take(&mut *tally.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    let report = RequestsReport::build(report::Inputs {
        config,
        tally: &tally,
        started_at,
        wall,
        max_lag,
        generator_cpu,
        server_cpu,
        cpu_origin: source.cpu_origin(),
    });
    let json = serde_json::to_vec_pretty(&report).unwrap_or_default();
    crate::fs::write_atomic(&config.output_dir.join("requests.json"), &json)?;
    Ok(report)
}

/// The body of request `seq` (the file's template, or none).
fn body(d: &Description, buf: &mut String, seq: u64) -> Bytes {
    d.body.as_ref().map_or_else(Bytes::new, |t| t.render(buf, seq, 0))
}

/// Open model: request `i` starts at `offsets[i]`; returns the latest start behind schedule.
async fn open(
    config: &Config,
    targets: &[Target],
    offsets: &[Duration],
    tally: &Arc<Mutex<Tally>>,
) -> Option<Duration> {
    let start = tokio::time::Instant::now();
    let mut tasks = JoinSet::new();
    let mut buf = String::new();
    let mut max_lag = Duration::ZERO;
    for (i, offset) in offsets.iter().enumerate() {
        tokio::time::sleep_until(start + *offset).await;
        max_lag = max_lag.max(start.elapsed().saturating_sub(*offset));
        let seq = i as u64 + 1;
        let target = targets[i % targets.len()].clone();
        let body = body(&config.description, &mut buf, seq);
        let (d, slo, timeout, tally) = (
            Arc::clone(&config.description),
            config.slo,
            config.request_timeout,
            Arc::clone(tally),
        );
        tasks.spawn(async move {
            let request = Request {
                target: &target,
                method: d.method.clone(),
                body,
                end: d.end.as_deref(),
                timeout,
            };
            request::run(request, slo, &tally).await;
        });
        // Reap finished requests as we go, so the set stays as small as what is in flight.
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    Some(max_lag)
}

/// Closed model: `concurrency` clients share the `config.requests` requests.
async fn closed(config: &Config, targets: &[Target], concurrency: usize, tally: &Arc<Mutex<Tally>>) {
    let next = Arc::new(AtomicU64::new(1));
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (next, tally, d) = (
            Arc::clone(&next),
            Arc::clone(tally),
            Arc::clone(&config.description),
        );
        let (targets, slo, timeout, total) = (
            targets.to_vec(),
            config.slo,
            config.request_timeout,
            config.requests,
        );
        tasks.spawn(async move {
            let mut buf = String::new();
            loop {
                let seq = next.fetch_add(1, Ordering::Relaxed);
                if seq > total {
                    return;
                }
                let target = &targets[(seq as usize - 1) % targets.len()];
                let request = Request {
                    target,
                    method: d.method.clone(),
                    body: body(&d, &mut buf, seq),
                    end: d.end.as_deref(),
                    timeout,
                };
                request::run(request, slo, &tally).await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
