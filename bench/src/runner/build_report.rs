//! Turning a run's measurements into a [`ScenarioReport`]: latencies, throughput, CPU, memory, checks.

use std::collections::BTreeMap;

use super::collect::Measured;
use crate::environment::Environment;
use crate::environment::rfc3339;
use crate::measure::cpu::{CpuSpent, generator_bound, generator_saturation, ns_per_event};
use crate::measure::server::CpuDelta;
use crate::measure::stats::Metric;
use crate::model::{
    Check, Connections, Cpu, EventCounts, FeedRate, Latency, ReportedTarget, SCHEMA_VERSION, ScenarioReport,
    ServerFigures, Spread, Throughput, UnjudgedCheck,
};
use crate::scenario::catalog::Definition;
use crate::scenario::outcome::Outcome;
use crate::scenario::plan::Plan;

/// How a report is labelled.
#[derive(Debug, Clone)]
pub struct Labels<'a> {
    /// Profile label (`smoke`, ..., `custom`).
    pub profile: &'a str,
    /// 1-based repeat index.
    pub repeat: u32,
    /// The environment captured for this run.
    pub environment: &'a Environment,
}

/// Builds the report of one run of `definition` with `plan`.
pub fn build(
    definition: &Definition,
    plan: &Plan,
    measured: Measured,
    labels: &Labels<'_>,
) -> ScenarioReport {
    let Measured {
        outcome,
        started_at,
        url,
        capabilities,
        protocol,
        timeline,
        generator_cpu,
        reader_threads,
        server_cpu,
        cpu_note,
        spread_sources,
        target_notes,
    } = measured;
    let (checks, unjudged_checks) = evaluate_checks(plan, &outcome);
    let received = outcome.totals.counts.events.received;
    let wall = outcome.wall.as_secs_f64();
    let mut parameters = parameters(plan, spread_sources, capabilities.embedded);
    parameters.insert("reader_threads".into(), reader_threads.into());
    for (key, value) in target_notes {
        parameters.insert(key.into(), value);
    }
    let latency = latencies(&outcome, plan.latencies);
    let feed = feed_rate(&outcome, &latency);
    let cpu = cpu(
        generator_cpu,
        server_cpu,
        received,
        cpu_note,
        labels.environment.cpu_count,
    );

    ScenarioReport {
        schema_version: SCHEMA_VERSION,
        scenario: definition.name.to_owned(),
        description: definition.description.to_owned(),
        profile: labels.profile.to_owned(),
        repeat: labels.repeat,
        started_at: rfc3339(started_at),
        duration_seconds: wall,
        environment: labels.environment.clone(),
        target: ReportedTarget {
            url,
            embedded: capabilities.embedded,
            server_metrics: capabilities.metrics,
            protocol: protocol.name().to_owned(),
            streams_per_connection: protocol.streams_per_connection(),
        },
        parameters,
        events: event_counts(&outcome),
        throughput: throughput(&outcome),
        feed,
        latency,
        connections: connections(&outcome),
        cpu,
        memory: outcome.memory.clone().filter(|_| plan.track_memory),
        server: server_figures(&outcome),
        timeline,
        checks,
        unjudged_checks,
        kpi_runs: BTreeMap::new(),
        verdict: None,
    }
}

/// Each of the plan's checks judged on `outcome`, and those it could not judge, with why.
fn evaluate_checks(plan: &Plan, outcome: &Outcome) -> (Vec<Check>, Vec<UnjudgedCheck>) {
    let mut checks = Vec::new();
    let mut unjudged_checks = Vec::new();
    for check in &plan.checks {
        match check.evaluate(outcome) {
            Some(judged) => checks.push(judged),
            None => unjudged_checks.push(UnjudgedCheck {
                name: check.name().to_owned(),
                reason: check.needs().to_owned(),
            }),
        }
    }
    (checks, unjudged_checks)
}

/// Events received, lost, duplicated and reordered over all clients, and the generator's
/// publishes (accepted and failed).
fn event_counts(outcome: &Outcome) -> EventCounts {
    let counts = &outcome.totals.counts;
    EventCounts {
        received: counts.events.received,
        lost: counts.events.lost,
        duplicated: counts.events.duplicated,
        out_of_order: counts.events.out_of_order,
        comments: counts.comments,
        published: outcome.published.events,
        publish_failed: outcome.published.failed,
    }
}

/// Delivery rate over the run's wall time; `None` when nothing arrived.
fn throughput(outcome: &Outcome) -> Option<Throughput> {
    let counts = &outcome.totals.counts;
    let received = counts.events.received;
    let wall = outcome.wall.as_secs_f64();
    (received > 0 && wall > 0.0).then(|| Throughput {
        events_per_sec: received as f64 / wall,
        bytes_per_sec: counts.bytes as f64 / wall,
        per_client: Spread::of(
            &counts
                .per_client_events
                .iter()
                .map(|&n| n as f64 / wall)
                .collect::<Vec<_>>(),
        ),
    })
}

