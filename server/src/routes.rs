//! HTTP endpoints: `/sse` (generated streams), `/events` (the hub), `/publish`, `/health`, `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;

use crate::access::{PublishAccess, Refusal};
use crate::connection::Peer;
use crate::frame::FrameError;
use crate::hub::Hub;
use crate::metrics::Counters;
use crate::params::{self, ApiError};
use crate::source::{Generated, GeneratedSource, HubSource};
use crate::stream::{FrameSource, SSE_HEADERS, SseStream, StreamOptions};
use crate::watcher::Watcher;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The broadcast hub behind `/events` and `/publish`.
    pub hub: Hub,
    /// The shutdown watcher every stream registers with.
    pub watcher: Watcher,
    /// Server counters.
    pub counters: Arc<Counters>,
    /// Per-stream settings.
    pub stream_options: StreamOptions,
    /// Who may publish, and how long a publish body may take to arrive.
    pub publishing: Publishing,
}

/// The rules of `POST /publish` (the size limit is the hub's `max_event_bytes`).
#[derive(Debug, Clone)]
pub struct Publishing {
    /// Who may publish.
    pub access: PublishAccess,
    /// How long the body may take to arrive.
    pub body_timeout: Duration,
    /// Largest encoded event; a larger body is refused before it is read whole.
    pub max_event_bytes: usize,
}

/// The router of the reference server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/sse", get(sse))
        .route("/sse/finite", get(sse_finite))
        .route("/sse/slow", get(sse_slow))
        .route("/events", get(events))
        .route("/publish", post(publish))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/metrics/prometheus", get(metrics_prometheus))
        .fallback(not_found)
        .with_state(state)
}

type QueryPairs = Query<Vec<(String, String)>>;

/// Defaults of the three generated-stream endpoints (delay, count, size).
struct StreamDefaults {
    delay: Duration,
    count: Option<u64>,
    size: usize,
}

async fn sse(state: State<AppState>, headers: HeaderMap, query: QueryPairs) -> Result<Response, ApiError> {
    let defaults = StreamDefaults {
        delay: Duration::from_millis(100),
        count: None,
        size: 0,
    };
    generated(state, &headers, &query, defaults)
}

async fn sse_finite(
    state: State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let defaults = StreamDefaults {
        delay: Duration::ZERO,
        count: Some(100),
        size: 0,
    };
    generated(state, &headers, &query, defaults)
}

async fn sse_slow(
    state: State<AppState>,
    headers: HeaderMap,
    query: QueryPairs,
) -> Result<Response, ApiError> {
    let defaults = StreamDefaults {
        delay: Duration::from_secs(1),
        count: None,
        size: 4096,
    };
    generated(state, &headers, &query, defaults)
}

fn generated(
    State(state): State<AppState>,
    headers: &HeaderMap,
    pairs: &params::Pairs,
    defaults: StreamDefaults,
) -> Result<Response, ApiError> {
    let delay = params::delay(pairs, defaults.delay)?;
    let count = params::count(pairs)?.or(defaults.count);
    let size = params::size(pairs, defaults.size)?;
    let resume_after = params::last_event_id(headers, pairs)?.unwrap_or(0);
    // A resumed client continues the sequence; `count` still counts from id 1.
    let count = count.map(|c| c.saturating_sub(resume_after));
    let source = GeneratedSource::new(Generated {
        delay,
        count,
        size,
        first_id: resume_after.checked_add(1),
    });
    Ok(stream_response(&state, source))
}

async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(pairs): QueryPairs,
) -> Result<Response, ApiError> {
    let last_event_id = params::last_event_id(&headers, &pairs)?;
    let source = HubSource::new(state.hub.subscribe(last_event_id), Arc::clone(&state.counters));
    // The test-only loss picks its own source here, once, so the ordinary one checks nothing.
    Ok(match state.stream_options.drop_event {
        None => stream_response(&state, source),
        Some(id) => stream_response(&state, source.dropping(id)),
    })
}

fn stream_response<S: FrameSource>(state: &AppState, source: S) -> Response {
    let stream = SseStream::new(
        source,
        state.watcher.register(),
        Arc::clone(&state.counters),
        state.stream_options,
    );
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    for (name, value) in SSE_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn publish(
    State(state): State<AppState>,
    Query(pairs): QueryPairs,
    peer: Option<Extension<Peer>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let rules = &state.publishing;
    rules
        .access
        .check(peer.map(|Extension(Peer(addr))| addr), &headers)
        .map_err(refused)?;
    let event = params::event_name(&pairs)?;
    let data = read_body(body, rules).await?;
    let id = state.hub.publish(event, &data).map_err(|err| match err {
        FrameError::TooLarge { max, .. } => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body", err.to_string())
                .over_limit("--max-event-bytes", max as u64)
        }
        _ => ApiError::bad_request("event", err.to_string()),
    })?;
    Ok((StatusCode::OK, Json(json!({ "id": id }))).into_response())
}

/// Reads a publish body within `--body-timeout` and `--max-event-bytes`.
async fn read_body(body: Body, rules: &Publishing) -> Result<Bytes, ApiError> {
    let max = rules.max_event_bytes;
    let read = Limited::new(body, max).collect();
    match tokio::time::timeout(rules.body_timeout, read).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(err)) if err.is::<LengthLimitError>() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body",
            format!(
                "the body is larger than {max} bytes, the --max-event-bytes limit; publish smaller events"
            ),
        )
        .over_limit("--max-event-bytes", max as u64)),
        Ok(Err(err)) => Err(ApiError::bad_request(
            "body",
            format!("reading the body failed: {err}"),
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body",
            format!(
                "the body did not arrive within {:?}, the --body-timeout limit",
                rules.body_timeout
            ),
        )
        .over_limit("--body-timeout", rules.body_timeout.as_millis() as u64)),
    }
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::BadToken => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Authorization",
            "publishing needs `Authorization: Bearer <token>` with the server's --publish-token".to_owned(),
        ),
        Refusal::NotLoopback => ApiError::new(
            StatusCode::FORBIDDEN,
            "peer",
            "publishing is open to loopback peers only; start the server with --publish-token \
             (or SSE_PUBLISH_TOKEN) and send `Authorization: Bearer <token>`"
                .to_owned(),
        ),
    }
}

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "healthy" }))
}

async fn metrics(State(state): State<AppState>) -> Json<crate::metrics::Snapshot> {
    Json(state.counters.snapshot(&state.hub, &state.watcher))
}

async fn metrics_prometheus(State(state): State<AppState>) -> Response {
    let text = state
        .counters
        .snapshot(&state.hub, &state.watcher)
        .to_prometheus();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn not_found() -> Response {
    let body = json!({
        "error": "no such endpoint; try /sse, /events, /publish, /health or /metrics"
    });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}
