//! Server figures from the Prometheus text format: the standard `process_*` metrics, parsed with `prometheus-parse`.
//!
//! Most servers already export the process collector's metrics (Prometheus client
//! libraries for Python, Node, Go, Java and Rust all do): `process_cpu_seconds_total`
//! (user plus system, not split), `process_resident_memory_bytes`, `process_open_fds`
//! and, from some, `process_threads`. They become figures under this project's names
//! ([`CPU_SECONDS`], `memory_rss_mb`, `num_fds`, `num_threads`); every other unlabelled
//! counter or gauge is kept under its own name.

use std::collections::BTreeMap;

use prometheus_parse::{Scrape, Value};

/// The figure holding `process_cpu_seconds_total`.
pub const CPU_SECONDS: &str = "cpu_seconds_total";

const MIB: f64 = 1024.0 * 1024.0;

/// Standard process metrics and the figure each becomes, with its scale.
const PROCESS: &[(&str, &str, f64)] = &[
    ("process_cpu_seconds_total", CPU_SECONDS, 1.0),
    ("process_resident_memory_bytes", "memory_rss_mb", 1.0 / MIB),
    ("process_virtual_memory_bytes", "memory_vms_mb", 1.0 / MIB),
    ("process_open_fds", "num_fds", 1.0),
    ("process_threads", "num_threads", 1.0),
];

/// Parses Prometheus text into figures; `None` when it holds no sample at all.
pub fn figures(text: &str) -> Option<BTreeMap<String, f64>> {
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = Scrape::parse(lines).ok()?;
    if scrape.samples.is_empty() {
        return None;
    }
    let mut out = BTreeMap::new();
    for sample in &scrape.samples {
        let value = match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            Value::Histogram(_) | Value::Summary(_) => continue,
        };
        if !value.is_finite() {
            continue;
        }
        match PROCESS.iter().find(|(name, _, _)| *name == sample.metric) {
            Some(&(_, figure, scale)) => {
                // Several processes (labelled) would be ambiguous: keep the first.
                out.entry(figure.to_owned()).or_insert(value * scale);
            }
            None if sample.labels.is_empty() => {
                out.insert(sample.metric.clone(), value);
            }
            None => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_metrics_become_figures() {
        let text = "\
# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.
# TYPE process_cpu_seconds_total counter
process_cpu_seconds_total 12.5
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 2.097152e+07
# TYPE process_open_fds gauge
process_open_fds 17
# TYPE http_requests_total counter
http_requests_total{code=\"200\"} 5
# TYPE sse_streams gauge
sse_streams 3
";
        let f = figures(text).unwrap();
        assert_eq!(f[CPU_SECONDS], 12.5);
        assert_eq!(f["memory_rss_mb"], 20.0);
        assert_eq!(f["num_fds"], 17.0);
        assert_eq!(f["sse_streams"], 3.0);
        assert!(!f.contains_key("http_requests_total"));
        assert!(figures("").is_none());
        assert!(figures("<html>not metrics</html>").is_none());
    }

    #[test]
    fn the_reference_servers_output_parses_with_types() {
        let snapshot = sse_server::metrics::Snapshot {
            memory_rss_mb: 3.0,
            num_fds: 9,
            cpu_user_seconds: 0.25,
            cpu_system_seconds: 0.5,
            events_delivered: 7,
            ..Default::default()
        };
        let text = snapshot.to_prometheus();
        let lines = text.lines().map(|l| Ok(l.to_owned()));
        let scrape = Scrape::parse(lines).unwrap();
        assert_eq!(scrape.samples.len(), text.matches("# TYPE ").count());
        assert_eq!(scrape.docs.len(), scrape.samples.len(), "every metric has HELP");
        for sample in &scrape.samples {
            let counter = matches!(sample.value, Value::Counter(_));
            assert_eq!(counter, sample.metric.ends_with("_total"), "{}", sample.metric);
        }
        let f = figures(&text).unwrap();
        assert_eq!(f[CPU_SECONDS], 0.75);
        assert_eq!(f["memory_rss_mb"], 3.0);
        assert_eq!(f["num_fds"], 9.0);
        assert_eq!(f["sse_events_delivered_total"], 7.0);
    }
}
