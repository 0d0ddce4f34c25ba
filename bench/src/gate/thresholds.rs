//! Gate thresholds: defaults from the project issue, every one configurable (CLI or a JSON file).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Limits the gate judges against. Percentages are percent (20.0 = 20%), rates are fractions.
///
/// Every comparison is strict: a value exactly *at* a threshold passes ("above 0.1 MB/s fails"
/// means 0.1 passes and 0.1001 fails). Read from a file, missing keys keep their defaults and
/// unknown keys are an error (a typo must not silently disable a gate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Primary latency p99 increase over the baseline that warns, percent (default 20).
    pub latency_p99_warn_pct: f64,
    /// Primary latency p99 increase over the baseline that fails, percent (default 50).
    pub latency_p99_fail_pct: f64,
    /// Latency p99 increases of at most this many ms never warn or fail (default 0.5): loopback
    /// p99s of a fraction of a millisecond move by more than 50% between identical runs.
    pub latency_floor_ms: f64,
    /// Throughput (events/s) drop below the baseline that warns, percent (default 20).
    pub throughput_warn_pct: f64,
    /// Throughput drop that fails, percent; `None` (default): a drop only warns.
    pub throughput_fail_pct: Option<f64>,
    /// Server CPU per event increase over the baseline that warns, percent (default 5).
    pub server_cpu_warn_pct: f64,
    /// Server CPU per event increase that fails, percent (default 10): CPU per delivered event
    /// is what a fan-out server is about, and, read from per-thread nanosecond clocks, the
    /// figure that moves least between identical runs.
    pub server_cpu_fail_pct: Option<f64>,
    /// Width of the confidence interval of a change, in standard errors of the measured noise
    /// (default 3): a change is a regression only when `change − z × noise × √(1/n + 1/m)` is
    /// past the threshold.
    pub noise_z: f64,
    /// Memory growth increase over the baseline that warns, percent (default 50).
    pub memory_growth_warn_pct: f64,
    /// Memory growth increase that fails, percent; `None` (default): only warns.
    pub memory_growth_fail_pct: Option<f64>,
    /// Memory growth increases of at most this many MiB never warn or fail (default 1.0).
    pub memory_growth_floor_mb: f64,
    /// Server RSS slope above this fails, MiB/s (default 0.1).
    pub memory_slope_fail_mb_per_sec: f64,
    /// The slope is judged only when fitted over at least this many seconds (default 10):
    /// over a shorter window, allocator warm-up looks like a leak.
    pub memory_slope_min_window_seconds: f64,
    /// Connection error rate above this fails, fraction 0..=1 (default 0.05).
    pub error_rate_fail: f64,
    /// More lost events than this fails (default 0: any lost event fails).
    pub lost_events_fail: u64,
    /// A fixed-rate feed whose measured rate differs from the one asked for by more than this
    /// fails, percent (default 5): short means the server or the host could not keep up,
    /// over means events the scenario did not ask for (a second publisher).
    pub feed_rate_tolerance_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            latency_p99_warn_pct: 20.0,
            latency_p99_fail_pct: 50.0,
            latency_floor_ms: 0.5,
            throughput_warn_pct: 20.0,
            throughput_fail_pct: None,
            server_cpu_warn_pct: 5.0,
            server_cpu_fail_pct: Some(10.0),
            noise_z: 3.0,
            memory_growth_warn_pct: 50.0,
            memory_growth_fail_pct: None,
            memory_growth_floor_mb: 1.0,
            memory_slope_fail_mb_per_sec: 0.1,
            memory_slope_min_window_seconds: 10.0,
            error_rate_fail: 0.05,
            lost_events_fail: 0,
            feed_rate_tolerance_pct: 5.0,
        }
    }
}

