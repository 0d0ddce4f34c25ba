//! The second CLI layer: raw [`Flags`] validated into what `sse-load` will do ([`Mode`], [`RunConfig`]).

use std::path::PathBuf;

use super::flags::{Command, Flags};
use crate::baseline;
use crate::client::protocol::{self, Protocol, ProtocolError};
use crate::client::tls::TlsOptions;
use crate::gate::{Thresholds, ThresholdsError};
use crate::ladder::Design;
use crate::profile::{Overrides, Profile};
use crate::report::json::is_valid_file_stem;
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
    /// `sse-load compare BASELINE CURRENT`.
    Compare {
        /// The report compared against.
        baseline: PathBuf,
        /// The report judged.
        current: PathBuf,
        /// Gate thresholds.
        thresholds: Thresholds,
    },
    /// `sse-load calibrate`.
    Calibrate(super::ladder::CalibrateArgs),
    /// `sse-load sweep`.
    Sweep(super::ladder::SweepArgs),
    /// `sse-load noise --runs K`: the run configuration, with K runs per scenario.
    Noise(Box<RunConfig>),
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
    /// Root of the baselines (`<root>/<target>/<profile>/`).
    pub baselines_root: PathBuf,
    /// The target's name for its baselines: `embedded`, `--target-name`, or host_port.
    pub target_name: String,
    /// Rewrite the baselines.
    pub update_baseline: bool,
    /// Exit 3 on a failed gate.
    pub fail_on_regression: bool,
    /// Runs per scenario.
    pub repeat: u32,
    /// Gate thresholds.
    pub thresholds: Thresholds,
    /// `--paired`: the baseline server, measured interleaved with the current one.
    pub paired: Option<Paired>,
    /// `--reader-threads`: the generator's reader threads, for every scenario (`None`:
    /// each scenario's from its expected load).
    pub reader_threads: Option<usize>,
}

/// The paired gate's baseline side (A): how to start its embedded server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired {
    /// `--baseline-exe` (made absolute) and `--baseline-server-arg`.
    pub baseline: Launcher,
}

/// `--repeat` with `--paired` when not given: three runs a side let the gate estimate the
/// noise from the runs themselves.
pub const PAIRED_REPEAT: u32 = 3;

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
    /// `--target-name` is not usable.
    #[error(
        "--target-name {0:?}: use letters, digits, '-', '_' and '.' (and not `embedded`, the \
         reference server's name), e.g. --target-name my-server"
    )]
    TargetName(String),
    /// `--target-file` cannot be used.
    #[error(transparent)]
    Description(#[from] crate::description::DescriptionError),
    /// `sse-load requests` flags that make no sense.
    #[error(transparent)]
    Requests(#[from] super::requests::RequestsFlagsError),
    /// `--protocol` and `--streams-per-connection` contradict each other.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The TLS configuration cannot be built.
    #[error(transparent)]
    Tls(#[from] crate::client::tls::TlsError),
    /// `--server-pid` without an external target.
    #[error(
        "--server-pid names an external server's process; give --target URL or --target-file FILE with it (the embedded server's pid is known)"
    )]
    PidWithoutTarget,
    /// `--paired` with fewer than two runs a side.
    #[error(
        "--paired needs --repeat 2 or more (runs of each side to compare; default {PAIRED_REPEAT}), got --repeat {0}"
    )]
    PairedRepeat(u32),
    /// `--paired` given to `sse-load noise`, which measures one server alone.
    #[error("--paired cannot be used with `sse-load noise`: the noise of one server is measured alone")]
    PairedNoise,
    /// `--baseline-exe` is not a file that can be run.
    #[error(
        "--baseline-exe {}: {source}; give the path of an sse-load built from the base revision \
         (e.g. target/base/sse-load)",
        path.display()
    )]
    BaselineExe {
        /// The path given.
        path: PathBuf,
        /// Why it cannot be used.
        source: std::io::Error,
    },
    /// `calibrate` over HTTP/2 with a design that speaks HTTP/1.1 only.
    #[error(
        "calibrate over HTTP/2 measures the reference design only (the floor and naive designs \
         speak HTTP/1.1 only); add --design reference"
    )]
    CalibrateHttp2Design,
    /// `calibrate --scenario` over HTTP/2: the lean reader speaks HTTP/1.1.
    #[error(
        "calibrate --scenario reads plain HTTP/1.1 streams (the lean reader speaks nothing else); \
         drop --protocol h2 and --streams-per-connection"
    )]
    CalibrateScenarioHttp2,
    /// The path of the running executable is unknown (needed to start the embedded server).
    #[error("cannot find the sse-load executable to start the embedded server: {0}; use --target URL")]
    CurrentExe(std::io::Error),
}

