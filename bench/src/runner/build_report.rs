//! Turning a run's measurements into a [`ScenarioReport`]: latencies, throughput, CPU, memory, checks.

use std::collections::BTreeMap;

use super::collect::Measured;
use crate::environment::Environment;
use crate::environment::rfc3339;
use crate::measure::cpu::{CpuSpent, CpuTime, generator_bound, ns_per_event};
use crate::measure::stats::Metric;
use crate::model::{
    Connections, Cpu, EventCounts, Latency, SCHEMA_VERSION, ScenarioReport, ServerFigures, Spread, Target,
    Throughput,
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
        timeline,
        generator_cpu,
        server_cpu,
        cpu_note,
        spread_sources,
    } = measured;
    let checks = plan.checks.iter().filter_map(|c| c.evaluate(&outcome)).collect();
    let counts = &outcome.totals.counts;
    let received = counts.events.received;
    let wall = outcome.wall.as_secs_f64();

    let parameters = parameters(plan, spread_sources);
    let throughput = (received > 0 && wall > 0.0).then(|| Throughput {
        events_per_sec: received as f64 / wall,
        bytes_per_sec: counts.bytes as f64 / wall,
        per_client: Spread::of(&counts.per_client_rates),
    });

    let cpu = cpu(generator_cpu, server_cpu, received, cpu_note);

    ScenarioReport {
        schema_version: SCHEMA_VERSION,
        scenario: definition.name.to_owned(),
        description: definition.description.to_owned(),
        profile: labels.profile.to_owned(),
        repeat: labels.repeat,
        started_at: rfc3339(started_at),
        duration_seconds: wall,
        environment: labels.environment.clone(),
        target: Target {
            url,
            embedded: capabilities.embedded,
            server_metrics: capabilities.metrics,
        },
        parameters,
        events: EventCounts {
            received,
            lost: counts.events.lost,
            duplicated: counts.events.duplicated,
            out_of_order: counts.events.out_of_order,
            comments: counts.comments,
            published: outcome.published.events,
            publish_failed: outcome.published.failed,
        },
        throughput,
        latency: latencies(&outcome, plan.latencies),
        connections: connections(&outcome),
        cpu,
        memory: outcome.memory.clone().filter(|_| plan.track_memory),
        server: match (&outcome.server_start, &outcome.server_end) {
            (Some(start), Some(end)) => Some(ServerFigures {
                start: start.to_map(),
                end: end.to_map(),
            }),
            _ => None,
        },
        timeline,
        checks,
    }
}

/// The scenario parameters as run, and the conditions that skew them (host load, source addresses).
fn parameters(plan: &Plan, spread_sources: bool) -> BTreeMap<String, serde_json::Value> {
    let mut parameters: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    parameters.insert("clients".into(), plan.population.clients.into());
    parameters.insert("duration_seconds".into(), plan.stop.duration.as_secs_f64().into());
    parameters.insert("ramp_seconds".into(), plan.population.ramp.as_secs_f64().into());
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
    let flags = plan.server_flags();
    if let Some(d) = flags.send_timeout {
        parameters.insert("server_send_timeout_seconds".into(), d.as_secs_f64().into());
    }
    if let Some(d) = flags.shutdown_grace {
        parameters.insert("server_shutdown_grace_seconds".into(), d.as_secs_f64().into());
    }
    // Other work on the host skews every figure: record how busy it was (the 1-minute
    // load average at the end of the run, sse-load and the server included).
    if let Some(load) = host_load() {
        parameters.insert("host_load_1m".into(), load.into());
    }
    if spread_sources {
        parameters.insert("source_addresses".into(), "spread over 127.0.0.0/8".into());
    }

    parameters
}

/// CPU on both sides, per event.
fn cpu(generator_cpu: CpuSpent, server_cpu: Option<CpuTime>, received: u64, note: String) -> Cpu {
    let server_seconds = server_cpu.map(|c| c.total().as_secs_f64());
    Cpu {
        server_seconds,
        server_ns_per_event: server_seconds.and_then(|s| ns_per_event(s, received)),
        server_user_seconds: server_cpu.map(|c| c.user.as_secs_f64()),
        server_system_seconds: server_cpu.map(|c| c.system.as_secs_f64()),
        generator_seconds: generator_cpu.seconds,
        generator_ns_per_event: ns_per_event(generator_cpu.seconds, received),
        generator_bound: generator_bound(generator_cpu, server_seconds),
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

/// The 1-minute load average of the host (`/proc/loadavg`).
fn host_load() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}