/// Why thresholds could not be loaded or are inconsistent.
#[derive(Debug, thiserror::Error)]
pub enum ThresholdsError {
    /// The file could not be read.
    #[error("cannot read thresholds file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid thresholds JSON.
    #[error(
        "thresholds file {} is not valid: {source}; expected a JSON object with keys such as \
         \"latency_p99_warn_pct\": 20.0 (see `Thresholds` docs)",
        path.display()
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        source: serde_json::Error,
    },
    /// A value is out of range or contradicts another.
    #[error("invalid threshold: {0}")]
    Invalid(String),
}

impl Thresholds {
    /// Reads thresholds from a JSON file (missing keys keep their defaults) and validates them.
    ///
    /// # Errors
    /// [`ThresholdsError`] naming the file, or the offending value.
    pub fn load(path: &Path) -> Result<Self, ThresholdsError> {
        let text = std::fs::read_to_string(path).map_err(|source| ThresholdsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let thresholds: Self = serde_json::from_str(&text).map_err(|source| ThresholdsError::Parse {
            path: path.to_owned(),
            source,
        })?;
        thresholds.validate()?;
        Ok(thresholds)
    }

    /// Checks that every value is finite and non-negative, rates are at most 1 and each warn level
    /// is not above its fail level.
    ///
    /// # Errors
    /// [`ThresholdsError::Invalid`] naming the first offending key.
    pub fn validate(&self) -> Result<(), ThresholdsError> {
        let values = [
            ("latency_p99_warn_pct", Some(self.latency_p99_warn_pct)),
            ("latency_p99_fail_pct", Some(self.latency_p99_fail_pct)),
            ("latency_floor_ms", Some(self.latency_floor_ms)),
            ("throughput_warn_pct", Some(self.throughput_warn_pct)),
            ("throughput_fail_pct", self.throughput_fail_pct),
            ("server_cpu_warn_pct", Some(self.server_cpu_warn_pct)),
            ("server_cpu_fail_pct", self.server_cpu_fail_pct),
            ("noise_z", Some(self.noise_z)),
            ("memory_growth_warn_pct", Some(self.memory_growth_warn_pct)),
            ("memory_growth_fail_pct", self.memory_growth_fail_pct),
            ("memory_growth_floor_mb", Some(self.memory_growth_floor_mb)),
            (
                "memory_slope_fail_mb_per_sec",
                Some(self.memory_slope_fail_mb_per_sec),
            ),
            (
                "memory_slope_min_window_seconds",
                Some(self.memory_slope_min_window_seconds),
            ),
            ("error_rate_fail", Some(self.error_rate_fail)),
            ("feed_rate_tolerance_pct", Some(self.feed_rate_tolerance_pct)),
        ];
        for (name, value) in values {
            if let Some(v) = value.filter(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(ThresholdsError::Invalid(format!(
                    "{name} = {v}: must be a finite number >= 0"
                )));
            }
        }
        if self.error_rate_fail > 1.0 {
            return Err(ThresholdsError::Invalid(format!(
                "error_rate_fail = {}: a fraction between 0 and 1 (0.05 = 5%)",
                self.error_rate_fail
            )));
        }
        let pairs = [
            (
                "latency_p99",
                self.latency_p99_warn_pct,
                Some(self.latency_p99_fail_pct),
            ),
            ("throughput", self.throughput_warn_pct, self.throughput_fail_pct),
            ("server_cpu", self.server_cpu_warn_pct, self.server_cpu_fail_pct),
            (
                "memory_growth",
                self.memory_growth_warn_pct,
                self.memory_growth_fail_pct,
            ),
        ];
        for (name, warn, fail) in pairs {
            if let Some(fail) = fail.filter(|fail| warn > *fail) {
                return Err(ThresholdsError::Invalid(format!(
                    "{name}_warn_pct = {warn} is above {name}_fail_pct = {fail}; the warning level \
                     must not exceed the failure level"
                )));
            }
        }
        if self.throughput_fail_pct.is_some_and(|f| f > 100.0) || self.throughput_warn_pct > 100.0 {
            return Err(ThresholdsError::Invalid(
                "throughput drops are at most 100%; use a value between 0 and 100".to_owned(),
            ));
        }
        Ok(())
    }
}
