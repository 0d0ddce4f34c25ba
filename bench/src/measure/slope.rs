//! Least-squares slope of a series: memory growth in MB per second.

/// Slope of the least-squares line through `(x, y)` points, `None` with fewer than two
/// distinct x values.
pub fn least_squares_slope(points: impl IntoIterator<Item = (f64, f64)> + Clone) -> Option<f64> {
    let (mut n, mut sx, mut sy) = (0.0, 0.0, 0.0);
    for (x, y) in points.clone() {
        n += 1.0;
        sx += x;
        sy += y;
    }
    if n < 2.0 {
        return None;
    }
    let (mx, my) = (sx / n, sy / n);
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for (x, y) in points {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
    }
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_and_of_noise() {
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 3.0 + 0.5 * f64::from(i)))
            .collect();
        let slope = least_squares_slope(line.iter().copied()).unwrap();
        assert!((slope - 0.5).abs() < 1e-9);
        let flat = [(0.0, 1.0), (1.0, 2.0), (2.0, 1.0), (3.0, 2.0)];
        assert!(least_squares_slope(flat).unwrap().abs() < 0.5);
        assert_eq!(least_squares_slope([(1.0, 1.0)]), None);
        assert_eq!(least_squares_slope([(1.0, 1.0), (1.0, 2.0)]), None);
    }
}

/// Running least-squares sums: the slope of a series of any length in constant memory.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SlopeAccumulator {
    first_x: Option<f64>,
    last_x: f64,
    n: f64,
    sx: f64,
    sy: f64,
    sxy: f64,
    sxx: f64,
}

impl SlopeAccumulator {
    /// Adds the point `(x, y)`.
    pub fn push(&mut self, x: f64, y: f64) {
        self.first_x.get_or_insert(x);
        self.last_x = x;
        self.n += 1.0;
        self.sx += x;
        self.sy += y;
        self.sxy += x * y;
        self.sxx += x * x;
    }

    /// How far x spans (last minus first point pushed), 0 before two points.
    pub fn span(&self) -> f64 {
        self.first_x.map_or(0.0, |first| self.last_x - first)
    }

    /// The slope so far, `None` with fewer than two distinct x values.
    pub fn slope(&self) -> Option<f64> {
        let denominator = self.n * self.sxx - self.sx * self.sx;
        (self.n >= 2.0 && denominator.abs() > f64::EPSILON)
            .then(|| (self.n * self.sxy - self.sx * self.sy) / denominator)
    }
}

#[cfg(test)]
mod accumulator_tests {
    use super::*;

    #[test]
    fn running_sums_match_the_batch_slope() {
        let points: Vec<(f64, f64)> = (0..50)
            .map(|i| {
                (
                    f64::from(i) * 0.25,
                    10.0 + 0.1 * f64::from(i % 7) + 0.02 * f64::from(i),
                )
            })
            .collect();
        let mut acc = SlopeAccumulator::default();
        for &(x, y) in &points {
            acc.push(x, y);
        }
        let batch = least_squares_slope(points.iter().copied()).unwrap();
        assert!((acc.slope().unwrap() - batch).abs() < 1e-9);
        assert_eq!(SlopeAccumulator::default().slope(), None);
        assert!((acc.span() - 49.0 * 0.25).abs() < 1e-9);
        assert_eq!(SlopeAccumulator::default().span(), 0.0);
    }
}
