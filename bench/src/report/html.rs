//! Self-contained HTML report of one scenario: summary tables, inline SVG charts, gate findings.
//!
//! The page structure is one template (`TEMPLATE`) with `{{name}}` placeholders; this module
//! renders the pieces (tables, charts) and fills them in. Every piece of text from the report is
//! escaped; the SVG comes from `plotters`, which escapes its own text. No external assets: the file
//! can be mailed or attached to a CI run as is.

use std::path::{Path, PathBuf};

use super::charts;
use super::error::ReportError;
use super::format::{html_escape, num, opt, pct};
use super::json::path_for;
use crate::fs::write_atomic;
use crate::gate::{Judgement, Status};
use crate::model::{Latency, ScenarioReport};

/// The page. Placeholders are `{{name}}`; values are inserted in one pass (never re-scanned).
const TEMPLATE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{scenario}} · sse-load report</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
.meta, footer { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f4f4f4; }
tr.warn td { background: #fff3cd; }
tr.fail td { background: #f8d7da; }
.verdict { font-size: 0.6em; padding: 0.15em 0.5em; border-radius: 0.3em; vertical-align: middle; }
.verdict.pass { background: #d4edda; } .verdict.warn { background: #ffc107; }
.verdict.fail { background: #dc3545; color: #fff; } .verdict.none { background: #e2e3e5; }
.charts svg { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.empty { color: #888; font-style: italic; }
</style>
</head>
<body>
<header>
<h1>{{scenario}} <span class="verdict {{verdict_class}}">{{verdict}}</span></h1>
<p>{{description}}</p>
<p class="meta">{{meta}}</p>
</header>
<section><h2>Gate findings</h2>
{{findings}}
</section>
<section><h2>Summary</h2>
{{summary}}
</section>
<section><h2>Latency</h2>
{{latency_table}}
<div class="charts">{{latency_charts}}</div>
</section>
<section><h2>Over time</h2>
<div class="charts">{{timeline_charts}}</div>
</section>
<section><h2>Scenario checks</h2>
{{checks}}
</section>
<section><h2>Connections</h2>
{{connections}}
</section>
<section><h2>Server figures (/metrics)</h2>
{{server}}
</section>
<section><h2>Parameters</h2>
{{parameters}}
</section>
<section><h2>Environment</h2>
{{environment}}
</section>
<footer>sse-bench {{version}} · report schema_version {{schema_version}}</footer>
</body>
</html>
"#;

/// Renders the report page. `judgement` fills the findings table (deltas against the baseline,
/// warn rows amber, fail rows red); `baseline` adds its latency curves to the charts.
pub fn render(
    report: &ScenarioReport,
    judgement: Option<&Judgement>,
    baseline: Option<&ScenarioReport>,
) -> String {
    let (verdict, verdict_class) = match judgement.map(|j| j.status) {
        Some(status) => (status.label(), status_class(status)),
        None => ("NOT JUDGED", "none"),
    };
    let target = &report.target;
    let meta = format!(
        "profile {} · run {} · started {} · {} s measured · target {}{} · {} streams, {} per connection",
        report.profile,
        report.repeat,
        report.started_at,
        num(report.duration_seconds),
        target.url,
        if target.embedded {
            " (embedded reference server)"
        } else {
            ""
        },
        target.protocol,
        target.streams_per_connection,
    );
    let values = [
        ("scenario", html_escape(&report.scenario)),
        ("verdict", verdict.to_owned()),
        ("verdict_class", verdict_class.to_owned()),
        ("description", html_escape(&report.description)),
        ("meta", html_escape(&meta)),
        ("findings", findings_table(judgement)),
        ("summary", summary_table(report)),
        ("latency_table", latency_table(report)),
        ("latency_charts", latency_charts(report, baseline)),
        ("timeline_charts", timeline_charts(report)),
        ("checks", checks_table(report)),
        ("connections", connections_table(report)),
        ("server", server_table(report)),
        ("parameters", parameters_table(report)),
        ("environment", environment_table(report)),
        ("version", html_escape(&report.environment.sse_bench_version)),
        ("schema_version", report.schema_version.to_string()),
    ];
    fill(TEMPLATE, &values)
}

/// Renders and writes `<dir>/<scenario>.html` atomically; returns the path.
///
/// # Errors
/// [`ReportError`] naming the file.
pub fn write(
    dir: &Path,
    report: &ScenarioReport,
    judgement: Option<&Judgement>,
    baseline: Option<&ScenarioReport>,
) -> Result<PathBuf, ReportError> {
    let path = path_for(dir, &report.scenario, "html")?;
    write_atomic(&path, render(report, judgement, baseline).as_bytes())?;
    Ok(path)
}

/// Replaces every `{{name}}` in `template` with its value; unknown names are kept as they are.
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn status_class(status: Status) -> &'static str {
    match status {
        Status::NotJudged => "not-judged",
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
    }
}

/// A table cell: text (escaped when rendered) and whether it is a number (right-aligned).
enum Cell {
    Text(String),
    Num(String),
}

/// An HTML table (no header row when `head` is empty); `rows` carry an optional row class
/// (`warn`, `fail`).
fn table(head: &[&str], rows: Vec<(Option<&str>, Vec<Cell>)>) -> String {
    if rows.is_empty() {
        return r#"<p class="empty">none</p>"#.to_owned();
    }
    let mut out = String::from("<table>");
    if !head.is_empty() {
        out.push_str("<thead><tr>");
        for h in head {
            out.push_str(&format!("<th>{}</th>", html_escape(h)));
        }
        out.push_str("</tr></thead>");
    }
    out.push_str("<tbody>\n");
    for (class, cells) in rows {
        match class {
            Some(class) => out.push_str(&format!(r#"<tr class="{class}">"#)),
            None => out.push_str("<tr>"),
        }
        for cell in cells {
            match cell {
                Cell::Text(t) => out.push_str(&format!("<td>{}</td>", html_escape(&t))),
                Cell::Num(n) => out.push_str(&format!(r#"<td class="n">{}</td>"#, html_escape(&n))),
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>");
    out
}

/// A two-column name/value table without a header row.
fn pairs(rows: Vec<(String, String)>) -> String {
    table(
        &[],
        rows.into_iter()
            .map(|(k, v)| (None, vec![Cell::Text(k), Cell::Num(v)]))
            .collect(),
    )
}

fn findings_table(judgement: Option<&Judgement>) -> String {
    let Some(judgement) = judgement else {
        return r#"<p class="empty">not judged (no gate was run for this report)</p>"#.to_owned();
    };
    let rows = judgement
        .findings
        .iter()
        .map(|f| {
            let class = (f.status > Status::Pass).then(|| status_class(f.status));
            let current = opt(f.current);
            let cells = vec![
                Cell::Text(f.metric.clone()),
                Cell::Num(opt(f.baseline)),
                Cell::Num(current),
                Cell::Num(pct(f.change_pct)),
                Cell::Num(opt(f.spread)),
                Cell::Text(f.status.label().to_owned()),
                Cell::Text(f.rule.clone()),
            ];
            (class, cells)
        })
        .collect();
    let head = [
        "metric", "baseline", "current", "change", "spread", "status", "rule",
    ];
    format!(
        "<p>{} run(s) judged; spread is max − min over the runs.</p>\n{}",
        judgement.runs,
        table(&head, rows)
    )
}

fn summary_table(r: &ScenarioReport) -> String {
    let mut rows = vec![
        ("events received".to_owned(), r.events.received.to_string()),
        ("events lost".to_owned(), r.events.lost.to_string()),
        ("events duplicated".to_owned(), r.events.duplicated.to_string()),
        (
            "events out of order".to_owned(),
            r.events.out_of_order.to_string(),
        ),
        ("keep-alive comments".to_owned(), r.events.comments.to_string()),
    ];
    if r.events.published + r.events.publish_failed > 0 {
        rows.push(("events published".into(), r.events.published.to_string()));
        rows.push(("publishes failed".into(), r.events.publish_failed.to_string()));
    }
    if let Some(t) = &r.throughput {
        rows.push(("throughput, events/s".into(), num(t.events_per_sec)));
        rows.push(("throughput, bytes/s".into(), num(t.bytes_per_sec)));
        let s = &t.per_client;
        rows.push((
            "per client events/s (min / p50 / mean / max)".into(),
            format!(
                "{} / {} / {} / {}",
                num(s.min),
                num(s.p50),
                num(s.mean),
                num(s.max)
            ),
        ));
    }
    let c = &r.cpu;
    rows.push(("server CPU, s".into(), opt(c.server_seconds)));
    rows.push(("server CPU per event, ns".into(), opt(c.server_ns_per_event)));
    rows.push((
        "server CPU user / system, s".into(),
        format!(
            "{} / {}",
            opt(c.server_user_seconds),
            opt(c.server_system_seconds)
        ),
    ));
    rows.push(("generator CPU, s".into(), num(c.generator_seconds)));
    rows.push((
        "generator CPU per event, ns".into(),
        opt(c.generator_ns_per_event),
    ));
    rows.push((
        "generator was the bottleneck".into(),
        if c.generator_bound { "yes" } else { "no" }.into(),
    ));
    if let Some(note) = &c.note {
        rows.push(("CPU note".into(), note.clone()));
    }
    match &r.memory {
        Some(m) => {
            rows.push((
                "server RSS start / peak / end, MiB".into(),
                format!("{} / {} / {}", num(m.start_mb), num(m.peak_mb), num(m.end_mb)),
            ));
            rows.push(("server RSS growth, MiB".into(), num(m.growth_mb)));
            rows.push(("server RSS slope, MiB/s".into(), num(m.slope_mb_per_sec)));
        }
        None => rows.push(("server memory".into(), "not available".into())),
    }
    pairs(rows)
}

fn latency_row(name: String, l: &Latency) -> (Option<&'static str>, Vec<Cell>) {
    let mut cells = vec![Cell::Text(name), Cell::Num(l.count.to_string())];
    for v in [
        l.min_ms, l.mean_ms, l.p50_ms, l.p90_ms, l.p95_ms, l.p99_ms, l.p999_ms, l.max_ms,
    ] {
        cells.push(Cell::Num(num(v)));
    }
    cells.push(Cell::Text(l.measured.clone()));
    (None, cells)
}

fn latency_table(r: &ScenarioReport) -> String {
    let mut rows = Vec::new();
    for (name, l) in &r.latency {
        rows.push(latency_row(name.clone(), l));
        if let Some(c) = &l.corrected {
            rows.push(latency_row(format!("{name} (corrected)"), c));
        }
    }
    let head = [
        "latency (ms)",
        "count",
        "min",
        "mean",
        "p50",
        "p90",
        "p95",
        "p99",
        "p99.9",
        "max",
        "measured",
    ];
    let primary = r.primary_latency().map_or(String::new(), |(key, _)| {
        format!(
            "<p>Primary latency (judged by the gate): <code>{}</code>.</p>\n",
            html_escape(key)
        )
    });
    format!("{primary}{}", table(&head, rows))
}

/// An SVG, or a note when the chart could not be drawn.
fn chart_or_note(chart: Option<Result<String, String>>, what: &str) -> String {
    match chart {
        Some(Ok(svg)) => svg,
        Some(Err(e)) => format!(
            r#"<p class="empty">{} chart could not be drawn: {}</p>"#,
            what,
            html_escape(&e)
        ),
        None => format!(r#"<p class="empty">no {what} data</p>"#),
    }
}

fn latency_charts(r: &ScenarioReport, baseline: Option<&ScenarioReport>) -> String {
    r.latency
        .iter()
        .filter_map(|(name, l)| {
            let base = baseline.and_then(|b| b.latency.get(name));
            charts::latency(name, l, base).map(|chart| chart_or_note(Some(chart), name))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn timeline_charts(r: &ScenarioReport) -> String {
    format!(
        "{}\n{}",
        chart_or_note(charts::throughput(&r.timeline), "throughput"),
        chart_or_note(charts::memory(&r.timeline), "server memory")
    )
}

fn checks_table(r: &ScenarioReport) -> String {
    let rows = r
        .checks
        .iter()
        .map(|c| {
            let class = (!c.passed).then_some("fail");
            let verdict = if c.passed { "passed" } else { "FAILED" };
            (
                class,
                vec![
                    Cell::Text(c.name.clone()),
                    Cell::Text(verdict.into()),
                    Cell::Text(c.detail.clone()),
                ],
            )
        })
        .collect();
    table(&["check", "result", "detail"], rows)
}

fn connections_table(r: &ScenarioReport) -> String {
    let c = &r.connections;
    let mut rows = vec![
        ("attempted".to_owned(), c.attempted.to_string()),
        ("succeeded".to_owned(), c.succeeded.to_string()),
        ("failed".to_owned(), c.failed.to_string()),
        ("ended clean".to_owned(), c.ended_clean.to_string()),
        ("ended by reset or error".to_owned(), c.ended_reset.to_string()),
        ("error rate".to_owned(), format!("{:.2}%", c.error_rate * 100.0)),
    ];
    rows.extend(
        c.errors
            .iter()
            .map(|(kind, n)| (format!("error: {kind}"), n.to_string())),
    );
    pairs(rows)
}

fn server_table(r: &ScenarioReport) -> String {
    let Some(s) = &r.server else {
        return r#"<p class="empty">not available (the target has no /metrics endpoint)</p>"#.to_owned();
    };
    let rows = s
        .end
        .iter()
        .map(|(key, end)| {
            let start = s.start.get(key).copied();
            let delta = start.map(|start| end - start);
            (
                None,
                vec![
                    Cell::Text(key.clone()),
                    Cell::Num(opt(start)),
                    Cell::Num(num(*end)),
                    Cell::Num(opt(delta)),
                ],
            )
        })
        .collect();
    table(&["metric", "start", "end", "change"], rows)
}

fn parameters_table(r: &ScenarioReport) -> String {
    let shown = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    pairs(r.parameters.iter().map(|(k, v)| (k.clone(), shown(v))).collect())
}

fn environment_table(r: &ScenarioReport) -> String {
    let e = &r.environment;
    pairs(vec![
        ("host".into(), e.host.clone()),
        ("CPU".into(), format!("{} × {}", e.cpu_count, e.cpu_model)),
        ("kernel".into(), e.kernel.clone()),
        ("rustc".into(), e.rustc.clone()),
        ("git revision".into(), e.git_revision.clone()),
        ("fd limit".into(), e.fd_limit.to_string()),
        ("captured".into(), e.timestamp.clone()),
    ])
}

#[cfg(test)]
mod tests;
