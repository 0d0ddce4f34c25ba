//! Running a plan against a server a target file describes: its stream URLs and headers, its publish request or none, its figures, its process.
//!
//! What the plan needs and the file does not offer skips the scenario with the reason
//! ([`unmet`]); nothing is probed at this project's paths.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;

use super::probe;
use super::publish::Publication;
use super::run::{Parts, RunError, RunResult, measure};
use crate::client::{ClientError, Target, get};
use crate::description::{Description, EventSource, MetricsFormat, Process};
use crate::measure::process::{ProcessReading, read_pid_file};
use crate::measure::server::ServerSource;
use crate::scenario::feed::Feed;
use crate::scenario::plan::{Action, Capabilities, Plan};
use crate::scenario::population::Behaviour;

/// How long the target's health URL may take to answer 2xx.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `plan` cannot run against the described target, if it cannot.
pub fn unmet(plan: &Plan, d: &Description) -> Option<String> {
    if matches!(plan.feed, Feed::Stream { .. }) && d.per_connection.is_none() {
        return Some(
            "the target file declares no per-connection stream ([per_connection] url with {delay_seconds} and {size})"
                .into(),
        );
    }
    if matches!(plan.feed, Feed::Burst { .. }) && d.publish().is_none() {
        return Some(
            "the target publishes by itself (source = \"self\"); a burst needs [events.publish]".into(),
        );
    }
    if matches!(plan.population.behaviour, Behaviour::Reconnect { .. }) && !d.last_event_id {
        return Some(
            "reconnecting with Last-Event-ID needs a server that resumes (set last_event_id = true under [stream] if it does)"
                .into(),
        );
    }
    if matches!(plan.action, Action::Shutdown { .. }) {
        return Some(
            "graceful shutdown needs to send SIGTERM to the server, possible only for the embedded server"
                .into(),
        );
    }
    if plan.population.frozen > 0 {
        return Some(
            "judging frozen-client eviction needs this project's clients_evicted counter; a described target is not judged for it"
                .into(),
        );
    }
    None
}

/// Runs `plan` against the described target; `pid` (`--server-pid`) wins over the file's.
///
/// # Errors
/// The target is unreachable, or its process cannot be found.
pub async fn run(plan: &Plan, d: &Arc<Description>, pid: Option<u32>) -> Result<RunResult, RunError> {
    if let Some(reason) = unmet(plan, d) {
        return Ok(RunResult::Skipped(reason));
    }
    let shown = d.shown_url();
    let unreachable = |source| RunError::Unreachable {
        url: shown.clone(),
        source,
    };
    if let Some(health) = &d.health {
        wait_healthy(health).await.map_err(unreachable)?;
    }
    let urls = match plan.feed {
        Feed::Stream { delay, size } => {
            let url = d
                .per_connection_url(delay.as_secs_f64(), size)
                .unwrap_or_default();
            vec![url.parse::<Uri>().map_err(|_| {
                unreachable(ClientError::InvalidUrl {
                    url,
                    reason: "the per-connection URL is not valid after substitution",
                })
            })?]
        }
        Feed::Hub { .. } | Feed::Burst { .. } => d.streams.clone(),
    };
    let mut streams = Vec::with_capacity(urls.len());
    for url in &urls {
        let target = Target::resolve(url).await.map_err(unreachable)?;
        streams.push(
            target
                .with_headers(d.headers.pairs())
                .with_protocol(crate::client::protocol::configured()),
        );
    }
    probe::reachable(&streams[0]).await.map_err(unreachable)?;
    let publication = match d.publish() {
        Some(p) => Some(Publication {
            target: Target::resolve(&p.url)
                .await
                .map_err(unreachable)?
                .with_headers(p.headers.pairs()),
            method: p.method.clone(),
            body: Arc::new(p.body.clone()),
        }),
        None => None,
    };
    let source = source(d, process_id(d, pid)?);
    let caps = Capabilities {
        embedded: false,
        metrics: source.metrics.is_some(),
        hub: true,
        publish: publication.is_some(),
    };
    let feed = match (plan.feed, &d.events) {
        // The server sets the pace: no rate to correct gaps against or to keep.
        (Feed::Hub { payload, .. }, EventSource::SelfPublished) => Feed::Hub { rate: 0.0, payload },
        (feed, _) => feed,
    };
    let parts = Parts {
        plan,
        caps,
        server: None,
        source,
        base: urls[0].clone(),
        feed,
        publication,
        streams,
        send_time: d.send_time.clone(),
    };
    let mut measured = measure(parts).await?;
    measured.url = shown;
    measured.target_notes = notes(d, urls.len());
    Ok(RunResult::Done(Box::new(measured)))
}

/// The server's pid: `--server-pid`, else the file's `pid` or pid file; checked to exist.
///
/// # Errors
/// [`RunError::Process`] when the pid file is unreadable or the process is not there.
pub fn process_id(d: &Description, flag: Option<u32>) -> Result<Option<u32>, RunError> {
    let (pid, origin) = match (flag, &d.process) {
        (Some(pid), _) => (pid, "--server-pid".to_owned()),
        (None, Some(Process::Pid(pid))) => (*pid, "the target file's [process] pid".to_owned()),
        (None, Some(Process::PidFile(path))) => (
            read_pid_file(path).map_err(RunError::Process)?,
            format!("the pid file {}", path.display()),
        ),
        (None, None) => return Ok(None),
    };
    if ProcessReading::read(pid).is_none() {
        return Err(RunError::Process(format!(
            "no readable process {pid} (from {origin}); is the server running, as this user?"
        )));
    }
    Ok(Some(pid))
}

/// Where the described server's figures come from.
pub fn source(d: &Description, pid: Option<u32>) -> ServerSource {
    let mut source = ServerSource {
        pid,
        ..ServerSource::default()
    };
    if let Some(metrics) = &d.metrics {
        match &metrics.format {
            MetricsFormat::Json { keys } => {
                source.metrics = Some(metrics.url.clone());
                source.keys = Arc::new(keys.clone());
            }
            MetricsFormat::Prometheus => source.prometheus = Some(metrics.url.clone()),
        }
    }
    source
}

/// Waits until `url` answers 2xx.
async fn wait_healthy(url: &Uri) -> Result<(), ClientError> {
    let deadline = std::time::Instant::now() + HEALTH_TIMEOUT;
    loop {
        match get(url).await {
            Ok(_) => return Ok(()),
            Err(err) if std::time::Instant::now() >= deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The report parameters describing the target (header values redacted).
fn notes(d: &Description, streams: usize) -> Vec<(&'static str, serde_json::Value)> {
    let events = match &d.events {
        EventSource::Publish(p) => format!("publish: {} {}", p.method, p.url),
        EventSource::SelfPublished => "published by the server itself (no publish rate applies)".to_owned(),
    };
    let mut notes = vec![
        ("target_name", d.name.clone().into()),
        ("events", events.into()),
        ("send_time", d.send_time.describe().into()),
        ("stream_urls", streams.into()),
    ];
    if !d.headers.is_empty() {
        notes.push(("stream_headers", d.headers.shown().into()));
    }
    notes
}