/// The baseline name of an external target: `--target-name`, else `default`.
fn external_name(flags: &Flags, default: String) -> Result<String, ConfigError> {
    match &flags.target_name {
        Some(name) if is_valid_file_stem(name) && name != baseline::EMBEDDED_TARGET => Ok(name.clone()),
        Some(name) => Err(ConfigError::TargetName(name.clone())),
        None => Ok(default),
    }
}

impl Mode {
    /// Validates `flags`.
    ///
    /// # Errors
    /// [`ConfigError`] naming what is wrong and what to do.
    pub fn from_flags(mut flags: Flags) -> Result<Self, ConfigError> {
        let noise_runs = match flags.command.take() {
            Some(Command::List) => return Ok(Self::List),
            Some(Command::Compare { baseline, current }) => {
                return Ok(Self::Compare {
                    baseline,
                    current,
                    thresholds: thresholds(&flags)?,
                });
            }
            Some(Command::Calibrate(mut args)) => {
                args.clients = flags.clients;
                args.protocol = stream_protocol(&flags, None)?;
                if !flags.scenarios.is_empty() {
                    if args.protocol != Protocol::Http1 {
                        return Err(ConfigError::CalibrateScenarioHttp2);
                    }
                    let overrides = Overrides {
                        clients: flags.clients.map(|n| n as usize),
                        duration: None,
                    };
                    args.scenarios = select_scenarios(&flags.scenarios)?
                        .into_iter()
                        .map(|d| (d, d.plan(flags.profile.scale(d.smoke, overrides))))
                        .collect();
                }
                let other_design =
                    args.designs.is_empty() || args.designs.iter().any(|&d| d != Design::Reference);
                if args.protocol != Protocol::Http1 && other_design {
                    return Err(ConfigError::CalibrateHttp2Design);
                }
                return Ok(Self::Calibrate(args));
            }
            Some(Command::Sweep(mut args)) => {
                args.clients = flags.clients.map_or(args.clients, |n| n as usize);
                return Ok(Self::Sweep(args));
            }
            Some(Command::Requests(flags)) => return Ok(Self::Requests(Box::new(flags.into_config()?))),
            Some(Command::Noise { runs }) => Some(runs),
            None => None,
        };
        let scenarios = select_scenarios(&flags.scenarios)?;
        let (target, target_name) = target(&flags)?;
        let thresholds = thresholds(&flags)?;
        let (repeat, paired) = repeat_and_pairing(&flags, noise_runs)?;
        let config = Box::new(RunConfig {
            profile: flags.profile,
            overrides: Overrides {
                clients: flags.clients.map(|n| n as usize),
                duration: flags.duration,
            },
            scenarios,
            target,
            output_dir: flags.output_dir,
            baselines_root: flags.baselines_dir,
            target_name,
            update_baseline: flags.update_baseline,
            fail_on_regression: flags.fail_on_regression,
            repeat,
            thresholds,
            paired,
            reader_threads: flags.reader_threads.map(|n| n as usize),
        });
        Ok(match noise_runs {
            Some(_) => Self::Noise(config),
            None => Self::Run(config),
        })
    }
}

