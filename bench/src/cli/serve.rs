//! The hidden `__serve` subcommand: `sse-load` re-executed as the reference server (the embedded target).
//!
//! The parent ([`crate::target::EmbeddedServer`]) passes reference-server flags; the
//! child binds, prints [`LISTENING_PREFIX`]`<addr>` on stdout and serves until SIGTERM.

use std::ffi::OsString;

use clap::Parser as _;

use crate::target::{LISTENING_PREFIX, SERVE_SUBCOMMAND};

/// Errors of the serving child.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The server flags were invalid (clap's message names the flag).
    #[error("{0}")]
    Flags(#[from] clap::Error),
    /// Two server flags contradict each other (the message names both).
    #[error("{0}")]
    Conflict(String),
    /// The runtime could not start, or binding/serving failed.
    #[error("embedded server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the reference server with `args` (the flags after `__serve`) until SIGTERM/SIGINT.
///
/// # Errors
/// Invalid flags, or the server's IO errors.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), ServeError> {
    die_with_parent();
    let argv = std::iter::once(OsString::from(format!("sse-load {SERVE_SUBCOMMAND}"))).chain(args);
    let args = sse_server::Args::try_parse_from(argv)?;
    args.check().map_err(ServeError::Conflict)?;
    let config = sse_server::Config::from(args);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(sse_server::run_until_signal(config, |addr| {
        // stdout is line-buffered: the parent sees the line at once.
        println!("{LISTENING_PREFIX}{addr}");
    }))?;
    Ok(())
}

/// Asks the kernel to SIGKILL this process when its parent (`sse-load`) dies, so a
/// crashed or killed generator never leaves a server behind.
fn die_with_parent() {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a plain signal number and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // The parent may have died before the prctl: then we were re-parented already.
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } == 1 {
        std::process::exit(1);
    }
}
