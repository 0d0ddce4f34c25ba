//! Server counters and process figures, served as JSON at `/metrics` and as Prometheus text.
//!
//! Counters are relaxed atomics bumped on the hot path (one `fetch_add` each, no lock);
//! process figures (RSS, fds, threads, CPU) are read from `/proc/self` when asked for.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

/// Counters shared by every part of the server.
#[derive(Debug)]
pub struct Counters {
    started: Instant,
    /// Open TCP connections.
    pub connections: AtomicU64,
    /// Connections refused with 503 because `--max-connections` was reached.
    pub connections_rejected: AtomicU64,
    /// Open connections that have not sent a complete request head yet.
    pub connections_unfinished: AtomicU64,
    /// Unfinished connections closed to make room under `--max-pending-connections`.
    pub connections_pending_evicted: AtomicU64,
    /// Connections closed by `--header-timeout` or `--idle-timeout`.
    pub connections_timed_out: AtomicU64,
    /// Frames (events, not pings) handed to HTTP bodies, over all streams. A busy stream
    /// adds its frames when it goes to sleep (at most [`crate::stream::REPORT_EVERY`] late).
    pub events_delivered: AtomicU64,
    /// Keep-alive comments sent.
    pub pings_sent: AtomicU64,
    /// Successful `write`/`writev` calls on client sockets.
    pub write_calls: AtomicU64,
    /// Bytes written to client sockets.
    pub bytes_written: AtomicU64,
    /// Clients reset because a write stayed pending past `--send-timeout`, and HTTP/2
    /// streams reset because they had no window for that long.
    pub clients_evicted: AtomicU64,
    /// Hub subscribers ended because they fell further behind than the channel holds.
    pub clients_lagged: AtomicU64,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            connections: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            connections_unfinished: AtomicU64::new(0),
            connections_pending_evicted: AtomicU64::new(0),
            connections_timed_out: AtomicU64::new(0),
            events_delivered: AtomicU64::new(0),
            pings_sent: AtomicU64::new(0),
            write_calls: AtomicU64::new(0),
            bytes_written: AtomicU64::new(0),
            clients_evicted: AtomicU64::new(0),
            clients_lagged: AtomicU64::new(0),
        }
    }
}

/// Adds one to a counter (relaxed: counters order nothing).
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// What `/metrics` returns. Field names follow sse-starlette's load-test server where
/// they overlap, so tools can read both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Process id of the server.
    pub pid: u32,
    /// Resident set size, MiB.
    pub memory_rss_mb: f64,
    /// Virtual memory size, MiB.
    pub memory_vms_mb: f64,
    /// Open file descriptors of the process.
    pub num_fds: u64,
    /// Threads of the process.
    pub num_threads: u64,
    /// Open TCP connections.
    pub connections: u64,
    /// Connections refused with 503 at the connection limit.
    pub connections_rejected: u64,
    /// Open connections without a complete request head yet.
    #[serde(default)]
    pub connections_unfinished: u64,
    /// Unfinished connections closed to make room for newer ones.
    #[serde(default)]
    pub connections_pending_evicted: u64,
    /// Connections closed by the header or idle timeout.
    #[serde(default)]
    pub connections_timed_out: u64,
    /// User CPU time of the process, seconds.
    pub cpu_user_seconds: f64,
    /// System CPU time of the process, seconds.
    pub cpu_system_seconds: f64,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// Whether the shutdown watcher runs.
    pub watcher_started: bool,
    /// Watcher tasks ever started (1 once serving).
    pub watcher_count: u64,
    /// Streams registered with the watcher now (= SSE streams open).
    pub registered_events: u64,
    /// Events published on the hub.
    pub events_published: u64,
    /// Events (not pings) handed to client streams.
    pub events_delivered: u64,
    /// Keep-alive comments sent.
    pub pings_sent: u64,
    /// Successful socket write calls.
    pub write_calls: u64,
    /// Bytes written to sockets.
    pub bytes_written: u64,
    /// Clients (HTTP/1 connections, HTTP/2 streams) evicted by the send timeout.
    pub clients_evicted: u64,
    /// Hub subscribers ended for lagging.
    pub clients_lagged: u64,
}

/// Figures of the current process read from `/proc/self`.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// Virtual size, bytes.
    pub vms_bytes: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// User CPU, seconds.
    pub cpu_user: f64,
    /// System CPU, seconds.
    pub cpu_system: f64,
}

