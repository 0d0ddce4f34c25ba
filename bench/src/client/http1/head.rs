//! The heads of an HTTP/1.1 exchange: the request written in one buffer, the response head parsed with `httparse` into a status, a content type and the body's framing.

use http::header::HOST;
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::framing::Framing;
use crate::client::error::ClientError;

/// Most header fields a response head may have.
const MAX_HEADERS: usize = 64;

/// The bytes of a request: the head, then `body` (with its `Content-Length`), to be
/// written in one write.
///
/// `headers` are written in order, each name once: a later value of a name replaces an
/// earlier one in place (so headers set on the target override the client's own).
pub(crate) fn request(
    method: &Method,
    path_and_query: &str,
    host: &HeaderValue,
    headers: &[&[(HeaderName, HeaderValue)]],
    body: &[u8],
) -> Vec<u8> {
    let mut fields: Vec<(&HeaderName, &HeaderValue)> = vec![(&HOST, host)];
    for (name, value) in headers.iter().flat_map(|list| list.iter()) {
        match fields.iter_mut().find(|(known, _)| *known == name) {
            Some(field) => field.1 = value,
            None => fields.push((name, value)),
        }
    }
    let mut out = Vec::with_capacity(256 + body.len());
    for part in [
        method.as_str().as_bytes(),
        b" ",
        path_and_query.as_bytes(),
        b" HTTP/1.1\r\n",
    ] {
        out.extend_from_slice(part);
    }
    for (name, value) in fields {
        for part in [name.as_str().as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
            out.extend_from_slice(part);
        }
    }
    let needs_length = !body.is_empty() || !matches!(*method, Method::GET | Method::HEAD);
    if needs_length {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Head {
    /// The status.
    pub(crate) status: StatusCode,
    /// The `Content-Type` value (empty when absent).
    pub(crate) content_type: Vec<u8>,
    /// How the body is delimited.
    pub(crate) framing: Framing,
    /// The length of the head in bytes, final empty line included: the body starts there.
    pub(crate) len: usize,
}

impl Head {
    /// Whether this is an interim answer (`100 Continue`, `103 Early Hints`) that a final
    /// one follows; `101` is final.
    pub(crate) fn is_interim(&self) -> bool {
        self.status.is_informational() && self.status != StatusCode::SWITCHING_PROTOCOLS
    }
}

/// The response head at the start of `buf`: `None` while it is incomplete.
///
/// # Errors
/// [`ClientError::Protocol`] when the head is malformed, has more than 64 header fields,
/// or an invalid `Content-Length`.
pub(crate) fn parse_response(buf: &[u8]) -> Result<Option<Head>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(err) => {
            return Err(ClientError::Protocol {
                what: head_error(err),
            });
        }
    };
    let status = response
        .code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .ok_or(ClientError::Protocol {
            what: "response status code out of range",
        })?;
    let field = |name: &'static str| {
        response
            .headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    let content_type = field("content-type").next().unwrap_or_default().to_vec();
    let no_body =
        status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        Framing::Length(0)
    } else if let Some(coding) = field("transfer-encoding").next_back() {
        // The last coding decides (RFC 9112 §6.3): chunked, or a body up to the close.
        let last = coding.rsplit(|&b| b == b',').next().unwrap_or_default();
        if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::Close
        }
    } else {
        content_length(field("content-length"))?.map_or(Framing::Close, Framing::Length)
    };
    Ok(Some(Head {
        status,
        content_type,
        framing,
        len,
    }))
}

/// The `Content-Length` of a response: `None` without one; every value (of repeated
/// fields or a comma list) must agree.
fn content_length<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Option<u64>, ClientError> {
    let mut length = None;
    for value in values.flat_map(|v| v.split(|&b| b == b',')) {
        let value = value.trim_ascii();
        let parsed = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse::<u64>().ok());
        match (parsed, length) {
            (None, _) => {
                return Err(ClientError::Protocol {
                    what: "invalid Content-Length",
                });
            }
            (Some(n), Some(known)) if n != known => {
                return Err(ClientError::Protocol {
                    what: "conflicting Content-Length values",
                });
            }
            (Some(n), _) => length = Some(n),
        }
    }
    Ok(length)
}

