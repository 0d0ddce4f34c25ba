//! Eviction frees the socket: 200 frozen clients are reset within the send timeout and the kernel's TCP memory comes back.

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::util::{Process, SseReader, lean_flag, metrics, within};

const FROZEN: usize = 200;
const HEALTHY: usize = 5;
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Linux TCP states (include/net/tcp_states.h) that mean the peer ended the connection.
const TCP_CLOSE_WAIT: u8 = 8;
const TCP_CLOSE: u8 = 7;

/// Kernel memory of all TCP sockets, in pages (`/proc/net/sockstat`, `TCP: … mem N`).
fn tcp_mem_pages() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").expect("/proc/net/sockstat");
    let line = text.lines().find(|l| l.starts_with("TCP:")).expect("a TCP line");
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            return words.next().unwrap().parse().unwrap();
        }
    }
    panic!("no mem in {line:?}");
}

/// The TCP state of a socket, read without touching its receive queue.
fn tcp_state(stream: &TcpStream) -> u8 {
    // SAFETY: tcp_info is plain old data; getsockopt fills at most `len` bytes of it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        assert_eq!(rc, 0, "getsockopt(TCP_INFO)");
        info.tcpi_state
    }
}

/// A subscriber with a 4 KiB receive buffer that never reads.
async fn frozen_client(addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    stream
        .write_all(b"GET /events HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    stream
}

/// Reads events until one with an id of at least `until`; returns how many, all consecutive.
async fn read_in_order(mut reader: SseReader, until: watch::Receiver<u64>) -> (u64, SseReader) {
    let mut expected = None;
    let mut count = 0;
    loop {
        let event = reader.next().await.expect("a healthy stream stays open");
        let id = event.id.unwrap();
        if let Some(expected) = expected {
            assert_eq!(id, expected, "healthy reader: no gap, no duplicate");
        }
        expected = Some(id + 1);
        count += 1;
        let last = *until.borrow();
        if last > 0 && id >= last {
            return (count, reader);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_clients_are_reset_and_their_kernel_memory_freed_lean() {
    frozen_clients_are_reset_and_their_kernel_memory_freed(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_clients_are_reset_and_their_kernel_memory_freed_hyper() {
    frozen_clients_are_reset_and_their_kernel_memory_freed(false).await;
}

/// Opens `HEALTHY` subscribers, each reading in order on its own task until an event id of
/// at least the one sent on `until`.
async fn open_healthy_readers(
    addr: SocketAddr,
    until: &watch::Receiver<u64>,
) -> Vec<JoinHandle<(u64, SseReader)>> {
    let mut healthy = Vec::new();
    for _ in 0..HEALTHY {
        let reader = SseReader::open(addr, "/events", &[]).await;
        healthy.push(tokio::spawn(read_in_order(reader, until.clone())));
    }
    healthy
}

/// Opens `FROZEN` subscribers that never read, each with the time it connected.
async fn open_frozen_clients(addr: SocketAddr) -> Vec<(TcpStream, Instant)> {
    let mut frozen = Vec::with_capacity(FROZEN);
    for _ in 0..FROZEN {
        frozen.push((frozen_client(addr).await, Instant::now()));
    }
    frozen
}

/// How the frozen clients were dropped, and what they cost meanwhile.
struct Dropped {
    /// The longest a frozen client stayed connected.
    slowest: Duration,
    /// Frozen clients that saw a reset (rather than a FIN).
    reset: usize,
    /// Peak kernel TCP memory while they were dropped, in pages.
    mem_peak: u64,
    /// Peak server RSS while they were dropped, in MiB.
    rss_peak: f64,
}

/// Polls each frozen socket's state until the server's reset (or FIN) has arrived,
/// sampling kernel TCP memory and server RSS meanwhile.
async fn wait_until_dropped(addr: SocketAddr, frozen: &[(TcpStream, Instant)]) -> Dropped {
    let mut gone_after = vec![None; frozen.len()];
    let mut mem_peak = 0;
    let mut rss_peak: f64 = 0.0;
    within("every frozen client to be dropped", async {
        while gone_after.iter().any(Option::is_none) {
            mem_peak = mem_peak.max(tcp_mem_pages());
            rss_peak = rss_peak.max(metrics(addr).await.memory_rss_mb);
            for ((stream, connected), gone) in frozen.iter().zip(gone_after.iter_mut()) {
                if gone.is_none() && matches!(tcp_state(stream), TCP_CLOSE | TCP_CLOSE_WAIT) {
                    *gone = Some(connected.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let reset = frozen
        .iter()
        .filter(|(stream, _)| tcp_state(stream) == TCP_CLOSE)
        .count();
    let slowest = gone_after.iter().flatten().max().copied().unwrap();
    Dropped {
        slowest,
        reset,
        mem_peak,
        rss_peak,
    }
}

/// Waits for each healthy reader to reach the last event, asserting it got more than
/// 500, then keeps it reading on a new task (else it would be evicted in turn).
async fn assert_healthy_caught_up(healthy: Vec<JoinHandle<(u64, SseReader)>>) -> Vec<JoinHandle<()>> {
    let mut still_open = Vec::new();
    for reader in healthy {
        let (count, mut reader) = within("a healthy reader to catch up", reader).await.unwrap();
        assert!(count > 500, "a healthy reader got {count} events");
        still_open.push(tokio::spawn(async move { while reader.next().await.is_ok() {} }));
    }
    still_open
}

/// Waits until kernel TCP memory is back within 10% (at least 256 pages) of `mem_start`;
/// returns it then.
async fn wait_until_tcp_memory_back(mem_start: u64) -> u64 {
    within("kernel TCP memory to come back", async {
        loop {
            let mem = tcp_mem_pages();
            if mem <= mem_start + (mem_start / 10).max(256) {
                return mem;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
}

async fn frozen_clients_are_reset_and_their_kernel_memory_freed(lean: bool) {
    let _ = sse_server::limits::raise_fd_limit();
    let [flag, value] = lean_flag(lean);
    let server = Process::start(&[
        flag,
        value,
        "--send-timeout",
        "2s",
        "--publish-rate",
        "500",
        "--payload-size",
        "512",
        "--ping-interval",
        "0",
    ])
    .await;
    let addr = server.addr;
    let (last_tx, last_rx) = watch::channel(0u64);
    let healthy = open_healthy_readers(addr, &last_rx).await;
    let start = metrics(addr).await;
    let mem_start = tcp_mem_pages();

    let frozen = open_frozen_clients(addr).await;
    let Dropped {
        slowest,
        reset,
        mem_peak,
        rss_peak,
    } = wait_until_dropped(addr, &frozen).await;
    drop(frozen);

    let evicted = metrics(addr).await;
    last_tx.send(evicted.events_published).unwrap();
    // The healthy readers go on reading (else they would be evicted in turn while the
    // kernel's memory is awaited below).
    let still_open = assert_healthy_caught_up(healthy).await;
    let mem_end = wait_until_tcp_memory_back(mem_start).await;
    let end = metrics(addr).await;
    println!(
        "{FROZEN} frozen clients: all dropped within {slowest:?} of connecting ({reset} by reset), \
         send timeout {SEND_TIMEOUT:?}; kernel TCP mem {mem_start} -> peak {mem_peak} -> {mem_end} pages; \
         server RSS {:.1} -> peak {rss_peak:.1} -> {:.1} MiB",
        start.memory_rss_mb, end.memory_rss_mb
    );
    assert_eq!(evicted.clients_evicted, FROZEN as u64);
    assert_eq!(
        reset, FROZEN,
        "every frozen client saw a reset, not a FIN after its data"
    );
    // Filling a 128 KiB send buffer at 256 KB/s takes about 0.5 s; then the timeout runs.
    assert!(
        slowest <= SEND_TIMEOUT + Duration::from_secs(3) + Duration::from_secs(1),
        "a frozen client lingered {slowest:?}"
    );
    assert!(
        mem_peak > mem_start + 1000,
        "the frozen clients did pin kernel memory ({mem_start} -> {mem_peak} pages)"
    );
    assert!(
        rss_peak < start.memory_rss_mb + 64.0,
        "server RSS grew from {:.1} to {rss_peak:.1} MiB",
        start.memory_rss_mb
    );
    assert_eq!(
        end.connections as usize,
        HEALTHY + 1,
        "only the healthy readers and this request"
    );
    assert_eq!(
        end.clients_evicted, FROZEN as u64,
        "no healthy reader was evicted"
    );
    for reader in still_open {
        reader.abort();
    }
}