impl ProcessStats {
    /// Reads the figures of process `pid` (`None`: this process). Missing figures are 0.
    pub fn read(pid: Option<i32>) -> Self {
        let process = match pid {
            Some(pid) => procfs::process::Process::new(pid),
            None => procfs::process::Process::myself(),
        };
        let Ok(process) = process else {
            return Self::default();
        };
        let mut stats = Self::default();
        if let Ok(stat) = process.stat() {
            let ticks = procfs::ticks_per_second() as f64;
            stats.rss_bytes = stat.rss * procfs::page_size();
            stats.vms_bytes = stat.vsize;
            stats.threads = u64::try_from(stat.num_threads).unwrap_or(0);
            stats.cpu_user = stat.utime as f64 / ticks;
            stats.cpu_system = stat.stime as f64 / ticks;
        }
        stats.fds = open_fds(process.pid);
        stats
    }
}

/// Open descriptors of process `pid`. Linux 6.2 and later report their number as the
/// size of `/proc/<pid>/fd`: one `stat`, where listing the directory reads an entry per
/// descriptor (tens of milliseconds at 10,000 descriptors, on every timeline sample). An
/// older kernel reports 0 there, and the directory is listed instead.
pub fn open_fds(pid: i32) -> u64 {
    let dir = format!("/proc/{pid}/fd");
    let counted = std::fs::metadata(&dir).map_or(0, |m| m.len());
    if counted > 0 {
        return counted;
    }
    std::fs::read_dir(&dir).map_or(0, |entries| entries.count() as u64)
}

const MIB: f64 = 1024.0 * 1024.0;

/// A number in the Prometheus output: a counter (its name gains `_total`) or a gauge, of
/// seconds/bytes (`f64`) or of things counted (`u64`, printed without a fraction).
#[derive(Debug, Clone, Copy)]
enum Value {
    Counter(f64),
    Count(u64),
    Gauge(f64),
    Level(u64),
}

/// One exported metric: name (without `_total`), help, value.
type Metric = (&'static str, &'static str, Value);

/// One snapshot, encoded on scrape through prometheus-client's [`Collector`].
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

impl SnapshotCollector {
    /// Every exported metric: name (without `_total`), help, value. Names carry their base
    /// unit (`_seconds`, `_bytes`); the process figures use the standard `process_*` names
    /// the Prometheus client libraries export.
    fn metrics(&self) -> impl Iterator<Item = Metric> {
        self.process_metrics().into_iter().chain(self.server_metrics())
    }

    /// The process figures, under the standard `process_*` names.
    fn process_metrics(&self) -> [Metric; 6] {
        use Value::{Counter, Gauge, Level};
        let s = &self.0;
        let start_time = unix_seconds_now() - s.uptime_seconds;
        [
            (
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                Counter(s.cpu_user_seconds + s.cpu_system_seconds),
            ),
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                Gauge(s.memory_rss_mb * MIB),
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
                Gauge(s.memory_vms_mb * MIB),
            ),
            (
                "process_open_fds",
                "Number of open file descriptors.",
                Level(s.num_fds),
            ),
            (
                "process_threads",
                "Number of OS threads in the process.",
                Level(s.num_threads),
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                Gauge(start_time),
            ),
        ]
    }

    /// The server's own figures, `sse_*`.
    fn server_metrics(&self) -> [Metric; 15] {
        use Value::{Count, Level};
        let s = &self.0;
        [
            ("sse_connections", "Open TCP connections.", Level(s.connections)),
            (
                "sse_connections_rejected",
                "Connections refused with 503 at --max-connections.",
                Count(s.connections_rejected),
            ),
            (
                "sse_connections_unfinished",
                "Open connections that have not sent a complete request head yet.",
                Level(s.connections_unfinished),
            ),
            (
                "sse_connections_pending_evicted",
                "Unfinished connections closed to admit a newer one (--max-pending-connections).",
                Count(s.connections_pending_evicted),
            ),
            (
                "sse_connections_timed_out",
                "Connections closed by the header or idle timeout.",
                Count(s.connections_timed_out),
            ),
            (
                "sse_watcher_running",
                "1 while the shutdown watcher runs.",
                Level(u64::from(s.watcher_started)),
            ),
            (
                "sse_watcher_tasks_started",
                "Shutdown watcher tasks ever started (1 once serving).",
                Count(s.watcher_count),
            ),
            (
                "sse_streams_open",
                "SSE streams open now (registered with the shutdown watcher).",
                Level(s.registered_events),
            ),
            (
                "sse_events_published",
                "Events published on the hub.",
                Count(s.events_published),
            ),
            (
                "sse_events_delivered",
                "Events (not pings) handed to client streams.",
                Count(s.events_delivered),
            ),
            ("sse_pings_sent", "Keep-alive comments sent.", Count(s.pings_sent)),
            (
                "sse_write_calls",
                "Successful write and writev calls on client sockets.",
                Count(s.write_calls),
            ),
            (
                "sse_written_bytes",
                "Bytes written to client sockets.",
                Count(s.bytes_written),
            ),
            (
                "sse_clients_evicted",
                "Clients disconnected after a write stayed pending past --send-timeout.",
                Count(s.clients_evicted),
            ),
            (
                "sse_clients_lagged",
                "Hub subscribers ended for falling further behind than the replay ring.",
                Count(s.clients_lagged),
            ),
        ]
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        for (name, help, value) in self.metrics() {
            match value {
                Value::Counter(v) => {
                    let metric = ConstCounter::new(v);
                    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
                }
                Value::Count(v) => {
                    let metric = ConstCounter::new(v);
                    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
                }
                Value::Gauge(v) => {
                    let metric = ConstGauge::new(v);
                    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
                }
                Value::Level(v) => {
                    let metric = ConstGauge::new(v);
                    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
                }
            }
        }
        Ok(())
    }
}

