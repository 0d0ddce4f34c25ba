//! The hidden `__serve` subcommand: `sse-load` re-executed as the reference server (the embedded target).
//!
//! The parent ([`crate::target::EmbeddedServer`]) passes reference-server flags; the
//! child binds, prints [`LISTENING_PREFIX`]`<addr>` on stdout and serves until SIGTERM.

use std::ffi::OsString;

use clap::Parser as _;

use crate::ladder::{self, Design};
use crate::target::{LISTENING_PREFIX, SERVE_SUBCOMMAND};

/// The server flag that picks a design of the comparator ladder ([`crate::ladder`]).
pub const DESIGN_FLAG: &str = "--design";

/// Errors of the serving child.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The server flags were invalid (clap's message names the flag).
    #[error("{0}")]
    Flags(#[from] clap::Error),
    /// `--design` named no design.
    #[error("{0}")]
    Design(String),
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
    crate::child::die_with_parent();
    let (design, args) = split_design(args)?;
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
    if design == Design::Reference {
        runtime.block_on(sse_server::run_until_signal(config, |addr| {
            // stdout is line-buffered: the parent sees the line at once.
            println!("{LISTENING_PREFIX}{addr}");
        }))?;
        return Ok(());
    }
    runtime.block_on(async {
        if let Err(err) = sse_server::limits::raise_fd_limit() {
            tracing::warn!(%err, "could not raise the open-file limit");
        }
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        println!("{LISTENING_PREFIX}{}", listener.local_addr()?);
        ladder::serve(
            design,
            listener,
            config,
            sse_server::signal::terminate_or_interrupt(),
        )
        .await
    })?;
    Ok(())
}

/// Takes `--design NAME` (or `--design=NAME`, anywhere among `args`) out of the server
/// flags: which design of the comparator ladder serves. Default: the reference server.
fn split_design(args: impl IntoIterator<Item = OsString>) -> Result<(Design, Vec<OsString>), ServeError> {
    let mut design = Design::Reference;
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = if arg == DESIGN_FLAG {
            args.next()
        } else if let Some(value) = arg
            .to_str()
            .and_then(|a| a.strip_prefix(DESIGN_FLAG)?.strip_prefix('='))
        {
            Some(value.into())
        } else {
            rest.push(arg);
            continue;
        };
        let value = value.unwrap_or_default();
        design = clap::ValueEnum::from_str(&value.to_string_lossy(), false).map_err(|_| {
            ServeError::Design(format!(
                "unknown server design {value:?}: expected one of floor, reference, naive"
            ))
        })?;
    }
    Ok((design, rest))
}
