//! `sse-server`: runs the reference SSE server until SIGTERM or SIGINT.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use sse_server::{Args, Config};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // clap exits with code 2 and a message naming the flag on invalid input.
    let config = Config::from(Args::parse());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("sse-server: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(async move {
        match sse_server::limits::raise_fd_limit() {
            Ok(limit) => tracing::debug!(limit, "open-file limit"),
            Err(err) => tracing::warn!(%err, "could not raise the open-file limit"),
        }
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("binding {} (is another server running? try --bind 127.0.0.1:0)", config.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, publish = ?config.publisher, "sse-server listening on http://{addr}");
        sse_server::serve(listener, config, shutdown_signal()).await.context("serving")?;
        tracing::info!("shut down cleanly");
        Ok(())
    })
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            tracing::warn!(%err, "cannot watch SIGTERM; only Ctrl-C will stop the server");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
