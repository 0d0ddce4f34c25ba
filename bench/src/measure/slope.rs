//! The slope of a series (memory growth in MB per second), robust to one-off steps: the Theil–Sen estimator.
//!
//! A leak climbs steadily; a burst that grows buffers once and keeps them is a step
//! followed by a plateau. A least-squares line through a step reads as a climb (a 5 MiB
//! step in a 12 s window fits as 0.28 MiB/s, a "leak"), while the median of the slopes
//! between every pair of points ignores a step that less than about a third of the
//! pairs span, and still returns the slope of a steady climb exactly.

/// Most points kept: beyond it every other point is dropped (the series keeps its span
/// and its shape at half the resolution), so a long soak costs bounded memory and at
/// most about 2 million pairs to compare.
const MAX_POINTS: usize = 2048;

/// Points `(x, y)` of a series, thinned past 2,048 points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlopeSeries {
    points: Vec<(f64, f64)>,
    /// Keep one point in `stride` pushed.
    stride: usize,
    pushed: usize,
}

impl SlopeSeries {
    /// Adds the point `(x, y)`.
    pub fn push(&mut self, x: f64, y: f64) {
        self.stride = self.stride.max(1);
        if self.pushed % self.stride == 0 {
            if self.points.len() == MAX_POINTS {
                let kept: Vec<_> = self.points.iter().copied().step_by(2).collect();
                self.points = kept;
                self.stride *= 2;
            }
            if self.pushed % self.stride == 0 {
                self.points.push((x, y));
            }
        }
        self.pushed += 1;
    }

    /// How far x spans (last minus first point kept), 0 before two points.
    pub fn span(&self) -> f64 {
        match (self.points.first(), self.points.last()) {
            (Some(first), Some(last)) => last.0 - first.0,
            _ => 0.0,
        }
    }

    /// The Theil–Sen slope: the median of the slopes between every pair of points with
    /// distinct x; `None` without such a pair.
    pub fn slope(&self) -> Option<f64> {
        theil_sen_slope(&self.points)
    }
}

/// The median of `(y_j − y_i) / (x_j − x_i)` over every pair `i < j` with distinct x.
pub fn theil_sen_slope(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len().saturating_sub(1) / 2);
    for (i, &(xi, yi)) in points.iter().enumerate() {
        for &(xj, yj) in &points[i + 1..] {
            if xj != xi {
                slopes.push((yj - yi) / (xj - xi));
            }
        }
    }
    if slopes.is_empty() {
        return None;
    }
    let mid = slopes.len() / 2;
    let (_, upper, _) = slopes.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *upper;
    if slopes.len() % 2 == 1 {
        return Some(upper);
    }
    let lower = slopes[..mid].iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Some((lower + upper) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(points: impl IntoIterator<Item = (f64, f64)>) -> SlopeSeries {
        let mut s = SlopeSeries::default();
        for (x, y) in points {
            s.push(x, y);
        }
        s
    }

    #[test]
    fn a_steady_climb_is_its_slope_and_noise_is_flat() {
        let line = series((0..40).map(|i| (f64::from(i) * 0.25, 3.0 + 0.5 * f64::from(i) * 0.25)));
        assert!((line.slope().unwrap() - 0.5).abs() < 1e-9);
        assert!((line.span() - 39.0 * 0.25).abs() < 1e-9);
        let noise = series((0..40).map(|i| (f64::from(i), 1.0 + f64::from(i % 2))));
        assert!(noise.slope().unwrap().abs() < 0.05, "{:?}", noise.slope());
        assert_eq!(series([(1.0, 1.0)]).slope(), None);
        assert_eq!(series([(1.0, 1.0), (1.0, 2.0)]).slope(), None);
        assert_eq!(SlopeSeries::default().span(), 0.0);
    }

    #[test]
    fn a_step_then_a_plateau_is_not_a_climb() {
        // 12 s at 4 samples/s: 154.3 MiB, a 5 MiB step after 1.5 s, then flat (a burst
        // that grew buffers once). Least squares calls it 0.28 MiB/s.
        let step = series((0..50).map(|i| {
            let t = f64::from(i) * 0.25;
            (t, if t < 1.5 { 154.3 } else { 159.2 })
        }));
        assert_eq!(step.slope(), Some(0.0));
        // The same window climbing 0.2 MiB/s throughout (a leak) keeps its slope.
        let leak = series((0..50).map(|i| {
            let t = f64::from(i) * 0.25;
            (t, 154.3 + 0.2 * t + if i % 3 == 0 { 0.1 } else { 0.0 })
        }));
        assert!((leak.slope().unwrap() - 0.2).abs() < 0.02, "{:?}", leak.slope());
    }

    #[test]
    fn a_long_series_is_thinned_but_keeps_its_span_and_slope() {
        let long = series((0..10_000).map(|i| (f64::from(i), 0.01 * f64::from(i))));
        assert!(long.points.len() <= MAX_POINTS);
        assert!(long.span() >= 9_990.0, "{}", long.span());
        assert!((long.slope().unwrap() - 0.01).abs() < 1e-9);
    }
}