fn unix_seconds_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl Snapshot {
    /// Renders the snapshot in the Prometheus text exposition format 0.0.4 (prometheus-client's
    /// encoder): `# HELP` and `# TYPE` for every metric, counters ending in `_total`, base units
    /// (seconds, bytes), and the standard `process_*` family.
    pub fn to_prometheus(&self) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(SnapshotCollector(self.clone())));
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = prometheus_text::encode(&mut out, &registry);
        out
    }
}

impl Counters {
    /// Takes a snapshot of the counters plus process figures and the given hub/watcher figures.
    pub fn snapshot(&self, hub: &crate::hub::Hub, watcher: &crate::watcher::Watcher) -> Snapshot {
        let process = ProcessStats::read(None);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            pid: std::process::id(),
            memory_rss_mb: process.rss_bytes as f64 / MIB,
            memory_vms_mb: process.vms_bytes as f64 / MIB,
            num_fds: process.fds,
            num_threads: process.threads,
            connections: load(&self.connections),
            connections_rejected: load(&self.connections_rejected),
            connections_unfinished: load(&self.connections_unfinished),
            connections_pending_evicted: load(&self.connections_pending_evicted),
            connections_timed_out: load(&self.connections_timed_out),
            cpu_user_seconds: process.cpu_user,
            cpu_system_seconds: process.cpu_system,
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            watcher_started: watcher.started(),
            watcher_count: watcher.tasks_started(),
            registered_events: watcher.registered(),
            events_published: hub.published(),
            events_delivered: load(&self.events_delivered),
            pings_sent: load(&self.pings_sent),
            write_calls: load(&self.write_calls),
            bytes_written: load(&self.bytes_written),
            clients_evicted: load(&self.clients_evicted),
            clients_lagged: load(&self.clients_lagged),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_fds_agree_with_a_listing_of_the_fd_directory() {
        // A child blocked reading its stdin holds a steady set of descriptors, where this
        // test process's other tests open and close theirs concurrently.
        let mut child = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("cat runs");
        let pid = i32::try_from(child.id()).unwrap();
        let listed = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u64;
        assert_eq!(open_fds(pid), listed);
        assert!(listed >= 3, "stdin, stdout and stderr at least: {listed}");
        drop(child.stdin.take());
        child.wait().unwrap();
    }

    #[test]
    fn prometheus_text_follows_the_conventions() {
        let snap = Snapshot {
            events_published: 42,
            watcher_started: true,
            memory_rss_mb: 2.0,
            cpu_user_seconds: 1.5,
            cpu_system_seconds: 0.5,
            ..Snapshot::default()
        };
        let text = snap.to_prometheus();
        assert!(
            text.contains("# HELP sse_events_published_total Events published on the hub.\n# TYPE sse_events_published_total counter\nsse_events_published_total 42\n"),
            "{text}"
        );
        assert!(text.contains("\nprocess_cpu_seconds_total 2"), "{text}");
        assert!(text.contains("\nprocess_resident_memory_bytes 2097152"), "{text}");
        assert!(text.contains("# TYPE process_open_fds gauge\n"), "{text}");
        assert!(text.contains("\nsse_watcher_running 1\n"), "{text}");
        assert!(!text.contains("sse_pid") && !text.contains("_mb"), "{text}");
        // Every sample line has a HELP and a TYPE before it.
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        assert_eq!(text.matches("# HELP ").count(), samples);
        assert_eq!(text.matches("# TYPE ").count(), samples);
    }

    #[test]
    fn own_process_stats_are_read() {
        let stats = ProcessStats::read(None);
        assert!(stats.rss_bytes > 0);
        assert!(stats.fds > 0);
        assert!(stats.threads >= 1);
    }
}
