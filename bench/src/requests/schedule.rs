//! When requests start: open-model arrivals at a rate (Poisson, or burstier/smoother with a gamma shape) from a seeded generator.
//!
//! As in vLLM's `bench serve`, the gaps between arrivals are drawn from a gamma
//! distribution with shape `burstiness` and mean `1 / rate`: burstiness 1 is a Poisson
//! process (exponential gaps), below 1 burstier, above 1 more regular.
//!
//! ## Exact offered rate
//! `n` gaps drawn at random add up to `n / rate` only on average (±1/√n: ±5 % for 400
//! requests). The drawn gaps are therefore scaled so that the `n` arrivals span exactly
//! `n / rate` seconds; for burstiness 1 that is a Poisson process conditioned on `n`
//! arrivals in that span. The arrival pattern stays random and the asked rate is the
//! offered rate, so the achieved rate measures the generator and the server, not luck.

use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::SmallRng;
use rand_distr::{Distribution, Gamma};

/// Arrival offsets from the start of the run, one per request, ascending.
///
/// # Errors
/// A rate or burstiness that is not a positive finite number.
pub fn arrivals(n: u64, rate: f64, burstiness: f64, seed: u64) -> Result<Vec<Duration>, String> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(format!("the request rate must be a positive number, not {rate}"));
    }
    if !(burstiness.is_finite() && burstiness > 0.0) {
        return Err(format!("burstiness must be a positive number, not {burstiness}"));
    }
    let gamma = Gamma::new(burstiness, 1.0 / (rate * burstiness)).map_err(|e| e.to_string())?;
    let mut rng = SmallRng::seed_from_u64(seed);
    let gaps: Vec<f64> = (0..n).map(|_| gamma.sample(&mut rng)).collect();
    let drawn: f64 = gaps.iter().sum();
    let scale = if drawn > 0.0 { n as f64 / rate / drawn } else { 1.0 };
    // The first request starts at once; the span is measured to the last arrival plus
    // one gap, so n arrivals over n / rate seconds.
    let mut at = 0.0;
    Ok(gaps
        .iter()
        .map(|gap| {
            let offset = Duration::from_secs_f64(at);
            at += gap * scale;
            offset
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_rate_is_exact_and_the_pattern_seeded() {
        let a = arrivals(400, 20.0, 1.0, 7).unwrap();
        assert_eq!(a.len(), 400);
        assert_eq!(a[0], Duration::ZERO);
        assert!(a.windows(2).all(|w| w[0] <= w[1]));
        // 399 gaps of the 400 span less than 20 s; the last gap completes it.
        assert!(a[399] < Duration::from_secs(20));
        assert_eq!(a, arrivals(400, 20.0, 1.0, 7).unwrap());
        assert_ne!(a, arrivals(400, 20.0, 1.0, 8).unwrap());
    }

    #[test]
    fn burstiness_changes_the_spread_of_gaps() {
        let spread = |b: f64| {
            let a = arrivals(2000, 100.0, b, 1).unwrap();
            let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]).as_secs_f64()).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            var.sqrt() / mean
        };
        // Coefficient of variation: 1/sqrt(shape) (exponential: 1).
        let (bursty, poisson, regular) = (spread(0.25), spread(1.0), spread(16.0));
        assert!(
            bursty > 1.5 && (0.8..1.2).contains(&poisson) && regular < 0.4,
            "{bursty} {poisson} {regular}"
        );
    }

    #[test]
    fn bad_rates_are_refused() {
        assert!(arrivals(10, 0.0, 1.0, 1).unwrap_err().contains("rate"));
        assert!(arrivals(10, 1.0, -1.0, 1).unwrap_err().contains("burstiness"));
        assert!(arrivals(0, 1.0, 1.0, 1).unwrap().is_empty());
    }
}