/// The feed as run, from the mean inter-event gap; a self-publishing target's has no rate
/// to judge (`None`).
fn feed_rate(outcome: &Outcome, latency: &BTreeMap<String, Latency>) -> Option<FeedRate> {
    outcome.nominal_rate.map(|nominal| {
        let achieved = latency
            .get("inter_event")
            .filter(|l| l.count > 0 && l.mean_ms > 0.0)
            .map(|l| 1000.0 / l.mean_ms);
        FeedRate {
            nominal_per_sec: nominal,
            achieved_per_sec: achieved,
            deviation_pct: achieved.map(|a| (a / nominal - 1.0) * 100.0),
            publish_lag_p99_ms: outcome.published.lag.map(|l| l.p99_micros as f64 / 1000.0),
            publish_lag_max_ms: outcome.published.lag.map(|l| l.max_micros as f64 / 1000.0),
        }
    })
}

/// The server's `/metrics` figures at the start and the end, when both were read.
fn server_figures(outcome: &Outcome) -> Option<ServerFigures> {
    match (&outcome.server_start, &outcome.server_end) {
        (Some(start), Some(end)) => Some(ServerFigures {
            start: start.to_map(),
            end: end.to_map(),
        }),
        _ => None,
    }
}

/// The scenario parameters as run, and the conditions that skew them (host load, source addresses).
fn parameters(plan: &Plan, spread_sources: bool, embedded: bool) -> BTreeMap<String, serde_json::Value> {
    let mut parameters: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    parameters.insert("clients".into(), plan.population.clients.into());
    parameters.insert("duration_seconds".into(), plan.stop.duration.as_secs_f64().into());
    parameters.insert(
        "ramp_seconds".into(),
        plan.population.connect_ramp().as_secs_f64().into(),
    );
    parameters.insert(
        "behaviour".into(),
        format!("{:?}", plan.population.behaviour).to_lowercase().into(),
    );
    if plan.population.frozen > 0 {
        parameters.insert("frozen_clients".into(), plan.population.frozen.into());
    }
    if let Some(n) = plan.stop.events_per_client {
        parameters.insert("events_per_client".into(), n.into());
    }
    for (key, value) in plan.feed.parameters() {
        parameters.insert(key.into(), value);
    }
    // Server flags are sse-load's to set only on the server it starts.
    let flags = if embedded {
        plan.server_flags()
    } else {
        crate::target::ServerFlags::default()
    };
    if let Some(d) = flags.send_timeout {
        parameters.insert("server_send_timeout_seconds".into(), d.as_secs_f64().into());
    }
    if let Some(d) = flags.shutdown_grace {
        parameters.insert("server_shutdown_grace_seconds".into(), d.as_secs_f64().into());
    }
    // Other work on the host skews every figure: record how busy it was (the 1-minute
    // load average at the end of the run, sse-load and the server included).
    if let Some(load) = crate::environment::host_load() {
        parameters.insert("host_load_1m".into(), load.into());
    }
    if spread_sources {
        parameters.insert("source_addresses".into(), "spread over 127.0.0.0/8".into());
    }

    parameters
}

/// CPU on both sides, per event.
fn cpu(generator_cpu: CpuSpent, server_cpu: Option<CpuDelta>, received: u64, note: String, cpus: u32) -> Cpu {
    let server_seconds = server_cpu.map(|c| c.total);
    let split = server_cpu.and_then(|c| c.split);
    Cpu {
        server_seconds,
        server_ns_per_event: server_seconds.and_then(|s| ns_per_event(s, received)),
        server_user_seconds: split.map(|(u, _)| u),
        server_system_seconds: split.map(|(_, s)| s),
        server_events_per_write: server_cpu
            .and_then(|c| c.write_calls)
            .filter(|&w| w > 0 && received > 0)
            .map(|w| received as f64 / w as f64),
        generator_seconds: generator_cpu.seconds,
        generator_ns_per_event: ns_per_event(generator_cpu.seconds, received),
        generator_bound: generator_bound(generator_cpu, server_seconds, cpus),
        generator_saturation: Some(generator_saturation(generator_cpu, server_seconds, cpus)),
        generator_events_per_cpu_second: (generator_cpu.seconds > 0.0)
            .then(|| received as f64 / generator_cpu.seconds),
        note: Some(note),
    }
}

fn latencies(outcome: &Outcome, wanted: Option<&[Metric]>) -> BTreeMap<String, Latency> {
    let totals = &outcome.totals;
    let mut latency = BTreeMap::new();
    for metric in Metric::ALL {
        if metric == Metric::InterEventCorrected || wanted.is_some_and(|w| !w.contains(&metric)) {
            continue;
        }
        let Some(hist) = totals.histogram(metric) else {
            continue;
        };
        let mut summary = Latency::from_histogram(hist, metric.measured());
        if metric == Metric::InterEvent {
            if let Some(corrected) = totals.histogram(Metric::InterEventCorrected) {
                summary = summary.with_corrected(corrected);
            }
        }
        latency.insert(metric.key().to_owned(), summary);
    }
    latency
}

fn connections(outcome: &Outcome) -> Connections {
    let c = &outcome.totals.counts;
    let conn = &c.connections;
    Connections {
        attempted: conn.attempted,
        succeeded: conn.succeeded,
        failed: conn.failed,
        ended_clean: conn.ended_clean,
        ended_reset: conn.ended_reset,
        error_rate: if conn.attempted > 0 {
            conn.failed as f64 / conn.attempted as f64
        } else {
            0.0
        },
        errors: c.errors.iter().map(|(&kind, &n)| (kind.to_owned(), n)).collect(),
    }
}
