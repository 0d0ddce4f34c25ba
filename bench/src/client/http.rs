//! Plain HTTP requests on the same hyper stack: `GET /metrics` as JSON, `POST /publish`, one-shot or keep-alive.
//!
//! The free functions open a connection per call (fine for a metrics sample per second);
//! [`HttpConnection`] keeps one connection open for a stream of requests (a publisher
//! at a fixed rate), reconnecting when the server has closed it between requests.
//!
//! Every request is bounded by a timeout ([`REQUEST_TIMEOUT`] for the free functions).
//! A status outside 2xx is [`ClientError::Status`] with the start of the body.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderValue, Method, Uri};

use super::error::ClientError;
use super::transport::{self, Sender, Target, Transport};

/// The time limit of one request made with [`get`], [`get_json`] or [`post`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Response bodies are read up to this size; a longer body is cut (and a JSON body cut
/// so fails to parse). `/metrics` answers are well under 1 KiB.
pub const MAX_BODY_LEN: usize = 16 << 20;

/// `GET url`; the body of a 2xx answer.
///
/// # Errors
/// URL, connection and timeout errors, or [`ClientError::Status`] for a non-2xx answer.
pub async fn get(url: &Uri) -> Result<Bytes, ClientError> {
    let target = Target::resolve(url).await?;
    HttpConnection::new(target, REQUEST_TIMEOUT).get().await
}

/// `GET url` and parse the body as JSON (`/metrics`).
///
/// # Errors
/// As [`get`], plus [`ClientError::Json`] when the body is not JSON.
pub async fn get_json(url: &Uri) -> Result<serde_json::Value, ClientError> {
    let target = Target::resolve(url).await?;
    HttpConnection::new(target, REQUEST_TIMEOUT).get_json().await
}

/// `POST url` with `body` (`/publish?event=x`); the body of a 2xx answer (`{"id":N}`).
///
/// # Errors
/// URL, connection and timeout errors, or [`ClientError::Status`] for a non-2xx answer.
pub async fn post(url: &Uri, body: impl Into<Bytes>) -> Result<Bytes, ClientError> {
    let target = Target::resolve(url).await?;
    HttpConnection::new(target, REQUEST_TIMEOUT)
        .post(body.into())
        .await
}

/// A keep-alive HTTP/1.1 connection to one target, opened on first use.
///
/// Requests are sequential (`&mut self`). Its IO only progresses while a request is being
/// awaited, which is all HTTP/1.1 needs between requests.
#[derive(Debug)]
pub struct HttpConnection {
    target: Target,
    timeout: Duration,
    open: Option<(Sender, Transport)>,
    connects: u64,
}

impl HttpConnection {
    /// A connection to `target` (not opened yet); each request is limited to `timeout`.
    pub fn new(target: Target, timeout: Duration) -> Self {
        Self {
            target,
            timeout,
            open: None,
            connects: 0,
        }
    }

    /// How many TCP connections this has opened (1 while keep-alive holds).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The target requests go to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// `GET` the target; the body of a 2xx answer.
    ///
    /// # Errors
    /// As [`get`].
    pub async fn get(&mut self) -> Result<Bytes, ClientError> {
        self.request(Method::GET, Bytes::new()).await
    }

    /// `GET` the target and parse the body as JSON.
    ///
    /// # Errors
    /// As [`get_json`].
    pub async fn get_json(&mut self) -> Result<serde_json::Value, ClientError> {
        let body = self.get().await?;
        serde_json::from_slice(&body).map_err(|source| ClientError::Json {
            url: self.target.uri().to_string(),
            source,
        })
    }

    /// `POST` `body` to the target; the body of a 2xx answer.
    ///
    /// # Errors
    /// As [`post`].
    pub async fn post(&mut self, body: Bytes) -> Result<Bytes, ClientError> {
        self.request(Method::POST, body).await
    }

    /// Sends one request and reads the whole answer; a 2xx answer's body.
    ///
    /// # Errors
    /// Connection and timeout errors, or [`ClientError::Status`] for a non-2xx answer.
    /// After an error the connection is closed; the next request opens a new one.
    pub async fn request(&mut self, method: Method, body: Bytes) -> Result<Bytes, ClientError> {
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.exchange(method, body))
            .await
            .unwrap_or(Err(ClientError::Timeout {
                phase: "HTTP request",
                after: timeout,
            }))
    }

    /// One request on the kept connection (or a new one). The connection is put back only
    /// after a complete answer, so any error leaves none behind.
    async fn exchange(&mut self, method: Method, body: Bytes) -> Result<Bytes, ClientError> {
        let (mut sender, mut transport) = match self.open.take() {
            Some((sender, transport)) if !sender.is_closed() => (sender, transport),
            _ => {
                let (sender, transport, _) = transport::open(&self.target, None).await?;
                self.connects += 1;
                (sender, transport)
            }
        };
        transport.ready(&mut sender).await?;
        let mut headers = vec![(ACCEPT, HeaderValue::from_static("application/json, */*"))];
        if !body.is_empty() {
            headers.push((CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")));
        }
        let request = self.target.request(method, &headers, body);
        let response = transport.send(&mut sender, request).await?;
        let (parts, mut body) = response.into_parts();
        if !parts.status.is_success() {
            return Err(transport.status_error(parts.status, &mut body).await);
        }
        let bytes = transport.read_body(&mut body, MAX_BODY_LEN).await?;
        // A body cut at the limit leaves bytes unread: the connection cannot carry
        // another request then.
        if bytes.len() < MAX_BODY_LEN {
            self.open = Some((sender, transport));
        }
        Ok(bytes)
    }
}
