//! Shared helpers of the server's integration tests: servers on port 0 and a small SSE reader.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::Stdio;

use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use sse_server::{Config, Running, Server, Snapshot};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

pub use testkit::wait::{WAIT, eventually, within, within_for};

/// A reference server running in this process on a free loopback port
/// ([`sse_server::Running`]), with the address and the server at hand.
pub struct InProcess {
    pub addr: SocketAddr,
    pub server: Server,
    running: Running,
}

impl InProcess {
    pub async fn start(config: Config) -> Self {
        let running = Running::start(config).await.unwrap();
        Self {
            addr: running.addr(),
            server: running.server().clone(),
            running,
        }
    }

    pub fn metrics(&self) -> Snapshot {
        self.running.metrics()
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn stop(self) {
        self.running.stop(WAIT).await.unwrap();
    }
}

/// The `sse-server` binary running as a child process on a free loopback port.
pub struct Process {
    pub addr: SocketAddr,
    pub child: tokio::process::Child,
    /// Everything the server logged after its address line.
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Process {
    pub async fn start(args: &[&str]) -> Self {
        Self::start_with_env(args, &[]).await
    }

    pub async fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sse-server"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn sse-server");
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let addr = within("the server to report its address", async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let rest = line.split("listening on http://").nth(1);
                if let Some(rest) = rest.or_else(|| line.split("listening on https://").nth(1)) {
                    let addr = rest.split_whitespace().next().unwrap();
                    return addr.parse::<SocketAddr>().unwrap();
                }
            }
            panic!("sse-server exited before listening");
        })
        .await;
        // Keep draining stderr so the child never blocks on a full pipe.
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = std::sync::Arc::clone(&log);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Self { addr, child, log }
    }

    /// What the server logged so far after its address line.
    pub fn stderr_so_far(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub async fn metrics(&self) -> Snapshot {
        metrics(self.addr).await
    }

    pub fn terminate(&self) {
        let pid = self.child.id().expect("child running") as i32;
        // SAFETY: plain kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    }
}

/// The `--lean-streams` flag that serves `/events` subscribers on the lean path or on hyper.
pub fn lean_flag(lean: bool) -> [&'static str; 2] {
    ["--lean-streams", if lean { "on" } else { "off" }]
}

/// GETs `/metrics` of the server at `addr`.
pub async fn metrics(addr: SocketAddr) -> Snapshot {
    let (status, body) = request(addr, "GET", "/metrics", &[], Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    serde_json::from_slice(&body).expect("metrics JSON")
}

/// One request on a fresh connection; returns status and whole body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> (StatusCode, Bytes) {
    within("a request", async {
        let mut sender = handshake(addr).await;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = sender
            .send_request(req.body(Full::new(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        (status, resp.into_body().collect().await.unwrap().to_bytes())
    })
    .await
}

async fn handshake<B>(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(conn);
    sender
}

/// One parsed event (the server's own frames: `\n` line ends only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
}

/// How a stream ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The final chunk arrived.
    Clean,
    /// The connection broke before the final chunk.
    Broken(String),
}

/// An open SSE response.
pub struct SseReader {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    body: Incoming,
    buf: BytesMut,
    pub comments: u64,
}

impl SseReader {
    pub async fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Self {
        within("stream headers", async {
            let mut sender = handshake::<Empty<Bytes>>(addr).await;
            let mut req = Request::get(path).header("host", "localhost");
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let resp = sender
                .send_request(req.body(Empty::new()).unwrap())
                .await
                .unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            Self {
                status,
                headers,
                body: resp.into_body(),
                buf: BytesMut::new(),
                comments: 0,
            }
        })
        .await
    }

    /// The next event, or how the stream ended.
    pub async fn next(&mut self) -> Result<Received, End> {
        loop {
            if let Some(at) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let frame = self.buf.split_to(at + 2);
                if let Some(event) = parse(&frame) {
                    return Ok(event);
                }
                self.comments += 1;
                continue;
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        while data.has_remaining() {
                            let chunk = data.chunk();
                            self.buf.extend_from_slice(chunk);
                            let n = chunk.len();
                            data.advance(n);
                        }
                    }
                }
                Some(Err(err)) => return Err(End::Broken(err.to_string())),
                None => return Err(End::Clean),
            }
        }
    }

    /// Reads `n` events, failing on an early end.
    pub async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            match self.next().await {
                Ok(event) => events.push(event),
                Err(end) => panic!("stream ended after {} of {n} events: {end:?}", events.len()),
            }
        }
        events
    }
}

fn parse(frame: &[u8]) -> Option<Received> {
    let text = std::str::from_utf8(frame).expect("utf-8 frame");
    let mut event = Received {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            event.id = Some(v.parse().expect("numeric id"));
        } else if let Some(v) = line.strip_prefix("event: ") {
            event.event = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            if has_data {
                event.data.push('\n');
            }
            event.data.push_str(v);
            has_data = true;
        }
    }
    has_data.then_some(event)
}

/// Asserts that `events` carry the ids `first..first+len` in order.
pub fn assert_consecutive(events: &[Received], first: u64) {
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.id, Some(first + i as u64), "event {i} of {}", events.len());
    }
}
