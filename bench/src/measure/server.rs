//! Server-side figures: `/metrics` of any target (typed [`Figures`], from JSON or Prometheus text) and `/proc/<pid>` of a local one.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Uri;
use sse_server::metrics::ProcessStats;

use super::process::{Footprint, ProcessReading};
use super::prometheus::{self, CPU_SECONDS};
use crate::client::{get, get_json};

const MIB: f64 = 1024.0 * 1024.0;

/// Declares [`Figures`] with one typed field per `/metrics` name.
macro_rules! figures {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Server figures as `/metrics` names them: one field per field of
        /// [`sse_server::Snapshot`] (a test keeps the two in step), each `None` when the
        /// target does not report it, so a check reads `figures.watcher_count`, never a
        /// string key a typo could miss. Numeric fields the target serves beyond these are
        /// kept in [`Figures::other`] for the report. Bools are 0/1.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Figures {
            $($(#[$doc])* pub $name: Option<f64>,)*
            /// Other numeric figures the target served (a foreign server's own names).
            pub other: BTreeMap<String, f64>,
        }

        impl Figures {
            /// The names of the typed fields, as `/metrics` spells them.
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];

            /// Takes the typed fields out of `map`; the rest stays in [`Figures::other`].
            pub fn from_map(mut map: BTreeMap<String, f64>) -> Self {
                Self {
                    $($name: map.remove(stringify!($name)),)*
                    other: map,
                }
            }

            /// Every figure keyed by its name, for the report (`server.start`, `server.end`).
            pub fn to_map(&self) -> BTreeMap<String, f64> {
                let mut map = self.other.clone();
                $(if let Some(value) = self.$name {
                    map.insert(stringify!($name).to_owned(), value);
                })*
                map
            }
        }
    };
}

figures! {
    /// Process id of the server.
    pid,
    /// Resident set size, MiB.
    memory_rss_mb,
    /// Virtual memory size, MiB.
    memory_vms_mb,
    /// Open file descriptors of the process.
    num_fds,
    /// Threads of the process.
    num_threads,
    /// Open TCP connections.
    connections,
    /// Connections refused with 503 at the connection limit.
    connections_rejected,
    /// Open connections that have not sent a complete request head yet.
    connections_unfinished,
    /// Unfinished connections closed to admit a newer one.
    connections_pending_evicted,
    /// Connections closed by the header or idle timeout.
    connections_timed_out,
    /// User CPU time of the process, seconds.
    cpu_user_seconds,
    /// System CPU time of the process, seconds.
    cpu_system_seconds,
    /// Seconds since the server started.
    uptime_seconds,
    /// Whether the shutdown watcher runs (0/1).
    watcher_started,
    /// Watcher tasks ever started (1 once serving).
    watcher_count,
    /// Streams registered with the watcher now (= SSE streams open).
    registered_events,
    /// Events published on the hub.
    events_published,
    /// Events (not pings) handed to client streams.
    events_delivered,
    /// Keep-alive comments sent.
    pings_sent,
    /// Successful socket write calls.
    write_calls,
    /// Bytes written to sockets.
    bytes_written,
    /// Clients evicted by the send timeout.
    clients_evicted,
    /// Hub subscribers ended for lagging.
    clients_lagged,
}

/// Reads a `/metrics` JSON object into numbers by name (bools as 0/1, non-numbers
/// dropped); `None` when it is not an object.
pub fn flatten_map(value: &serde_json::Value) -> Option<BTreeMap<String, f64>> {
    let object = value.as_object()?;
    Some(
        object
            .iter()
            .filter_map(|(key, v)| {
                let number = match v {
                    serde_json::Value::Bool(b) => f64::from(u8::from(*b)),
                    serde_json::Value::Number(n) => n.as_f64()?,
                    _ => return None,
                };
                Some((key.clone(), number))
            })
            .collect(),
    )
}

/// Reads a `/metrics` JSON object into [`Figures`]; `None` when it is not an object.
pub fn flatten(value: &serde_json::Value) -> Option<Figures> {
    flatten_map(value).map(Figures::from_map)
}

