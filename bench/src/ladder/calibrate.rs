//! `sse-load calibrate`: each workload served by each design of the ladder in one run, figures side by side and as multiples of the floor.
//!
//! Every cell is a real run: the design is started as the embedded server
//! (`__serve --design NAME`), the generator holds the workload's subscribers on
//! `GET /events` while the design's built-in publisher sends stamped events, and the
//! figures come from the same report a scenario writes: delivered events/s, server CPU
//! per delivery (`/proc/<pid>` of the server process), RSS per connection (peak RSS with
//! every stream open, less RSS before the first connect, over the streams), p99
//! publish-to-receive latency, and the generator's CPU per received event beside the
//! server's (a ratio of 1 or more means the generator, not the server, set the pace).
//!
//! Under each workload that publishes, one more run reads the reference server with the
//! lean reader ([`super::lean`]) instead of the generator: the generator-to-server ratio
//! of a reader that does nothing but receive, the lowest any generator reaches there.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::Design;
use super::lean::{self, LeanFigures};
use crate::environment::Environment;
use crate::model::ScenarioReport;
use crate::runner::build_report::{Labels, build};
use crate::runner::run::RunError;
use crate::runner::{RunResult, TargetSpec, run_plan};
use crate::scenario::feed::Feed;
use crate::scenario::population::Population;
use crate::scenario::{Definition, Plan};
use crate::target::{EmbeddedServer, Launcher};

/// One fan-out workload: subscribers, publish rate and payload.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Workload {
    /// Name on the command line and in the table.
    pub name: &'static str,
    /// Subscribers on `GET /events`.
    pub clients: usize,
    /// Events published per second (0: idle streams, for memory per connection).
    pub rate: f64,
    /// Bytes of data per event.
    pub payload: usize,
}

/// The workloads of `sse-load calibrate`, as the floor table in the README shows them.
pub const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "saturated",
        clients: 100,
        rate: 10_000.0,
        payload: 64,
    },
    Workload {
        name: "paced",
        clients: 1_000,
        rate: 100.0,
        payload: 64,
    },
    Workload {
        name: "idle",
        clients: 10_000,
        rate: 0.0,
        payload: 64,
    },
];

impl Workload {
    /// The workload called `name`.
    pub fn named(name: &str) -> Option<Self> {
        WORKLOADS.iter().copied().find(|w| w.name == name)
    }

    /// What the workload is, in words.
    pub fn describe(&self) -> String {
        if self.rate > 0.0 {
            format!(
                "{} subscribers x {} ev/s, {} B",
                self.clients, self.rate, self.payload
            )
        } else {
            format!("{} idle streams", self.clients)
        }
    }

    /// The plan that measures it for `duration`. Idle streams are held without a
    /// publisher; the server's keep-alive pings are off so nothing is written.
    pub fn plan(&self, duration: Duration) -> Plan {
        // Thousands of connects are spread at the connect rate (`Population::connect_ramp`),
        // so the listen backlog does not overflow.
        let mut plan = Plan::new(
            Population::hold(self.clients),
            Feed::Hub {
                rate: self.rate,
                payload: self.payload,
            },
            duration,
        );
        plan.server.ping_interval = Some(Duration::ZERO);
        plan
    }
}

/// The figures of one design under one workload.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The design measured.
    pub design: Design,
    /// Events received per second over all subscribers.
    pub events_per_sec: Option<f64>,
    /// Server CPU per delivered event, ns.
    pub server_ns_per_delivery: Option<f64>,
    /// Generator CPU per received event, ns.
    pub generator_ns_per_event: Option<f64>,
    /// Events delivered per write-type system call of the server: how much each design
    /// coalesces (a design behind its clients writes several events at once).
    pub events_per_write: Option<f64>,
    /// Server RSS per open stream, bytes.
    pub rss_bytes_per_connection: Option<f64>,
    /// p99 publish-to-receive latency, ms.
    pub p99_ms: Option<f64>,
    /// Events lost (gaps in the ids).
    pub lost: u64,
    /// Connections that failed.
    pub failed_connections: u64,
}

impl Cell {
    /// The figures of a finished run.
    pub fn from_report(design: Design, clients: usize, report: &ScenarioReport) -> Self {
        let rss = report
            .memory
            .as_ref()
            .map(|m| (m.peak_mb - m.start_mb).max(0.0) * 1024.0 * 1024.0 / clients.max(1) as f64);
        Self {
            design,
            events_per_sec: report.throughput.as_ref().map(|t| t.events_per_sec),
            server_ns_per_delivery: report.cpu.server_ns_per_event,
            generator_ns_per_event: report.cpu.generator_ns_per_event,
            events_per_write: report.cpu.server_events_per_write,
            rss_bytes_per_connection: rss,
            p99_ms: report.latency.get("publish_to_receive").map(|l| l.p99_ms),
            lost: report.events.lost,
            failed_connections: report.connections.failed,
        }
    }
}

/// Why a cell could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    /// Starting the design or running the workload failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// The design lacked something the workload needs.
    #[error("skipped: {0}")]
    Skipped(String),
    /// The lean reader could not hold or read its streams.
    #[error("the lean reader: {0}")]
    Lean(#[source] std::io::Error),
}

