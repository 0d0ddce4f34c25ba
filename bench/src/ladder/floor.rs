//! The raw-TCP floor: the reference server's frames on plain sockets, no HTTP framework.
//!
//! One task per socket, as the reference server has, but nothing between the broadcast
//! channel and the socket: the task waits for a frame, takes every other frame already
//! pending (up to `MAX_FRAMES_PER_WRITE`) and writes them with one vectored write. The
//! request head is read into a fixed stack buffer and matched by its first line; answers
//! other than a stream close the connection. It is the floor a framework-based server is
//! measured against: the same frames, the same channel, the same sockets, nothing else.
//!
//! # Hot path
//! Per event and subscriber: a reference-count bump on the shared frame (the channel's
//! clone) and its share of one `writev`. The batch vector is allocated once per stream.

use std::future::Future;
use std::io::{self, IoSlice};
use std::sync::Arc;

use bytes::Bytes;
use sse_server::frame::Event;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::{ComparatorCounters, Design, Gauge, pace};

/// Frames written by one `writev` at most (the reference server's hyper limit is 16 too).
const MAX_FRAMES_PER_WRITE: usize = 16;

/// The largest request head read; larger heads get 431.
const MAX_HEAD: usize = 4096;

/// The response head of a stream (the body is delimited by the connection's close).
const STREAM_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-store\r\nconnection: close\r\n\r\n";

#[derive(Debug)]
struct Shared {
    frames: broadcast::Sender<Bytes>,
    counters: ComparatorCounters,
    send_timeout: std::time::Duration,
    stop: CancellationToken,
}

/// Serves the floor design until `shutdown` completes.
///
/// # Errors
/// The listener's IO errors.
pub async fn serve<F>(listener: TcpListener, config: sse_server::Config, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (frames, _) = broadcast::channel(config.replay_capacity.max(1));
    let shared = Arc::new(Shared {
        frames,
        counters: ComparatorCounters::default(),
        send_timeout: config.send_timeout,
        stop: CancellationToken::new(),
    });
    if let Some(publisher) = config.publisher {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let stop = shared.stop.clone();
            pace(publisher, stop, |id, data| {
                let mut id_text = itoa::Buffer::new();
                // Stamped data holds no newline and no event name: encoding cannot fail.
                if let Ok(frame) = Event::data(data).id(id_text.format(id)).encode() {
                    shared
                        .counters
                        .published
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = shared.frames.send(frame);
                }
            })
            .await;
        });
    }
    let stop = shared.stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stop.cancel();
    });
    loop {
        let socket = tokio::select! {
            () = shared.stop.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                // Out of fds and the like: the connection is dropped, the server goes on.
                Err(err) => { tracing::warn!(%err, "accept failed"); continue }
            },
        };
        let _ = socket.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _open = Gauge::enter(&shared.counters.connections);
            if let Err(err) = connection(socket, &shared).await {
                tracing::debug!(%err, "connection ended");
            }
        });
    }
}

/// Reads one request head and answers it.
async fn connection(mut socket: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut head = [0u8; MAX_HEAD];
    let mut len = 0;
    while !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        if len == head.len() {
            return respond(
                &mut socket,
                "431 Request Header Fields Too Large",
                "{\"error\":\"request head over 4 KiB\"}",
            )
            .await;
        }
        let n = tokio::select! {
            () = shared.stop.cancelled() => return Ok(()),
            n = socket.read(&mut head[len..]) => n?,
        };
        if n == 0 {
            return Ok(());
        }
        len += n;
    }
    let line = head[..len].split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let method = words.next().unwrap_or_default();
    let target = words.next().unwrap_or_default();
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/events") => stream(socket, shared).await,
        (b"GET", b"/health") => respond(&mut socket, "200 OK", "{\"status\":\"healthy\"}").await,
        (b"GET", b"/metrics") => {
            respond(&mut socket, "200 OK", &shared.counters.to_json(Design::Floor)).await
        }
        _ => respond(&mut socket, "404 Not Found", "{\"error\":\"not found\"}").await,
    }
}

/// A complete JSON answer, then close.
async fn respond(socket: &mut TcpStream, status: &str, body: &str) -> io::Result<()> {
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(answer.as_bytes()).await?;
    socket.shutdown().await
}

/// An `/events` stream: frames as they are published, pending ones coalesced.
async fn stream(mut socket: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut frames = shared.frames.subscribe();
    let _registered = Gauge::enter(&shared.counters.streams);
    socket.write_all(STREAM_HEAD).await?;
    let mut batch: Vec<Bytes> = Vec::with_capacity(MAX_FRAMES_PER_WRITE);
    let mut scratch = [0u8; 64];
    loop {
        let first = tokio::select! {
            () = shared.stop.cancelled() => return Ok(()),
            // The client sends nothing after its head: a read ending is the client leaving.
            read = socket.read(&mut scratch) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(_) => continue,
            },
            frame = frames.recv() => frame,
        };
        match first {
            Ok(frame) => batch.push(frame),
            // A subscriber that fell a whole channel behind is ended, as the reference server does.
            Err(_) => return Ok(()),
        }
        while batch.len() < MAX_FRAMES_PER_WRITE {
            match frames.try_recv() {
                Ok(frame) => batch.push(frame),
                Err(_) => break,
            }
        }
        match tokio::time::timeout(shared.send_timeout, write_all_vectored(&mut socket, &batch)).await {
            Ok(written) => written?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "send timeout")),
        }
        batch.clear();
    }
}

/// Writes every frame of `batch`, as few `writev` calls as the socket allows.
async fn write_all_vectored(socket: &mut TcpStream, batch: &[Bytes]) -> io::Result<()> {
    let mut slices = [IoSlice::new(&[]); MAX_FRAMES_PER_WRITE];
    for (slice, frame) in slices.iter_mut().zip(batch) {
        *slice = IoSlice::new(frame);
    }
    let mut pending = &mut slices[..batch.len()];
    while !pending.is_empty() {
        let n = socket.write_vectored(pending).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut pending, n);
    }
    Ok(())
}
