//! Reaching a target through the reference server's paths: start the embedded server or
//! reach a URL, probe what it offers, then [`measure`] the plan.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use super::probe;
use super::run::{Parts, RunError, RunResult, measure};
use crate::client::{ClientError, Target, protocol};
use crate::description::Description;
use crate::measure::send_time::SendTime;
use crate::measure::server::ServerSource;
use crate::scenario::plan::Plan;
use crate::target::{EmbeddedServer, Launcher, join};

/// How long the embedded server may take to answer `/health`.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The server under test.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// The reference server, started per scenario as a child process.
    Embedded(Launcher),
    /// Any server at this base URL (`pid`: its local process, `--server-pid`).
    External {
        /// Base URL.
        url: Uri,
        /// The server's process id, for `/proc/<pid>` figures.
        pid: Option<u32>,
        /// Whether the capability probe may publish an event to learn that `/publish` works.
        probe_publish: bool,
    },
    /// Any server, as a target file describes it (`pid`: `--server-pid`, which wins over
    /// the file's `[process]`).
    Described {
        /// The validated description.
        description: Arc<Description>,
        /// The server's process id from the command line.
        pid: Option<u32>,
    },
}

/// Runs `plan` against `spec` through the reference server's paths (`/events`, `/sse`,
/// `/publish`, `/metrics`); a described target runs through [`super::described`].
///
/// # Errors
/// The embedded server did not start, or the target is unreachable.
pub async fn run_reference(plan: &Plan, spec: &TargetSpec) -> Result<RunResult, RunError> {
    let mut external_pid = None;
    let (server, base) = match spec {
        TargetSpec::Embedded(launcher) => {
            let server = EmbeddedServer::start(launcher, &plan.server_flags()).await?;
            let base = server.url().clone();
            (Some(server), base)
        }
        TargetSpec::External { url, pid, .. } => {
            external_pid = *pid;
            (None, url.clone())
        }
        TargetSpec::Described { .. } => {
            return Err(RunError::Process(
                "a described target runs through runner::described".into(),
            ));
        }
    };
    let unreachable = |source| RunError::Unreachable {
        url: base.to_string(),
        source,
    };
    if server.is_some() {
        probe::wait_healthy(&base, HEALTH_TIMEOUT)
            .await
            .map_err(unreachable)?;
    }
    let probe_publish = matches!(
        spec,
        TargetSpec::External {
            probe_publish: true,
            ..
        }
    );
    let caps = probe::capabilities(&base, server.is_some(), probe_publish).await;
    if let Some(reason) = plan.unmet(&caps) {
        if let Some(server) = server {
            server.stop(Duration::from_secs(5)).await?;
        }
        return Ok(RunResult::Skipped(reason));
    }
    let url = |path: &str| {
        join(&base, path).map_err(|_| {
            unreachable(ClientError::InvalidUrl {
                url: format!("{base}{path}"),
                reason: "not a valid URL",
            })
        })
    };
    let stream = Target::resolve(&url(&plan.feed.path())?)
        .await
        .map_err(unreachable)?
        .with_protocol(protocol::configured());
    probe::reachable(&stream).await.map_err(unreachable)?;
    let metrics_url = url("/metrics")?;
    let source = ServerSource {
        metrics: caps.metrics.then(|| metrics_url.clone()),
        pid: server.as_ref().map(EmbeddedServer::pid).or(external_pid),
        ..ServerSource::default()
    };
    let parts = Parts {
        plan,
        caps,
        server,
        source,
        base: base.clone(),
        feed: plan.feed,
        publication: None,
        streams: vec![stream],
        send_time: SendTime::Reference,
    };
    let measured = measure(parts).await?;
    Ok(RunResult::Done(Box::new(measured)))
}
