//! `sse-load requests`: the flags of request-driven runs (first layer) and their validation into a [`requests::Config`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args};

use crate::description::DescriptionError;
use crate::requests::{self, Arrivals, Slo};

/// `sse-load requests` flags that parse but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RequestsFlagsError {
    /// A value out of its range, named with its flag.
    #[error("{0}")]
    Invalid(String),
    /// The target file cannot be used.
    #[error(transparent)]
    Description(#[from] DescriptionError),
    /// The TLS configuration cannot be built.
    #[error(transparent)]
    Tls(#[from] crate::client::tls::TlsError),
}

/// Request-driven streams (LLM-style): each request answers a finite SSE stream.
#[derive(Debug, Clone, Args)]
#[command(group(ArgGroup::new("model").required(true).args(["rate", "concurrency"])))]
pub struct RequestsFlags {
    /// The target file: its stream.url, method, body ({seq} numbers requests), headers, end sentinel.
    #[arg(long, value_name = "FILE")]
    pub target_file: PathBuf,

    /// Open model: requests per second, started on schedule whether or not earlier ones ended.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,

    /// Gamma shape of the gaps between arrivals: 1 is Poisson, below 1 burstier, above 1 smoother.
    #[arg(long, default_value_t = 1.0, requires = "rate")]
    pub burstiness: f64,

    /// Seed of the arrival schedule (the same seed, the same schedule).
    #[arg(long, default_value_t = 1, requires = "rate")]
    pub seed: u64,

    /// Closed model: this many clients, each sending its next request when the last one ended.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,

    /// Requests to send.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub requests: u64,

    /// Goodput SLO: longest time to the first event (e.g. 500ms).
    #[arg(long, default_value = "1s", value_parser = sse_server::config::parse_duration)]
    pub slo_ttft: Duration,

    /// Goodput SLO: longest mean time per output event after the first (e.g. 50ms).
    #[arg(long, default_value = "100ms", value_parser = sse_server::config::parse_duration)]
    pub slo_tpot: Duration,

    /// Limit for one request, connect to end.
    #[arg(long, default_value = "60s", value_parser = sse_server::config::parse_duration)]
    pub request_timeout: Duration,

    /// The server's local process id (CPU per event from /proc/PID).
    #[arg(long, value_name = "PID", value_parser = clap::value_parser!(u32).range(1..))]
    pub server_pid: Option<u32>,

    /// For https:// targets: trust only the certificates in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,

    /// For https:// targets: accept any certificate (self-signed test servers only).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,

    /// Directory for requests.json.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub output_dir: PathBuf,
}

impl RequestsFlags {
    /// Validates the flags and loads the target file.
    ///
    /// # Errors
    /// A rate or burstiness that is not a positive number, or an unusable target file.
    pub fn into_config(self) -> Result<requests::Config, RequestsFlagsError> {
        let invalid = |flag: &str, value: f64| {
            RequestsFlagsError::Invalid(format!("--{flag} must be a positive number, not {value}"))
        };
        let arrivals = match (self.rate, self.concurrency) {
            (Some(rate), _) => {
                if !(rate.is_finite() && rate > 0.0) {
                    return Err(invalid("rate", rate));
                }
                if !(self.burstiness.is_finite() && self.burstiness > 0.0) {
                    return Err(invalid("burstiness", self.burstiness));
                }
                Arrivals::Open {
                    rate,
                    burstiness: self.burstiness,
                    seed: self.seed,
                }
            }
            (None, Some(concurrency)) => Arrivals::Closed {
                concurrency: concurrency as usize,
            },
            (None, None) => {
                return Err(RequestsFlagsError::Invalid(
                    "give --rate R (open model) or --concurrency C (closed model)".into(),
                ));
            }
        };
        let description = crate::description::load(&self.target_file)?;
        let flags = crate::client::tls::TlsOptions {
            ca_file: self.ca_file,
            insecure: self.insecure,
        };
        crate::client::tls::install(&flags, &description.tls)?;
        Ok(requests::Config {
            description: Arc::new(description),
            arrivals,
            requests: self.requests,
            slo: Slo {
                ttft: self.slo_ttft,
                tpot: self.slo_tpot,
            },
            request_timeout: self.request_timeout,
            server_pid: self.server_pid,
            output_dir: self.output_dir,
        })
    }
}
