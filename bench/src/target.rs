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
//! The child is spawned with `kill_on_drop`, so every error path that drops an
//! [`EmbeddedServer`] kills it; the child also asks the kernel to kill it if `sse-load`
//! itself dies (`PR_SET_PDEATHSIG`, see [`crate::cli::serve`]). A normal end sends
//! SIGTERM and waits for the clean exit ([`EmbeddedServer::stop`]).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use http::Uri;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The hidden subcommand that turns `sse-load` into the reference server.
pub const SERVE_SUBCOMMAND: &str = "__serve";

/// The line the serving child prints once bound, followed by the address.
pub const LISTENING_PREFIX: &str = "sse-load-server listening on ";

/// How long a child may take to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors starting, reaching or stopping the server under test.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The child process could not be spawned.
    #[error("starting the embedded server ({exe}): {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The child did not print its address.
    #[error(
        "the embedded server did not report its address within {0:?} (it printed: {1:?}); run with RUST_LOG=info to see its log"
    )]
    NoAddress(Duration, String),
    /// The child exited before serving.
    #[error("the embedded server exited before serving: {0}")]
    Exited(ExitStatus),
    /// Sending a signal failed.
    #[error("signalling the embedded server (pid {pid}): {source}")]
    Signal {
        /// The child's pid.
        pid: u32,
        /// The OS error.
        source: std::io::Error,
    },
    /// Waiting for the child failed.
    #[error("waiting for the embedded server: {0}")]
    Wait(std::io::Error),
    /// The `--target` URL is not usable.
    #[error("bad --target {url:?}: {reason}; use e.g. http://127.0.0.1:8000")]
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
    pid: u32,
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
        let mut child = Command::new(&launcher.exe)
            .arg(SERVE_SUBCOMMAND)
            .args(flags.to_args())
            .args(&launcher.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| TargetError::Spawn {
                exe: launcher.exe.clone(),
                source,
            })?;
        let pid = child.id().unwrap_or(0);
        let Some(stdout) = child.stdout.take() else {
            return Err(TargetError::NoAddress(START_TIMEOUT, String::new()));
        };
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = String::new();
        let read_address = async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(addr) = line.strip_prefix(LISTENING_PREFIX) {
                    return addr.trim().parse::<SocketAddr>().ok();
                }
                seen.push_str(&line);
                seen.push('\n');
            }
            None
        };
        let addr = match tokio::time::timeout(START_TIMEOUT, read_address).await {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                return Err(match child.try_wait() {
                    Ok(Some(status)) => TargetError::Exited(status),
                    _ => TargetError::NoAddress(START_TIMEOUT, seen),
                });
            }
            Err(_) => return Err(TargetError::NoAddress(START_TIMEOUT, seen)),
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let url = format!("http://{addr}")
            .parse::<Uri>()
            .map_err(|err| TargetError::BadUrl {
                url: addr.to_string(),
                reason: err.to_string(),
            })?;
        Ok(Self {
            child,
            pid,
            addr,
            url,
        })
    }

    /// The child's process id (for `/proc/<pid>`).
    pub fn pid(&self) -> u32 {
        self.pid
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
        let pid = i32::try_from(self.pid).unwrap_or(0);
        if pid <= 0 {
            return Err(TargetError::Signal {
                pid: self.pid,
                source: std::io::Error::other("unknown pid"),
            });
        }
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(TargetError::Signal {
                pid: self.pid,
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Waits up to `timeout` for the child to exit; kills it when it does not.
    ///
    /// Returns the exit status, `None` when it had to be killed.
    ///
    /// # Errors
    /// Waiting on the child failed.
    pub async fn wait(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, TargetError> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => status.map(Some).map_err(TargetError::Wait),
            Err(_) => {
                let _ = self.child.kill().await;
                Ok(None)
            }
        }
    }

    /// SIGTERM, then wait up to `timeout` for a clean exit (killing it otherwise).
    ///
    /// # Errors
    /// Signalling or waiting failed (the child is killed on drop regardless).
    pub async fn stop(mut self, timeout: Duration) -> Result<Option<ExitStatus>, TargetError> {
        if let Ok(None) = self.child.try_wait() {
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
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(bad("https is not supported (plain HTTP/1.1 only)")),
        _ => return Err(bad("the URL needs the http:// scheme")),
    }
    if uri.host().is_none() {
        return Err(bad("the URL has no host"));
    }
    if uri.path() != "/" && !uri.path().is_empty() {
        return Err(bad(
            "give the server's base URL, without a path (scenarios pick /sse, /events, ...)",
        ));
    }
    let base = format!("http://{}", uri.authority().map_or("", |a| a.as_str()));
    base.parse().map_err(|_| bad("not a URL"))
}

/// Joins a base URL and a path with query (`/sse?delay=0`).
///
/// # Errors
/// The joined text is not a valid URI (only possible with a bad path).
pub fn join(base: &Uri, path_and_query: &str) -> Result<Uri, http::uri::InvalidUri> {
    let authority = base.authority().map_or("", |a| a.as_str());
    format!("http://{authority}{path_and_query}").parse()
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
        assert!(
            parse_target_url("https://x")
                .unwrap_err()
                .to_string()
                .contains("https")
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
