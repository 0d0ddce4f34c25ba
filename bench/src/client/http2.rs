//! HTTP/2 connections shared by streams: a pool that puts up to N streams on each connection and opens the next when all are full.
//!
//! ## Sharing
//! A stream asks the [`Pool`] for a connection ([`Pool::lease`]): the first connection
//! with fewer than N streams open, else a new one. The [`Lease`] counts the stream on
//! its connection until the stream is dropped, so 1,000 streams at 100 per connection
//! use 10 connections, and a stream that reconnects finds its old place again. The first
//! stream of a connection opens it (TCP, TLS with ALPN `h2`, the HTTP/2 preface); the
//! others of the same connection wait for that one handshake, not for each other. When
//! the last stream of a connection ends, the pool lets the connection go and hyper closes
//! it (GOAWAY), as an HTTP/1.1 connection closes with its stream: a run's streams leave
//! no connection behind.
//!
//! ## Cost
//! Each connection's IO runs in one spawned task (hyper's connection future), which
//! wakes the task of every stream that received data. Per DATA frame, hyper hands the
//! stream one `Bytes` and releases its flow-control capacity as the frame is taken, so
//! a stream's window is as large as what it has not read yet.
//!
//! The pool's list is behind a `std` mutex held for a scan of at most
//! `clients / N` entries, once per stream opened, never across an `.await` and never per
//! event.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::OnceCell;

use super::error::ClientError;
use super::protocol::Body;
use super::tls::Stream;

/// The sending half of an HTTP/2 connection (cheap to clone, one per stream).
pub(crate) type Sender = http2::SendRequest<Body>;

/// The HTTP/2 connections of one target.
#[derive(Debug)]
pub(crate) struct Pool {
    per_connection: u32,
    connections: Mutex<Vec<Arc<Slot>>>,
}

/// One connection of the pool, opened by the first stream leased on it.
#[derive(Debug, Default)]
struct Slot {
    /// Streams leased on it now.
    streams: AtomicU32,
    /// The connection, once its handshake is done, with its local address.
    sender: OnceCell<(Sender, Option<SocketAddr>)>,
}

impl Slot {
    /// Whether the connection was opened and has closed since (a new stream must go elsewhere).
    fn is_closed(&self) -> bool {
        self.sender.get().is_some_and(|(sender, _)| sender.is_closed())
    }
}

/// A stream's place on a connection: counted there until dropped; the last one dropped
/// takes the connection out of the pool, which closes it.
#[derive(Debug)]
pub(crate) struct Lease {
    slot: Arc<Slot>,
    pool: Arc<Pool>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.slot.streams.fetch_sub(1, Ordering::Relaxed) == 1 {
            // Checked again under the lock: `place` may have counted a new stream here since.
            self.pool
                .connections()
                .retain(|slot| !Arc::ptr_eq(slot, &self.slot) || slot.streams.load(Ordering::Relaxed) > 0);
        }
    }
}

impl Pool {
    /// An empty pool putting up to `per_connection` streams on a connection.
    pub(crate) fn new(per_connection: u32) -> Self {
        Self {
            per_connection: per_connection.max(1),
            connections: Mutex::new(Vec::new()),
        }
    }

    /// A connection with room for one more stream: a sender for the stream's request, the
    /// lease to keep while the stream lives, and the connection's local address.
    /// `connect` opens the socket when a new connection is needed (it is dropped unpolled
    /// otherwise).
    ///
    /// # Errors
    /// Connecting or the HTTP/2 handshake failed; over TLS, the server did not agree to
    /// `h2` ([`ClientError::Http2`]). The connection is tried again by the next stream.
    pub(crate) async fn lease<F>(
        self: &Arc<Self>,
        connect: F,
    ) -> Result<(Sender, Lease, Option<SocketAddr>), ClientError>
    where
        F: Future<Output = Result<(Stream, Option<SocketAddr>), ClientError>>,
    {
        let lease = self.place();
        let (sender, local) = lease
            .slot
            .sender
            .get_or_try_init(|| handshake(connect))
            .await?
            .clone();
        Ok((sender, lease, local))
    }

    fn connections(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        self.connections.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a stream on the first connection with room, or on a new one.
    fn place(self: &Arc<Self>) -> Lease {
        let mut connections = self.connections();
        // A closed connection leaves the list once its last stream is gone.
        connections.retain(|slot| !(slot.is_closed() && slot.streams.load(Ordering::Relaxed) == 0));
        let open = connections
            .iter()
            .find(|slot| !slot.is_closed() && slot.streams.load(Ordering::Relaxed) < self.per_connection)
            .cloned();
        let slot = open.unwrap_or_else(|| {
            let slot = Arc::new(Slot::default());
            connections.push(Arc::clone(&slot));
            slot
        });
        slot.streams.fetch_add(1, Ordering::Relaxed);
        Lease {
            slot,
            pool: Arc::clone(self),
        }
    }

    /// Connections in the pool (open or opening).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.connections().len()
    }
}

/// Opens the socket, checks ALPN over TLS, runs the HTTP/2 handshake and spawns the
/// connection's IO task.
async fn handshake<F>(connect: F) -> Result<(Sender, Option<SocketAddr>), ClientError>
where
    F: Future<Output = Result<(Stream, Option<SocketAddr>), ClientError>>,
{
    let (stream, local) = connect.await?;
    if let Stream::Tls(tls) = &stream {
        let (_, session) = tls.get_ref();
        if session.alpn_protocol() != Some(b"h2") {
            return Err(ClientError::Http2 {
                source: "the server did not agree to h2 in the TLS handshake (ALPN); it may speak \
                         HTTP/1.1 only: use --protocol h1"
                    .into(),
            });
        }
    }
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(stream))
        .await
        .map_err(ClientError::hyper)?;
    tokio::spawn(async move {
        // Its streams see the error through their bodies; nothing more to do here.
        if let Err(err) = connection.await {
            tracing::debug!(%err, "HTTP/2 connection ended with an error");
        }
    });
    Ok((sender, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_fill_a_connection_before_the_next_opens() {
        let pool = Arc::new(Pool::new(3));
        let mut leases: Vec<Lease> = (0..7).map(|_| pool.place()).collect();
        assert_eq!(pool.len(), 3);
        let on_first = leases
            .iter()
            .filter(|l| Arc::ptr_eq(&l.slot, &leases[0].slot))
            .count();
        assert_eq!(on_first, 3);
        // A stream that ends frees its place: the next stream takes it, no new connection.
        let second = Arc::clone(&leases[3].slot);
        drop(leases.remove(3));
        assert_eq!(second.streams.load(Ordering::Relaxed), 2);
        let again = pool.place();
        assert!(Arc::ptr_eq(&again.slot, &second));
        assert_eq!(pool.len(), 3);
        // The last stream of a connection takes it out of the pool.
        drop(leases.pop());
        assert_eq!(pool.len(), 2);
        drop(leases);
        assert_eq!(pool.len(), 1);
        drop(again);
        assert_eq!(pool.len(), 0);
    }
}
