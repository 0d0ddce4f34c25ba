//! `sse-server`: runs the reference SSE server until SIGTERM or SIGINT.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use sse_server::{Args, Config};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // On invalid flags clap prints a message naming the flag and exits with code 2.
    let args = Args::parse();
    if let Err(message) = args.check() {
        Args::command().error(ErrorKind::ArgumentConflict, message).exit();
    }
    let config = Config::from(args);
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("sse-server: error: starting the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let publisher = config.publisher;
    let scheme = if config.tls.is_some() { "https" } else { "http" };
    let result = runtime.block_on(sse_server::run_until_signal(config, |addr| {
        tracing::info!(%addr, ?publisher, "sse-server listening on {scheme}://{addr}");
    }));
    match result {
        Ok(()) => {
            tracing::info!("shut down cleanly");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("sse-server: error: {err}");
            ExitCode::FAILURE
        }
    }
}
