//! Server-side figures: `/metrics` of any target (typed [`Figures`]) and `/proc/<pid>` of the embedded one.

use std::collections::BTreeMap;

use http::Uri;
use sse_server::metrics::ProcessStats;

use super::cpu::CpuTime;
use crate::client::get_json;

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

/// Reads a `/metrics` JSON object into [`Figures`] (bools as 0/1, non-numbers dropped);
/// `None` when it is not an object.
pub fn flatten(value: &serde_json::Value) -> Option<Figures> {
    let object = value.as_object()?;
    Some(Figures::from_map(
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
    ))
}

/// Where server figures come from.
#[derive(Debug, Clone)]
pub struct ServerSource {
    /// `GET /metrics`, when the target answers it.
    pub metrics: Option<Uri>,
    /// The embedded server's pid (`/proc/<pid>`).
    pub pid: Option<u32>,
}

/// Resident memory and open fds at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Resources {
    /// RSS, MiB.
    pub rss_mb: Option<f64>,
    /// Open file descriptors.
    pub fds: Option<u64>,
}

impl ServerSource {
    /// The `/metrics` figures now, when available.
    pub async fn figures(&self) -> Option<Figures> {
        let url = self.metrics.as_ref()?;
        flatten(&get_json(url).await.ok()?)
    }

    /// Process figures of the embedded server from `/proc` (cheap, no request).
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

    /// Server CPU seconds (user, system): `/proc` for the embedded server, else `/metrics`.
    pub async fn cpu(&self) -> Option<CpuTime> {
        if let Some(stats) = self.process() {
            return Some(CpuTime::from_seconds(stats.cpu_user, stats.cpu_system));
        }
        let f = self.figures().await?;
        Some(CpuTime::from_seconds(f.cpu_user_seconds?, f.cpu_system_seconds?))
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
