//! The SSE client of the load generator: a WHATWG streaming parser, HTTP/1.1 streams read by the client itself, HTTP/2 streams on hyper.
//!
//! * [`parser`]: bytes in arbitrary chunks → [`Item`]s (events, comments, `retry`), no
//!   allocation per event.
//! * [`conn`]: one SSE stream ([`connect`] → [`SseConnection`]): time to headers, then
//!   [`SseConnection::read`] read by read with receive times; clean end vs reset.
//! * `http1`: HTTP/1.1 for streams, spoken on the socket (plain or TLS): the request,
//!   the response head (`httparse`), chunked / length / close framing decoded in place.
//! * [`http`]: `GET` (JSON) and `POST` on hyper, for `/metrics` and `/publish`.
//! * [`transport`]: the resolved [`Target`] and the hyper connection driven in the
//!   caller's task (no task spawned per connection).
//! * [`protocol`]: HTTP/1.1 or HTTP/2 (N streams per connection) for streams.
//! * `http2`: HTTP/2 connections shared by streams, N per connection.
//! * [`tls`]: `https://` with rustls (system roots, `--ca-file`, `--insecure`).
//! * [`error`]: [`ClientError`], with a stable [`ClientError::kind`] to count errors by.
//!
//! No reqwest: an HTTP/1.1 stream costs one socket, one task and the parser's buffers (its
//! reads share the thread's one 16 KiB buffer); an HTTP/2 stream (hyper's `client::conn::http2`) a task and the
//! parser's buffers on a shared socket.

pub mod conn;
pub mod error;
pub mod http;
pub(crate) mod http1;
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
