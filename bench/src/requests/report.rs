//! The report of a request-driven run: `requests.json` (serde) and the terminal summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::request::Tally;
use super::{Arrivals, Config};
use crate::description::{Description, EventSource};
use crate::environment::{Environment, rfc3339};
use crate::measure::cpu::{CpuSpent, ns_per_event};
use crate::measure::server::CpuDelta;
use crate::model::Latency;

/// Names this report's format.
pub const SCHEMA: &str = "sse-load-requests/1";

/// What the report is built from.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The run's configuration.
    pub config: &'a Config,
    /// The merged request figures.
    pub tally: &'a Tally,
    /// When the first request was due.
    pub started_at: SystemTime,
    /// First request start → last request end.
    pub wall: Duration,
    /// Open model: the latest a request started behind its schedule.
    pub max_lag: Option<Duration>,
    /// Generator CPU over the run.
    pub generator_cpu: CpuSpent,
    /// Server CPU over the run, when known.
    pub server_cpu: Option<CpuDelta>,
    /// Where server CPU comes from.
    pub cpu_origin: &'static str,
}

/// `requests.json`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestsReport {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// When the run started, RFC 3339 UTC.
    pub started_at: String,
    /// The machine.
    pub environment: Environment,
    /// The target's name, first stream URL, method and headers (values redacted).
    pub target: BTreeMap<&'static str, serde_json::Value>,
    /// How requests arrived.
    pub arrivals: BTreeMap<&'static str, serde_json::Value>,
    /// Requests sent.
    pub requests: u64,
    /// Requests that ended cleanly with at least one event.
    pub completed: u64,
    /// Requests that failed.
    pub failed: u64,
    /// Failures by kind.
    pub errors: BTreeMap<String, u64>,
    /// First request start → last request end, seconds.
    pub duration_seconds: f64,
    /// Asked requests per second (open model).
    pub request_rate_asked: Option<f64>,
    /// Completed requests per second over the run.
    pub request_rate_achieved: f64,
    /// Open model: the latest a request started behind schedule, ms.
    pub max_send_lag_ms: Option<f64>,
    /// Events received, sentinels not counted.
    pub output_events: u64,
    /// Output events per second.
    pub events_per_sec: f64,
    /// `ttft`, `itl`, `tpot`, `e2el`.
    pub latency: BTreeMap<&'static str, Latency>,
    /// The SLO: `ttft_ms`, `tpot_ms`.
    pub slo: BTreeMap<&'static str, f64>,
    /// Completed requests that met the SLO.
    pub good_requests: u64,
    /// `good_requests` over requests sent.
    pub goodput_share: f64,
    /// Good requests per second.
    pub goodput_per_sec: f64,
    /// Server CPU seconds, when known.
    pub server_cpu_seconds: Option<f64>,
    /// Server CPU per output event, ns.
    pub server_ns_per_event: Option<f64>,
    /// Generator CPU seconds.
    pub generator_cpu_seconds: f64,
    /// Where the CPU figures come from.
    pub cpu_note: String,
}

impl RequestsReport {
    /// Builds the report.
    pub fn build(inputs: Inputs<'_>) -> Self {
        let Inputs {
            config,
            tally,
            started_at,
            wall,
            max_lag,
            generator_cpu,
            server_cpu,
            cpu_origin,
        } = inputs;
        let secs = wall.as_secs_f64().max(1e-9);
        let server_seconds = server_cpu.map(|c| c.total);
        Self {
            schema: SCHEMA,
            started_at: rfc3339(started_at),
            environment: Environment::capture(),
            target: target_info(&config.description),
            arrivals: arrivals_info(config.arrivals),
            requests: config.requests,
            completed: tally.completed,
            failed: tally.failed(),
            errors: tally.errors.clone(),
            duration_seconds: wall.as_secs_f64(),
            request_rate_asked: match config.arrivals {
                Arrivals::Open { rate, .. } => Some(rate),
                Arrivals::Closed { .. } => None,
            },
            request_rate_achieved: tally.completed as f64 / secs,
            max_send_lag_ms: max_lag.map(|l| l.as_secs_f64() * 1e3),
            output_events: tally.events,
            events_per_sec: tally.events as f64 / secs,
            latency: latencies(tally),
            slo: BTreeMap::from([
                ("ttft_ms", config.slo.ttft.as_secs_f64() * 1e3),
                ("tpot_ms", config.slo.tpot.as_secs_f64() * 1e3),
            ]),
            good_requests: tally.good,
            goodput_share: if config.requests > 0 {
                tally.good as f64 / config.requests as f64
            } else {
                0.0
            },
            goodput_per_sec: tally.good as f64 / secs,
            server_cpu_seconds: server_seconds,
            server_ns_per_event: server_seconds.and_then(|s| ns_per_event(s, tally.events)),
            generator_cpu_seconds: generator_cpu.seconds,
            cpu_note: match server_seconds {
                Some(_) => format!("server CPU from {cpu_origin}; generator CPU from getrusage(RUSAGE_SELF)"),
                None => {
                    "server CPU not available: give --server-pid or a metrics endpoint in the target file"
                        .into()
                }
            },
        }
    }

