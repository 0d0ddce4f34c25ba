//! A scenario's own floor: the lean reader at the scenario's shape (its clients, requests, connect times and stop), beside the generator in the same scenario.
//!
//! A calibrate workload reads held streams after a warm-up. A scenario's CPU window opens
//! before its first connect and closes when it stops, so connection set-up is inside it,
//! and so is teardown for clients that leave after their events. On loopback a client's
//! `connect(2)` runs both halves of the TCP handshake, and its `close(2)` runs the server
//! socket's FIN handling. Where each client receives few events, those costs set the
//! generator-to-server ratio, whoever the client is. The lean reader ([`super::lean`])
//! pays them and nothing else: what the generator costs above it is its own.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::calibrate::{self, CalibrateError, show};
use super::lean::{self, Epoll, FrameEnds, LeanFigures, WAIT_EVENTS};
use crate::client::http1::READ_BUFFER_LEN;
use crate::environment::Environment;
use crate::measure::cpu::thread_cpu_ns;
use crate::runner::build_report::{Labels, build};
use crate::runner::run::RunError;
use crate::runner::{RunResult, TargetSpec, run_plan};
use crate::scenario::plan::Action;
use crate::scenario::population::Behaviour;
use crate::scenario::{Definition, Plan};
use crate::target::{EmbeddedServer, Launcher};

/// What the lean reader reproduces of a scenario's reading clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    /// Path and query every client requests.
    pub path: String,
    /// When each client connects, from the start of the run (one entry per client).
    pub starts: Vec<Duration>,
    /// Events after which a client closes its stream; `None`: it holds it to the end.
    pub events_per_client: Option<u64>,
    /// The longest the run lasts.
    pub duration: Duration,
}

impl Shape {
    /// The shape of `plan`'s clients, or why the lean reader cannot reproduce it: it only
    /// holds plain streams (or leaves after a number of events), and only reads.
    ///
    /// # Errors
    /// The reason, in words.
    pub fn of(plan: &Plan) -> Result<Self, String> {
        let population = &plan.population;
        if population.behaviour != Behaviour::Hold {
            return Err(format!(
                "its clients {}; the lean reader only holds streams or leaves after a number of events",
                match population.behaviour {
                    Behaviour::Churn => "churn",
                    Behaviour::Reconnect { .. } => "reconnect",
                    _ => "leave and rejoin",
                }
            ));
        }
        if population.frozen > 0 {
            return Err("it has frozen clients; the lean reader reads every stream".into());
        }
        if plan.action != Action::None {
            return Err("it stops or pauses the server mid-run".into());
        }
        if plan.feed.needs_publish(true) {
            return Err("the generator publishes its events; the lean reader only reads".into());
        }
        Ok(Self {
            path: plan.feed.path(),
            starts: (0..population.clients)
                .map(|index| population.start_offset(index))
                .collect(),
            events_per_client: plan.stop.events_per_client,
            duration: plan.stop.duration,
        })
    }
}

/// Reads `shape` from the server at `addr`: connects each client at its start time, reads
/// every stream (one `recv` per ready socket per wake-up, frame ends counted) and closes
/// a stream once it has its events. Its CPU and that of server process `server_pid` are
/// read before the first connect and when the run stops (every client has its events, or
/// the duration is over), before the streams still open are closed. Blocking: call it on
/// a thread of its own.
///
/// # Errors
/// A connect failed, a stream ended or broke, no event arrived, or the server's CPU cannot
/// be read from `/proc/<pid>`.
pub fn read(addr: SocketAddr, shape: &Shape, server_pid: u32) -> io::Result<LeanFigures> {
    let clients = shape.starts.len();
    let mut reader = ShapeReader {
        epoll: Epoll::new()?,
        streams: Vec::with_capacity(clients),
        ends: vec![FrameEnds::default(); clients],
        received: vec![0; clients],
        open: 0,
        buf: vec![0; READ_BUFFER_LEN],
        ready: vec![libc::epoll_event { events: 0, u64: 0 }; WAIT_EVENTS],
    };
    let (server_before, own_before) = (lean::server_cpu(server_pid)?, thread_cpu_ns()?);
    let reads = reader.run(addr, shape)?;
    let (server_after, own_after) = (lean::server_cpu(server_pid)?, thread_cpu_ns()?);
    let events: u64 = reader.received.iter().sum();
    if events == 0 {
        return Err(io::Error::other(format!(
            "no event arrived on {clients} streams of {addr}{} in {:?}",
            shape.path, shape.duration
        )));
    }
    let per_event = |ns: u64| ns as f64 / events as f64;
    Ok(LeanFigures {
        clients,
        events,
        reads,
        silent_clients: reader.received.iter().filter(|&&n| n == 0).count(),
        reader_ns_per_event: per_event(own_after.saturating_sub(own_before)),
        server_ns_per_delivery: per_event(server_after.saturating_sub(server_before)),
    })
}

