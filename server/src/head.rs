//! The first request head of a plain connection, judged before hyper: a plain HTTP/1.1 `GET /events` becomes a lean stream, anything else goes to hyper.
//!
//! ## What takes the lean path
//! Only a request that the hyper path would answer with a hub stream and nothing
//! else: `GET /events` over HTTP/1.1 (the path exactly, any query the route accepts),
//! with a valid `Last-Event-ID` or `?last_event_id=` or none, no body
//! (`Content-Length`, `Transfer-Encoding`), no `Expect`, no `Upgrade`, a `Connection`
//! header that is at most `keep-alive`, nothing sent after the head, and a head of at most
//! [`LEAN_HEAD_MAX`] bytes. Everything else, including every request the route would
//! refuse, is handed to hyper with the bytes already read, so its answer is the hyper
//! path's own, byte for byte. A request that does not start with `GET /events` is handed
//! over as soon as its first bytes show it.

use std::io::Write;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::params;
use crate::stream::SSE_HEADERS;

/// The largest request head read before hyper. A longer one (large cookies, say) is
/// handed to hyper, which reads heads up to [`crate::connection::MAX_HEAD_BYTES`].
pub const LEAN_HEAD_MAX: usize = 2048;

/// Headers a head may carry at most to take the lean path (httparse's array, on the stack).
const LEAN_HEADERS_MAX: usize = 32;

/// How every lean request starts.
const LEAN_PREFIX: &[u8] = b"GET /events";

/// What the bytes read so far of a first request head say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judged {
    /// Could still become a lean request: read more.
    Incomplete,
    /// A plain `GET /events`, resuming after this id if any.
    Lean {
        /// The client's last seen event id.
        last_event_id: Option<u64>,
    },
    /// Anything else: hyper answers it.
    Hyper,
}

/// Judges the bytes read so far of a connection's first request head.
pub fn judge(read: &[u8]) -> Judged {
    let start = read.len().min(LEAN_PREFIX.len());
    if read[..start] != LEAN_PREFIX[..start] {
        return Judged::Hyper;
    }
    let mut headers = [httparse::EMPTY_HEADER; LEAN_HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(read) {
        Ok(httparse::Status::Partial) if read.len() < LEAN_HEAD_MAX => Judged::Incomplete,
        // Pipelined bytes after the head belong to hyper's keep-alive handling.
        Ok(httparse::Status::Complete(len)) if len == read.len() => lean_request(&request),
        _ => Judged::Hyper,
    }
}

/// Whether a complete head is a plain `/events` subscription the route would accept.
fn lean_request(request: &httparse::Request<'_, '_>) -> Judged {
    if request.method != Some("GET") || request.version != Some(1) {
        return Judged::Hyper;
    }
    let Some(target) = request.path else {
        return Judged::Hyper;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/events" {
        return Judged::Hyper;
    }
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(query) else {
        return Judged::Hyper;
    };
    let mut last_event_id = HeaderMap::new();
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("last-event-id") {
            let Ok(value) = HeaderValue::from_bytes(header.value) else {
                return Judged::Hyper;
            };
            last_event_id.append(HeaderName::from_static("last-event-id"), value);
        } else if name.eq_ignore_ascii_case("connection") {
            if !header.value.trim_ascii().eq_ignore_ascii_case(b"keep-alive") {
                return Judged::Hyper;
            }
        } else if ["content-length", "transfer-encoding", "expect", "upgrade"]
            .iter()
            .any(|changes_the_answer| name.eq_ignore_ascii_case(changes_the_answer))
        {
            return Judged::Hyper;
        }
    }
    match params::last_event_id(&last_event_id, &pairs) {
        Ok(last_event_id) => Judged::Lean { last_event_id },
        Err(_) => Judged::Hyper,
    }
}

/// Room for the response head (165 bytes).
const HEAD_CAPACITY: usize = 192;

/// The response head of a lean stream: the hyper path's head for `/events`, byte for
/// byte (the SSE headers, chunked transfer coding, the date), built on the stack.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    bytes: [u8; HEAD_CAPACITY],
    len: usize,
}

impl ResponseHead {
    /// The head, dated now.
    pub fn now() -> Self {
        let mut bytes = [0u8; HEAD_CAPACITY];
        let mut out = &mut bytes[..];
        // 165 bytes in all: the array always has room, so the writes cannot fail.
        let _ = out.write_all(b"HTTP/1.1 200 OK\r\n");
        for (name, value) in SSE_HEADERS {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        let _ = write!(
            out,
            "transfer-encoding: chunked\r\ndate: {}\r\n\r\n",
            httpdate::HttpDate::from(SystemTime::now())
        );
        let len = HEAD_CAPACITY - out.len();
        Self { bytes, len }
    }

    /// The head's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_subscriptions_take_the_lean_path() {
        let lean = |last_event_id| Judged::Lean { last_event_id };
        let cases: &[(&[u8], Judged)] = &[
            (b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n", lean(None)),
            (
                b"GET /events?last_event_id=7 HTTP/1.1\r\nhost: x\r\n\r\n",
                lean(Some(7)),
            ),
            (
                b"GET /events HTTP/1.1\r\nLast-Event-ID: 9\r\nConnection: keep-alive\r\n\r\n",
                lean(Some(9)),
            ),
            (b"GET /events?x=1 HTTP/1.1\r\nlast-event-id:\r\n\r\n", lean(None)),
            (b"GET /eve", Judged::Incomplete),
            (b"GET /events HTTP/1.1\r\nhost: x\r\n", Judged::Incomplete),
        ];
        for (head, judged) in cases {
            assert_eq!(judge(head), *judged, "{}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn everything_else_goes_to_hyper() {
        let cases: &[&[u8]] = &[
            b"POST /publish HTTP/1.1\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /events HTTP/1.0\r\n\r\n",
            b"GET /events/ HTTP/1.1\r\n\r\n",
            b"GET /eventsx HTTP/1.1\r\n\r\n",
            b"GET /events HTTP/1.1\r\nconnection: close\r\n\r\n",
            b"GET /events HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
            b"GET /events HTTP/1.1\r\nlast-event-id: seven\r\n\r\n",
            b"GET /events?last_event_id=-4 HTTP/1.1\r\n\r\n",
            b"GET /events HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\n\r\n",
            b"GET /events HTTP/1.1\r\nho\0st: x\r\n\r\n",
        ];
        for head in cases {
            assert_eq!(judge(head), Judged::Hyper, "{}", String::from_utf8_lossy(head));
        }
        let mut long = b"GET /events HTTP/1.1\r\ncookie: ".to_vec();
        long.resize(LEAN_HEAD_MAX, b'c');
        assert_eq!(judge(&long), Judged::Hyper, "a head past the lean limit");
    }

    #[test]
    fn the_response_head_has_the_sse_headers_and_a_date() {
        let head = ResponseHead::now();
        let text = std::str::from_utf8(head.as_bytes()).unwrap();
        assert!(text.starts_with(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\n\
             x-accel-buffering: no\r\ntransfer-encoding: chunked\r\ndate: "
        ));
        assert!(text.ends_with(" GMT\r\n\r\n"), "{text}");
        assert_eq!(text.len(), 165, "{text}");
    }
}
