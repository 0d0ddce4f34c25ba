//! One SSE stream over HTTP/1.1 or HTTP/2: connect, check the answer, then read and parse chunks as they arrive.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sse_bench::client::ClientError> {
//! use sse_bench::client::{ConnectOptions, Item, connect};
//! let url = "http://127.0.0.1:8080/sse/finite?count=10".parse().unwrap();
//! let mut stream = connect(&url, &ConnectOptions::default()).await?;
//! println!("headers after {:?}", stream.time_to_headers());
//! while stream
//!     .read(&mut |item, received_at| {
//!         if let Item::Event(event) = item {
//!             println!("{:?} at {received_at:?}", event.id);
//!         }
//!     })
//!     .await?
//! {}
//! # Ok(()) }
//! ```
//!
//! ## Ends
//! [`SseConnection::read`] returns `Ok(false)` only at a clean end: the final chunk of a
//! chunked body (or the end of a body delimited by length or by close). A connection that
//! breaks mid-body is an error: [`ClientError::Reset`] when the peer reset it,
//! [`ClientError::Incomplete`] when it closed before the final chunk.
//!
//! ## Cost
//! One task per stream: the connection's IO is done inside `read` (no spawned task).
//! An HTTP/1.1 stream (plain or TLS) is read by the client itself (the `http1` module):
//! one socket read into the reader thread's scratch buffer, every chunk in it decoded in
//! place and fed to the [`Parser`] in the same poll, one receive time per read, nothing
//! allocated per chunk or event. An HTTP/2 stream is read through hyper, one DATA frame per `read`.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::error::{BODY_EXCERPT_LEN, ClientError};
use super::http1::Reader;
use super::parser::{Item, Parser};
use super::protocol::Protocol;
use super::transport::{self, Target, Transport};

/// The default limit for connecting and receiving the response headers.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// How to open a stream.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Sent as `Last-Event-ID` to resume after that event.
    pub last_event_id: Option<String>,
    /// Source address to connect from (port chosen by the OS), to spread connections
    /// over 127.0.0.0/8 when the ephemeral ports of one address run short.
    pub local_addr: Option<IpAddr>,
    /// Limit for connecting plus receiving the response headers.
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            last_event_id: None,
            local_addr: None,
            timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

/// Resolves `url` and opens an SSE stream (see [`SseConnection::open`]).
///
/// # Errors
/// As [`SseConnection::open`], plus URL and resolution errors.
pub async fn connect(url: &Uri, opts: &ConnectOptions) -> Result<SseConnection, ClientError> {
    let target = Target::resolve(url).await?;
    SseConnection::open(&target, opts).await
}

/// An open SSE stream: a 200 `text/event-stream` answer being read and parsed.
#[derive(Debug)]
pub struct SseConnection {
    status: StatusCode,
    started_at: Instant,
    time_to_headers: Duration,
    local_addr: Option<SocketAddr>,
    source: Source,
    parser: Parser,
    bytes_received: u64,
    ended: bool,
}

impl SseConnection {
    /// Connects to `target`, sends `GET` with `Accept: text/event-stream` (and
    /// `Last-Event-ID` when set), and waits for a 200 `text/event-stream` answer.
    ///
    /// # Errors
    /// Connecting fails ([`ClientError::ConnectRefused`], [`ClientError::AddrNotAvailable`],
    /// [`ClientError::Connect`]); no headers within `opts.timeout`
    /// ([`ClientError::Timeout`]); another status ([`ClientError::Status`] with the start of
    /// the body); another content type ([`ClientError::ContentType`]); the connection
    /// breaks ([`ClientError::Reset`], [`ClientError::Incomplete`], [`ClientError::Io`]).
    pub async fn open(target: &Target, opts: &ConnectOptions) -> Result<Self, ClientError> {
        Self::open_request(target, opts, Method::GET, Bytes::new()).await
    }

