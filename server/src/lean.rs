//! Lean `/events` subscribers: once its head is sent, a plain HTTP/1.1 stream is a socket, its frame stream and one chunk being written, with no HTTP connection around it.
//!
//! A subscriber that [`crate::head`] judged lean is served by one small future
//! ([`serve`]) instead of a hyper connection: it holds the socket ([`crate::listener::ClientIo`]),
//! the same [`SseStream`] a hyper body would be (hub subscription, pings, the watcher's
//! end) and one chunk being written: no read buffer, no write buffer, no dispatcher.
//!
//! # Hot path
//! Per wake-up: every frame already due is taken from the stream (up to
//! [`MAX_FRAMES_PER_WRITE`]; a reference-count move each) and written as one HTTP/1.1
//! chunk with one vectored write: `<size>\r\n`, the frames, `\r\n`. Nothing is
//! allocated and no lock is held; the chunk's size line is formatted on the spot.
//!
//! # What holds as on the hyper path
//! * Eviction: the socket fails a write pending past `--send-timeout` (`SO_LINGER` 0,
//!   counted in `clients_evicted`); the subscriber ends and the socket is reset.
//! * Shutdown: the stream ends at the watcher's signal after what is already due; the
//!   last chunk (`0\r\n\r\n`) makes it a clean end, then the connection is closed.
//! * A client that closes is noticed at once: the socket's read side is polled
//!   whenever the subscriber is woken, into a small stack buffer (bytes a client sends
//!   after its head are read and dropped, as they could never be answered).

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use futures_util::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::{FrameSource, SseStream};

/// Frames written by one vectored write at most (hyper's limit is 16 too).
pub const MAX_FRAMES_PER_WRITE: usize = 16;

/// Ends a chunk.
const CRLF: &[u8] = b"\r\n";
/// Ends a chunk and the body (the last, empty chunk).
const CRLF_LAST_CHUNK: &[u8] = b"\r\n0\r\n\r\n";
/// The last chunk alone.
const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Serves `stream` on `io` (whose response head is already sent) until the stream ends,
/// the client closes or a write fails.
///
/// # Errors
/// The write error that ended the subscriber (e.g. the send timeout's).
pub async fn serve<I, S>(io: I, stream: SseStream<S>) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: FrameSource,
{
    Subscriber {
        io,
        stream,
        chunk: Chunk::default(),
        ended: false,
    }
    .await
}

/// One lean subscriber.
struct Subscriber<I, S> {
    io: I,
    stream: SseStream<S>,
    chunk: Chunk,
    /// The stream has ended; the chunk being written ends the body.
    ended: bool,
}

impl<I, S> Future for Subscriber<I, S>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: FrameSource,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if client_closed(&mut this.io, cx) {
            return Poll::Ready(Ok(()));
        }
        loop {
            while this.chunk.has_remaining() {
                let written = ready!(tokio_util::io::poll_write_buf(
                    Pin::new(&mut this.io),
                    cx,
                    &mut this.chunk
                ))?;
                if written == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
            }
            this.chunk.clear();
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            this.ended = this.chunk.gather(&mut this.stream, cx);
            if !this.chunk.has_remaining() {
                return Poll::Pending;
            }
        }
    }
}

/// Reads (and drops) what the client sent; `true` once it has closed or failed.
fn client_closed<I: AsyncRead + Unpin>(io: &mut I, cx: &mut Context<'_>) -> bool {
    let mut sink = [0u8; 64];
    loop {
        let mut buf = ReadBuf::new(&mut sink);
        match Pin::new(&mut *io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) if buf.filled().is_empty() => return true,
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => return true,
            Poll::Pending => return false,
        }
    }
}

/// The frames gathered for one write as one HTTP/1.1 chunk (`<size>\r\n`, the frames,
/// `\r\n`), followed by the last chunk once the stream has ended; a [`Buf`] of its
/// segments, written from the current segment and offset.
#[derive(Debug, Default)]
struct Chunk {
    /// The size in hex and CRLF.
    size_line: [u8; 18],
    size_len: u8,
    frames: [Bytes; MAX_FRAMES_PER_WRITE],
    count: u8,
    tail: &'static [u8],
    /// 0: the size line, 1..=count: the frames, count + 1: the tail.
    segment: u8,
    offset: usize,
}

