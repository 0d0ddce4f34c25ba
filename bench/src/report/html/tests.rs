//! Tests of [`super`]: the HTML report.

use super::*;
use crate::gate::Finding;

#[test]
fn fill_replaces_known_placeholders_once() {
    let out = fill(
        "a {{x}} b {{y}} {{unknown}} {{",
        &[("x", "{{y}}".into()), ("y", "Y".into())],
    );
    assert_eq!(out, "a {{y}} b Y {{unknown}} {{");
}

#[test]
fn page_escapes_text_and_marks_findings() {
    let mut r = ScenarioReport {
        scenario: "burst".into(),
        ..ScenarioReport::default()
    };
    r.description = "<script>alert(1)</script>".into();
    let mut warn = Finding::absolute(
        "latency.inter_event.p99_ms",
        13.0,
        None,
        Status::Warn,
        "a & b".into(),
    );
    warn.baseline = Some(10.0);
    warn.change_pct = Some(30.0);
    let judgement = Judgement::new("burst", 1, vec![warn]);
    let page = render(&r, Some(&judgement), None);
    assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
    assert!(page.contains(r#"<tr class="warn">"#) && page.contains("+30.0%") && page.contains("a &amp; b"));
    assert!(page.contains(r#"class="verdict warn""#));
    assert!(!page.contains("{{"), "every placeholder filled");
    assert!(
        !page.contains("<th></th>"),
        "name/value tables have no empty header row"
    );
}