/// Adds `keys` (figure name → JSON pointer into `value`) to `figures`.
pub fn map_keys(
    figures: &mut BTreeMap<String, f64>,
    value: &serde_json::Value,
    keys: &BTreeMap<String, String>,
) {
    for (name, pointer) in keys {
        let number = match value.pointer(pointer) {
            Some(serde_json::Value::Number(n)) => n.as_f64(),
            Some(serde_json::Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        if let Some(number) = number {
            figures.insert(name.clone(), number);
        }
    }
}

/// Where server figures come from.
#[derive(Debug, Clone, Default)]
pub struct ServerSource {
    /// `GET /metrics` answering JSON, when the target has it.
    pub metrics: Option<Uri>,
    /// Figure name → JSON pointer, for a JSON endpoint with other names than this project's.
    pub keys: Arc<BTreeMap<String, String>>,
    /// An endpoint answering the Prometheus text format (read when there is no JSON one).
    pub prometheus: Option<Uri>,
    /// The server's local pid (`/proc/<pid>`): the embedded server, or `--server-pid`.
    pub pid: Option<u32>,
}

/// Server CPU at one moment, in whatever detail the source gives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CpuReading {
    /// `/proc/<pid>`: ticks split into user and system, plus the per-thread ns clocks.
    Process(ProcessReading),
    /// User and system seconds from a JSON `/metrics`.
    Split {
        /// User seconds.
        user: f64,
        /// System seconds.
        system: f64,
    },
    /// `process_cpu_seconds_total` (user plus system).
    Total(f64),
}

/// Server CPU over an interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuDelta {
    /// User plus system seconds.
    pub total: f64,
    /// User and system seconds, when the source splits them.
    pub split: Option<(f64, f64)>,
    /// Write-type system calls made (`/proc/<pid>/io`), when the source is the process.
    pub write_calls: Option<u64>,
}

impl CpuReading {
    /// The CPU used from `earlier` to this reading; `None` when they are of different kinds.
    pub fn since(&self, earlier: &Self) -> Option<CpuDelta> {
        let clamp = |x: f64| x.max(0.0);
        match (self, earlier) {
            (Self::Process(now), Self::Process(then)) => Some(CpuDelta {
                total: clamp(now.cpu_seconds_since(then)),
                split: Some((
                    clamp(now.stats.cpu_user - then.stats.cpu_user),
                    clamp(now.stats.cpu_system - then.stats.cpu_system),
                )),
                write_calls: now
                    .write_calls
                    .zip(then.write_calls)
                    .map(|(now, then)| now.saturating_sub(then)),
            }),
            (Self::Split { user: u1, system: s1 }, Self::Split { user: u0, system: s0 }) => {
                let (u, s) = (clamp(u1 - u0), clamp(s1 - s0));
                Some(CpuDelta {
                    total: u + s,
                    split: Some((u, s)),
                    write_calls: None,
                })
            }
            (Self::Total(now), Self::Total(then)) => Some(CpuDelta {
                total: clamp(now - then),
                split: None,
                write_calls: None,
            }),
            _ => None,
        }
    }
}

/// Resident memory and open fds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resources {
    /// RSS, MiB.
    pub rss_mb: Option<f64>,
    /// Open file descriptors.
    pub fds: Option<u64>,
}

impl From<Footprint> for Resources {
    fn from(f: Footprint) -> Self {
        Self {
            rss_mb: f.rss_bytes.map(|b| b as f64 / MIB),
            fds: f.fds,
        }
    }
}

impl ServerSource {
    /// The server's figures now, when available: JSON `/metrics` (with `keys` mapped),
    /// else Prometheus text.
    pub async fn figures(&self) -> Option<Figures> {
        if let Some(url) = &self.metrics {
            let value = get_json(url).await.ok()?;
            let mut figures = flatten_map(&value)?;
            map_keys(&mut figures, &value, &self.keys);
            return Some(Figures::from_map(figures));
        }
        if let Some(url) = &self.prometheus {
            let text = get(url).await.ok()?;
            return prometheus::figures(&String::from_utf8_lossy(&text)).map(Figures::from_map);
        }
        self.pid
            .and_then(ProcessReading::read)
            .map(|r| Figures::from_map(r.figures()))
    }

