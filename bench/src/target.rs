//! The server under test: the embedded reference server (a child process of `sse-load`) or any URL.
//!
//! ## The embedded server
//! `sse-load` links the reference server library and re-executes itself
//! (`std::env::current_exe()`) with the hidden subcommand [`SERVE_SUBCOMMAND`]; the child
//! binds a free loopback port and prints [`LISTENING_PREFIX`]`<addr>` on stdout, which the
//! parent reads. Running the server in its own process keeps its CPU and memory apart
//! from the generator's (read from `/proc/<pid>`), and lets a scenario send it SIGTERM.
//!
//! ## No orphans
//! The child is a [`crate::child::Child`]: spawned with `kill_on_drop`, so every error
//! path that drops an [`EmbeddedServer`] kills it; the child also asks the kernel to kill
//! it if `sse-load` itself dies ([`crate::child::die_with_parent`], called by
//! [`crate::cli::serve`]). A normal end sends SIGTERM and waits for the clean exit
//! ([`EmbeddedServer::stop`]).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use http::Uri;
use tokio::process::Command;

use crate::child::{Child, ChildError};

/// The hidden subcommand that turns `sse-load` into the reference server.
pub const SERVE_SUBCOMMAND: &str = "__serve";

/// The line the serving child prints once bound, followed by the address.
pub const LISTENING_PREFIX: &str = "sse-load-server listening on ";

/// How long a child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors starting, reaching or stopping the server under test.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Starting, signalling or waiting for the child failed.
    #[error("the embedded server: {0}; run with RUST_LOG=info to see its log")]
    Child(#[from] ChildError),
    /// The `--target` URL is not usable.
    #[error("bad --target {url:?}: {reason}; use e.g. http://127.0.0.1:8000 or https://localhost:8443")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How to start an embedded server: the executable and extra server flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    /// The executable that understands [`SERVE_SUBCOMMAND`] (normally `sse-load` itself).
    pub exe: PathBuf,
    /// Extra server flags appended to every start (e.g. `--test-frame-delay 5ms`).
    pub extra_args: Vec<String>,
}

impl Launcher {
    /// A launcher re-executing the current binary.
    ///
    /// # Errors
    /// The OS cannot tell the path of the running executable.
    pub fn current_exe(extra_args: Vec<String>) -> std::io::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe()?,
            extra_args,
        })
    }
}

/// Server flags a scenario asks for (the reference server's CLI flags).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerFlags {
    /// `--send-timeout`.
    pub send_timeout: Option<Duration>,
    /// `--shutdown-grace`.
    pub shutdown_grace: Option<Duration>,
    /// `--replay-capacity`.
    pub replay_capacity: Option<u32>,
    /// `--publish-rate` (built-in publisher).
    pub publish_rate: Option<f64>,
    /// `--payload-size`.
    pub payload_size: Option<usize>,
    /// `--ping-interval`.
    pub ping_interval: Option<Duration>,
}

impl ServerFlags {
    /// The flags as command-line arguments.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec!["--bind".into(), "127.0.0.1:0".into()];
        let mut push = |flag: &str, value: String| {
            args.push(flag.into());
            args.push(value.into());
        };
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        if let Some(d) = self.send_timeout {
            push("--send-timeout", ms(d));
        }
        if let Some(d) = self.shutdown_grace {
            push("--shutdown-grace", ms(d));
        }
        if let Some(n) = self.replay_capacity {
            push("--replay-capacity", n.to_string());
        }
        if let Some(rate) = self.publish_rate {
            push("--publish-rate", rate.to_string());
        }
        if let Some(size) = self.payload_size {
            push("--payload-size", size.to_string());
        }
        if let Some(d) = self.ping_interval {
            push("--ping-interval", ms(d));
        }
        args
    }
}

/// A running embedded server (a child process).
#[derive(Debug)]
pub struct EmbeddedServer {
    child: Child,
    addr: SocketAddr,
    url: Uri,
}

