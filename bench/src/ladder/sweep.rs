//! Sweeps: step the connection count or the publish rate, and find where the service level breaks (the knee) and where latency turns up (the elbow).
//!
//! ## Capacity (the knee)
//! A capacity sweep steps the number of subscribers at a fixed publish rate. The **knee**
//! is the first step whose p99 publish-to-receive latency or connection error rate breaks
//! the [`Slo`] (or that lost an event); the **safe ceiling** is the last step before it,
//! every step up to it having met the SLO. A sweep that never breaks reports no knee and
//! its last step as the ceiling: the limit lies beyond what was tried.
//!
//! ## Rate (the elbow)
//! A rate sweep steps the publish rate at a fixed subscriber count. The **elbow** of the
//! p99 latency curve is found as Kneedle does: both axes are scaled to 0..1 and the elbow
//! is the step farthest below the straight line from the first to the last step (where
//! a curve that was flat starts to climb). Fewer than three steps, or a curve that never
//! rises above that line's start, have no elbow.

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

/// What a sweep steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Subscribers, at a fixed publish rate.
    Capacity,
    /// Publish rate (events/s), at a fixed subscriber count.
    Rate,
}

impl Axis {
    /// The x axis label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Capacity => "subscribers",
            Self::Rate => "publish rate (events/s)",
        }
    }
}

/// One step of a sweep, measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// Subscribers (capacity) or events/s (rate).
    pub x: f64,
    /// p99 publish-to-receive latency, ms (`None`: nothing received).
    pub p99_ms: Option<f64>,
    /// Connection error rate, 0..1.
    pub error_rate: f64,
    /// Events lost.
    pub lost: u64,
    /// Events received per second over all subscribers.
    pub events_per_sec: f64,
    /// Server CPU per delivered event, ns.
    pub server_ns_per_event: Option<f64>,
}

/// The service level a capacity sweep holds steps to.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// Highest acceptable p99 publish-to-receive latency, ms.
    pub p99_ms: f64,
    /// Highest acceptable connection error rate, 0..1.
    pub error_rate: f64,
}

impl Slo {
    /// Why `step` breaks this SLO, if it does.
    pub fn broken_by(&self, step: &Step) -> Option<String> {
        if step.lost > 0 {
            return Some(format!("{} events lost", step.lost));
        }
        if step.error_rate > self.error_rate {
            return Some(format!(
                "connection error rate {:.2}% > {:.2}%",
                step.error_rate * 100.0,
                self.error_rate * 100.0
            ));
        }
        match step.p99_ms {
            None => Some("no event received".to_owned()),
            Some(p99) if p99 > self.p99_ms => Some(format!("p99 {p99:.2} ms > {:.2} ms", self.p99_ms)),
            Some(_) => None,
        }
    }
}

/// Where a capacity sweep broke its SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// The first step that broke the SLO (`None`: none did).
    pub knee: Option<f64>,
    /// Why the knee step broke it.
    pub reason: Option<String>,
    /// The last step before the knee (every step up to it met the SLO); `None` when the
    /// first step already broke it.
    pub safe_ceiling: Option<f64>,
}

/// The knee and safe ceiling of `steps` (in sweep order) against `slo`.
pub fn capacity(steps: &[Step], slo: &Slo) -> Capacity {
    let broken = steps
        .iter()
        .enumerate()
        .find_map(|(i, s)| slo.broken_by(s).map(|r| (i, r)));
    match broken {
        Some((i, reason)) => Capacity {
            knee: Some(steps[i].x),
            reason: Some(reason),
            safe_ceiling: i.checked_sub(1).map(|j| steps[j].x),
        },
        None => Capacity {
            knee: None,
            reason: None,
            safe_ceiling: steps.last().map(|s| s.x),
        },
    }
}

/// The elbow of the p99 curve of `steps` (see the module docs), as its x.
pub fn elbow(steps: &[Step]) -> Option<f64> {
    let points: Vec<(f64, f64)> = steps.iter().filter_map(|s| Some((s.x, s.p99_ms?))).collect();
    if points.len() < 3 {
        return None;
    }
    let (x0, x1) = (points[0].0, points[points.len() - 1].0);
    let y_min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let y_max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    if x1 <= x0 || y_max <= y_min {
        return None;
    }
    let scaled = |(x, y): (f64, f64)| ((x - x0) / (x1 - x0), (y - y_min) / (y_max - y_min));
    let (first, last) = (scaled(points[0]), scaled(points[points.len() - 1]));
    // Distance below the chord from the first to the last point (positive: below).
    let below = |p: (f64, f64)| {
        let chord = first.1 + (last.1 - first.1) * (p.0 - first.0) / (last.0 - first.0);
        chord - p.1
    };
    let (best, distance) = points[1..points.len() - 1]
        .iter()
        .map(|&p| (p.0, below(scaled(p))))
        .fold((f64::NAN, 0.0), |acc, cur| if cur.1 > acc.1 { cur } else { acc });
    (distance > 0.0).then_some(best)
}