    /// As [`SseConnection::open`], with another method and a body (a request-driven
    /// stream: `POST /v1/chat/completions` with `"stream": true`). A body is sent as
    /// `Content-Type: application/json` unless the target's headers say otherwise.
    ///
    /// # Errors
    /// As [`SseConnection::open`].
    pub async fn open_request(
        target: &Target,
        opts: &ConnectOptions,
        method: Method,
        body: Bytes,
    ) -> Result<Self, ClientError> {
        let mut headers = vec![
            (ACCEPT, HeaderValue::from_static("text/event-stream")),
            (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if !body.is_empty() {
            headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        if let Some(id) = &opts.last_event_id {
            let value = HeaderValue::from_str(id).map_err(|_| ClientError::InvalidHeader {
                name: "Last-Event-ID",
                value: id.clone(),
            })?;
            headers.push((LAST_EVENT_ID, value));
        }
        let started_at = Instant::now();
        let opening = async {
            let (source, local_addr) = match target.protocol() {
                Protocol::Http1 => open_http1(target, opts, &method, &headers, &body).await?,
                Protocol::Http2 { .. } => open_http2(target, opts, method, &headers, body).await?,
            };
            Ok(Self {
                status: StatusCode::OK,
                started_at,
                time_to_headers: started_at.elapsed(),
                local_addr,
                source,
                parser: Parser::resume(opts.last_event_id.as_deref()),
                bytes_received: 0,
                ended: false,
            })
        };
        tokio::time::timeout(opts.timeout, opening)
            .await
            .map_err(|_| ClientError::Timeout {
                phase: "connecting and receiving the response headers",
                after: opts.timeout,
            })?
    }

    /// Time from just before the TCP connect to the response headers.
    pub fn time_to_headers(&self) -> Duration {
        self.time_to_headers
    }

    /// When the connection attempt started (just before the TCP connect): subtract it from
    /// a receive time for the time to first event.
    pub fn started_at(&self) -> Instant {
        self.started_at
    }

    /// The response status (always 200: other answers are [`ClientError::Status`]).
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The local (source) address of the connection, when the OS reports it (asked of an
    /// HTTP/1.1 stream's socket on each call; an HTTP/2 stream's is its connection's).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &self.source {
            Source::Http1(reader) => reader.local_addr(),
            Source::Http2 { .. } => self.local_addr,
        }
    }

    /// Body bytes received so far.
    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// The stream's last event ID, to resume with after a disconnect (starts as
    /// [`ConnectOptions::last_event_id`]).
    pub fn last_event_id(&self) -> Option<&str> {
        self.parser.last_event_id()
    }

    /// Reads what arrived next (one socket read over HTTP/1.1, one DATA frame over
    /// HTTP/2), parses it, and calls `on_item(item, received_at)` for each complete item in
    /// it (`received_at` is taken once per read, when it returned).
    /// Inside `select!`, bind the closure to a local first (`let mut on = |item, at| ..;`
    /// then `read(&mut on)`): a `&mut |..| ..` temporary does not live long enough there.
    ///
    /// Returns `Ok(true)` while the stream is open, `Ok(false)` at a clean end (and on
    /// every call after it).
    ///
    /// # Errors
    /// [`ClientError::Reset`] when the peer reset the connection, [`ClientError::Incomplete`]
    /// when it closed before the final chunk, [`ClientError::Protocol`] for broken chunked
    /// framing, [`ClientError::Io`], [`ClientError::Http`] or [`ClientError::Http2`]
    /// otherwise. The stream is over after an error.
    ///
    /// # Cancel safety
    /// Cancel-safe: what a read receives is parsed and reported in the same poll, so
    /// dropping the future (a timeout around `read`, say) loses nothing.
    pub async fn read(&mut self, on_item: &mut impl FnMut(Item<'_>, Instant)) -> Result<bool, ClientError> {
        if self.ended {
            return Ok(false);
        }
        let (parser, bytes_received) = (&mut self.parser, &mut self.bytes_received);
        let mut on_data = |data: &[u8], received_at: Instant| {
            *bytes_received += data.len() as u64;
            parser.feed(data, &mut |item| on_item(item, received_at));
        };
        let result = match &mut self.source {
            Source::Http1(reader) => reader.read(&mut on_data).await,
            Source::Http2 { body, transport } => read_http2(body, transport, &mut on_data).await,
        };
        self.ended = !matches!(result, Ok(true));
        result
    }
}

/// Where a stream's body comes from.
#[derive(Debug)]
enum Source {
    /// An HTTP/1.1 connection of its own, read by the client (`http1`).
    Http1(Reader),
    /// A stream of an HTTP/2 connection, read through hyper.
    Http2 {
        /// The response body.
        body: Incoming,
        /// The stream's lease on its shared connection.
        transport: Transport,
    },
}

/// Opens an HTTP/1.1 stream: its own socket, the request written and the head read by
/// the client; a 200 `text/event-stream` answer or an error.
async fn open_http1(
    target: &Target,
    opts: &ConnectOptions,
    method: &Method,
    headers: &[(HeaderName, HeaderValue)],
    body: &[u8],
) -> Result<(Source, Option<SocketAddr>), ClientError> {
    let io = transport::socket(target, opts.local_addr).await?;
    let request = target.http1_request(method, headers, body);
    let (mut reader, head) = Reader::open(io, &request).await?;
    if head.status != StatusCode::OK {
        let excerpt = reader.excerpt(BODY_EXCERPT_LEN).await;
        return Err(ClientError::Status {
            status: head.status,
            body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
        });
    }
    check_content_type(&head.content_type)?;
    // The local address is asked of the socket only when wanted (`local_addr`).
    Ok((Source::Http1(reader), None))
}

/// Opens an HTTP/2 stream on hyper (a place on a shared connection); a 200
/// `text/event-stream` answer or an error.
async fn open_http2(
    target: &Target,
    opts: &ConnectOptions,
    method: Method,
    headers: &[(HeaderName, HeaderValue)],
    body: Bytes,
) -> Result<(Source, Option<SocketAddr>), ClientError> {
    let request = target.request(method, headers, body);
    let (mut sender, mut transport, local_addr) = transport::open(target, opts.local_addr).await?;
    let response = transport.send(&mut sender, request).await?;
    // No second request on this stream.
    drop(sender);
    let (parts, mut body) = response.into_parts();
    if parts.status != StatusCode::OK {
        return Err(transport.status_error(parts.status, &mut body).await);
    }
    let content_type = parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
    check_content_type(content_type.unwrap_or_default())?;
    Ok((Source::Http2 { body, transport }, local_addr))
}

/// Reads the next DATA frame of an HTTP/2 stream into `on_data` (with its receive time):
/// `Ok(true)` after one, `Ok(false)` at the clean end.
async fn read_http2(
    body: &mut Incoming,
    transport: &mut Transport,
    on_data: &mut impl FnMut(&[u8], Instant),
) -> Result<bool, ClientError> {
    loop {
        match transport.drive(body.frame()).await {
            Some(Ok(frame)) => {
                // Trailers carry no events.
                let Ok(data) = frame.into_data() else { continue };
                on_data(&data, Instant::now());
                return Ok(true);
            }
            Some(Err(err)) => return Err(transport.error(err)),
            None => return transport.take_conn_error().map_or(Ok(false), Err),
        }
    }
}

/// `Ok` for a `text/event-stream` Content-Type, else [`ClientError::ContentType`].
fn check_content_type(content_type: &[u8]) -> Result<(), ClientError> {
    if is_event_stream(content_type) {
        return Ok(());
    }
    Err(ClientError::ContentType {
        content_type: String::from_utf8_lossy(content_type).into_owned(),
    })
}

/// Whether a Content-Type is `text/event-stream` (parameters and case ignored).
fn is_event_stream(content_type: &[u8]) -> bool {
    let essence = content_type.split(|&b| b == b';').next().unwrap_or_default();
    essence.trim_ascii().eq_ignore_ascii_case(b"text/event-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_stream_content_types() {
        assert!(is_event_stream(b"text/event-stream"));
        assert!(is_event_stream(b"Text/Event-Stream; charset=utf-8"));
        assert!(!is_event_stream(b""));
        assert!(!is_event_stream(b"application/json"));
        assert!(!is_event_stream(b"text/event-streams"));
    }
}
