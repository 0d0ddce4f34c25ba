//! Accepting clients, and socket IO that fails writes pending past `send_timeout`.
//!
//! ## Slow clients
//! hyper stops polling a response body while its socket is not writable, so a client
//! that stops reading can never be noticed from inside the body stream: ending the
//! stream would leave the socket, its fd and its buffers in place forever, and graceful
//! shutdown would wait on it. The timeout is therefore enforced where the bytes are
//! written: [`ClientIo`] fails any write that has been pending for `send_timeout`, hyper
//! drops the connection, and the fd is closed. This covers event frames and keep-alive
//! pings alike, and it is counted as `clients_evicted`.
//!
//! The timer starts at the first write the kernel could not take (a write that returns
//! `Pending`) and restarts whenever a write completes. Two things keep the eviction
//! close to `send_timeout` and really free:
//!
//! * The socket's send buffer is capped (`--send-buffer`, default 64 KiB, which Linux
//!   doubles), so a frozen client fills it within moments instead of after megabytes of
//!   autotuned buffer (about 6 s at 256 KB/s with 1.6 MB of buffer).
//! * An evicted connection is closed with `SO_LINGER` 0: the kernel sends a reset and
//!   drops the unsent data at once. A plain close would leave the socket in FIN-WAIT-1
//!   holding its whole send buffer, and the client would never learn it was dropped.
//!
//! While a client is frozen, nothing of the hub waits for it (broadcast never blocks the
//! publisher) and its backlog is bounded by the socket buffers plus the hub's channel.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::metrics::{Counters, bump};

/// Accepts TCP connections and wraps each in a [`ClientIo`].
#[derive(Debug)]
pub struct ClientListener {
    tcp: TcpListener,
    send_timeout: Duration,
    send_buffer: Option<usize>,
    counters: Arc<Counters>,
    hard_stop: CancellationToken,
}

impl ClientListener {
    /// Wraps a bound listener. `hard_stop` aborts every pending write when cancelled
    /// (used when the shutdown grace runs out).
    pub fn new(
        tcp: TcpListener,
        send_timeout: Duration,
        send_buffer: Option<usize>,
        counters: Arc<Counters>,
        hard_stop: CancellationToken,
    ) -> Self {
        Self {
            tcp,
            send_timeout,
            send_buffer,
            counters,
            hard_stop,
        }
    }

    /// The next client; accept errors (EMFILE and friends) are logged and retried after
    /// a short back-off instead of spinning.
    ///
    /// # Cancel safety
    /// Cancel safe: a connection is either returned or still in the kernel's queue.
    pub async fn accept(&mut self) -> (ClientIo, SocketAddr) {
        loop {
            match self.tcp.accept().await {
                Ok((stream, addr)) => {
                    // Events are small and latency matters more than packet count.
                    let _ = stream.set_nodelay(true);
                    if let Some(size) = self.send_buffer {
                        let _ = SockRef::from(&stream).set_send_buffer_size(size);
                    }
                    return (self.client_io(stream), addr);
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed; retrying in 50 ms");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// The bound address.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    fn client_io(&self, stream: TcpStream) -> ClientIo {
        let mut io = TimeoutStream::new(stream);
        io.set_write_timeout(Some(self.send_timeout));
        ClientIo {
            io: Box::pin(io),
            hard_stop: Box::pin(self.hard_stop.clone().cancelled_owned()),
            evicted: false,
            counters: OpenConnection::enter(Arc::clone(&self.counters)),
        }
    }
}

/// A client socket: counts writes, and fails a write pending longer than the send timeout.
#[derive(Debug)]
pub struct ClientIo {
    io: Pin<Box<TimeoutStream<TcpStream>>>,
    hard_stop: Pin<Box<WaitForCancellationFutureOwned>>,
    evicted: bool,
    /// The server's counters, holding this connection in the `connections` gauge.
    /// Declared after `io`: fields drop in order, so the socket is closed before the
    /// connection leaves the gauge, and `/metrics` never counts a connection as gone
    /// while its descriptor is still open.
    counters: OpenConnection,
}

/// The server's counters, with one connection in the `connections` gauge until dropped.
#[derive(Debug)]
struct OpenConnection(Arc<Counters>);

impl OpenConnection {
    /// Counts one more open connection in `counters`.
    fn enter(counters: Arc<Counters>) -> Self {
        counters.connections.fetch_add(1, Ordering::Relaxed);
        Self(counters)
    }
}

impl std::ops::Deref for OpenConnection {
    type Target = Counters;

    fn deref(&self) -> &Counters {
        &self.0
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ClientIo {
    /// Accounts for the outcome of one write attempt.
    fn account(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        match poll {
            Poll::Ready(Ok(n)) => {
                bump(&self.counters.write_calls);
                self.counters.bytes_written.fetch_add(n as u64, Ordering::Relaxed);
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(err)) => {
                if err.kind() == io::ErrorKind::TimedOut && !self.evicted {
                    self.evicted = true;
                    self.abort_on_close();
                    bump(&self.counters.clients_evicted);
                    tracing::debug!("client evicted: write pending past send_timeout");
                }
                Poll::Ready(Err(err))
            }
            Poll::Pending => self.pending_write(cx),
        }
    }

    /// Makes the coming close a reset (`SO_LINGER` 0): the kernel drops the unsent data
    /// at once instead of keeping the socket in FIN-WAIT-1 with its send buffer, and the
    /// client learns at once that it was dropped.
    fn abort_on_close(&self) {
        if let Err(err) = self.io.get_ref().set_zero_linger() {
            tracing::debug!(%err, "could not set SO_LINGER 0 on an aborted connection");
        }
    }

    /// A pending write fails at once when the shutdown grace has run out.
    fn pending_write<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        ready!(self.hard_stop.as_mut().poll(cx));
        self.abort_on_close();
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "shutdown grace elapsed",
        )))
    }
}

impl AsyncRead for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.io.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = self.io.as_mut().poll_write(cx, buf);
        self.account(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = self.io.as_mut().poll_write_vectored(cx, bufs);
        self.account(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io.as_mut().poll_flush(cx) {
            Poll::Pending => self.pending_write(cx),
            done => done,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.io.as_mut().poll_shutdown(cx) {
            Poll::Pending => self.pending_write(cx),
            done => done,
        }
    }
}
