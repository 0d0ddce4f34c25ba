//! `sse-load calibrate` and `sse-load sweep`: the comparator ladder's tables and the capacity and rate sweeps, from the command line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::client::protocol::{self, Protocol};
use crate::environment::Environment;
use crate::environment::host_load;
use crate::fs::write_atomic;
use crate::ladder::Design;
use crate::ladder::calibrate::{self, Cell, Workload};
use crate::ladder::shape::{self, ScenarioFloor};
use crate::ladder::sweep::{self, Axis, Slo, Step};
use crate::scenario::{Definition, Plan};

/// Flags of `sse-load calibrate`.
#[derive(Debug, Clone, clap::Args)]
pub struct CalibrateArgs {
    /// Workload to measure (repeatable): saturated (100 x 10,000 ev/s), paced (1,000 x 100 ev/s), idle (10,000 streams).
    #[arg(long = "workload", value_name = "NAME", value_parser = ["saturated", "paced", "idle"])]
    pub workloads: Vec<String>,
    /// Design to measure (repeatable) [default: all three, floor first].
    #[arg(long = "design", value_enum, value_name = "NAME")]
    pub designs: Vec<Design>,
    /// How long each cell is measured.
    #[arg(long, default_value = "5s", value_parser = sse_server::config::parse_duration)]
    pub duration: Duration,
    /// Subscribers of every chosen workload, replacing its own count: the global `--clients`
    /// (e.g. `--workload idle --clients 19000`; beyond 8,000 the generator spreads its source
    /// addresses over 127.0.0.0/8).
    #[arg(skip)]
    pub clients: Option<u32>,
    /// Scenarios to read twice, by the generator and by the lean reader at the same shape,
    /// each against a fresh reference server: the global `--scenario` (repeatable), at the
    /// global `--profile` and `--clients`. Only these run unless `--workload` is given too.
    #[arg(skip)]
    pub scenarios: Vec<(&'static Definition, Plan)>,
    /// Directory for `calibrate.json`.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub output_dir: PathBuf,
    /// The streams' protocol: the global `--protocol` and `--streams-per-connection`, given
    /// before `calibrate` (HTTP/2 with `--design reference` only: the other designs speak
    /// HTTP/1.1).
    #[arg(skip)]
    pub protocol: Protocol,
}

/// Flags of `sse-load sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// What to step: subscribers (capacity, finds the knee) or the publish rate (finds the elbow).
    #[arg(value_enum)]
    pub axis: Axis,
    /// The steps, comma-separated [default: capacity 100,250,500,1000,2000,4000; rate 100,1000,2500,5000,10000,20000].
    #[arg(long, value_delimiter = ',', value_name = "X,...")]
    pub steps: Vec<f64>,
    /// Publish rate of a capacity sweep, events/s.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Subscribers of a rate sweep: the global `--clients`, 100 when it is not given.
    #[arg(skip = 100_usize)]
    pub clients: usize,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 64)]
    pub payload: usize,
    /// SLO: highest p99 publish-to-receive latency, ms.
    #[arg(long, default_value_t = 50.0)]
    pub slo_p99_ms: f64,
    /// SLO: highest connection error rate, 0..1.
    #[arg(long, default_value_t = 0.01)]
    pub slo_error_rate: f64,
    /// The design under test.
    #[arg(long, value_enum, default_value_t = Design::Reference)]
    pub design: Design,
    /// How long each step is measured.
    #[arg(long, default_value = "5s", value_parser = sse_server::config::parse_duration)]
    pub duration: Duration,
    /// Directory for `sweep-<axis>.json` and `.html`.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub output_dir: PathBuf,
}

