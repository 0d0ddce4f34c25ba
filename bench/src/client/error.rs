//! Errors of the SSE client, each with a stable short [`ClientError::kind`] that reports count by.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use http::StatusCode;

/// A boxed error source (hyper and IO errors both fit).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a connection, request or stream failed.
///
/// Reports count errors by [`ClientError::kind`], never by the message text.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used (not `http://`, no host, bad path).
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header value we were asked to send is not a valid HTTP header value.
    #[error("invalid {name} header value {value:?}: only visible ASCII and spaces are allowed")]
    InvalidHeader {
        /// The header name.
        name: &'static str,
        /// The rejected value.
        value: String,
    },
    /// The host name did not resolve.
    #[error("resolving {host:?}: {source}")]
    Resolve {
        /// The host that failed to resolve.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Nothing listens at the address.
    #[error("connection to {addr} refused (is the server running and listening there?)")]
    ConnectRefused {
        /// The server address.
        addr: SocketAddr,
    },
    /// No local address/port was free for the connection.
    #[error(
        "no local address available to connect to {addr}: {source} (ephemeral ports exhausted? \
         spread source addresses over 127.0.0.0/8 with ConnectOptions::local_addr)"
    )]
    AddrNotAvailable {
        /// The server address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed (untrusted or mismatched certificate, no common protocol).
    #[error(
        "TLS handshake with {addr}: {source} (for a self-signed test server give --ca-file or --insecure)"
    )]
    Tls {
        /// The server address.
        addr: SocketAddr,
        /// rustls' error, as an IO error.
        #[source]
        source: io::Error,
    },
    /// Connecting failed for another reason.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The server address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Connecting and receiving the response headers (or a whole request) took too long.
    #[error("{phase} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        phase: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// The server answered with an unexpected status (503 when it is at its connection
    /// limit, 400 for bad parameters...).
    #[error("server answered {status}: {body_excerpt}")]
    Status {
        /// The status code.
        status: StatusCode,
        /// The start of the response body (lossy UTF-8, at most [`BODY_EXCERPT_LEN`] bytes).
        body_excerpt: String,
    },
    /// A 200 answer that is not an event stream.
    #[error("expected Content-Type text/event-stream, the server sent {content_type:?}")]
    ContentType {
        /// The Content-Type received (empty when absent).
        content_type: String,
    },
    /// The connection was reset (or aborted) by the peer.
    #[error("connection reset: {}", Chain(&**source))]
    Reset {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The connection closed before the response was complete (no final chunk).
    #[error("connection closed before the response was complete: {}", Chain(&**source))]
    Incomplete {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// Another IO error on an established connection.
    #[error("I/O error: {}", Chain(&**source))]
    Io {
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// The peer broke the HTTP protocol (unparsable response, say).
    #[error("HTTP error: {}", Chain(source))]
    Http {
        /// hyper's error.
        #[source]
        source: hyper::Error,
    },
    /// The peer broke HTTP/1.1 as the client reads it itself (a malformed response head or
    /// chunk size line); counted as `http`.
    #[error("HTTP/1.1 protocol error: {what}")]
    Protocol {
        /// What was wrong.
        what: &'static str,
    },
    /// HTTP/2 failed: the server did not agree to `h2` in the TLS handshake, or the
    /// connection broke the HTTP/2 protocol (a reset stream or a GOAWAY is [`ClientError::Reset`]).
    #[error("HTTP/2: {}", Chain(&**source))]
    Http2 {
        /// What went wrong (hyper's or h2's error, or the reason).
        #[source]
        source: BoxError,
    },
    /// A JSON body did not parse.
    #[error("response body of {url} is not valid JSON: {source}")]
    Json {
        /// The URL requested.
        url: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// How many bytes of an error response body [`ClientError::Status`] keeps.
pub const BODY_EXCERPT_LEN: usize = 512;

impl ClientError {
    /// What kind of failure this is, for counting errors by kind ([`ErrorKind::name`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            Self::InvalidHeader { .. } => ErrorKind::InvalidHeader,
            Self::Resolve { .. } => ErrorKind::Resolve,
            Self::ConnectRefused { .. } => ErrorKind::ConnectRefused,
            Self::AddrNotAvailable { .. } => ErrorKind::AddrNotAvailable,
            Self::Connect { .. } => ErrorKind::Connect,
            Self::Tls { .. } => ErrorKind::Tls,
            Self::Timeout { .. } => ErrorKind::Timeout,
            Self::Status { status, .. } => ErrorKind::Status(StatusKind::of(*status)),
            Self::ContentType { .. } => ErrorKind::ContentType,
            Self::Reset { .. } => ErrorKind::Reset,
            Self::Incomplete { .. } => ErrorKind::Incomplete,
            Self::Io { .. } => ErrorKind::Io,
            Self::Http { .. } | Self::Protocol { .. } => ErrorKind::Http,
            Self::Http2 { .. } => ErrorKind::Http2,
            Self::Json { .. } => ErrorKind::Json,
        }
    }

    /// Classifies an IO error from connecting to `addr`.
    pub(crate) fn connect(addr: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::ConnectionRefused => Self::ConnectRefused { addr },
            io::ErrorKind::AddrNotAvailable | io::ErrorKind::AddrInUse => {
                Self::AddrNotAvailable { addr, source }
            }
            _ => Self::Connect { addr, source },
        }
    }

    /// Classifies an IO error on an established connection.
    pub(crate) fn io(source: io::Error) -> Self {
        match io_class(&source) {
            Some(IoClass::Reset) => Self::Reset {
                source: source.into(),
            },
            Some(IoClass::Incomplete) => Self::Incomplete {
                source: source.into(),
            },
            None => Self::Io {
                source: source.into(),
            },
        }
    }

    /// Classifies a hyper error: reset, incomplete, other IO, or protocol (HTTP/1.1 or
    /// HTTP/2; a stream reset or a GOAWAY from the peer is a reset).
    pub(crate) fn hyper(source: hyper::Error) -> Self {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&source);
        let mut class = None;
        let mut any_io = false;
        let mut http2 = false;
        while let Some(err) = cause {
            if let Some(io) = err.downcast_ref::<io::Error>() {
                any_io = true;
                class = io_class(io);
                break;
            }
            if let Some(h2) = err.downcast_ref::<h2::Error>() {
                if let Some(io) = h2.get_io() {
                    any_io = true;
                    class = io_class(io);
                } else if h2.is_remote() && (h2.is_reset() || h2.is_go_away()) {
                    class = Some(IoClass::Reset);
                } else {
                    http2 = true;
                }
                break;
            }
            cause = err.source();
        }
        if source.is_incomplete_message() {
            class = Some(IoClass::Incomplete);
        }
        match class {
            Some(IoClass::Reset) => Self::Reset {
                source: source.into(),
            },
            Some(IoClass::Incomplete) => Self::Incomplete {
                source: source.into(),
            },
            None if any_io => Self::Io {
                source: source.into(),
            },
            None if http2 => Self::Http2 {
                source: source.into(),
            },
            None => Self::Http { source },
        }
    }

    /// Whether this is only a generic protocol error, for which a more specific
    /// connection error is preferred when one is known.
    pub(crate) fn is_generic(&self) -> bool {
        matches!(self, Self::Http { .. })
    }
}

