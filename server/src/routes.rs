//! HTTP endpoints: `/sse` (generated streams), `/events` (the hub), `/publish`, `/health`, `/metrics`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::hub::Hub;
use crate::metrics::Counters;
use crate::params::{self, ApiError};
use crate::source::{Generated, GeneratedSource, HubSource};
use crate::stream::{FrameSource, SseStream, StreamOptions};
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
        first_id: resume_after.saturating_add(1),
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
    Ok(stream_response(&state, source))
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
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

async fn publish(
    State(state): State<AppState>,
    Query(pairs): QueryPairs,
    body: Bytes,
) -> Result<Response, ApiError> {
    let event = params::event_name(&pairs)?;
    let id = state
        .hub
        .publish(event, &body)
        .map_err(|err| ApiError::bad_request("event", err.to_string()))?;
    Ok((StatusCode::OK, Json(json!({ "id": id }))).into_response())
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