/// A line chart of p99 latency over the sweep's x, with the SLO line and `marker` (the
/// knee or elbow) drawn in; an SVG document.
///
/// # Errors
/// Drawing failed (plotters' message).
pub fn chart(
    axis: Axis,
    steps: &[Step],
    slo_ms: Option<f64>,
    marker: Option<(f64, &str)>,
) -> Result<String, String> {
    let points: Vec<(f64, f64)> = steps.iter().filter_map(|s| Some((s.x, s.p99_ms?))).collect();
    let x_max = steps.iter().map(|s| s.x).fold(1.0, f64::max) * 1.05;
    let y_max = points.iter().map(|p| p.1).chain(slo_ms).fold(0.1, f64::max) * 1.15;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (720, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let title = match axis {
            Axis::Capacity => "p99 publish-to-receive latency by subscribers",
            Axis::Rate => "p99 publish-to-receive latency by publish rate",
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc(axis.label())
            .y_desc("p99 ms")
            // Steps are whole subscribers or events/s: no fraction on that axis.
            .x_label_formatter(&|x: &f64| format!("{x:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        let blue = RGBColor(31, 119, 180);
        chart
            .draw_series(LineSeries::new(points.iter().copied(), blue.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("p99")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], blue));
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, blue.filled())))
            .map_err(|e| e.to_string())?;
        if let Some(slo) = slo_ms {
            let red = RGBColor(214, 39, 40);
            chart
                .draw_series(LineSeries::new([(0.0, slo), (x_max, slo)], red))
                .map_err(|e| e.to_string())?
                .label(format!("SLO p99 {slo} ms"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red));
        }
        if let Some((x, label)) = marker {
            let orange = RGBColor(255, 127, 14);
            chart
                .draw_series(LineSeries::new([(x, 0.0), (x, y_max)], orange.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(label.to_owned())
                .legend(move |(lx, ly)| PathElement::new([(lx, ly), (lx + 16, ly)], orange));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(x: f64, p99: f64) -> Step {
        Step {
            x,
            p99_ms: Some(p99),
            error_rate: 0.0,
            lost: 0,
            events_per_sec: 0.0,
            server_ns_per_event: None,
        }
    }

    const SLO: Slo = Slo {
        p99_ms: 10.0,
        error_rate: 0.01,
    };

    #[test]
    fn knee_is_the_first_step_past_the_slo() {
        let steps = [
            step(100.0, 1.0),
            step(200.0, 2.0),
            step(400.0, 12.0),
            step(800.0, 5.0),
        ];
        let c = capacity(&steps, &SLO);
        assert_eq!(c.knee, Some(400.0));
        assert_eq!(c.safe_ceiling, Some(200.0));
        assert_eq!(c.reason.as_deref(), Some("p99 12.00 ms > 10.00 ms"));
    }

    #[test]
    fn errors_and_losses_break_the_slo() {
        let mut lossy = step(200.0, 1.0);
        lossy.lost = 3;
        let c = capacity(&[step(100.0, 1.0), lossy], &SLO);
        assert_eq!((c.knee, c.safe_ceiling), (Some(200.0), Some(100.0)));
        let mut failing = step(100.0, 1.0);
        failing.error_rate = 0.5;
        let c = capacity(&[failing], &SLO);
        assert_eq!((c.knee, c.safe_ceiling), (Some(100.0), None));
    }

    #[test]
    fn a_sweep_that_never_breaks_has_no_knee() {
        let c = capacity(&[step(100.0, 1.0), step(200.0, 1.5)], &SLO);
        assert_eq!((c.knee, c.safe_ceiling), (None, Some(200.0)));
    }

    #[test]
    fn elbow_is_where_a_flat_curve_starts_to_climb() {
        let steps = [
            step(100.0, 1.0),
            step(200.0, 1.1),
            step(300.0, 1.2),
            step(400.0, 1.4),
            step(500.0, 9.0),
        ];
        assert_eq!(elbow(&steps), Some(400.0));
        // A straight line, and too few points, have none.
        assert_eq!(elbow(&[step(1.0, 1.0), step(2.0, 2.0), step(3.0, 3.0)]), None);
        assert_eq!(elbow(&[step(1.0, 1.0), step(2.0, 5.0)]), None);
    }

    #[test]
    fn chart_is_an_svg_with_the_marker() {
        let steps = [step(100.0, 1.0), step(200.0, 2.0), step(400.0, 12.0)];
        let svg = chart(Axis::Capacity, &steps, Some(10.0), Some((400.0, "knee"))).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("knee"));
        assert!(svg.contains("SLO p99 10 ms"));
        // Whole steps are labelled without a fraction.
        let labels: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(labels.contains(&"200"), "no whole-number x label in {svg}");
        assert!(!labels.contains(&"200.0"));
    }
}
