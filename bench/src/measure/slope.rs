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
        let line: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 3.0 + 0.5 * f64::from(i))).collect();
        let slope = least_squares_slope(line.iter().copied()).unwrap();
        assert!((slope - 0.5).abs() < 1e-9);
        let flat = [(0.0, 1.0), (1.0, 2.0), (2.0, 1.0), (3.0, 2.0)];
        assert!(least_squares_slope(flat).unwrap().abs() < 0.5);
        assert_eq!(least_squares_slope([(1.0, 1.0)]), None);
        assert_eq!(least_squares_slope([(1.0, 1.0), (1.0, 2.0)]), None);
    }
}