    /// Process figures of the local server from `/proc` (cheap, no request).
    pub fn process(&self) -> Option<ProcessStats> {
        let pid = i32::try_from(self.pid?).ok()?;
        let stats = ProcessStats::read(Some(pid));
        (stats.rss_bytes > 0).then_some(stats)
    }

    /// RSS and fds: from `/proc` for the embedded server, else from `/metrics`.
    pub async fn resources(&self) -> Resources {
        if let Some(stats) = self.process() {
            return Resources {
                rss_mb: Some(stats.rss_bytes as f64 / MIB),
                fds: Some(stats.fds),
            };
        }
        match self.figures().await {
            Some(f) => Resources {
                rss_mb: f.memory_rss_mb,
                fds: f.num_fds.map(|n| n as u64),
            },
            None => Resources::default(),
        }
    }

    /// Server CPU now: `/proc/<pid>` for a local server, else `/metrics`
    /// (`cpu_user_seconds` and `cpu_system_seconds`, or Prometheus'
    /// `process_cpu_seconds_total`).
    pub async fn cpu(&self) -> Option<CpuReading> {
        if let Some(reading) = self.pid.and_then(ProcessReading::read) {
            return Some(CpuReading::Process(reading));
        }
        let f = self.figures().await?;
        match (f.cpu_user_seconds, f.cpu_system_seconds, f.other.get(CPU_SECONDS)) {
            (Some(user), Some(system), _) => Some(CpuReading::Split { user, system }),
            (_, _, Some(&total)) => Some(CpuReading::Total(total)),
            _ => None,
        }
    }

    /// Where server CPU comes from, for the report.
    pub fn cpu_origin(&self) -> &'static str {
        match (self.pid, &self.metrics, &self.prometheus) {
            (Some(_), _, _) => {
                "/proc/<pid> (per-thread ns clocks from task/*/schedstat; user/system from stat)"
            }
            (None, Some(_), _) => "the target's JSON metrics (cpu_user_seconds, cpu_system_seconds)",
            (None, None, Some(_)) => "the target's Prometheus process_cpu_seconds_total",
            (None, None, None) => "nowhere: no pid and no metrics",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_flatten_to_numbers() {
        let value = serde_json::json!({
            "pid": 7, "watcher_started": true, "memory_rss_mb": 1.5, "name": "x", "queue_depth": 3
        });
        let f = flatten(&value).unwrap();
        assert_eq!(f.pid, Some(7.0));
        assert_eq!(f.watcher_started, Some(1.0));
        assert_eq!(f.memory_rss_mb, Some(1.5));
        assert_eq!(f.watcher_count, None, "not reported: unknown, not 0");
        assert_eq!(f.other, BTreeMap::from([("queue_depth".to_owned(), 3.0)]));
        assert_eq!(f.to_map().len(), 4, "{:?}", f.to_map());
        assert!(flatten(&serde_json::json!([1])).is_none());
    }

    #[test]
    fn the_typed_fields_are_the_reference_server_s_metrics() {
        let served = serde_json::to_value(sse_server::Snapshot::default()).unwrap();
        let served: Vec<&str> = served.as_object().unwrap().keys().map(String::as_str).collect();
        let mut typed = Figures::NAMES.to_vec();
        typed.sort_unstable();
        let mut served = served;
        served.sort_unstable();
        assert_eq!(
            typed, served,
            "Figures and sse_server::Snapshot must name the same figures"
        );
        let all = flatten(&serde_json::to_value(sse_server::Snapshot::default()).unwrap()).unwrap();
        assert!(all.other.is_empty(), "{:?}", all.other);
    }
}
