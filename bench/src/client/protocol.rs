//! The HTTP version SSE streams are opened with: HTTP/1.1 (one stream per connection) or HTTP/2 (N streams per connection).
//!
//! Over `https://`, HTTP/2 is agreed in the TLS handshake (ALPN `h2`); over `http://` the
//! client speaks it with prior knowledge (h2c, RFC 9113 §3.3), which the reference server
//! accepts. Only the streams use the chosen protocol; `/metrics` and `/publish` requests
//! stay on HTTP/1.1.
//!
//! The command line chooses once for the process ([`set_configured`], as
//! [`super::tls::install`] does for certificates); the runner applies [`configured`] to the
//! stream targets it resolves.

use std::num::NonZeroU32;
use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;

/// The request body type of every request the client sends, on either protocol.
pub(crate) type Body = Full<Bytes>;

/// Streams per HTTP/2 connection when none is given: what browsers and hyper assume a
/// server allows before its SETTINGS arrive (`SETTINGS_MAX_CONCURRENT_STREAMS` ≥ 100 is
/// what RFC 9113 recommends).
pub const DEFAULT_STREAMS_PER_CONNECTION: NonZeroU32 = NonZeroU32::new(100).unwrap();

/// How streams reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// HTTP/1.1: a connection per stream.
    #[default]
    Http1,
    /// HTTP/2: up to `streams_per_connection` streams share one connection, so `clients`
    /// streams use `clients / streams_per_connection` connections (rounded up).
    Http2 {
        /// Streams opened on one connection before the next connection is opened.
        streams_per_connection: NonZeroU32,
    },
}

impl Protocol {
    /// `h1` or `h2`, as the report and the command line name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Http1 => "h1",
            Self::Http2 { .. } => "h2",
        }
    }

    /// Streams one connection carries (1 for HTTP/1.1).
    pub fn streams_per_connection(self) -> u32 {
        match self {
            Self::Http1 => 1,
            Self::Http2 {
                streams_per_connection,
            } => streams_per_connection.get(),
        }
    }

    /// The protocol `name` (`h1`, `h2`) with `streams_per_connection` (HTTP/2 only; its
    /// default is [`DEFAULT_STREAMS_PER_CONNECTION`]).
    ///
    /// # Errors
    /// An unknown name, or streams per connection given for `h1` (the message says what to write).
    pub fn parse(name: &str, streams_per_connection: Option<u32>) -> Result<Self, ProtocolError> {
        match (name, streams_per_connection) {
            ("h1" | "http1" | "http/1.1", None) => Ok(Self::Http1),
            ("h1" | "http1" | "http/1.1", Some(_)) => Err(ProtocolError::StreamsWithHttp1),
            ("h2" | "http2", n) => {
                let streams_per_connection = match n {
                    None => DEFAULT_STREAMS_PER_CONNECTION,
                    Some(n) => NonZeroU32::new(n).ok_or(ProtocolError::NoStreams)?,
                };
                Ok(Self::Http2 {
                    streams_per_connection,
                })
            }
            (other, _) => Err(ProtocolError::Unknown(other.to_owned())),
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http1 => f.write_str("h1"),
            Self::Http2 {
                streams_per_connection,
            } => write!(f, "h2 ({streams_per_connection} streams per connection)"),
        }
    }
}

/// A protocol choice that makes no sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Neither `h1` nor `h2`.
    #[error("unknown protocol {0:?}: write h1 (HTTP/1.1) or h2 (HTTP/2)")]
    Unknown(String),
    /// Streams per connection with HTTP/1.1, which carries one.
    #[error(
        "streams per connection need HTTP/2 (HTTP/1.1 carries one stream per connection): add --protocol h2"
    )]
    StreamsWithHttp1,
    /// Zero streams per connection.
    #[error("streams per connection must be at least 1, e.g. --streams-per-connection 100")]
    NoStreams,
}

static CONFIGURED: OnceLock<Protocol> = OnceLock::new();

/// Sets the protocol of this process's streams; only the first call counts (returns
/// whether this one did).
pub fn set_configured(protocol: Protocol) -> bool {
    CONFIGURED.set(protocol).is_ok()
}

/// The protocol the command line chose for streams ([`Protocol::Http1`] when it chose none).
pub fn configured() -> Protocol {
    CONFIGURED.get().copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_parse_with_their_stream_counts() {
        assert_eq!(Protocol::parse("h1", None), Ok(Protocol::Http1));
        let h2 = Protocol::parse("h2", Some(10)).unwrap();
        assert_eq!((h2.name(), h2.streams_per_connection()), ("h2", 10));
        assert_eq!(Protocol::parse("h2", None).unwrap().streams_per_connection(), 100);
        assert_eq!(Protocol::parse("h2", Some(0)), Err(ProtocolError::NoStreams));
        assert_eq!(
            Protocol::parse("h1", Some(4)),
            Err(ProtocolError::StreamsWithHttp1)
        );
        let err = Protocol::parse("h3", None).unwrap_err().to_string();
        assert!(err.contains("h3") && err.contains("h2"), "{err}");
        assert_eq!(h2.to_string(), "h2 (10 streams per connection)");
    }
}
