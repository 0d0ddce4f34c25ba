//! Terminal output: one fixed-width summary table for all scenarios, the gate problems, and the
//! paths written.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::format::{num, opt};
use crate::gate::Judgement;
use crate::model::{ReportedTarget, ScenarioReport};

/// One row of the summary: a scenario's (representative) report and its verdict, if judged.
#[derive(Debug, Clone, Copy)]
pub struct SummaryRow<'a> {
    /// The report shown.
    pub report: &'a ScenarioReport,
    /// The gate's verdict over all runs of the scenario.
    pub judgement: Option<&'a Judgement>,
}

/// Column headers and widths; the scenario column grows to the longest name.
const COLUMNS: [(&str, usize); 9] = [
    ("events/s", 10),
    ("latency", 11),
    ("p50 ms", 9),
    ("p99 ms", 9),
    ("lost", 6),
    ("errors", 6),
    ("srv ns/ev", 10),
    ("gen ns/ev", 10),
    ("verdict", 11),
];

/// The summary table: scenario, events/s, the primary latency's name and p50/p99 (ms), lost
/// events, failed connections, server and generator CPU ns per event, verdict. `—` marks
/// figures not measured; `<1 µs` a value at the histogram's 1 µs floor (not measured finer); a
/// `*` after the verdict means the generator was CPU-bound, so throughput says more about
/// `sse-load` than about the server.
pub fn summary(rows: &[SummaryRow<'_>]) -> String {
    let name_width = rows
        .iter()
        .map(|r| r.report.scenario.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let mut out = String::new();
    let _ = write!(out, "{:<name_width$}", "scenario");
    for (head, width) in COLUMNS {
        let _ = write!(out, " {head:>width$}");
    }
    out.push('\n');
    let total = name_width + COLUMNS.iter().map(|(_, w)| w + 1).sum::<usize>();
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for row in rows {
        let r = row.report;
        let (p50, p99) = r
            .primary_latency()
            .map_or((None, None), |(_, l)| (Some(l.p50_ms), Some(l.p99_ms)));
        let mut verdict = row.judgement.map_or("-", |j| j.status.label()).to_owned();
        if r.cpu.generator_bound {
            verdict.push('*');
        }
        let cells = [
            opt(r.throughput.as_ref().map(|t| t.events_per_sec)),
            r.primary_latency()
                .map_or("—", |(key, _)| latency_name(key))
                .to_owned(),
            latency_ms(p50),
            latency_ms(p99),
            r.events.lost.to_string(),
            r.connections.failed.to_string(),
            opt(r.cpu.server_ns_per_event),
            opt(r.cpu.generator_ns_per_event),
            verdict,
        ];
        let _ = write!(out, "{:<name_width$}", r.scenario);
        for (cell, (_, width)) in cells.iter().zip(COLUMNS) {
            let _ = write!(out, " {cell:>width$}");
        }
        out.push('\n');
    }
    if rows.iter().any(|r| r.report.cpu.generator_bound) {
        out.push_str("* the generator was CPU-bound: figures are limited by sse-load, not the server\n");
    }
    if let Some(first) = rows.first() {
        out.push_str(&protocol_line(&first.report.target));
    }
    out
}

/// `streams over h2, 100 per connection`: how the streams reached the server.
fn protocol_line(target: &ReportedTarget) -> String {
    match target.protocol.as_str() {
        "h1" => "streams over h1 (HTTP/1.1), one per connection\n".to_owned(),
        name => format!(
            "streams over {name} (HTTP/2), {} per connection\n",
            target.streams_per_connection
        ),
    }
}

/// A short name of a primary latency for the table.
fn latency_name(key: &str) -> &'static str {
    match key {
        "publish_to_receive" => "publish→recv",
        "inter_event" => "event gap",
        "time_to_first_event" => "1st event",
        _ => "other",
    }
}

/// A latency in ms, `<1 µs` at the histogram's floor (values are recorded in whole µs, at least 1).
fn latency_ms(value: Option<f64>) -> String {
    match value {
        Some(ms) if ms <= 0.001 => "<1 µs".to_owned(),
        other => opt(other),
    }
}

/// The warnings and failures of each judgement, one line each, e.g.
/// `burst: FAIL latency.inter_event.p99_ms 10 -> 16 (+60.0%): ...`. Empty when all passed.
pub fn problems(judgements: &[&Judgement]) -> String {
    let mut out = String::new();
    for j in judgements {
        for f in j.problems() {
            let _ = write!(out, "{}: {} {} ", j.scenario, f.status, f.metric);
            match f.baseline {
                Some(base) => {
                    let _ = write!(out, "{} -> {}", num(base), opt(f.current));
                }
                None => out.push_str(&opt(f.current)),
            }
            if let Some(change) = f.change_pct {
                let _ = write!(out, " ({change:+.1}%)");
            }
            let _ = writeln!(out, ": {}", f.rule);
        }
    }
    out
}

/// The findings that could not be judged, one line each with the reason, e.g.
/// `backpressure: NOT JUDGED check.frozen_clients_evicted: not judged: needs the server's /metrics`.
pub fn not_judged(judgements: &[&Judgement]) -> String {
    let mut out = String::new();
    for j in judgements {
        for f in j.not_judged() {
            let _ = writeln!(out, "{}: NOT JUDGED {}: {}", j.scenario, f.metric, f.rule);
        }
    }
    out
}

/// "Reports written:" followed by one path per line.
pub fn written(paths: &[PathBuf]) -> String {
    let mut out = String::from("Reports written:\n");
    for path in paths {
        let _ = writeln!(out, "  {}", path.display());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gate::{Finding, Kind, Status};
    use crate::model::{Latency, Throughput};

    #[test]
    fn summary_columns_line_up() {
        let mut a = ScenarioReport {
            scenario: "throughput-many".into(),
            ..ScenarioReport::default()
        };
        a.throughput = Some(Throughput {
            events_per_sec: 123456.7,
            ..Throughput::default()
        });
        a.latency.insert(
            "inter_event".into(),
            Latency {
                count: 9,
                p50_ms: 0.25,
                p99_ms: 1.5,
                ..Latency::default()
            },
        );
        a.cpu.server_ns_per_event = Some(2500.0);
        a.cpu.generator_bound = true;
        let b = ScenarioReport {
            scenario: "churn".into(),
            ..ScenarioReport::default()
        };
        let ok = Finding::absolute("events.lost", 0.0, None, Status::Pass, "x".into());
        let j = Judgement::new("throughput-many", 1, vec![ok]);
        let table = summary(&[
            SummaryRow {
                report: &a,
                judgement: Some(&j),
            },
            SummaryRow {
                report: &b,
                judgement: None,
            },
        ]);
        let lines: Vec<&str> = table.lines().collect();
        let width = |line: &str| line.chars().count();
        assert_eq!(width(lines[0]), width(lines[2]), "{table}");
        assert_eq!(width(lines[2]), width(lines[3]), "{table}");
        assert!(
            lines[2].starts_with("throughput-many") && lines[2].contains("123457"),
            "{table}"
        );
        assert!(lines[2].contains("0.250") && lines[2].contains("1.500") && lines[2].ends_with("PASS*"));
        assert!(
            lines[2].contains("event gap"),
            "the primary metric is named: {table}"
        );
        assert_eq!(latency_ms(Some(0.001)), "<1 µs");
        assert_eq!(latency_ms(Some(0.002)), "0.002");
        assert!(lines[3].contains('—') && lines[3].ends_with('-'), "{table}");
        assert!(table.contains("CPU-bound"));
        assert!(
            table.ends_with("streams over h1 (HTTP/1.1), one per connection\n"),
            "{table}"
        );
        let h2 = ReportedTarget {
            protocol: "h2".into(),
            streams_per_connection: 100,
            ..ReportedTarget::default()
        };
        assert_eq!(
            protocol_line(&h2),
            "streams over h2 (HTTP/2), 100 per connection\n"
        );
    }

    #[test]
    fn problems_list_only_warnings_and_failures() {
        let f = Finding::not_judged("relative_checks", Kind::Relative, "no baseline".into());
        let bad = Finding::absolute(
            "events.lost",
            3.0,
            None,
            Status::Fail,
            "lost events above 0 fails".into(),
        );
        let ok = Finding::absolute("connections.error_rate", 0.0, None, Status::Pass, "x".into());
        let j = Judgement::new("burst", 1, vec![f, bad, ok]);
        assert_eq!(
            problems(&[&j]),
            "burst: FAIL events.lost 3: lost events above 0 fails\n"
        );
        assert_eq!(
            not_judged(&[&j]),
            "burst: NOT JUDGED relative_checks: no baseline\n"
        );
    }
}