/// The streams of one shape, opened as their start times come.
struct ShapeReader {
    epoll: Epoll,
    /// One per client connected so far; `None` once it left with its events.
    streams: Vec<Option<TcpStream>>,
    ends: Vec<FrameEnds>,
    received: Vec<u64>,
    open: usize,
    buf: Vec<u8>,
    ready: Vec<libc::epoll_event>,
}

impl ShapeReader {
    /// Connects and reads until the shape stops; returns the `recv` calls that returned data.
    fn run(&mut self, addr: SocketAddr, shape: &Shape) -> io::Result<u64> {
        let clients = shape.starts.len();
        let start = Instant::now();
        let end = start + shape.duration;
        let mut reads = 0;
        loop {
            let now = Instant::now();
            while let Some(&due) = shape.starts.get(self.streams.len()) {
                if start + due > now {
                    break;
                }
                let index = self.streams.len();
                self.streams
                    .push(Some(lean::subscribe(addr, &shape.path, &self.epoll, index)?));
                self.open += 1;
            }
            let everyone_left = self.streams.len() == clients && self.open == 0;
            if everyone_left || now >= end {
                return Ok(reads);
            }
            let wake = shape
                .starts
                .get(self.streams.len())
                .map_or(end, |&due| (start + due).min(end));
            let ready = self
                .epoll
                .wait(&mut self.ready, wake.saturating_duration_since(now))?;
            for i in 0..ready {
                let index = self.ready[i].u64 as usize;
                if self.read_one(index, shape.events_per_client)? {
                    reads += 1;
                }
            }
        }
    }

    /// One `recv` from stream `index`; closes it when it has `limit` events. Whether it
    /// returned data.
    fn read_one(&mut self, index: usize, limit: Option<u64>) -> io::Result<bool> {
        let Some(stream) = &self.streams[index] else {
            return Ok(false);
        };
        let Some(frames) = lean::recv_frames(stream, &mut self.buf, &mut self.ends[index], index)? else {
            return Ok(false);
        };
        self.received[index] += frames;
        if limit.is_some_and(|limit| self.received[index] >= limit) {
            // Closing the socket also takes it off the epoll instance.
            self.streams[index] = None;
            self.open -= 1;
        }
        Ok(true)
    }
}

/// One scenario read twice, each time against a fresh reference server: by the generator
/// (the scenario as `sse-load` runs it), then by the lean reader at the same shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioFloor {
    /// The scenario.
    pub scenario: &'static str,
    /// Its clients.
    pub clients: usize,
    /// The generator's CPU per received event, ns.
    pub generator_ns_per_event: Option<f64>,
    /// The server's CPU per delivered event in the generator's run, ns.
    pub server_ns_per_event: Option<f64>,
    /// The lean reader's run.
    pub lean: LeanFigures,
}

impl ScenarioFloor {
    /// The generator's CPU per event over the server's, as the scenario's report gives it.
    pub fn generator_ratio(&self) -> Option<f64> {
        calibrate::ratio(self.generator_ns_per_event, self.server_ns_per_event)
    }

    /// How many times the lean reader's ratio the generator's is: what the generator
    /// costs above any reader at this shape.
    pub fn over_lean(&self) -> Option<f64> {
        calibrate::ratio(self.generator_ratio(), Some(self.lean.ratio()))
    }
}

/// Runs `plan` (scenario `definition`) with the generator, then with the lean reader, each
/// against a reference server of its own started from `exe`.
///
/// # Errors
/// The lean reader cannot reproduce the scenario ([`CalibrateError::Skipped`], with the
/// reason), a server did not start, or a run failed.
pub async fn measure(
    exe: &Path,
    definition: &'static Definition,
    plan: &Plan,
    environment: &Environment,
) -> Result<ScenarioFloor, CalibrateError> {
    let shape = Shape::of(plan).map_err(CalibrateError::Skipped)?;
    let launcher = Launcher {
        exe: exe.to_owned(),
        extra_args: Vec::new(),
    };
    let measured = match run_plan(plan, &TargetSpec::Embedded(launcher.clone())).await? {
        RunResult::Done(measured) => measured,
        RunResult::Skipped(reason) => return Err(CalibrateError::Skipped(reason)),
    };
    let labels = Labels {
        profile: "calibrate",
        repeat: 1,
        environment,
    };
    let report = build(definition, plan, *measured, &labels);
    let server = EmbeddedServer::start(&launcher, &plan.server_flags())
        .await
        .map_err(RunError::from)?;
    let (addr, pid) = (server.addr(), server.pid());
    let read = tokio::task::spawn_blocking(move || read(addr, &shape, pid)).await;
    // The server goes whatever the reader found; a failure to stop it does not hide the figures.
    let _ = server.stop(Duration::from_secs(10)).await;
    let lean = match read {
        Ok(figures) => figures.map_err(CalibrateError::Lean)?,
        Err(join) => return Err(CalibrateError::Lean(io::Error::other(join.to_string()))),
    };
    Ok(ScenarioFloor {
        scenario: definition.name,
        clients: plan.population.clients,
        generator_ns_per_event: report.cpu.generator_ns_per_event,
        server_ns_per_event: report.cpu.server_ns_per_event,
        lean,
    })
}

