//! Server-side figures: `/metrics` of any target (flattened to numbers) and `/proc/<pid>` of the embedded one.

use std::collections::BTreeMap;

use http::Uri;
use sse_server::metrics::ProcessStats;

use super::cpu::CpuTime;
use crate::client::get_json;

const MIB: f64 = 1024.0 * 1024.0;

/// Figures keyed as the server's `/metrics` names them (bools as 0/1, non-numbers dropped).
pub type Figures = BTreeMap<String, f64>;

/// Flattens a `/metrics` JSON object into [`Figures`]; `None` when it is not an object.
pub fn flatten(value: &serde_json::Value) -> Option<Figures> {
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
                rss_mb: f.get("memory_rss_mb").copied(),
                fds: f.get("num_fds").map(|&n| n as u64),
            },
            None => Resources::default(),
        }
    }

    /// Server CPU: for the embedded server the per-thread nanosecond clocks of
    /// `/proc/<pid>/task/*/schedstat`, split into user and system in the ratio of
    /// `/proc/<pid>/stat` (whose 10 ms ticks alone would quantise a short run to a few ticks);
    /// else `/metrics`.
    pub async fn cpu(&self) -> Option<CpuTime> {
        if let Some(stats) = self.process() {
            let ticks = stats.cpu_user + stats.cpu_system;
            let Some(ns) = self.pid.and_then(super::cpu::process_cpu_ns) else {
                return Some(CpuTime::from_seconds(stats.cpu_user, stats.cpu_system));
            };
            let total = ns as f64 / 1e9;
            let user_share = if ticks > 0.0 { stats.cpu_user / ticks } else { 1.0 };
            return Some(CpuTime::from_seconds(
                total * user_share,
                total * (1.0 - user_share),
            ));
        }
        let f = self.figures().await?;
        Some(CpuTime::from_seconds(
            *f.get("cpu_user_seconds")?,
            *f.get("cpu_system_seconds")?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_flatten_to_numbers() {
        let value = serde_json::json!({"pid": 7, "watcher_started": true, "memory_rss_mb": 1.5, "name": "x"});
        let f = flatten(&value).unwrap();
        assert_eq!(f["pid"], 7.0);
        assert_eq!(f["watcher_started"], 1.0);
        assert_eq!(f["memory_rss_mb"], 1.5);
        assert!(!f.contains_key("name"));
        assert!(flatten(&serde_json::json!([1])).is_none());
    }
}
