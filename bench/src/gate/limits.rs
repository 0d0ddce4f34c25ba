//! The limits of a relative KPI, and what a change from the baseline means against them, in words.

use super::noise::Worse;
use super::{Rule, Status, Thresholds};
use crate::verdict::Delta;

/// The limits of one relative KPI.
pub(super) struct Limits {
    /// The KPI's unit, for the words.
    pub unit: &'static str,
    /// Past this change (percent, the bad way) the KPI warns.
    pub warn_pct: f64,
    /// Past this change it fails; `None`: it only warns.
    pub fail_pct: Option<f64>,
    /// Changes of at most this much (in `unit`, in the bad direction) never warn or fail.
    pub floor: f64,
}

/// The limits of `metric` under `t`, by the KPI family its name starts with.
pub(super) fn limits(metric: &str, t: &Thresholds) -> Limits {
    if metric.starts_with("latency.") {
        Limits {
            unit: "ms",
            warn_pct: t.latency_p99_warn_pct,
            fail_pct: Some(t.latency_p99_fail_pct),
            floor: t.latency_floor_ms,
        }
    } else if metric.starts_with("throughput.") {
        Limits {
            unit: "events/s",
            warn_pct: t.throughput_warn_pct,
            fail_pct: t.throughput_fail_pct,
            floor: 0.0,
        }
    } else if metric.starts_with("cpu.") {
        Limits {
            unit: "ns",
            warn_pct: t.server_cpu_warn_pct,
            fail_pct: t.server_cpu_fail_pct,
            floor: 0.0,
        }
    } else {
        Limits {
            unit: "MiB",
            warn_pct: t.memory_growth_warn_pct,
            fail_pct: t.memory_growth_fail_pct,
            floor: t.memory_growth_floor_mb,
        }
    }
}

/// What the numbers of one relative KPI decided, before it is put in words.
pub(super) struct Decision {
    /// Change from the baseline in percent (+∞ from a zero baseline that grew).
    pub pct: f64,
    /// How far the KPI moved the bad way, in its unit.
    pub bad_delta: f64,
    /// The outcome.
    pub status: Status,
    /// The rule that decided it.
    pub decided_by: Rule,
    /// The change alone is past the warning threshold (before the floor and the noise).
    pub beyond_threshold: bool,
}

/// The status of a change from `base` to `current` and the rule that decided it: past a
/// threshold only when the whole interval (± `half` points) is, and the move is larger
/// than the floor.
pub(super) fn classify(
    worse: Worse,
    limits: &Limits,
    base: f64,
    current: f64,
    half: Option<f64>,
) -> Decision {
    let pct = Delta::new(base, current).change() * 100.0;
    let (bad_pct, bad_delta) = match worse {
        Worse::Up => (pct, current - base),
        Worse::Down => (-pct, base - current),
    };
    let low = bad_pct - half.unwrap_or(0.0);
    let past = |limit: f64| low > limit && bad_delta > limits.floor;
    let status = if limits.fail_pct.is_some_and(past) {
        Status::Fail
    } else if past(limits.warn_pct) {
        Status::Warn
    } else {
        Status::Pass
    };
    let beyond_threshold = bad_pct > limits.warn_pct;
    let decided_by = if beyond_threshold && bad_delta <= limits.floor {
        Rule::Floor
    } else if half.is_some() {
        Rule::NoiseInterval
    } else {
        Rule::Threshold
    };
    Decision {
        pct,
        bad_delta,
        status,
        decided_by,
        beyond_threshold,
    }
}

/// The thresholds of a KPI in words: `vs baseline: past +10% warns, past +25% fails; …`.
pub(super) fn thresholds_in_words(worse: Worse, limits: &Limits) -> String {
    let Limits {
        unit,
        warn_pct,
        floor,
        ..
    } = *limits;
    let direction = if worse == Worse::Up { "+" } else { "-" };
    let fail = limits
        .fail_pct
        .map_or(String::new(), |f| format!(", past {direction}{f}% fails"));
    let mut rule = format!("vs baseline: past {direction}{warn_pct}% warns{fail}");
    if floor > 0.0 {
        rule.push_str(&format!("; changes of at most {floor} {unit} are ignored"));
    }
    rule
}

/// Why a passing change passed, or what to do about a warning or a failure.
pub(super) fn outcome_in_words(decision: &Decision, unit: &str) -> String {
    match (decision.status, decision.decided_by) {
        (Status::Pass, Rule::Floor) => "; within the floor".to_owned(),
        (Status::Pass, Rule::NoiseInterval) if decision.beyond_threshold => {
            "; explained by the measured noise".to_owned()
        }
        (Status::Pass, _) => String::new(),
        _ => format!(
            "; worse by {:.3} {unit}: find the cause, or accept it for this target and profile with --update-baseline",
            decision.bad_delta
        ),
    }
}