impl EmbeddedServer {
    /// Starts the server with `flags` and waits until it reports its address.
    ///
    /// # Errors
    /// The child cannot be spawned, exits, or stays silent past a timeout; it is killed
    /// in every error case.
    pub async fn start(launcher: &Launcher, flags: &ServerFlags) -> Result<Self, TargetError> {
        let mut command = Command::new(&launcher.exe);
        command
            .arg(SERVE_SUBCOMMAND)
            .args(flags.to_args())
            .args(&launcher.extra_args);
        let mut child = Child::spawn(command, false)?;
        let addr = child
            .handshake("its address", START_TIMEOUT, |line| {
                line.strip_prefix(LISTENING_PREFIX)?
                    .trim()
                    .parse::<SocketAddr>()
                    .ok()
            })
            .await?;
        child.drain_stdout();
        let url = format!("http://{addr}")
            .parse::<Uri>()
            .map_err(|err| TargetError::BadUrl {
                url: addr.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Self { child, addr, url })
    }

    /// The child's process id (for `/proc/<pid>`).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &Uri {
        &self.url
    }

    /// Sends SIGTERM (the server then ends every stream and exits within its grace).
    ///
    /// # Errors
    /// The signal could not be sent.
    pub fn terminate(&self) -> Result<(), TargetError> {
        Ok(self.child.terminate()?)
    }

    /// Waits up to `timeout` for the child to exit; kills it when it does not.
    ///
    /// Returns the exit status, `None` when it had to be killed.
    ///
    /// # Errors
    /// Waiting on the child failed.
    pub async fn wait(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, TargetError> {
        Ok(self.child.wait(timeout).await?)
    }

    /// SIGTERM, then wait up to `timeout` for a clean exit (killing it otherwise).
    ///
    /// # Errors
    /// Signalling or waiting failed (the child is killed on drop regardless).
    pub async fn stop(mut self, timeout: Duration) -> Result<Option<ExitStatus>, TargetError> {
        if self.child.running() {
            self.terminate()?;
        }
        self.wait(timeout).await
    }
}

/// Parses and checks a `--target` URL: `http://host[:port]` with no path beyond `/`.
///
/// # Errors
/// [`TargetError::BadUrl`] naming what is wrong.
pub fn parse_target_url(raw: &str) -> Result<Uri, TargetError> {
    let bad = |reason: &str| TargetError::BadUrl {
        url: raw.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = raw.trim().parse().map_err(|_| bad("not a URL"))?;
    let scheme = match uri.scheme_str() {
        Some(scheme @ ("http" | "https")) => scheme,
        _ => return Err(bad("the URL needs the http:// or https:// scheme")),
    };
    if uri.host().is_none() {
        return Err(bad("the URL has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad(
            "give the server's base URL, without a path (scenarios pick /sse, /events, ...)",
        ));
    }
    let base = format!("{scheme}://{}", uri.authority().map_or("", |a| a.as_str()));
    base.parse().map_err(|_| bad("not a URL"))
}

/// Joins a base URL and a path with query (`/sse?delay=0`), keeping its scheme.
///
/// # Errors
/// The joined text is not a valid URI (only possible with a bad path).
pub fn join(base: &Uri, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    format!("{scheme}://{authority}{path_and_query}").parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls_are_checked() {
        assert_eq!(
            parse_target_url("http://127.0.0.1:8000").unwrap().to_string(),
            "http://127.0.0.1:8000/"
        );
        assert_eq!(
            parse_target_url("http://localhost:9/").unwrap().to_string(),
            "http://localhost:9/"
        );
        let secure = parse_target_url("https://127.0.0.1:8443").unwrap();
        assert_eq!(
            join(&secure, "/events").unwrap().to_string(),
            "https://127.0.0.1:8443/events"
        );
        assert!(
            parse_target_url("ftp://x")
                .unwrap_err()
                .to_string()
                .contains("https://")
        );
        assert!(
            parse_target_url("127.0.0.1:8000")
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        assert!(
            parse_target_url("http://h/sse")
                .unwrap_err()
                .to_string()
                .contains("without a path")
        );
        assert!(parse_target_url("").is_err());
        let base = parse_target_url("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            join(&base, "/sse?delay=0").unwrap().to_string(),
            "http://127.0.0.1:8000/sse?delay=0"
        );
    }

    #[test]
    fn flags_become_server_arguments() {
        use clap::Parser as _;
        let flags = ServerFlags {
            send_timeout: Some(Duration::from_secs(2)),
            publish_rate: Some(100.0),
            ..ServerFlags::default()
        };
        let args: Vec<String> = flags
            .to_args()
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        assert_eq!(
            args,
            [
                "--bind",
                "127.0.0.1:0",
                "--send-timeout",
                "2000ms",
                "--publish-rate",
                "100"
            ]
        );
        let parsed = sse_server::Args::try_parse_from(std::iter::once("x".to_owned()).chain(args));
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
