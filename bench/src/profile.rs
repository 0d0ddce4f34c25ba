//! Scale profiles: how many clients and how long each scenario runs.
//!
//! Every scenario declares its `smoke` scale (the catalog in [`crate::scenario`]); a
//! profile multiplies it. `smoke` runs the whole suite in about a minute on 2 cores,
//! `large` holds 10,000 concurrent streams, `soak` runs the long-lived scenarios for
//! many minutes. `--clients`/`--duration` (or `SSE_LOAD_CLIENTS`/`SSE_LOAD_DURATION`)
//! override the result and turn the profile label into `custom`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The most concurrent streams a profile asks for (the `large` goal).
pub const MAX_PROFILE_CLIENTS: usize = 10_000;

/// A named scale profile: the one `Profile` of the workspace (`sse-load` and the profiling
/// binaries take the same names; serialized lowercase, as `--profile` spells it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// The whole suite in about a minute on 2 cores (the default).
    Smoke,
    /// About 5x the clients and 2x the durations of smoke.
    Small,
    /// About 20x the clients and 4x the durations of smoke.
    Medium,
    /// 100x the clients (10,000 concurrent streams where a scenario holds many), 6x the durations.
    Large,
    /// Smoke-sized crowds held 60x longer: memory, latency and error trends.
    Soak,
}

/// How big one scenario run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// The scenario's main client count (streams held, subscribers, churners, ...).
    pub clients: usize,
    /// How long the main phase runs.
    pub duration: Duration,
}

impl Scale {
    /// A scale of `clients` clients for `seconds` seconds.
    pub const fn new(clients: usize, seconds: u64) -> Self {
        Self {
            clients,
            duration: Duration::from_secs(seconds),
        }
    }
}

/// Values given on the command line or in the environment that replace the profile's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces every scenario's client count (scenarios fixed at one client keep one).
    pub clients: Option<usize>,
    /// Replaces every scenario's main-phase duration.
    pub duration: Option<Duration>,
}

impl Overrides {
    /// Whether anything is overridden.
    pub fn any(&self) -> bool {
        self.clients.is_some() || self.duration.is_some()
    }
}

impl Profile {
    /// Every profile, smallest first.
    pub const ALL: [Profile; 5] = [Self::Smoke, Self::Small, Self::Medium, Self::Large, Self::Soak];

    /// The profile's name as accepted by `--profile`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Smoke => "smoke",
            Self::Small => "small",
            Self::Medium => "medium",
            Self::Large => "large",
            Self::Soak => "soak",
        }
    }

    /// (client factor, duration factor) relative to smoke.
    fn factors(self) -> (usize, u32) {
        match self {
            Self::Smoke => (1, 1),
            Self::Small => (5, 2),
            Self::Medium => (20, 4),
            Self::Large => (100, 6),
            Self::Soak => (2, 60),
        }
    }

    /// The scale of a scenario whose smoke scale is `smoke`, after `overrides`.
    ///
    /// A scenario with one client (e.g. throughput-single) stays at one client.
    pub fn scale(self, smoke: Scale, overrides: Overrides) -> Scale {
        let (clients_factor, duration_factor) = self.factors();
        let clients = if smoke.clients <= 1 {
            smoke.clients
        } else {
            overrides
                .clients
                .unwrap_or_else(|| (smoke.clients * clients_factor).min(MAX_PROFILE_CLIENTS))
        };
        Scale {
            clients,
            duration: overrides.duration.unwrap_or(smoke.duration * duration_factor),
        }
    }

    /// The label a report carries: the profile name, or `custom` when overridden.
    pub fn label(self, overrides: Overrides) -> &'static str {
        if overrides.any() { "custom" } else { self.name() }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown profile name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile {0:?}; use one of smoke, small, medium, large, soak")]
pub struct UnknownProfile(pub String);

impl FromStr for Profile {
    type Err = UnknownProfile;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| UnknownProfile(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_scale_from_smoke() {
        let smoke = Scale::new(100, 4);
        assert_eq!(Profile::Smoke.scale(smoke, Overrides::default()), smoke);
        assert_eq!(Profile::Large.scale(smoke, Overrides::default()).clients, 10_000);
        assert_eq!(
            Profile::Large
                .scale(Scale::new(500, 3), Overrides::default())
                .clients,
            MAX_PROFILE_CLIENTS
        );
        assert_eq!(
            Profile::Soak.scale(smoke, Overrides::default()).duration,
            Duration::from_secs(240)
        );
        assert_eq!(
            Profile::Large
                .scale(Scale::new(1, 3), Overrides::default())
                .clients,
            1
        );
    }

    #[test]
    fn overrides_win_and_relabel() {
        let overrides = Overrides {
            clients: Some(7),
            duration: Some(Duration::from_millis(500)),
        };
        let scale = Profile::Medium.scale(Scale::new(100, 4), overrides);
        assert_eq!(
            scale,
            Scale {
                clients: 7,
                duration: Duration::from_millis(500)
            }
        );
        assert_eq!(Profile::Medium.label(overrides), "custom");
        assert_eq!(Profile::Medium.label(Overrides::default()), "medium");
    }

    #[test]
    fn names_round_trip() {
        for profile in Profile::ALL {
            assert_eq!(profile.name().parse::<Profile>().unwrap(), profile);
        }
        assert!(
            "huge"
                .parse::<Profile>()
                .unwrap_err()
                .to_string()
                .contains("smoke")
        );
    }
}
