//! One request's connection on hyper: the resolved [`Target`], the TCP connect, and driving an HTTP/1.1 connection in the caller's task (or leasing a shared HTTP/2 one).
//!
//! hyper's client splits a connection into a request sender and a connection future that
//! does the IO. Instead of spawning a task per connection for that future, `Transport`
//! polls it beside whatever the caller awaits (the response, the next body frame): one
//! task and one wake-up per chunk instead of two, which matters with 10,000 streams on
//! two cores, and nothing keeps running once the connection is dropped.
//!
//! An HTTP/2 target ([`Target::with_protocol`]) shares connections between streams
//! (the `http2` module): its connection's IO runs in a task of its own, and `Transport`
//! only holds the stream's lease on it.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HOST, HeaderName};
use http::uri::{PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

use super::error::{BODY_EXCERPT_LEN, ClientError};
use super::http2::{self, Lease, Pool};
pub(crate) use super::protocol::Body;
use super::protocol::Protocol;
use super::tls::{self, Stream};

type Connection = http1::Connection<TokioIo<Stream>, Body>;

/// A server endpoint resolved once: its socket address, `Host` header and path.
///
/// Resolve a URL once and open many connections to it without parsing or resolving again.
/// Headers set with [`Target::with_headers`] go with every request (after the client's
/// own, so they win); mark secret values sensitive and `Debug` never prints them.
/// `https://` targets use the process's TLS configuration ([`tls::default_config`]).
/// Streams use HTTP/1.1 unless [`Target::with_protocol`] chose HTTP/2; clones of an HTTP/2
/// target share its connections.
#[derive(Clone)]
pub struct Target {
    uri: Uri,
    addr: SocketAddr,
    authority: HeaderValue,
    path_and_query: PathAndQuery,
    headers: Arc<[(HeaderName, HeaderValue)]>,
    /// For `https://`: the connector and the name the certificate must carry.
    tls: Option<(tokio_rustls::TlsConnector, rustls::pki_types::ServerName<'static>)>,
    protocol: Protocol,
    /// The shared connections of an HTTP/2 target.
    pool: Option<Arc<Pool>>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("uri", &self.uri)
            .field("addr", &self.addr)
            .field("headers", &self.headers)
            .field("tls", &self.tls.is_some())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Target {
    /// Checks `url` (`http://` or `https://host[:port]/path?query`) and resolves its host.
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] for another scheme or a missing host;
    /// [`ClientError::Resolve`] when the host does not resolve.
    pub async fn resolve(url: &Uri) -> Result<Self, ClientError> {
        let invalid = |reason| ClientError::InvalidUrl {
            url: url.to_string(),
            reason,
        };
        let https = url.scheme() == Some(&Scheme::HTTPS);
        if url.scheme() != Some(&Scheme::HTTP) && !https {
            return Err(invalid(
                "only http:// and https:// URLs are supported; write http://host:port/path",
            ));
        }
        let authority = url.authority().ok_or_else(|| invalid("the URL has no host"))?;
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = match bare_host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port),
            Err(_) => {
                let resolve_error = |source| ClientError::Resolve {
                    host: host.to_owned(),
                    source,
                };
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare_host, port))
                    .await
                    .map_err(resolve_error)?
                    .collect();
                // `localhost` often resolves to ::1 first while servers listen on 127.0.0.1.
                addrs
                    .iter()
                    .find(|a| a.is_ipv4())
                    .or(addrs.first())
                    .copied()
                    .ok_or_else(|| {
                        resolve_error(std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no address found",
                        ))
                    })?
            }
        };
        let authority = HeaderValue::from_str(authority.as_str())
            .map_err(|_| invalid("the host is not a valid header"))?;
        let path_and_query = url
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        let tls = if https {
            let name = rustls::pki_types::ServerName::try_from(bare_host.to_owned())
                .map_err(|_| invalid("the host is not a valid TLS server name"))?;
            Some((tokio_rustls::TlsConnector::from(tls::default_config()), name))
        } else {
            None
        };
        Ok(Self {
            uri: url.clone(),
            addr,
            authority,
            path_and_query,
            headers: Arc::from([]),
            tls,
            protocol: Protocol::Http1,
            pool: None,
        })
    }

    /// The same target, opening streams with `protocol`: HTTP/2 over TLS offers only `h2`
    /// in ALPN; over `http://` it is spoken with prior knowledge. The HTTP/2 connections
    /// are new ones, shared by the clones of the returned target.
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self.pool = match protocol {
            Protocol::Http1 => None,
            Protocol::Http2 {
                streams_per_connection,
            } => Some(Arc::new(Pool::new(streams_per_connection.get()))),
        };
        // Only an `https://` target needs a TLS configuration (the first one built reads
        // the system's root certificates, which costs milliseconds).
        if let Some((connector, _)) = &mut self.tls {
            let config = match protocol {
                Protocol::Http1 => tls::default_config(),
                Protocol::Http2 { .. } => tls::http2_config(),
            };
            *connector = tokio_rustls::TlsConnector::from(config);
        }
        self
    }

    /// The protocol streams to this target use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The same target, sending `headers` with every request.
    pub fn with_headers(mut self, headers: Vec<(HeaderName, HeaderValue)>) -> Self {
        self.headers = headers.into();
        self
    }

    /// The same server with another path and query (`/metrics`, `/events?x=1`).
    ///
    /// # Errors
    /// [`ClientError::InvalidUrl`] when `path_and_query` is not a valid path.
    pub fn with_path(&self, path_and_query: &str) -> Result<Self, ClientError> {
        let path_and_query: PathAndQuery = path_and_query.parse().map_err(|_| ClientError::InvalidUrl {
            url: path_and_query.to_owned(),
            reason: "not a valid path and query (it must start with /)",
        })?;
        let mut parts = self.uri.clone().into_parts();
        parts.path_and_query = Some(path_and_query.clone());
        let uri = Uri::from_parts(parts).map_err(|_| ClientError::InvalidUrl {
            url: path_and_query.to_string(),
            reason: "not a valid path and query",
        })?;
        Ok(Self {
            uri,
            addr: self.addr,
            authority: self.authority.clone(),
            path_and_query,
            headers: Arc::clone(&self.headers),
            tls: self.tls.clone(),
            protocol: self.protocol,
            pool: self.pool.clone(),
        })
    }

    /// The URL this target was resolved from.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The server's socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A request for this target with the given headers set, and its host: HTTP/1.1 sends
    /// `Host` and the path; HTTP/2 the whole URL (its `:scheme` and `:authority`).
    pub(crate) fn request(
        &self,
        method: Method,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Request<Body> {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = method;
        if self.pool.is_some() {
            let mut parts = self.uri.clone().into_parts();
            parts.path_and_query = Some(self.path_and_query.clone());
            *request.uri_mut() = Uri::from_parts(parts).unwrap_or_else(|_| self.uri.clone());
        } else {
            *request.uri_mut() = Uri::from(self.path_and_query.clone());
            request.headers_mut().insert(HOST, self.authority.clone());
        }
        let map = request.headers_mut();
        for (name, value) in headers.iter().chain(self.headers.iter()) {
            map.insert(name.clone(), value.clone());
        }
        request
    }
}

