//! A bounded timeline: samples over the run, thinned so it never holds more than [`MAX_POINTS`].
//!
//! When the timeline is full, every other point is dropped and the sampling stride
//! doubles, so a run of any length ends with between half and all of `MAX_POINTS`
//! evenly spaced points, in fixed memory.

use serde::{Deserialize, Serialize};

/// One point of the timeline.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sample {
    /// Seconds since the measured phase started.
    pub t_seconds: f64,
    /// Events per second over all clients since the previous sample.
    pub events_per_sec: f64,
    /// Streams open at this time.
    pub open_streams: u64,
    /// Server RSS, MiB, when known.
    pub server_rss_mb: Option<f64>,
    /// Server open file descriptors, when known.
    pub server_fds: Option<u64>,
}

/// Most points a timeline keeps.
pub const MAX_POINTS: usize = 600;

/// Samples over time, bounded.
#[derive(Debug, Clone)]
pub struct Timeline {
    points: Vec<Sample>,
    /// Keep one offered sample in `stride`.
    stride: u64,
    offered: u64,
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}

impl Timeline {
    /// An empty timeline (its storage is allocated once, here).
    pub fn new() -> Self {
        Self {
            points: Vec::with_capacity(MAX_POINTS),
            stride: 1,
            offered: 0,
        }
    }

    /// Offers a sample; it is kept when it falls on the current stride.
    pub fn push(&mut self, sample: Sample) {
        let keep = self.offered % self.stride == 0;
        self.offered += 1;
        if !keep {
            return;
        }
        if self.points.len() == MAX_POINTS {
            let mut i = 0;
            self.points.retain(|_| {
                i += 1;
                i % 2 == 1
            });
            self.stride *= 2;
            if (self.offered - 1) % self.stride != 0 {
                return;
            }
        }
        self.points.push(sample);
    }

    /// The points kept, oldest first.
    pub fn points(&self) -> &[Sample] {
        &self.points
    }

    /// Consumes the timeline into its points.
    pub fn into_points(self) -> Vec<Sample> {
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_bounded_and_ordered() {
        let mut timeline = Timeline::new();
        for i in 0..10_000u32 {
            timeline.push(Sample {
                t_seconds: f64::from(i),
                ..Sample::default()
            });
        }
        let points = timeline.points();
        assert!(
            points.len() <= MAX_POINTS && points.len() >= MAX_POINTS / 2,
            "{}",
            points.len()
        );
        assert!(points.windows(2).all(|w| w[0].t_seconds < w[1].t_seconds));
        assert_eq!(points[0].t_seconds, 0.0);
        let step = points[1].t_seconds - points[0].t_seconds;
        assert!(
            points.windows(2).all(|w| w[1].t_seconds - w[0].t_seconds == step),
            "evenly spaced"
        );
    }

    #[test]
    fn short_runs_keep_everything() {
        let mut timeline = Timeline::new();
        for i in 0..10u32 {
            timeline.push(Sample {
                t_seconds: f64::from(i),
                ..Sample::default()
            });
        }
        assert_eq!(timeline.points().len(), 10);
    }
}