    /// The terminal summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let model = match (self.request_rate_asked, self.arrivals.get("concurrency")) {
            (Some(rate), _) => format!(
                "open model, {rate} req/s, burstiness {} (1 = Poisson), seed {}",
                self.arrivals["burstiness"], self.arrivals["seed"]
            ),
            (None, Some(c)) => format!("closed model, concurrency {c}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "requests · {} · {model}\n",
            self.target["name"].as_str().unwrap_or("")
        );
        let _ = writeln!(
            out,
            "  requests        {} sent, {} completed, {} failed {:?}",
            self.requests, self.completed, self.failed, self.errors
        );
        let asked = self
            .request_rate_asked
            .map_or(String::new(), |r| format!("asked {r:.2}/s, "));
        let lag = self.max_send_lag_ms.map_or(String::new(), |l| {
            format!(" (latest start {l:.1} ms behind schedule)")
        });
        let _ = writeln!(
            out,
            "  request rate    {asked}achieved {:.2}/s over {:.2} s{lag}",
            self.request_rate_achieved, self.duration_seconds
        );
        let _ = writeln!(
            out,
            "  output events   {} ({:.1}/s)",
            self.output_events, self.events_per_sec
        );
        let _ = writeln!(
            out,
            "\n  {:<6} {:>10} {:>10} {:>10} {:>10} {:>10}",
            "ms", "mean", "p50", "p90", "p99", "max"
        );
        for (name, l) in &self.latency {
            let _ = writeln!(
                out,
                "  {name:<6} {:>10.2} {:>10.2} {:>10.2} {:>10.2} {:>10.2}",
                l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
            );
        }
        let _ = writeln!(
            out,
            "\n  goodput         {:.1}% of requests met TTFT <= {} ms and TPOT <= {} ms ({:.2} req/s)",
            self.goodput_share * 100.0,
            self.slo["ttft_ms"],
            self.slo["tpot_ms"],
            self.goodput_per_sec
        );
        let cpu = self
            .server_ns_per_event
            .map_or("n/a".into(), |ns| format!("{ns:.0} ns per output event"));
        let _ = writeln!(out, "  server CPU      {cpu}");
        out
    }
}

/// The target as reports show it (header values redacted).
fn target_info(d: &Description) -> BTreeMap<&'static str, serde_json::Value> {
    let mut target = BTreeMap::new();
    target.insert("name", d.name.clone().into());
    target.insert("url", d.shown_url().into());
    target.insert("method", d.method.to_string().into());
    target.insert("headers", d.headers.shown().into());
    target.insert("end", d.end.clone().into());
    if let EventSource::Publish(_) = d.events {
        target.insert(
            "note",
            "the file's [events.publish] is not used by request-driven runs".into(),
        );
    }
    target
}

/// How requests arrived, for the report.
fn arrivals_info(arrivals: Arrivals) -> BTreeMap<&'static str, serde_json::Value> {
    match arrivals {
        Arrivals::Open {
            rate,
            burstiness,
            seed,
        } => BTreeMap::from([
            ("model", "open".into()),
            ("rate", rate.into()),
            ("burstiness", burstiness.into()),
            ("seed", seed.into()),
        ]),
        Arrivals::Closed { concurrency } => {
            BTreeMap::from([("model", "closed".into()), ("concurrency", concurrency.into())])
        }
    }
}

/// The four latencies, under the names LLM serving benchmarks use.
fn latencies(tally: &Tally) -> BTreeMap<&'static str, Latency> {
    BTreeMap::from([
        (
            "ttft",
            Latency::from_histogram(
                &tally.ttft,
                "time to first token/event: request start (TCP connect included) -> first event",
            ),
        ),
        (
            "itl",
            Latency::from_histogram(
                &tally.itl,
                "inter-token latency: every gap between two consecutive events of a request",
            ),
        ),
        (
            "tpot",
            Latency::from_histogram(
                &tally.tpot,
                "time per output token/event, per request: (last event - first event) / (events - 1)",
            ),
        ),
        (
            "e2el",
            Latency::from_histogram(
                &tally.e2el,
                "end-to-end latency per request: request start -> end sentinel or close",
            ),
        ),
    ])
}
