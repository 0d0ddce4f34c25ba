//! The generator's own floor: the leanest subscriber this machine can run, so `calibrate` shows what any reader pays per event beside what `sse-load`'s generator pays.
//!
//! One thread holds every stream on one epoll instance (level-triggered) and makes one
//! `recv` per ready socket per wake-up, the way a hand-written C reader would. It counts
//! frame ends (`\n\n`) and nothing else: no HTTP decoding, no SSE parsing, no clocks, no
//! histograms, no async runtime. Its CPU is its own thread's clock
//! (`CLOCK_THREAD_CPUTIME_ID`); the server's is `/proc/<pid>/task/*/schedstat`, both read
//! at the same two moments. The ratio of the two is the lowest generator-to-server ratio a
//! reader that sees every event can reach against that server on this machine: the
//! kernel's share of receiving (the `recv`, the wake-up, the ACK it sends) is all it pays.

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::http1::READ_BUFFER_LEN;
use crate::measure::cpu::{process_cpu_ns, thread_cpu_ns};

/// How long one connect may take before the run gives up.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Ready sockets one `epoll_wait` may report.
pub(super) const WAIT_EVENTS: usize = 256;

/// What the lean reader measured against one server.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LeanFigures {
    /// Streams it held.
    pub clients: usize,
    /// Events (frames) received inside the measured window.
    pub events: u64,
    /// `recv` calls that returned data inside the window.
    pub reads: u64,
    /// Streams that received nothing inside the window.
    pub silent_clients: usize,
    /// The reader thread's CPU per received event, ns.
    pub reader_ns_per_event: f64,
    /// The server's CPU per delivered event over the same window, ns.
    pub server_ns_per_delivery: f64,
}

impl LeanFigures {
    /// The reader's CPU per event over the server's: the lowest generator-to-server ratio
    /// this server allows on this machine.
    pub fn ratio(&self) -> f64 {
        self.reader_ns_per_event / self.server_ns_per_delivery
    }
}

/// Holds `clients` streams of `GET /events` on `addr`, reads them for `warmup`, then
/// measures for `window`: events, `recv` calls, this thread's CPU and the CPU of server
/// process `server_pid`. Blocking: call it on a thread of its own.
///
/// # Errors
/// A connect failed or timed out, a stream ended or broke, no event arrived in the window,
/// or the server's CPU cannot be read from `/proc/<pid>`. Each error names what happened.
pub fn read_streams(
    addr: SocketAddr,
    clients: usize,
    warmup: Duration,
    window: Duration,
    server_pid: u32,
) -> io::Result<LeanFigures> {
    let epoll = Epoll::new()?;
    let streams = (0..clients)
        .map(|i| subscribe(addr, "/events", &epoll, i))
        .collect::<io::Result<Vec<_>>>()?;
    let mut reader = Reader {
        streams,
        epoll,
        ends: vec![FrameEnds::default(); clients],
        // One `recv` takes at most what one of the generator's reads takes.
        buf: vec![0; READ_BUFFER_LEN],
        ready: vec![libc::epoll_event { events: 0, u64: 0 }; WAIT_EVENTS],
    };
    reader.run_for(warmup)?;
    let (server_before, own_before) = (server_cpu(server_pid)?, thread_cpu_ns()?);
    let counts = reader.run_for(window)?;
    let (server_after, own_after) = (server_cpu(server_pid)?, thread_cpu_ns()?);
    if counts.events == 0 {
        return Err(io::Error::other(format!(
            "no event arrived on {clients} streams of {addr}/events in {window:?}: is its publisher on?"
        )));
    }
    let per_event = |ns: u64| ns as f64 / counts.events as f64;
    Ok(LeanFigures {
        clients,
        events: counts.events,
        reads: counts.reads,
        silent_clients: counts.silent,
        reader_ns_per_event: per_event(own_after.saturating_sub(own_before)),
        server_ns_per_delivery: per_event(server_after.saturating_sub(server_before)),
    })
}

/// The CPU of server process `pid` so far, ns (`/proc/<pid>/task/*/schedstat`).
pub(super) fn server_cpu(pid: u32) -> io::Result<u64> {
    process_cpu_ns(pid).ok_or_else(|| {
        io::Error::other(format!(
            "cannot read the CPU of server process {pid} from /proc/{pid}/task/*/schedstat"
        ))
    })
}

