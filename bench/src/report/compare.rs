//! `sse-load compare A.json B.json`: the change of every numeric figure present in both reports.
//!
//! Figures are found by walking the serialized report, so a field added to the model is compared
//! without touching this module. Left out: `schema_version`, `repeat`, the environment (text and
//! machine facts, shown in the header instead), and arrays (the timeline, latency distributions
//! and checks are curves or lists, not figures). Booleans and strings are not numbers.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::format::{num, pct};
use crate::model::ScenarioReport;

/// Top-level keys that are not compared.
const SKIPPED: [&str; 3] = ["schema_version", "repeat", "environment"];

/// The change of one figure from report A to report B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    /// Dotted path of the figure, e.g. `latency.inter_event.p99_ms`, `throughput.events_per_sec`.
    pub metric: String,
    /// Value in A.
    pub a: f64,
    /// Value in B.
    pub b: f64,
    /// `b − a`, in the figure's unit.
    pub change: f64,
    /// `(b − a) / |a| × 100`; `None` when `a` is 0.
    pub change_pct: Option<f64>,
}

/// Every numeric figure present in both `a` and `b`, in the order of the report's fields.
pub fn compare(a: &ScenarioReport, b: &ScenarioReport) -> Vec<Delta> {
    let (Ok(a_value), Ok(b_value)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        // A report is plain data (maps with string keys, finite or null numbers): serializing it
        // into a Value cannot fail.
        return Vec::new();
    };
    let mut a_figures = Vec::new();
    flatten("", &a_value, &mut a_figures);
    let mut b_figures = Vec::new();
    flatten("", &b_value, &mut b_figures);
    a_figures
        .into_iter()
        .filter_map(|(metric, a)| {
            let b = b_figures.iter().find(|(m, _)| *m == metric)?.1;
            let change_pct = (a != 0.0).then(|| (b - a) / a.abs() * 100.0);
            Some(Delta {
                metric,
                a,
                b,
                change: b - a,
                change_pct,
            })
        })
        .collect()
}

/// Collects the numeric leaves of `value` under dotted paths.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, f64)>) {
    match value {
        Value::Number(n) => {
            if let Some(v) = n.as_f64() {
                out.push((prefix.to_owned(), v));
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                if prefix.is_empty() && SKIPPED.contains(&key.as_str()) {
                    continue;
                }
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, child, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::String(_) | Value::Array(_) => {}
    }
}

/// The comparison as a fixed-width table, headed by what was compared with what.
pub fn render(a: &ScenarioReport, b: &ScenarioReport, deltas: &[Delta]) -> String {
    let mut out = String::new();
    for (label, r) in [("A", a), ("B", b)] {
        let e = &r.environment;
        let _ = writeln!(
            out,
            "{label}: {} (profile {}, run {}) started {} on {} ({} × {}), revision {}",
            r.scenario, r.profile, r.repeat, r.started_at, e.host, e.cpu_count, e.cpu_model, e.git_revision
        );
    }
    if a.scenario != b.scenario || a.profile != b.profile {
        out.push_str(
            "note: the reports are of different scenarios or profiles; the figures may not be comparable\n",
        );
    }
    let width = deltas.iter().map(|d| d.metric.len()).max().unwrap_or(0).max(6);
    let _ = writeln!(
        out,
        "{:<width$} {:>14} {:>14} {:>14} {:>9}",
        "metric", "A", "B", "change", "change%"
    );
    for d in deltas {
        let change = if d.change == 0.0 {
            "0".to_owned()
        } else {
            format!("{:+}", Signed(d.change))
        };
        let _ = writeln!(
            out,
            "{:<width$} {:>14} {:>14} {:>14} {:>9}",
            d.metric,
            num(d.a),
            num(d.b),
            change,
            pct(d.change_pct)
        );
    }
    if deltas.is_empty() {
        out.push_str("(no numeric figure is present in both reports)\n");
    }
    out
}

/// Formats a number like [`num`] with an explicit sign under `{:+}`.
struct Signed(f64);

impl std::fmt::Display for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if f.sign_plus() && self.0 > 0.0 {
            f.write_str("+")?;
        }
        f.write_str(&num(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Latency, Memory, Throughput};

    fn report(p99: f64, eps: f64) -> ScenarioReport {
        let mut r = ScenarioReport {
            scenario: "burst".into(),
            profile: "smoke".into(),
            ..ScenarioReport::default()
        };
        r.latency.insert(
            "inter_event".into(),
            Latency {
                count: 10,
                p99_ms: p99,
                ..Latency::default()
            },
        );
        r.throughput = Some(Throughput {
            events_per_sec: eps,
            ..Throughput::default()
        });
        r.parameters.insert("clients".into(), 10.into());
        r.parameters.insert("mode".into(), "fast".into());
        r
    }

    fn delta<'a>(deltas: &'a [Delta], metric: &str) -> &'a Delta {
        deltas
            .iter()
            .find(|d| d.metric == metric)
            .unwrap_or_else(|| panic!("no {metric}"))
    }

    #[test]
    fn compares_every_shared_numeric_figure() {
        let (a, mut b) = (report(10.0, 1000.0), report(12.5, 800.0));
        b.memory = Some(Memory::default()); // only in B: not compared
        let deltas = compare(&a, &b);
        let p99 = delta(&deltas, "latency.inter_event.p99_ms");
        assert_eq!(
            (p99.a, p99.b, p99.change, p99.change_pct),
            (10.0, 12.5, 2.5, Some(25.0))
        );
        assert_eq!(
            delta(&deltas, "throughput.events_per_sec").change_pct,
            Some(-20.0)
        );
        assert_eq!(delta(&deltas, "parameters.clients").change, 0.0);
        assert_eq!(
            delta(&deltas, "events.lost").change_pct,
            None,
            "0 -> 0 has no percentage"
        );
        assert!(deltas.iter().all(|d| !d.metric.starts_with("memory")
            && !d.metric.starts_with("environment")
            && d.metric != "schema_version"
            && d.metric != "parameters.mode"
            && !d.metric.contains("distribution")));
    }

    #[test]
    fn rendered_table_shows_changes() {
        let (a, b) = (report(10.0, 1000.0), report(12.5, 800.0));
        let text = render(&a, &b, &compare(&a, &b));
        let line = text
            .lines()
            .find(|l| l.starts_with("latency.inter_event.p99_ms"))
            .unwrap();
        assert!(line.contains("+2.500") && line.contains("+25.0%"), "{line}");
        let line = text
            .lines()
            .find(|l| l.starts_with("throughput.events_per_sec "))
            .unwrap();
        assert!(line.contains("-200") && line.contains("-20.0%"), "{line}");
        assert!(!text.contains("different scenarios"));
    }
}