/// How long the lean reader reads before its window opens (connects, headers, warm caches).
const LEAN_WARMUP: Duration = Duration::from_secs(1);

/// Runs `workload` against the reference server with the lean reader ([`lean`]) instead of
/// the generator, measuring for `duration`: the lowest generator-to-server ratio any
/// reader reaches against it on this machine.
///
/// # Errors
/// The server did not start, or the lean reader failed (see [`lean::read_streams`]).
pub async fn measure_lean(
    exe: &Path,
    workload: &Workload,
    duration: Duration,
) -> Result<LeanFigures, CalibrateError> {
    let launcher = Launcher {
        exe: exe.to_owned(),
        extra_args: vec![format!("--design={}", Design::Reference)],
    };
    let server = EmbeddedServer::start(&launcher, &workload.plan(duration).server_flags())
        .await
        .map_err(RunError::from)?;
    let (addr, pid, clients) = (server.addr(), server.pid(), workload.clients);
    let read =
        tokio::task::spawn_blocking(move || lean::read_streams(addr, clients, LEAN_WARMUP, duration, pid))
            .await;
    // The server goes whatever the reader found; a failure to stop it does not hide the figures.
    let _ = server.stop(Duration::from_secs(10)).await;
    match read {
        Ok(figures) => figures.map_err(CalibrateError::Lean),
        Err(join) => Err(CalibrateError::Lean(std::io::Error::other(join.to_string()))),
    }
}

/// The line under a workload's table that gives the lean reader's figures.
pub fn render_lean(figures: &LeanFigures) -> String {
    let mut line = format!(
        "  lean reader against reference: {:.0} ns/event, server {:.0} ns/delivery, gen/srv {:.2} \
         (one thread, epoll, one recv per ready socket, nothing parsed or timed: the lowest \
         ratio a reader that sees every event reaches here)",
        figures.reader_ns_per_event,
        figures.server_ns_per_delivery,
        figures.ratio()
    );
    if figures.silent_clients > 0 {
        let _ = write!(line, "  ({} streams received nothing)", figures.silent_clients);
    }
    line
}

/// Runs `workload` against `design` for `duration` and returns its figures.
///
/// # Errors
/// The design's server did not start, or the run failed.
pub async fn measure(
    exe: &Path,
    design: Design,
    workload: &Workload,
    duration: Duration,
    environment: &Environment,
) -> Result<Cell, CalibrateError> {
    let launcher = Launcher {
        exe: exe.to_owned(),
        extra_args: vec![format!("--design={design}")],
    };
    let plan = workload.plan(duration);
    let measured = match run_plan(&plan, &TargetSpec::Embedded(launcher)).await? {
        RunResult::Done(measured) => measured,
        // The embedded designs offer everything a hub workload needs.
        RunResult::Skipped(reason) => return Err(CalibrateError::Skipped(reason)),
    };
    let definition = Definition::named("calibrate", "a workload of sse-load calibrate");
    let labels = Labels {
        profile: workload.name,
        repeat: 1,
        environment,
    };
    let report = build(&definition, &plan, *measured, &labels);
    Ok(Cell::from_report(design, workload.clients, &report))
}

/// The table of one workload: one row per design, with multiples of the floor's figures
/// when the floor was measured.
pub fn render(workload: &Workload, cells: &[Cell]) -> String {
    let floor = cells.iter().find(|c| c.design == Design::Floor);
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", workload.name, workload.describe());
    let _ = writeln!(
        out,
        "  {:<10} {:>12} {:>9} {:>16} {:>14} {:>9} {:>10} {:>9} {:>9}",
        "design",
        "events/s",
        "% floor",
        "server ns/deliv",
        "x floor CPU",
        "ev/write",
        "RSS B/conn",
        "p99 ms",
        "gen/srv"
    );
    for cell in cells {
        let pct = ratio(cell.events_per_sec, floor.and_then(|f| f.events_per_sec)).map(|r| r * 100.0);
        let cpu_x = ratio(
            cell.server_ns_per_delivery,
            floor.and_then(|f| f.server_ns_per_delivery),
        );
        let gen_ratio = ratio(cell.generator_ns_per_event, cell.server_ns_per_delivery);
        let _ = writeln!(
            out,
            "  {:<10} {:>12} {:>9} {:>16} {:>14} {:>9} {:>10} {:>9} {:>9}{}",
            cell.design.name(),
            show(cell.events_per_sec, 0),
            show(pct, 0),
            show(cell.server_ns_per_delivery, 0),
            show(cpu_x, 2),
            show(cell.events_per_write, 1),
            show(cell.rss_bytes_per_connection, 0),
            show(cell.p99_ms, 2),
            show(gen_ratio, 2),
            problems(cell),
        );
    }
    out
}

/// `a / b` when both are known and `b` is positive.
pub(super) fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

/// `value` with `decimals` decimals, or a dash when it is unknown.
pub(super) fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.decimals$}"))
}

fn problems(cell: &Cell) -> String {
    let mut out = String::new();
    if cell.lost > 0 {
        let _ = write!(out, "  ({} events lost)", cell.lost);
    }
    if cell.failed_connections > 0 {
        let _ = write!(out, "  ({} connections failed)", cell.failed_connections);
    }
    out
}
