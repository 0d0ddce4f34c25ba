//! One HTTP/1.1 response read straight off the socket: the request written in one write, the head parsed, then the body decoded from a read buffer each reader thread shares among its connections.
//!
//! The head is read into a buffer of the connection's own, freed once the body bytes that
//! came with the head are decoded. After that every socket read lands in the thread's one
//! scratch buffer and is decoded in the same poll, before any other connection of the
//! thread can read: the decoder keeps what a partial frame needs, so nothing stays in the
//! buffer between reads. A thousand streams then touch one warm 16 KiB buffer instead of a
//! thousand cold ones, and hold no read buffer while idle.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};

use super::framing::Decoder;
use super::head::{Head, parse_response};
use crate::client::error::ClientError;
use crate::client::tls::Stream;

/// The read buffer: one socket read takes at most this much, and a response head must
/// fit in it. 16 KiB holds a TLS record's plaintext whole and about 80 events of 200 bytes.
pub(crate) const READ_BUFFER_LEN: usize = 16 * 1024;

thread_local! {
    /// The body read buffer of every connection read on this thread (see the module docs).
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_BUFFER_LEN].into_boxed_slice());
}

/// Runs `f` on this thread's scratch buffer (on a buffer of its own in the one case the
/// scratch is already lent: a read started from inside another read's callback).
fn with_scratch<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => f(&mut scratch),
        Err(_) => f(&mut vec![0; READ_BUFFER_LEN]),
    })
}

/// An HTTP/1.1 response being read; see the module docs.
#[derive(Debug)]
pub(crate) struct Reader {
    io: Stream,
    /// Bytes read but not decoded yet: only body bytes that arrived with the head (the
    /// head's buffer, freed once they are decoded).
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
        if buf.is_empty() {
            // Nothing of the body came with the head: the thread's scratch buffer takes it all.
            buf = Vec::new();
        }
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
        if !self.buf.is_empty() {
            let received_at = self.head_at;
            let decoded = self
                .decoder
                .decode(&self.buf, &mut |data| on_data(data, received_at));
            // Every later read goes to the thread's scratch buffer.
            self.buf = Vec::new();
            return decoded.map(|()| true);
        }
        if self.decoder.is_done() {
            return Ok(false);
        }
        let Self { io, decoder, .. } = self;
        std::future::poll_fn(|cx| {
            with_scratch(|scratch| {
                let mut read = ReadBuf::new(scratch);
                match Pin::new(&mut *io).poll_read(cx, &mut read) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(err)) => Poll::Ready(Err(ClientError::io(err))),
                    Poll::Ready(Ok(())) if read.filled().is_empty() => {
                        Poll::Ready(decoder.finish().map(|()| false))
                    }
                    Poll::Ready(Ok(())) => {
                        let received_at = Instant::now();
                        let decoded = decoder.decode(read.filled(), &mut |data| on_data(data, received_at));
                        Poll::Ready(decoded.map(|()| true))
                    }
                }
            })
        })
        .await
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

#[cfg(test)]
mod tests {
    use super::{READ_BUFFER_LEN, with_scratch};

    #[test]
    fn a_read_inside_a_read_gets_a_buffer_of_its_own() {
        with_scratch(|outer| {
            outer[0] = 1;
            let outer_at = outer.as_ptr();
            with_scratch(|inner| {
                assert_eq!(inner.len(), READ_BUFFER_LEN);
                assert_ne!(inner.as_ptr(), outer_at, "the lent scratch buffer was lent twice");
            });
        });
        // Lent again once the outer read has returned.
        let first = with_scratch(|b| b.as_ptr() as usize);
        assert_eq!(with_scratch(|b| b.as_ptr() as usize), first);
    }
}
