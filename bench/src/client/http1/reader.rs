//! One HTTP/1.1 response read straight off the socket: the request written in one write, the head parsed, then the body decoded from a read buffer allocated once per connection.

use std::io;
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::framing::Decoder;
use super::head::{Head, parse_response};
use crate::client::error::ClientError;
use crate::client::tls::Stream;

/// The read buffer of a connection: one socket read takes at most this much, and a
/// response head must fit in it. 16 KiB holds a TLS record's plaintext whole and about
/// 80 events of 200 bytes; 10,000 streams hold 160 MiB of it at most (pages only become
/// resident once a read fills them).
pub(crate) const READ_BUFFER_LEN: usize = 16 * 1024;

/// An HTTP/1.1 response being read; see the module docs.
#[derive(Debug)]
pub(crate) struct Reader {
    io: Stream,
    /// Bytes read but not decoded yet: only body bytes that arrived with the head.
    buf: Vec<u8>,
    /// When the head arrived (the receive time of the body bytes that came with it).
    head_at: Instant,
    decoder: Decoder,
}

impl Reader {
    /// Writes `request` on `io` and reads the response head (skipping interim `1xx`
    /// answers). The body is left to [`Reader::read`].
    ///
    /// # Errors
    /// [`ClientError::Reset`], [`ClientError::Incomplete`] or [`ClientError::Io`] when the
    /// connection breaks; [`ClientError::Protocol`] for a malformed head or one larger than
    /// [`READ_BUFFER_LEN`].
    pub(crate) async fn open(mut io: Stream, request: &[u8]) -> Result<(Self, Head), ClientError> {
        io.write_all(request).await.map_err(ClientError::io)?;
        io.flush().await.map_err(ClientError::io)?;
        let mut buf = Vec::with_capacity(READ_BUFFER_LEN);
        let head = loop {
            if let Some(head) = parse_response(&buf)? {
                buf.drain(..head.len);
                if head.is_interim() {
                    continue;
                }
                break head;
            }
            if buf.len() == buf.capacity() {
                return Err(ClientError::Protocol {
                    what: "response head larger than the 16 KiB read buffer",
                });
            }
            if io.read_buf(&mut buf).await.map_err(ClientError::io)? == 0 {
                return Err(ClientError::io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection before the response head",
                )));
            }
        };
        let reader = Self {
            io,
            buf,
            head_at: Instant::now(),
            decoder: Decoder::new(head.framing),
        };
        Ok((reader, head))
    }

    /// Reads once from the socket and calls `on_data(payload, received_at)` for each
    /// payload slice in what arrived (`received_at` taken once, when the read returned).
    /// The first call decodes the body bytes that came with the head instead, if any.
    ///
    /// Returns `Ok(true)` while the body goes on, `Ok(false)` at its clean end.
    ///
    /// # Errors
    /// [`ClientError::Reset`] or [`ClientError::Io`] when the read fails,
    /// [`ClientError::Incomplete`] when the connection closes before the body's end,
    /// [`ClientError::Protocol`] for malformed chunked framing.
    ///
    /// # Cancel safety
    /// Cancel-safe: the only await is the socket read, and what it returns is decoded and
    /// reported before this call returns, in the same poll.
    pub(crate) async fn read(
        &mut self,
        on_data: &mut impl FnMut(&[u8], Instant),
    ) -> Result<bool, ClientError> {
        let received_at = if !self.buf.is_empty() {
            self.head_at
        } else if self.decoder.is_done() {
            return Ok(false);
        } else {
            if self.io.read_buf(&mut self.buf).await.map_err(ClientError::io)? == 0 {
                self.decoder.finish()?;
                return Ok(false);
            }
            Instant::now()
        };
        let decoded = self
            .decoder
            .decode(&self.buf, &mut |data| on_data(data, received_at));
        self.buf.clear();
        decoded.map(|()| true)
    }

    /// The local (source) address of the socket, when the OS reports it.
    pub(crate) fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.io.local_addr()
    }

    /// The first `limit` bytes of the body (fewer when it ends or breaks first), for the
    /// excerpt of an error answer.
    pub(crate) async fn excerpt(&mut self, limit: usize) -> Vec<u8> {
        let mut excerpt = Vec::new();
        while excerpt.len() < limit {
            let mut keep = |data: &[u8], _| {
                let room = limit - excerpt.len();
                excerpt.extend_from_slice(&data[..data.len().min(room)]);
            };
            if !matches!(self.read(&mut keep).await, Ok(true)) {
                break;
            }
        }
        excerpt
    }
}
