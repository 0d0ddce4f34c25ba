//! The second CLI layer: raw [`Flags`] validated into what `sse-load` will do ([`Mode`], [`RunConfig`]).

use std::path::PathBuf;

use super::flags::{Command, Flags};
use crate::gate::{Thresholds, ThresholdsError};
use crate::profile::{Overrides, Profile};
use crate::runner::TargetSpec;
use crate::scenario::{self, Definition};
use crate::target::{Launcher, TargetError, parse_target_url};

/// What the command line asks for.
#[derive(Debug)]
pub enum Mode {
    /// Run scenarios.
    Run(Box<RunConfig>),
    /// `sse-load list`.
    List,
    /// `sse-load compare A B`.
    Compare {
        /// First report.
        a: PathBuf,
        /// Second report.
        b: PathBuf,
    },
    /// `sse-load requests`.
    Requests(Box<crate::requests::Config>),
}

/// A validated run: typed values only, nothing left to parse.
#[derive(Debug)]
pub struct RunConfig {
    /// Scale profile.
    pub profile: Profile,
    /// `--clients` / `--duration` overrides.
    pub overrides: Overrides,
    /// Scenarios to run, in suite order.
    pub scenarios: Vec<&'static Definition>,
    /// The server under test.
    pub target: TargetSpec,
    /// Where reports go.
    pub output_dir: PathBuf,
    /// Where baselines live.
    pub baselines_dir: PathBuf,
    /// Rewrite the baselines.
    pub update_baseline: bool,
    /// Exit 3 on a failed gate.
    pub fail_on_regression: bool,
    /// Runs per scenario.
    pub repeat: u32,
    /// Gate thresholds.
    pub thresholds: Thresholds,
}

/// A command line that parsed but does not make sense.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `--scenario` named no scenario.
    #[error("unknown scenario {name:?}; the scenarios are: {known} (see `sse-load list`)")]
    UnknownScenario {
        /// The name given.
        name: String,
        /// The valid names.
        known: String,
    },
    /// `--target` is not a usable URL.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Thresholds file or values are invalid.
    #[error(transparent)]
    Thresholds(#[from] ThresholdsError),
    /// `--target-file` cannot be used.
    #[error(transparent)]
    Description(#[from] crate::description::DescriptionError),
    /// `sse-load requests` flags that make no sense.
    #[error(transparent)]
    Requests(#[from] super::requests::RequestsFlagsError),
    /// `--server-pid` without an external target.
    #[error(
        "--server-pid names an external server's process; give --target URL or --target-file FILE with it (the embedded server's pid is known)"
    )]
    PidWithoutTarget,
    /// The path of the running executable is unknown (needed to start the embedded server).
    #[error("cannot find the sse-load executable to start the embedded server: {0}; use --target URL")]
    CurrentExe(std::io::Error),
}

impl Mode {
    /// Validates `flags`.
    ///
    /// # Errors
    /// [`ConfigError`] naming what is wrong and what to do.
    pub fn from_flags(flags: Flags) -> Result<Self, ConfigError> {
        match flags.command {
            Some(Command::List) => return Ok(Self::List),
            Some(Command::Compare { a, b }) => return Ok(Self::Compare { a, b }),
            Some(Command::Requests(flags)) => return Ok(Self::Requests(Box::new(flags.into_config()?))),
            None => {}
        }
        let scenarios = select_scenarios(&flags.scenarios)?;
        let pid = flags.server_pid;
        let target = match (&flags.target, &flags.target_file) {
            (Some(url), _) => TargetSpec::External {
                url: parse_target_url(url)?,
                pid,
            },
            (None, Some(path)) => TargetSpec::Described {
                description: std::sync::Arc::new(crate::description::load(path)?),
                pid,
            },
            (None, None) if pid.is_some() => return Err(ConfigError::PidWithoutTarget),
            (None, None) => TargetSpec::Embedded(
                Launcher::current_exe(flags.embedded_server_arg.clone()).map_err(ConfigError::CurrentExe)?,
            ),
        };
        let thresholds = thresholds(&flags)?;
        Ok(Self::Run(Box::new(RunConfig {
            profile: flags.profile,
            overrides: Overrides {
                clients: flags.clients.map(|n| n as usize),
                duration: flags.duration,
            },
            scenarios,
            target,
            output_dir: flags.output_dir,
            baselines_dir: flags.baselines_dir,
            update_baseline: flags.update_baseline,
            fail_on_regression: flags.fail_on_regression,
            repeat: flags.repeat,
            thresholds,
        })))
    }
}