/// Displays an error with its chain of causes (`a: b: c`), skipping a cause whose text
/// its parent already shows.
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut shown = self.0.to_string();
        f.write_str(&shown)?;
        let mut cause = self.0.source();
        while let Some(err) = cause {
            let text = err.to_string();
            if !shown.contains(&text) {
                write!(f, ": {text}")?;
            }
            shown = text;
            cause = err.source();
        }
        Ok(())
    }
}

enum IoClass {
    Reset,
    Incomplete,
}

fn io_class(err: &io::Error) -> Option<IoClass> {
    match err.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe => {
            Some(IoClass::Reset)
        }
        io::ErrorKind::UnexpectedEof => Some(IoClass::Incomplete),
        _ => None,
    }
}

/// What kind of failure a [`ClientError`] is: the key errors are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// `invalid_url`.
    InvalidUrl,
    /// `invalid_header`.
    InvalidHeader,
    /// `resolve`.
    Resolve,
    /// `connect_refused`.
    ConnectRefused,
    /// `addr_not_available`.
    AddrNotAvailable,
    /// `connect`.
    Connect,
    /// `tls`: the TLS handshake failed (certificate, protocol).
    Tls,
    /// `timeout`.
    Timeout,
    /// `http_<status>`: a non-2xx answer.
    Status(StatusKind),
    /// `content_type`.
    ContentType,
    /// `reset`.
    Reset,
    /// `incomplete`.
    Incomplete,
    /// `io`.
    Io,
    /// `http`.
    Http,
    /// `http2`: an HTTP/2 protocol error, or no `h2` agreed over TLS.
    Http2,
    /// `json`.
    Json,
}