/// Connects stream `index`, sends `GET path` and registers the socket with `epoll`.
pub(super) fn subscribe(addr: SocketAddr, path: &str, epoll: &Epoll, index: usize) -> io::Result<TcpStream> {
    let context = |what: &str, err: io::Error| {
        io::Error::new(err.kind(), format!("stream {index} to {addr}: {what}: {err}"))
    };
    let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| context("connect", e))?;
    stream.set_nodelay(true).map_err(|e| context("TCP_NODELAY", e))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| context("sending the request", e))?;
    stream
        .set_nonblocking(true)
        .map_err(|e| context("O_NONBLOCK", e))?;
    epoll
        .add(stream.as_raw_fd(), index as u64)
        .map_err(|e| context("epoll_ctl", e))?;
    Ok(stream)
}

/// What one stretch of reading received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    events: u64,
    reads: u64,
    silent: usize,
}

/// The streams, their epoll instance and the one read buffer they share.
struct Reader {
    streams: Vec<TcpStream>,
    epoll: Epoll,
    ends: Vec<FrameEnds>,
    buf: Vec<u8>,
    ready: Vec<libc::epoll_event>,
}

impl Reader {
    /// Reads whatever arrives for `span`: one `recv` per ready socket per wake-up.
    fn run_for(&mut self, span: Duration) -> io::Result<Counts> {
        let mut counts = Counts::default();
        let mut heard = vec![false; self.streams.len()];
        let end = Instant::now() + span;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let ready = self.epoll.wait(&mut self.ready, left)?;
            for i in 0..ready {
                let index = self.ready[i].u64 as usize;
                let read = recv_frames(&self.streams[index], &mut self.buf, &mut self.ends[index], index);
                let Some(frames) = read? else { continue };
                counts.reads += 1;
                counts.events += frames;
                heard[index] |= frames > 0;
            }
        }
        counts.silent = heard.iter().filter(|&&h| !h).count();
        Ok(counts)
    }
}

/// One `recv` from stream `index` into `buf`: the frame ends it completed, or `None` when
/// it had nothing to read.
///
/// # Errors
/// The server ended the stream, or the `recv` failed.
pub(super) fn recv_frames(
    mut stream: &TcpStream,
    buf: &mut [u8],
    ends: &mut FrameEnds,
    index: usize,
) -> io::Result<Option<u64>> {
    match stream.read(buf) {
        Ok(0) => Err(io::Error::other(format!("the server ended stream {index}"))),
        Ok(n) => Ok(Some(ends.count(&buf[..n]))),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(err) => Err(io::Error::new(err.kind(), format!("stream {index}: {err}"))),
    }
}

/// Counts frame ends (`\n\n`) across reads: a blank line split between two reads counts once.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FrameEnds {
    last_was_newline: bool,
}

impl FrameEnds {
    /// Frame ends completed by `bytes`.
    pub(super) fn count(&mut self, bytes: &[u8]) -> u64 {
        let Some(&last) = bytes.last() else { return 0 };
        let split = u64::from(self.last_was_newline && bytes[0] == b'\n');
        let within = memchr::memmem::find_iter(bytes, b"\n\n").count() as u64;
        // A lone newline that just closed a split blank line opens nothing.
        self.last_was_newline =
            last == b'\n' && !bytes.ends_with(b"\n\n") && !(split == 1 && bytes.len() == 1);
        split + within
    }
}

/// An epoll instance.
pub(super) struct Epoll(OwnedFd);

impl Epoll {
    /// A new instance (closed on exec).
    pub(super) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and nothing else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `fd` for reading (level-triggered), reported with `token`.
    pub(super) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both fds are open for the call; `event` outlives it.
        let rc = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout` for ready sockets; returns how many of `events` it filled.
    pub(super) fn wait(&self, events: &mut [libc::epoll_event], timeout: Duration) -> io::Result<usize> {
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        let max = events.len().min(i32::MAX as usize) as i32;
        // SAFETY: `events` is valid for `max` entries for the duration of the call.
        let n = unsafe { libc::epoll_wait(self.0.as_raw_fd(), events.as_mut_ptr(), max, ms) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            };
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::FrameEnds;

    #[test]
    fn frame_ends_are_counted_once_across_reads() {
        let mut ends = FrameEnds::default();
        assert_eq!(ends.count(b"HTTP/1.1 200 OK\r\n\r\nid: 1\ndata: a\n\nid: 2\n"), 1);
        // The blank line ending event 2 is split between two reads.
        assert_eq!(ends.count(b"data: b\n"), 0);
        assert_eq!(ends.count(b"\nid: 3\ndata: c\n\n"), 2);
        // A read ending on a whole blank line does not carry into the next.
        assert_eq!(ends.count(b"\nid: 4\ndata: d\n\n"), 1);
        assert_eq!(ends.count(b""), 0);
        // A lone newline closing a split blank line: the next newline opens no frame end.
        assert_eq!(ends.count(b"data: e\n"), 0);
        assert_eq!(ends.count(b"\n"), 1);
        assert_eq!(ends.count(b"\nid: 6\n"), 0);
    }
}
