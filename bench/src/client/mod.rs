//! The SSE client of the load generator: a WHATWG streaming parser and HTTP/1.1 or HTTP/2 connections on hyper.
//!
//! * [`parser`]: bytes in arbitrary chunks → [`Item`]s (events, comments, `retry`), no
//!   allocation per event.
//! * [`conn`]: one SSE stream ([`connect`] → [`SseConnection`]): time to headers, then
//!   [`SseConnection::read`] chunk by chunk with receive times; clean end vs reset.
//! * [`http`]: `GET` (JSON) and `POST` on the same stack, for `/metrics` and `/publish`.
//! * [`transport`]: the resolved [`Target`] and the hyper connection driven in the
//!   caller's task (no task spawned per connection).
//! * [`protocol`]: HTTP/1.1 or HTTP/2 (N streams per connection) for streams.
//! * `http2`: HTTP/2 connections shared by streams, N per connection.
//! * [`tls`]: `https://` with rustls (system roots, `--ca-file`, `--insecure`).
//! * [`error`]: [`ClientError`], with a stable [`ClientError::kind`] to count errors by.
//!
//! No reqwest: hyper's `client::conn::http1` (or `http2`) over `tokio::net::TcpStream`, so
//! an HTTP/1.1 stream costs one socket, one task and the parser's buffers; an HTTP/2 stream
//! a task and the parser's buffers on a shared socket.

pub mod conn;
pub mod error;
pub mod http;
pub(crate) mod http2;
pub mod parser;
pub mod protocol;
pub mod tls;
pub mod transport;

pub use conn::{ConnectOptions, DEFAULT_CONNECT_TIMEOUT, SseConnection, connect};
pub use error::{ClientError, ErrorKind, StatusKind};
pub use http::{HttpConnection, get, get_json, post};
pub use parser::{Event, Item, Parser, event_number};
pub use protocol::Protocol;
pub use transport::Target;