impl ErrorKind {
    /// The stable short name reports count it under (`connect_refused`, `http_503`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::InvalidHeader => "invalid_header",
            Self::Resolve => "resolve",
            Self::ConnectRefused => "connect_refused",
            Self::AddrNotAvailable => "addr_not_available",
            Self::Connect => "connect",
            Self::Tls => "tls",
            Self::Timeout => "timeout",
            Self::Status(status) => status.name(),
            Self::ContentType => "content_type",
            Self::Reset => "reset",
            Self::Incomplete => "incomplete",
            Self::Io => "io",
            Self::Http => "http",
            Self::Http2 => "http2",
            Self::Json => "json",
        }
    }

    /// The name of this failure on a stream that was already open: `stream_reset`,
    /// `stream_incomplete`, `stream_io`, `stream_http`, `stream_http2` (counted apart from connect errors);
    /// other kinds keep their [`name`](Self::name).
    pub fn name_on_stream(self) -> &'static str {
        match self {
            Self::Reset => "stream_reset",
            Self::Incomplete => "stream_incomplete",
            Self::Io => "stream_io",
            Self::Http => "stream_http",
            Self::Http2 => "stream_http2",
            other => other.name(),
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A non-2xx status as errors are counted: the common ones apart, the rest by class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatusKind {
    /// 400.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 429.
    TooManyRequests,
    /// 500.
    InternalServerError,
    /// 502.
    BadGateway,
    /// 503.
    ServiceUnavailable,
    /// 504.
    GatewayTimeout,
    /// Another 4xx.
    OtherClientError,
    /// Another 5xx.
    OtherServerError,
    /// Anything else that is not 2xx (1xx, 3xx).
    Other,
}

impl StatusKind {
    /// The kind of `status`.
    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            429 => Self::TooManyRequests,
            500 => Self::InternalServerError,
            502 => Self::BadGateway,
            503 => Self::ServiceUnavailable,
            504 => Self::GatewayTimeout,
            _ if status.is_client_error() => Self::OtherClientError,
            _ if status.is_server_error() => Self::OtherServerError,
            _ => Self::Other,
        }
    }

    /// `http_400` ... `http_504`, `http_4xx`, `http_5xx`, `http_other`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BadRequest => "http_400",
            Self::Unauthorized => "http_401",
            Self::Forbidden => "http_403",
            Self::NotFound => "http_404",
            Self::TooManyRequests => "http_429",
            Self::InternalServerError => "http_500",
            Self::BadGateway => "http_502",
            Self::ServiceUnavailable => "http_503",
            Self::GatewayTimeout => "http_504",
            Self::OtherClientError => "http_4xx",
            Self::OtherServerError => "http_5xx",
            Self::Other => "http_other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 9))
    }

    #[test]
    fn connect_errors_are_classified() {
        let kind = |k| ClientError::connect(addr(), io::Error::from(k)).kind().name();
        assert_eq!(kind(io::ErrorKind::ConnectionRefused), "connect_refused");
        assert_eq!(kind(io::ErrorKind::AddrNotAvailable), "addr_not_available");
        assert_eq!(kind(io::ErrorKind::PermissionDenied), "connect");
    }

    #[test]
    fn stream_io_errors_are_classified() {
        let kind = |k| ClientError::io(io::Error::from(k)).kind().name();
        assert_eq!(kind(io::ErrorKind::ConnectionReset), "reset");
        assert_eq!(kind(io::ErrorKind::ConnectionAborted), "reset");
        assert_eq!(kind(io::ErrorKind::BrokenPipe), "reset");
        assert_eq!(kind(io::ErrorKind::UnexpectedEof), "incomplete");
        assert_eq!(kind(io::ErrorKind::TimedOut), "io");
    }

    #[test]
    fn statuses_have_stable_kinds() {
        let kind = |code: u16| {
            ClientError::Status {
                status: StatusCode::from_u16(code).unwrap(),
                body_excerpt: String::new(),
            }
            .kind()
            .name()
        };
        assert_eq!(kind(400), "http_400");
        assert_eq!(kind(503), "http_503");
        assert_eq!(kind(418), "http_4xx");
        assert_eq!(kind(507), "http_5xx");
        assert_eq!(kind(204), "http_other");
        assert_eq!(kind(302), "http_other");
    }

    #[test]
    fn messages_show_the_cause_chain() {
        let inner = io::Error::new(io::ErrorKind::ConnectionReset, "peer reset");
        let outer = io::Error::new(io::ErrorKind::ConnectionReset, inner);
        let err = ClientError::io(outer);
        assert_eq!(err.to_string(), "connection reset: peer reset");
        let err = ClientError::Timeout {
            phase: "connecting",
            after: Duration::from_millis(200),
        };
        assert_eq!(err.to_string(), "connecting timed out after 200ms");
    }
}