impl Target {
    /// The bytes of an HTTP/1.1 request for this target (head and body, for one write):
    /// `Host`, then `headers`, then the target's own headers (which win), as
    /// [`Target::request`] sets them for hyper.
    pub(crate) fn http1_request(
        &self,
        method: &Method,
        headers: &[(HeaderName, HeaderValue)],
        body: &[u8],
    ) -> Vec<u8> {
        super::http1::request(
            method,
            self.path_and_query.as_str(),
            &self.authority,
            &[headers, &self.headers],
            body,
        )
    }
}

/// A connection for one request to `target`: over HTTP/1.1 a new TCP connection (from
/// `local_addr` when given) handed to hyper, over HTTP/2 a place on a shared connection.
/// Also returns the socket's local address.
pub(crate) async fn open(
    target: &Target,
    local_addr: Option<IpAddr>,
) -> Result<(Sender, Transport, Option<SocketAddr>), ClientError> {
    if let Some(pool) = &target.pool {
        let connect = async {
            let stream = socket(target, local_addr).await?;
            let local = stream.local_addr();
            Ok((stream, local))
        };
        let (sender, lease, local) = pool.lease(connect).await?;
        let transport = Transport {
            conn: None,
            conn_error: None,
            lease: Some(lease),
        };
        return Ok((Sender::Http2(sender), transport, local));
    }
    let stream = socket(target, local_addr).await?;
    let local = stream.local_addr();
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::hyper)?;
    Ok((
        Sender::Http1(sender),
        Transport {
            conn: Some(Box::pin(conn)),
            conn_error: None,
            lease: None,
        },
        local,
    ))
}

/// The socket to `target`: TCP (from `local_addr` when given), then TLS for `https://`.
/// Its local address is left to [`Stream::local_addr`]: a system call a reading client
/// does not need on every connect.
pub(crate) async fn socket(target: &Target, local_addr: Option<IpAddr>) -> Result<Stream, ClientError> {
    let addr = target.addr;
    let stream = match local_addr {
        None => TcpStream::connect(addr).await,
        Some(ip) => connect_from(ip, addr).await,
    }
    .map_err(|source| ClientError::connect(addr, source))?;
    // The client writes one small request; do not let Nagle hold it back.
    stream.set_nodelay(true).map_err(ClientError::io)?;
    let stream = match &target.tls {
        None => Stream::Plain(stream),
        Some((connector, name)) => Stream::Tls(Box::new(
            connector
                .connect(name.clone(), stream)
                .await
                .map_err(|source| ClientError::Tls { addr, source })?,
        )),
    };
    Ok(stream)
}