/// The named scenarios (deduplicated, in suite order), or all of them.
fn select_scenarios(names: &[String]) -> Result<Vec<&'static Definition>, ConfigError> {
    if names.is_empty() {
        return Ok(scenario::ALL.iter().collect());
    }
    for name in names {
        if scenario::find(name).is_none() {
            return Err(ConfigError::UnknownScenario {
                name: name.clone(),
                known: scenario::ALL
                    .iter()
                    .map(|d| d.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(scenario::ALL
        .iter()
        .filter(|d| names.iter().any(|n| n == d.name))
        .collect())
}

/// Thresholds: defaults, then the file, then the flags; validated once.
fn thresholds(flags: &Flags) -> Result<Thresholds, ThresholdsError> {
    let mut t = match &flags.thresholds {
        Some(path) => Thresholds::load(path)?,
        None => Thresholds::default(),
    };
    let set = |slot: &mut f64, value: Option<f64>| {
        if let Some(v) = value {
            *slot = v;
        }
    };
    set(&mut t.latency_p99_warn_pct, flags.p99_warn_pct);
    set(&mut t.latency_p99_fail_pct, flags.p99_fail_pct);
    set(&mut t.latency_floor_ms, flags.latency_floor_ms);
    set(&mut t.throughput_warn_pct, flags.throughput_warn_pct);
    set(&mut t.memory_growth_warn_pct, flags.memory_growth_warn_pct);
    set(&mut t.memory_slope_fail_mb_per_sec, flags.memory_slope_fail);
    set(
        &mut t.memory_slope_min_window_seconds,
        flags.memory_slope_min_window,
    );
    set(&mut t.error_rate_fail, flags.error_rate_fail);
    if flags.throughput_fail_pct.is_some() {
        t.throughput_fail_pct = flags.throughput_fail_pct;
    }
    if let Some(n) = flags.lost_events_fail {
        t.lost_events_fail = n;
    }
    t.validate()?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn mode(args: &[&str]) -> Result<Mode, ConfigError> {
        Mode::from_flags(
            Flags::try_parse_from(std::iter::once("sse-load").chain(args.iter().copied())).unwrap(),
        )
    }

    #[test]
    fn defaults_run_every_scenario_embedded() {
        let Mode::Run(config) = mode(&[]).unwrap() else {
            panic!("expected a run")
        };
        assert_eq!(config.scenarios.len(), scenario::ALL.len());
        assert!(matches!(config.target, TargetSpec::Embedded(_)));
        assert_eq!(config.thresholds, Thresholds::default());
        assert_eq!(config.output_dir, PathBuf::from("results"));
    }

    #[test]
    fn scenarios_are_checked_and_kept_in_suite_order() {
        let Mode::Run(config) = mode(&[
            "--scenario",
            "burst",
            "--scenario",
            "fanout",
            "--scenario",
            "burst",
        ])
        .unwrap() else {
            panic!("expected a run")
        };
        let names: Vec<_> = config.scenarios.iter().map(|d| d.name).collect();
        assert_eq!(names, ["fanout", "burst"]);
        let err = mode(&["--scenario", "nope"]).unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("throughput-single"), "{err}");
    }

    #[test]
    fn threshold_flags_map_and_are_validated() {
        let Mode::Run(config) = mode(&["--p99-warn-pct", "10", "--lost-events-fail", "3"]).unwrap() else {
            panic!("expected a run")
        };
        assert_eq!(config.thresholds.latency_p99_warn_pct, 10.0);
        assert_eq!(config.thresholds.lost_events_fail, 3);
        assert!(mode(&["--p99-warn-pct=-5"]).is_err());
        assert!(mode(&["--error-rate-fail", "2"]).is_err());
    }

    #[test]
    fn bad_target_is_a_clear_error() {
        let err = mode(&["--target", "localhost:8000"]).unwrap_err().to_string();
        assert!(err.contains("http://"), "{err}");
        let Mode::Run(config) = mode(&["--target", "http://127.0.0.1:9"]).unwrap() else {
            panic!()
        };
        assert!(matches!(config.target, TargetSpec::External { pid: None, .. }));
        assert!(matches!(
            mode(&["--server-pid", "7"]),
            Err(ConfigError::PidWithoutTarget)
        ));
        let err = mode(&["--target-file", "/nonexistent.toml"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent.toml"), "{err}");
    }
}
