//! The reference server, in process, on `127.0.0.1:0` ([`Running`]), in a runtime and thread of its own.

use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use sse_server::{Config, Hub, Running};
use tokio::sync::oneshot;

/// A running reference server; dropping it shuts the server down and joins its thread.
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    hub: Hub,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RunningServer {
    /// Starts a server with `replay_capacity` events of headroom per subscriber (fan-out
    /// benches publish in batches below it, so no subscriber ever lags) and no pings.
    ///
    /// The server gets its own multi-threaded runtime so that the benchmark's client
    /// runtime and the server share the machine's cores as two separate processes would.
    pub fn start(replay_capacity: usize) -> Self {
        if let Err(err) = sse_server::limits::raise_fd_limit() {
            eprintln!("could not raise the open-file limit ({err}); the 1,000-client benches may fail");
        }
        let config = Config {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            ping_interval: None,
            replay_capacity,
            shutdown_grace: Duration::from_secs(2),
            ..Config::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (bound, started) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sse-server".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("sse-server-worker")
                    .enable_all()
                    .build()
                    .expect("server runtime");
                runtime.block_on(async move {
                    let running = Running::start(config).await.expect("bind 127.0.0.1:0");
                    bound
                        .send((running.addr(), running.hub().clone()))
                        .expect("bench waits for the address");
                    let _ = stopped.await;
                    running
                        .stop(Duration::from_secs(10))
                        .await
                        .expect("server stopped");
                });
            })
            .expect("spawn the server thread");
        let (addr, hub) = started
            .recv_timeout(Duration::from_secs(10))
            .expect("server bound within 10 s");
        Self {
            addr,
            hub,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The server's hub, to publish in-process.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// `http://addr/path` as a URI.
    pub fn uri(&self, path_and_query: &str) -> http::Uri {
        format!("http://{}{path_and_query}", self.addr)
            .parse()
            .expect("valid URI")
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