/// The request half of a connection: HTTP/1.1 (this request's own) or HTTP/2 (shared).
#[derive(Debug)]
pub(crate) enum Sender {
    /// An HTTP/1.1 connection.
    Http1(http1::SendRequest<Body>),
    /// A stream of an HTTP/2 connection.
    Http2(http2::Sender),
}

impl Sender {
    /// Whether the connection has closed (no request can be sent on it).
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::Http1(sender) => sender.is_closed(),
            Self::Http2(sender) => sender.is_closed(),
        }
    }
}

/// Connects from source address `ip` (any port), e.g. another address of 127.0.0.0/8
/// when the ephemeral ports of 127.0.0.1 run short.
async fn connect_from(ip: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if ip.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    bind_address_no_port(&socket);
    socket.bind(SocketAddr::new(ip, 0))?;
    socket.connect(addr).await
}

/// Asks Linux to pick the source port at `connect` rather than at `bind`, so a port is
/// shared by connections to different servers instead of being reserved by `bind(ip, 0)`.
/// Best effort: other systems, or an error, leave the default behaviour.
#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let one: libc::c_int = 1;
    // SAFETY: the fd is a live socket owned by `socket`; the option value is a valid
    // c_int whose size is passed along. A failure is harmless and ignored.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) {}

/// The IO half of a hyper connection, polled by whoever awaits the response or the body.
pub(crate) struct Transport {
    /// `None` once the connection future has completed.
    conn: Option<Pin<Box<Connection>>>,
    /// The connection's own error, more specific than what its body reports.
    conn_error: Option<hyper::Error>,
    /// The stream's place on a shared HTTP/2 connection (whose IO runs in its own task).
    lease: Option<Lease>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("open", &self.conn.is_some())
            .field("conn_error", &self.conn_error)
            .field("http2", &self.lease.is_some())
            .finish()
    }
}

impl Transport {
    /// Awaits `fut` while driving the connection's IO.
    ///
    /// # Cancel safety
    /// Cancel-safe when `fut` is: the connection lives in `self`, not in this future.
    pub(crate) async fn drive<F: Future>(&mut self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return fut.await;
            };
            tokio::select! {
                biased;
                output = &mut fut => return output,
                result = conn.as_mut() => {
                    self.conn = None;
                    if let Err(err) = result {
                        self.conn_error = Some(err);
                    }
                }
            }
        }
    }

    /// The error to report for `err` from the response or body: the connection's own
    /// error when `err` only says "connection error".
    pub(crate) fn error(&mut self, err: hyper::Error) -> ClientError {
        let classified = ClientError::hyper(err);
        match self.conn_error.take() {
            Some(conn_error) if classified.is_generic() => ClientError::hyper(conn_error),
            _ => classified,
        }
    }

    /// The connection's own error, if it failed (taken).
    pub(crate) fn take_conn_error(&mut self) -> Option<ClientError> {
        self.conn_error.take().map(ClientError::hyper)
    }

    /// Waits until `sender` can take a request (the previous answer is complete).
    pub(crate) async fn ready(&mut self, sender: &mut Sender) -> Result<(), ClientError> {
        let ready = match sender {
            Sender::Http1(sender) => self.drive(sender.ready()).await,
            Sender::Http2(sender) => sender.ready().await,
        };
        ready.map_err(|err| self.error(err))
    }

    /// Sends `request` and awaits the response headers.
    pub(crate) async fn send(
        &mut self,
        sender: &mut Sender,
        request: Request<Body>,
    ) -> Result<http::Response<Incoming>, ClientError> {
        let response = match sender {
            Sender::Http1(sender) => self.drive(sender.send_request(request)).await,
            Sender::Http2(sender) => sender.send_request(request).await,
        };
        response.map_err(|err| self.error(err))
    }

    /// Reads the body to its end, or its first `limit` bytes.
    /// The error for a response with status `status`: its body's first bytes as the excerpt.
    pub(crate) async fn status_error(&mut self, status: StatusCode, body: &mut Incoming) -> ClientError {
        let excerpt = self.read_body(body, BODY_EXCERPT_LEN).await.unwrap_or_default();
        ClientError::Status {
            status,
            body_excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
        }
    }

    pub(crate) async fn read_body(
        &mut self,
        body: &mut Incoming,
        limit: usize,
    ) -> Result<Bytes, ClientError> {
        let mut collected = BytesMut::new();
        while collected.len() < limit {
            match self.drive(body.frame()).await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = limit - collected.len();
                        collected.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(err)) => return Err(self.error(err)),
                None => match self.take_conn_error() {
                    Some(err) => return Err(err),
                    None => break,
                },
            }
        }
        Ok(collected.freeze())
    }
}
