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
    /// The runtime could not start, or binding/serving failed.
    #[error("embedded server: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the reference server with `args` (the flags after `__serve`) until SIGTERM/SIGINT.
///
/// # Errors
/// Invalid flags, or the server's IO errors.
pub fn run(args: impl IntoIterator<Item = OsString>) -> Result<(), ServeError> {
    crate::child::die_with_parent();
    let argv = std::iter::once(OsString::from(format!("sse-load {SERVE_SUBCOMMAND}"))).chain(args);
    let config = sse_server::Config::from(sse_server::Args::try_parse_from(argv)?);
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