/// The table of scenario floors: the generator's ratio beside the lean reader's.
pub fn render(rows: &[ScenarioFloor]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "scenarios: each read by the generator, then by the lean reader at its shape, each against a fresh reference server"
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>11} {:>11} {:>8} {:>11} {:>11} {:>9} {:>9}",
        "scenario",
        "clients",
        "gen ns/ev",
        "srv ns/ev",
        "gen/srv",
        "lean ns/ev",
        "srv ns/ev",
        "lean/srv",
        "gen/lean"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "  {:<22} {:>8} {:>11} {:>11} {:>8} {:>11.0} {:>11.0} {:>9.2} {:>9}{}",
            row.scenario,
            row.clients,
            show(row.generator_ns_per_event, 0),
            show(row.server_ns_per_event, 0),
            show(row.generator_ratio(), 2),
            row.lean.reader_ns_per_event,
            row.lean.server_ns_per_delivery,
            row.lean.ratio(),
            show(row.over_lean(), 2),
            if row.lean.silent_clients > 0 {
                format!("  ({} lean streams received nothing)", row.lean.silent_clients)
            } else {
                String::new()
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    fn smoke_plan(name: &str) -> Plan {
        let definition = scenario::find(name).expect("a scenario of the catalog");
        definition.plan(definition.smoke)
    }

    #[test]
    fn a_scenario_whose_clients_only_read_has_a_shape() {
        let plan = smoke_plan("time-to-first-event");
        let shape = Shape::of(&plan).unwrap();
        assert_eq!(shape.path, plan.feed.path());
        assert_eq!(shape.starts.len(), plan.population.clients);
        assert_eq!(shape.events_per_client, Some(3));
        assert_eq!(shape.duration, plan.stop.duration);
        // The ramp of memory-stability spreads the connects as the generator does.
        let plan = smoke_plan("memory-stability");
        let shape = Shape::of(&plan).unwrap();
        assert_eq!(shape.events_per_client, None);
        assert_eq!(shape.starts[0], Duration::ZERO);
        assert_eq!(
            shape.starts.last(),
            Some(&plan.population.start_offset(plan.population.clients - 1))
        );
        assert!(
            shape.starts.last() > Some(&Duration::ZERO),
            "{:?}",
            shape.starts.last()
        );
    }

    #[test]
    fn a_scenario_the_lean_reader_cannot_reproduce_says_why() {
        for (name, reason) in [
            ("churn", "its clients churn"),
            ("reconnect", "its clients reconnect"),
            ("memory-reclamation", "its clients leave and rejoin"),
            ("backpressure", "frozen clients"),
            ("graceful-shutdown", "stops or pauses the server"),
            ("burst", "the generator publishes"),
        ] {
            let err = Shape::of(&smoke_plan(name)).unwrap_err();
            assert!(err.contains(reason), "{name}: {err}");
        }
    }

    fn floor(generator: Option<f64>, server: Option<f64>, lean: f64) -> ScenarioFloor {
        ScenarioFloor {
            scenario: "s",
            clients: 1,
            generator_ns_per_event: generator,
            server_ns_per_event: server,
            lean: LeanFigures {
                clients: 1,
                events: 10,
                reads: 10,
                silent_clients: 0,
                reader_ns_per_event: lean,
                server_ns_per_delivery: 1000.0,
            },
        }
    }

    #[test]
    fn the_generator_is_set_beside_the_lean_reader_by_their_ratios() {
        let row = floor(Some(750.0), Some(1000.0), 500.0);
        assert_eq!(row.generator_ratio(), Some(0.75));
        assert_eq!(row.over_lean(), Some(1.5));
        let table = render(&[row]);
        assert!(
            table.contains("0.75") && table.contains("0.50") && table.contains("1.50"),
            "{table}"
        );
        // Without the server's CPU there is no ratio, and the table shows a dash.
        let row = floor(Some(750.0), None, 500.0);
        assert_eq!((row.generator_ratio(), row.over_lean()), (None, None));
        assert!(render(&[row]).contains(" - "));
    }
}