impl Chunk {
    /// Takes every frame already due (up to the limit) and lays out the chunk; returns
    /// whether the stream has ended (then the last chunk follows).
    fn gather<S: FrameSource>(&mut self, stream: &mut SseStream<S>, cx: &mut Context<'_>) -> bool {
        let mut size = 0;
        let mut ended = false;
        while usize::from(self.count) < MAX_FRAMES_PER_WRITE {
            match Pin::new(&mut *stream).poll_next(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    // An empty frame would be read as the last chunk; frames never are.
                    if !frame.is_empty() {
                        size += frame.len();
                        self.frames[usize::from(self.count)] = frame;
                        self.count += 1;
                    }
                }
                Poll::Ready(None) => {
                    ended = true;
                    break;
                }
                Poll::Pending => break,
            }
        }
        self.tail = match (self.count, ended) {
            (0, false) => &[],
            (0, true) => LAST_CHUNK,
            (_, false) => CRLF,
            (_, true) => CRLF_LAST_CHUNK,
        };
        if self.count > 0 {
            self.size_len = hex_line(size, &mut self.size_line);
        }
        ended
    }

    /// Drops the frames written and starts an empty chunk.
    fn clear(&mut self) {
        for frame in &mut self.frames[..usize::from(self.count)] {
            *frame = Bytes::new();
        }
        self.count = 0;
        self.size_len = 0;
        self.tail = &[];
        self.segment = 0;
        self.offset = 0;
    }

    fn segments(&self) -> u8 {
        self.count + 2
    }

    fn segment(&self, index: u8) -> &[u8] {
        match index {
            0 => &self.size_line[..usize::from(self.size_len)],
            i if i <= self.count => &self.frames[usize::from(i - 1)],
            i if i == self.count + 1 => self.tail,
            _ => &[],
        }
    }
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        let all: usize = (self.segment..self.segments())
            .map(|i| self.segment(i).len())
            .sum();
        all - self.offset
    }

    fn chunk(&self) -> &[u8] {
        let mut offset = self.offset;
        for i in self.segment..self.segments() {
            let segment = &self.segment(i)[offset..];
            if !segment.is_empty() {
                return segment;
            }
            offset = 0;
        }
        &[]
    }

    fn advance(&mut self, mut cnt: usize) {
        while cnt > 0 && self.segment < self.segments() {
            let left = self.segment(self.segment).len() - self.offset;
            if cnt < left {
                self.offset += cnt;
                return;
            }
            cnt -= left;
            self.segment += 1;
            self.offset = 0;
        }
        assert_eq!(cnt, 0, "advanced past the end of the chunk");
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        let mut offset = self.offset;
        for i in self.segment..self.segments() {
            if filled == dst.len() {
                break;
            }
            let segment = &self.segment(i)[offset..];
            offset = 0;
            if !segment.is_empty() {
                dst[filled] = IoSlice::new(segment);
                filled += 1;
            }
        }
        filled
    }
}

/// Writes `size` in hex and CRLF into `line`; returns the length.
fn hex_line(size: usize, line: &mut [u8; 18]) -> u8 {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits = (usize::BITS - size.leading_zeros()).div_ceil(4).max(1) as usize;
    for (i, byte) in line[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - i);
        *byte = DIGITS[(size >> shift) & 0xf];
    }
    line[digits..digits + 2].copy_from_slice(CRLF);
    (digits + 2) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(chunk: &mut Chunk) -> Vec<u8> {
        let mut out = Vec::new();
        while chunk.has_remaining() {
            // Take at most 3 bytes a time: the cursor crosses segment boundaries.
            let n = chunk.chunk().len().min(3);
            out.extend_from_slice(&chunk.chunk()[..n]);
            chunk.advance(n);
        }
        out
    }

    #[test]
    fn size_lines_are_hex() {
        let mut line = [0u8; 18];
        for (size, text) in [(0, "0\r\n"), (9, "9\r\n"), (255, "ff\r\n"), (4096, "1000\r\n")] {
            let len = hex_line(size, &mut line);
            assert_eq!(&line[..usize::from(len)], text.as_bytes());
        }
        let len = hex_line(usize::MAX, &mut line);
        assert_eq!(usize::from(len), 18);
    }

    #[test]
    fn a_chunk_is_its_size_line_frames_and_crlf() {
        let mut chunk = Chunk::default();
        chunk.frames[0] = Bytes::from_static(b"data: a\n\n");
        chunk.frames[1] = Bytes::from_static(b": ping\n\n");
        chunk.count = 2;
        chunk.size_len = hex_line(17, &mut chunk.size_line);
        chunk.tail = CRLF_LAST_CHUNK;
        assert_eq!(chunk.remaining(), 4 + 17 + 7);
        let mut slices = [IoSlice::new(&[]); 8];
        assert_eq!(chunk.chunks_vectored(&mut slices), 4);
        assert_eq!(
            bytes_of(&mut chunk),
            b"11\r\ndata: a\n\n: ping\n\n\r\n0\r\n\r\n".to_vec()
        );
        chunk.clear();
        assert!(!chunk.has_remaining());
        assert!(
            chunk.frames.iter().all(Bytes::is_empty),
            "written frames are released"
        );
    }
}