/// What `httparse` found wrong with a response head.
fn head_error(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::HeaderName => "malformed response head: invalid header name",
        httparse::Error::HeaderValue => "malformed response head: invalid header value",
        httparse::Error::NewLine => "malformed response head: invalid line ending",
        httparse::Error::Status => "malformed response head: invalid status line",
        httparse::Error::Token => "malformed response head: invalid token",
        httparse::Error::TooManyHeaders => "response head has more than 64 header fields",
        httparse::Error::Version => "malformed response head: not HTTP/1.x",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> Head {
        parse_response(bytes).unwrap().expect("a complete head")
    }

    fn error(bytes: &[u8]) -> &'static str {
        match parse_response(bytes) {
            Err(ClientError::Protocol { what }) => what,
            other => panic!("expected a protocol error, got {other:?}"),
        }
    }

    #[test]
    fn request_head_has_host_headers_and_body_length() {
        let ours = [
            (
                HeaderName::from_static("accept"),
                HeaderValue::from_static("text/event-stream"),
            ),
            (HeaderName::from_static("x-a"), HeaderValue::from_static("1")),
        ];
        let targets = [(HeaderName::from_static("x-a"), HeaderValue::from_static("2"))];
        let host = HeaderValue::from_static("example.test:8080");
        let get = request(&Method::GET, "/sse?x=1", &host, &[&ours, &targets], b"");
        assert_eq!(
            String::from_utf8(get).unwrap(),
            "GET /sse?x=1 HTTP/1.1\r\nhost: example.test:8080\r\naccept: text/event-stream\r\nx-a: 2\r\n\r\n"
        );
        let post = request(&Method::POST, "/v1", &host, &[], b"{}");
        assert_eq!(
            String::from_utf8(post).unwrap(),
            "POST /v1 HTTP/1.1\r\nhost: example.test:8080\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn response_head_is_parsed_only_once_complete() {
        let bytes =
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n";
        let len = bytes.len() - 3;
        for cut in 0..len {
            assert_eq!(parse_response(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
        let parsed = head(bytes);
        assert_eq!(parsed.status, StatusCode::OK);
        assert_eq!(parsed.content_type, b"text/event-stream");
        assert_eq!(parsed.framing, Framing::Chunked);
        assert_eq!(parsed.len, len);
    }

    #[test]
    fn framing_follows_the_headers() {
        let framing = |fields: &str| head(format!("HTTP/1.1 200 OK\r\n{fields}\r\n").as_bytes()).framing;
        assert_eq!(framing(""), Framing::Close);
        assert_eq!(framing("content-length: 12\r\n"), Framing::Length(12));
        assert_eq!(
            framing("content-length: 12, 12\r\ncontent-length: 12\r\n"),
            Framing::Length(12)
        );
        assert_eq!(framing("transfer-encoding: gzip, Chunked\r\n"), Framing::Chunked);
        assert_eq!(framing("transfer-encoding: chunked, gzip\r\n"), Framing::Close);
        // Transfer-Encoding wins over Content-Length.
        assert_eq!(
            framing("content-length: 3\r\ntransfer-encoding: chunked\r\n"),
            Framing::Chunked
        );
        let no_body = head(b"HTTP/1.1 204 No Content\r\ncontent-length: 9\r\n\r\n");
        assert_eq!(no_body.framing, Framing::Length(0));
        assert!(head(b"HTTP/1.1 100 Continue\r\n\r\n").is_interim());
        assert!(!head(b"HTTP/1.1 101 Switching Protocols\r\n\r\n").is_interim());
    }

    #[test]
    fn malformed_heads_are_protocol_errors() {
        assert_eq!(
            error(b"HTTP/2 200 OK\r\n\r\n"),
            "malformed response head: not HTTP/1.x"
        );
        assert_eq!(
            error(b"HTTP/1.1 2x0 OK\r\n\r\n"),
            "malformed response head: invalid status line"
        );
        assert_eq!(
            error(b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n"),
            "malformed response head: invalid header name"
        );
        assert_eq!(
            error(b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"),
            "invalid Content-Length"
        );
        assert_eq!(
            error(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            "conflicting Content-Length values"
        );
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "a: b\r\n".repeat(65));
        assert_eq!(
            error(many.as_bytes()),
            "response head has more than 64 header fields"
        );
        assert_eq!(
            error(b"HTTP/1.1 099 Odd\r\n\r\n"),
            "response status code out of range"
        );
    }
}
