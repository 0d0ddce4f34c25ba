//! Frozen clients: raw TCP sockets with a tiny receive buffer that send a request and never read.
//!
//! They stand for the clients a server must not wait for: once the server's send
//! buffer towards them is full, its writes stay pending and the server should evict
//! them after its send timeout. The eviction is observed from the server side
//! (`/metrics` `clients_evicted`, polled) and confirmed from the client side at the end:
//! draining an evicted socket reaches end-of-file, while a socket the server still
//! feeds keeps delivering data.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http::Uri;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::client::get_json;
use crate::measure::histogram::{new_histogram, record};
use crate::measure::server::flatten;

/// Receive buffer asked for (the kernel rounds it up to its minimum).
const TINY_RCVBUF: u32 = 2048;

/// How often the server's eviction counter is polled.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// How long draining a socket may take before it counts as still fed by the server.
const DRAIN_LIMIT: Duration = Duration::from_secs(1);

/// A connected frozen client.
#[derive(Debug)]
pub struct Frozen {
    stream: TcpStream,
}

/// Connects to `addr` and sends `GET path_and_query`, then reads nothing.
///
/// # Errors
/// Connecting or sending the request failed.
pub async fn connect(addr: SocketAddr, host: &str, path_and_query: &str) -> std::io::Result<Frozen> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_recv_buffer_size(TINY_RCVBUF)?;
    let mut stream = socket.connect(addr).await?;
    let request =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    Ok(Frozen { stream })
}

impl Frozen {
    /// Drains the socket: `true` when it reaches end-of-file or an error (the server
    /// closed it) within a second, `false` when data keeps coming.
    pub async fn closed_by_server(mut self) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let drain = async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return true,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(DRAIN_LIMIT, drain).await.unwrap_or(false)
    }
}

/// What the eviction watcher saw.
#[derive(Debug)]
pub struct Evictions {
    /// Evictions counted by the server since the watcher started.
    pub evicted: u64,
    /// Time from `since` until all `expected` were evicted.
    pub all_after: Option<Duration>,
    /// Per eviction: `since` → the poll that first saw it (µs).
    pub latencies: Histogram<u64>,
}

/// Polls `metrics` until the server's `clients_evicted` grew by `expected` past
/// `evicted_before` (the count read before the frozen clients connected; `None`: the
/// first poll's) or `stop` fires.
pub async fn watch_evictions(
    metrics: Uri,
    expected: u64,
    evicted_before: Option<u64>,
    since: Instant,
    stop: CancellationToken,
) -> Evictions {
    let mut result = Evictions {
        evicted: 0,
        all_after: None,
        latencies: new_histogram(),
    };
    let mut base = evicted_before;
    loop {
        if let Ok(value) = get_json(&metrics).await {
            if let Some(now) = flatten(&value).and_then(|f| f.clients_evicted).map(|n| n as u64) {
                let base = *base.get_or_insert(now);
                let evicted = now.saturating_sub(base);
                for _ in result.evicted..evicted {
                    record(&mut result.latencies, since.elapsed());
                }
                result.evicted = result.evicted.max(evicted);
                if result.evicted >= expected {
                    result.all_after = Some(since.elapsed());
                    return result;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return result,
            () = tokio::time::sleep(POLL_EVERY) => {}
        }
    }
}