/// Runs `sse-load calibrate`: prints one table per workload and writes `calibrate.json`.
///
/// # Errors
/// A design did not start, a run failed, or the results could not be written.
pub async fn calibrate(args: &CalibrateArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let environment = Environment::capture();
    let workloads: Vec<Workload> = if args.workloads.is_empty() && args.scenarios.is_empty() {
        calibrate::WORKLOADS.to_vec()
    } else {
        args.workloads.iter().filter_map(|n| Workload::named(n)).collect()
    };
    let workloads: Vec<Workload> = workloads
        .into_iter()
        .map(|w| Workload {
            clients: args.clients.map_or(w.clients, |n| n as usize),
            ..w
        })
        .collect();
    let designs = if args.designs.is_empty() {
        Design::ALL.to_vec()
    } else {
        args.designs.clone()
    };
    let most_clients = workloads.iter().map(|w| w.clients);
    let most_clients = most_clients.chain(args.scenarios.iter().map(|(_, plan)| plan.population.clients));
    raise_fd_limit(most_clients.max().unwrap_or(0));
    protocol::set_configured(args.protocol);
    if let Protocol::Http2 { .. } = args.protocol {
        println!(
            "streams over HTTP/2 (h2c, prior knowledge), {} per connection",
            args.protocol.streams_per_connection()
        );
    }
    let mut results = Vec::new();
    for workload in &workloads {
        let mut cells = Vec::new();
        for &design in &designs {
            eprintln!(
                "calibrate: {} ({}) against {design}",
                workload.name,
                workload.describe()
            );
            cells.push(calibrate::measure(&exe, design, workload, args.duration, &environment).await?);
        }
        println!("{}", calibrate::render(workload, &cells));
        let lean = if workload.rate > 0.0 && args.protocol == Protocol::Http1 {
            eprintln!(
                "calibrate: {} against reference, read by the lean reader",
                workload.name
            );
            let figures = calibrate::measure_lean(&exe, workload, args.duration).await?;
            println!("{}\n", calibrate::render_lean(&figures));
            Some(figures)
        } else {
            None
        };
        results.push(serde_json::json!({"workload": workload, "cells": cells, "lean_reader": lean}));
    }
    let scenarios = scenario_floors(&exe, &args.scenarios, &environment).await?;
    let json = serde_json::json!({
        "duration_seconds": args.duration.as_secs_f64(),
        "protocol": args.protocol.name(),
        "streams_per_connection": args.protocol.streams_per_connection(),
        "host_load_1m": host_load(),
        "environment": environment,
        "workloads": results,
        "scenarios": scenarios,
    });
    if let Some(load) = host_load() {
        println!(
            "host load average (1 min): {load:.2} on {} CPUs",
            environment.cpu_count
        );
    }
    let path = args.output_dir.join("calibrate.json");
    write_json(&path, &json)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Reads each of `scenarios` with the generator and with the lean reader, and prints their
/// table; a scenario the lean reader cannot reproduce is named with the reason and left out.
async fn scenario_floors(
    exe: &Path,
    scenarios: &[(&'static Definition, Plan)],
    environment: &Environment,
) -> anyhow::Result<Vec<ScenarioFloor>> {
    let mut rows = Vec::new();
    for (definition, plan) in scenarios {
        eprintln!(
            "calibrate: scenario {} read by the generator, then by the lean reader",
            definition.name
        );
        match shape::measure(exe, definition, plan, environment).await {
            Ok(row) => rows.push(row),
            Err(calibrate::CalibrateError::Skipped(reason)) => {
                println!("  {}: not read by the lean reader: {reason}", definition.name);
            }
            Err(err) => return Err(err.into()),
        }
    }
    if !rows.is_empty() {
        println!("{}", shape::render(&rows));
    }
    Ok(rows)
}

/// Runs `sse-load sweep`: one run per step, the knee (capacity) or elbow (rate), JSON and HTML.
///
/// # Errors
/// A run failed, or the results could not be written.
pub async fn sweep(args: &SweepArgs) -> anyhow::Result<()> {
    let environment = Environment::capture();
    let xs = step_values(args);
    let slo = Slo {
        p99_ms: args.slo_p99_ms,
        error_rate: args.slo_error_rate,
    };
    raise_fd_limit(
        xs.iter()
            .map(|&x| x as usize)
            .max()
            .unwrap_or(0)
            .max(args.clients),
    );
    let steps = run_steps(args, &xs, &slo, &environment).await?;
    let Analysis {
        marker,
        verdict,
        json: analysis,
    } = analyse(args.axis, &steps, &slo)?;
    println!("{verdict}");
    let svg = sweep::chart(
        args.axis,
        &steps,
        (args.axis == Axis::Capacity).then_some(slo.p99_ms),
        marker,
    )
    .map_err(|e| anyhow::anyhow!("drawing the sweep chart: {e}"))?;
    let ran = SweepRun {
        steps: &steps,
        slo: &slo,
        analysis,
        verdict: &verdict,
        svg: &svg,
        environment: &environment,
    };
    write_sweep(args, &ran)
}

/// The steps to run: the flag's, or the axis's defaults.
fn step_values(args: &SweepArgs) -> Vec<f64> {
    if !args.steps.is_empty() {
        return args.steps.clone();
    }
    match args.axis {
        Axis::Capacity => vec![100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0],
        Axis::Rate => vec![100.0, 1000.0, 2500.0, 5000.0, 10_000.0, 20_000.0],
    }
}

/// The workload of the step at `x`: `x` subscribers (capacity) or `x` events/s (rate).
fn workload_at(args: &SweepArgs, x: f64) -> Workload {
    match args.axis {
        Axis::Capacity => Workload {
            name: "sweep",
            clients: x as usize,
            rate: args.rate,
            payload: args.payload,
        },
        Axis::Rate => Workload {
            name: "sweep",
            clients: args.clients,
            rate: x,
            payload: args.payload,
        },
    }
}

/// Measures each step in turn, printing one line per step; a capacity sweep stops at the
/// first step that breaks the SLO (past the knee it has found what it looks for).
async fn run_steps(
    args: &SweepArgs,
    xs: &[f64],
    slo: &Slo,
    environment: &Environment,
) -> anyhow::Result<Vec<Step>> {
    let exe = std::env::current_exe()?;
    let mut steps = Vec::new();
    for &x in xs {
        let workload = workload_at(args, x);
        eprintln!(
            "sweep {}: {} against {}",
            args.axis.label(),
            workload.describe(),
            args.design
        );
        let cell = calibrate::measure(&exe, args.design, &workload, args.duration, environment).await?;
        let step = to_step(x, workload.clients, &cell);
        println!(
            "  {:>10}  p99 {:>9} ms  events/s {:>10.0}  errors {:.2}%  lost {}",
            x,
            step.p99_ms.map_or("-".into(), |p| format!("{p:.2}")),
            step.events_per_sec,
            step.error_rate * 100.0,
            step.lost
        );
        let broken = slo.broken_by(&step).is_some();
        steps.push(step);
        if broken && args.axis == Axis::Capacity {
            break;
        }
    }
    Ok(steps)
}

/// What a sweep's steps show.
struct Analysis {
    /// The knee or elbow to mark on the chart, with its label.
    marker: Option<(f64, &'static str)>,
    /// The one-line verdict.
    verdict: String,
    /// The analysis as JSON (`analysis` of the sweep file).
    json: serde_json::Value,
}

/// The chart marker, the one-line verdict and the JSON analysis of the steps: the knee and
/// safe ceiling of a capacity sweep, the elbow of a rate sweep.
fn analyse(axis: Axis, steps: &[Step], slo: &Slo) -> anyhow::Result<Analysis> {
    Ok(match axis {
        Axis::Capacity => {
            let c = sweep::capacity(steps, slo);
            let verdict = match (&c.knee, &c.safe_ceiling) {
                (Some(knee), ceiling) => format!(
                    "knee at {knee} subscribers ({}); safe ceiling {}",
                    c.reason.as_deref().unwrap_or(""),
                    ceiling.map_or("below the first step".into(), |c| format!("{c} subscribers"))
                ),
                (None, ceiling) => format!(
                    "no knee up to {} subscribers: every step met the SLO",
                    ceiling.unwrap_or(0.0)
                ),
            };
            Analysis {
                marker: c.knee.map(|k| (k, "knee")),
                verdict,
                json: serde_json::to_value(&c)?,
            }
        }
        Axis::Rate => {
            let e = sweep::elbow(steps);
            let verdict = e.map_or_else(
                || "no elbow: p99 did not turn up over the steps".to_owned(),
                |x| format!("elbow of p99 latency at {x} events/s"),
            );
            Analysis {
                marker: e.map(|x| (x, "elbow")),
                verdict,
                json: serde_json::json!({ "elbow": e }),
            }
        }
    })
}

/// What a sweep found, for its files.
struct SweepRun<'a> {
    steps: &'a [Step],
    slo: &'a Slo,
    analysis: serde_json::Value,
    verdict: &'a str,
    svg: &'a str,
    environment: &'a Environment,
}

/// Writes `sweep-<axis>.json` and `sweep-<axis>.html` into the output directory.
fn write_sweep(args: &SweepArgs, ran: &SweepRun<'_>) -> anyhow::Result<()> {
    let name = match args.axis {
        Axis::Capacity => "sweep-capacity",
        Axis::Rate => "sweep-rate",
    };
    let json = serde_json::json!({
        "axis": args.axis,
        "design": args.design,
        "slo": ran.slo,
        "fixed": match args.axis { Axis::Capacity => serde_json::json!({"rate": args.rate, "payload": args.payload}), Axis::Rate => serde_json::json!({"clients": args.clients, "payload": args.payload}) },
        "duration_seconds": args.duration.as_secs_f64(),
        "steps": ran.steps,
        "analysis": ran.analysis,
        "verdict": ran.verdict,
        "host_load_1m": host_load(),
        "environment": ran.environment,
    });
    let json_path = args.output_dir.join(format!("{name}.json"));
    write_json(&json_path, &json)?;
    let html_path = args.output_dir.join(format!("{name}.html"));
    write_file(
        &html_path,
        html(args, ran.steps, ran.verdict, ran.svg, ran.environment).as_bytes(),
    )?;
    println!("wrote {}\nwrote {}", json_path.display(), html_path.display());
    Ok(())
}

fn to_step(x: f64, clients: usize, cell: &Cell) -> Step {
    Step {
        x,
        p99_ms: cell.p99_ms,
        error_rate: cell.failed_connections as f64 / clients.max(1) as f64,
        lost: cell.lost,
        events_per_sec: cell.events_per_sec.unwrap_or(0.0),
        server_ns_per_event: cell.server_ns_per_delivery,
    }
}

fn html(args: &SweepArgs, steps: &[Step], verdict: &str, svg: &str, environment: &Environment) -> String {
    let mut rows = String::new();
    for s in steps {
        let _ = writeln!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{}</td><td>{:.2}%</td><td>{}</td></tr>",
            s.x,
            s.p99_ms.map_or("-".into(), |p| format!("{p:.2}")),
            s.events_per_sec,
            s.server_ns_per_event.map_or("-".into(), |n| format!("{n:.0}")),
            s.error_rate * 100.0,
            s.lost
        );
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>sse-load sweep: {axis}</title>\
<style>body{{font-family:sans-serif;max-width:780px;margin:2em auto}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}svg{{max-width:100%;height:auto}}</style></head><body>\
<h1>Sweep: {axis} ({design})</h1><p><strong>{verdict}</strong></p>{svg}\
<table><tr><th>{axis}</th><th>p99 ms</th><th>events/s</th><th>server ns/event</th><th>errors</th><th>lost</th></tr>\n{rows}</table>\
<p>Host {host}, {cpus} CPUs ({cpu}), {rustc}, git {git}; each step measured for {secs} s; host load average {load} at the end.</p></body></html>\n",
        axis = args.axis.label(),
        design = args.design,
        host = environment.host,
        cpus = environment.cpu_count,
        cpu = environment.cpu_model,
        rustc = environment.rustc,
        git = environment.git_revision,
        secs = args.duration.as_secs_f64(),
        load = host_load().map_or("unknown".into(), |l| format!("{l:.2}")),
    )
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_file(path, text.as_bytes())
}

fn write_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    write_atomic(path, contents)?;
    Ok(())
}

/// One fd per stream on the generator side.
fn raise_fd_limit(streams: usize) {
    if streams > 500 {
        match sse_server::limits::raise_fd_limit() {
            Ok(limit) if (limit as usize) < streams + 256 => {
                eprintln!(
                    "warning: the open-file limit is {limit}, too low for {streams} streams; raise it (ulimit -n)"
                );
            }
            Ok(_) => {}
            Err(err) => eprintln!("warning: could not raise the open-file limit: {err}"),
        }
    }
}
