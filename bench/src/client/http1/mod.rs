//! HTTP/1.1 for SSE streams, spoken by the client itself on the socket: the request, the response head and the body's framing.
//!
//! hyper's client hands a body over one frame per HTTP chunk, through a channel and a
//! wake-up each; a server that sends an event per chunk makes that the generator's main
//! cost. Here one socket read, however many chunks it holds, is decoded in place and its
//! payload fed straight to the SSE parser: no task, channel or copy per chunk, and no
//! allocation after the connection's read buffer.
//!
//! * `head`: the request bytes, and the response head (`httparse`) with its framing.
//! * `framing`: chunked, `Content-Length` and close-delimited bodies, split anywhere.
//! * `reader`: the socket (plain or TLS), its read buffer, and the two put together.
//!
//! HTTP/2 streams, and the `/metrics` and `/publish` requests, stay on hyper.

mod framing;
mod head;
mod reader;

pub(crate) use head::request;
pub(crate) use reader::{READ_BUFFER_LEN, Reader};
