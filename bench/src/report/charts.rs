//! Inline SVG charts for the HTML report, drawn with `plotters` into a `String`.
//!
//! Latency is drawn as an HdrHistogram-style percentile curve: the x axis is spaced in "nines"
//! (`-log10(1 - q)`), so p50, p90, p99 and p99.9 are evenly apart and the tail is readable; the
//! rightmost point is the maximum. Throughput and memory are plain lines over time.

use plotters::prelude::*;

use super::format::num;
use crate::model::{Latency, Sample};

/// Chart size in pixels (the HTML scales it down on narrow screens).
const SIZE: (u32, u32) = (720, 300);
/// Colour of the run being reported.
const CURRENT: RGBColor = RGBColor(31, 119, 180);
/// Colour of the coordinated-omission corrected curve.
const CORRECTED: RGBColor = RGBColor(255, 127, 14);
/// Colour of the baseline.
const BASELINE: RGBColor = RGBColor(140, 140, 140);

/// One line of a chart.
struct Series<'a> {
    label: &'a str,
    points: Vec<(f64, f64)>,
    color: RGBColor,
}

/// Axis descriptions, x range, number of x labels and the x-label formatter of a chart.
struct Axes<'a> {
    title: &'a str,
    x_desc: &'a str,
    y_desc: &'a str,
    x_max: f64,
    /// Most x labels; plotters picks "nice" steps (1, 2, 5 × 10^k) within it.
    x_labels: usize,
    x_format: &'a dyn Fn(&f64) -> String,
}

/// Distance in "nines" of a percentile below 100: 0 → 0, 90 → 1, 99 → 2, 99.9 → 3.
fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).log10()
}

/// Percentile curve of `latency` (and its corrected figures and `baseline`, when given).
/// `None` when there is nothing to draw.
pub(crate) fn latency(
    name: &str,
    latency: &Latency,
    baseline: Option<&Latency>,
) -> Option<Result<String, String>> {
    let curves: Vec<(&str, &Latency, RGBColor)> = [
        Some(("this run", latency, CURRENT)),
        latency
            .corrected
            .as_deref()
            .map(|c| ("corrected for coordinated omission", c, CORRECTED)),
        baseline.map(|b| ("baseline", b, BASELINE)),
    ]
    .into_iter()
    .flatten()
    .filter(|(_, l, _)| !l.distribution.is_empty())
    .collect();
    if curves.is_empty() {
        return None;
    }
    // The maximum (percentile 100) sits half a nine right of the last finite percentile.
    let last_finite = curves
        .iter()
        .flat_map(|(_, l, _)| l.distribution.iter())
        .filter(|[p, _]| *p < 100.0)
        .map(|[p, _]| nines(*p))
        .fold(0.0, f64::max);
    let x_max = last_finite + 0.5;
    let series: Vec<Series<'_>> = curves
        .iter()
        .map(|(label, l, color)| Series {
            label,
            points: l
                .distribution
                .iter()
                .map(|[p, ms]| (if *p >= 100.0 { x_max } else { nines(*p) }, *ms))
                .collect(),
            color: *color,
        })
        .collect();
    let format = move |x: &f64| -> String {
        if *x >= x_max - 1e-9 {
            return "max".to_owned();
        }
        let percentile = 100.0 * (1.0 - 10f64.powf(-x));
        let decimals = (x.round() as usize).saturating_sub(2);
        format!("{percentile:.decimals$}%")
    };
    let title = format!("{name}: latency by percentile");
    // As many labels as whole nines, so plotters steps by one nine: 0%, 90%, 99%, 99.9%, ...
    let x_labels = x_max.floor() as usize + 1;
    let axes = Axes {
        title: &title,
        x_desc: "percentile (spaced by nines; the right end is the maximum)",
        y_desc: "ms",
        x_max,
        x_labels,
        x_format: &format,
    };
    Some(draw(&axes, &series))
}

/// Events per second over time, from the timeline. `None` without samples.
pub(crate) fn throughput(timeline: &[Sample]) -> Option<Result<String, String>> {
    let points: Vec<(f64, f64)> = timeline.iter().map(|s| (s.t_seconds, s.events_per_sec)).collect();
    over_time("throughput over time", "events/s", points)
}

/// Server RSS over time, from the timeline. `None` when no sample has it.
pub(crate) fn memory(timeline: &[Sample]) -> Option<Result<String, String>> {
    let points: Vec<(f64, f64)> = timeline
        .iter()
        .filter_map(|s| s.server_rss_mb.map(|rss| (s.t_seconds, rss)))
        .collect();
    over_time("server memory (RSS) over time", "MiB", points)
}

fn over_time(title: &str, y_desc: &str, points: Vec<(f64, f64)>) -> Option<Result<String, String>> {
    if points.is_empty() {
        return None;
    }
    let x_max = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1.0);
    let format = |x: &f64| format!("{}", (x * 1000.0).round() / 1000.0);
    let axes = Axes {
        title,
        x_desc: "seconds",
        y_desc,
        x_max,
        x_labels: 10,
        x_format: &format,
    };
    Some(draw(
        &axes,
        &[Series {
            label: "this run",
            points,
            color: CURRENT,
        }],
    ))
}

/// Draws `series` on one chart with x from 0 to `x_max` and y from 0 to 110% of the highest point.
fn draw(axes: &Axes<'_>, series: &[Series<'_>]) -> Result<String, String> {
    let y_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(axes.title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..axes.x_max, 0f64..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(axes.x_desc)
            .x_labels(axes.x_labels)
            .y_desc(axes.y_desc)
            .x_label_formatter(axes.x_format)
            .y_label_formatter(&|y: &f64| num(*y))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| e.to_string())?;
        for s in series {
            let color = s.color;
            chart
                .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(s.label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_are_evenly_spaced_percentiles() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
    }

    #[test]
    fn latency_chart_is_svg_with_baseline_legend() {
        let l = Latency {
            count: 3,
            distribution: vec![[0.0, 1.0], [90.0, 2.0], [99.0, 4.0], [100.0, 9.0]],
            ..Latency::default()
        };
        let svg = latency("inter_event", &l, Some(&l)).unwrap().unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{svg}"
        );
        assert!(
            svg.contains("baseline") && svg.contains(">\n90%") && svg.contains(">\n99%"),
            "{svg}"
        );
        assert!(latency("x", &Latency::default(), None).is_none());
    }

    #[test]
    fn timeline_charts_skip_missing_data() {
        let samples = [
            Sample {
                t_seconds: 0.0,
                events_per_sec: 10.0,
                ..Sample::default()
            },
            Sample {
                t_seconds: 1.0,
                events_per_sec: 20.0,
                ..Sample::default()
            },
        ];
        assert!(throughput(&samples).unwrap().unwrap().contains("events/s"));
        assert!(memory(&samples).is_none(), "no RSS in any sample");
        assert!(throughput(&[]).is_none());
    }
}