/// The server under test and its name for baselines: `--target`, `--target-file` or the
/// embedded server; installs the TLS options and the stream protocol they ask for.
fn target(flags: &Flags) -> Result<(TargetSpec, String), ConfigError> {
    let pid = flags.server_pid;
    let tls_flags = TlsOptions {
        ca_file: flags.ca_file.clone(),
        insecure: flags.insecure,
    };
    let chosen = match (&flags.target, &flags.target_file) {
        (Some(url), _) => {
            let url = parse_target_url(url)?;
            crate::client::tls::install(&tls_flags, &TlsOptions::default())?;
            protocol::set_configured(stream_protocol(flags, None)?);
            let name = external_name(flags, baseline::target_name_of(&url))?;
            let spec = TargetSpec::External {
                url,
                pid,
                probe_publish: flags.probe_publish,
            };
            (spec, name)
        }
        (None, Some(path)) => {
            let description = crate::description::load(path)?;
            crate::client::tls::install(&tls_flags, &description.tls)?;
            protocol::set_configured(stream_protocol(flags, description.protocol)?);
            let name = external_name(flags, baseline::file_stem_of(&description.name))?;
            let spec = TargetSpec::Described {
                description: std::sync::Arc::new(description),
                pid,
            };
            (spec, name)
        }
        (None, None) if pid.is_some() => return Err(ConfigError::PidWithoutTarget),
        (None, None) => {
            protocol::set_configured(stream_protocol(flags, None)?);
            (
                TargetSpec::Embedded(
                    Launcher::current_exe(flags.embedded_server_arg.clone())
                        .map_err(ConfigError::CurrentExe)?,
                ),
                baseline::EMBEDDED_TARGET.to_owned(),
            )
        }
    };
    Ok(chosen)
}

/// The runs per scenario (per side with `--paired`: [`PAIRED_REPEAT`] unless given, at
/// least 2) and the paired gate's baseline side.
fn repeat_and_pairing(flags: &Flags, noise_runs: Option<u32>) -> Result<(u32, Option<Paired>), ConfigError> {
    if !flags.paired {
        return Ok((noise_runs.or(flags.repeat).unwrap_or(1), None));
    }
    if noise_runs.is_some() {
        return Err(ConfigError::PairedNoise);
    }
    let repeat = flags.repeat.unwrap_or(PAIRED_REPEAT);
    if repeat < 2 {
        return Err(ConfigError::PairedRepeat(repeat));
    }
    Ok((repeat, Some(paired(flags)?)))
}

/// `--paired`: the baseline server's launcher, its executable checked and made absolute.
fn paired(flags: &Flags) -> Result<Paired, ConfigError> {
    let exe = match &flags.baseline_exe {
        Some(path) => {
            let exe = std::fs::canonicalize(path).map_err(|source| ConfigError::BaselineExe {
                path: path.clone(),
                source,
            })?;
            if !exe.is_file() {
                return Err(ConfigError::BaselineExe {
                    path: path.clone(),
                    source: std::io::Error::other("not a file"),
                });
            }
            exe
        }
        None => std::env::current_exe().map_err(ConfigError::CurrentExe)?,
    };
    Ok(Paired {
        baseline: Launcher {
            exe,
            extra_args: flags.baseline_server_arg.clone(),
        },
    })
}

/// The streams' protocol: the command line's, else the target file's, else HTTP/1.1;
/// `--streams-per-connection` alone means HTTP/2.
fn stream_protocol(flags: &Flags, file: Option<Protocol>) -> Result<Protocol, ProtocolError> {
    let name = match (flags.protocol, flags.streams_per_connection, file) {
        (Some(flag), _, _) => flag.name(),
        (None, Some(_), _) => "h2",
        (None, None, Some(file)) => return Ok(file),
        (None, None, None) => "h1",
    };
    let file_streams = file
        .filter(|p| matches!(p, Protocol::Http2 { .. }) && name == "h2")
        .map(Protocol::streams_per_connection);
    Protocol::parse(name, flags.streams_per_connection.or(file_streams))
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
mod tests;
