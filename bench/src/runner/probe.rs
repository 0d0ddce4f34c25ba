//! Finding out what a target offers (health, `/metrics`, hub endpoints) and waiting for it to settle.

use std::time::{Duration, Instant};

use http::Uri;

use crate::client::{ClientError, ConnectOptions, SseConnection, Target, get, get_json, post};
use crate::measure::server::{Figures, flatten};
use crate::scenario::plan::Capabilities;
use crate::target::join;

/// How long a probe request may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Waits until `GET /health` answers 2xx, up to `limit`.
///
/// # Errors
/// The last error when the server never became healthy.
pub async fn wait_healthy(base: &Uri, limit: Duration) -> Result<(), ClientError> {
    let url = join(base, "/health").map_err(|_| ClientError::InvalidUrl {
        url: base.to_string(),
        reason: "cannot append /health",
    })?;
    let deadline = Instant::now() + limit;
    loop {
        match get(&url).await {
            Ok(_) => return Ok(()),
            Err(err) if Instant::now() >= deadline => return Err(err),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Checks that something accepts TCP connections at `target`'s address.
///
/// # Errors
/// [`ClientError::ConnectRefused`] and friends, or a timeout.
pub async fn reachable(target: &Target) -> Result<(), ClientError> {
    let addr = target.addr();
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(ClientError::connect(addr, err)),
        Err(_) => Err(ClientError::Timeout {
            phase: "connecting",
            after: PROBE_TIMEOUT,
        }),
    }
}

/// Probes an external target for `/metrics`, `/events` and `/publish`. The embedded
/// server offers everything.
///
/// The probe changes nothing on the target: `/publish` is asked with a `GET`, which a server
/// with a `POST /publish` route answers `405 Method Not Allowed` (and one without it `404`).
/// Only with `probe_publish` does it publish one real event (`sse-load-probe`) to be sure.
pub async fn capabilities(base: &Uri, embedded: bool, probe_publish: bool) -> Capabilities {
    if embedded {
        return Capabilities {
            embedded: true,
            metrics: true,
            hub: true,
            publish: true,
        };
    }
    let metrics = match join(base, "/metrics") {
        Ok(url) => matches!(get_json(&url).await, Ok(v) if v.is_object()),
        Err(_) => false,
    };
    let hub = async {
        let url = join(base, "/events").ok()?;
        let target = Target::resolve(&url).await.ok()?;
        let options = ConnectOptions {
            timeout: PROBE_TIMEOUT,
            ..ConnectOptions::default()
        };
        SseConnection::open(&target, &options).await.ok().map(drop)
    }
    .await
    .is_some();
    let publish = hub
        && match (probe_publish, join(base, "/publish?event=sse-load-probe")) {
            (true, Ok(url)) => post(&url, "sse-load capability probe").await.is_ok(),
            (false, Ok(url)) => publish_route_exists(&url).await,
            (_, Err(_)) => false,
        };
    Capabilities {
        embedded: false,
        metrics,
        hub,
        publish,
    }
}

/// Whether `GET url` says the route exists for another method (`405`).
async fn publish_route_exists(url: &Uri) -> bool {
    match get(url).await {
        Err(ClientError::Status { status, .. }) => status == http::StatusCode::METHOD_NOT_ALLOWED,
        _ => false,
    }
}

/// Polls `/metrics` until the server holds no stream (`registered_events` 0, at most the
/// probe's own connection open) and, with `fds_at_most`, no more fds than that; up to
/// `limit`. Returns whether it settled and the last figures.
pub async fn settle(metrics: &Uri, fds_at_most: Option<f64>, limit: Duration) -> (bool, Option<Figures>) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Some(figures) = get_json(metrics).await.ok().as_ref().and_then(flatten) {
            let streams = figures.registered_events.unwrap_or(0.0);
            // The /metrics request itself is one open connection.
            let connections = figures.connections.unwrap_or(0.0);
            let fds_ok = match (fds_at_most, figures.num_fds) {
                (Some(limit), Some(fds)) => fds <= limit,
                _ => true,
            };
            let settled = streams == 0.0 && connections <= 1.0 && fds_ok;
            last = Some(figures);
            if settled {
                return (true, last);
            }
        }
        if Instant::now() >= deadline {
            return (false, last);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
