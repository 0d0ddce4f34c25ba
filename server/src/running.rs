//! A reference server running inside this process on a free loopback port: the one
//! in-process handle that the tests, the benches and the profiling runs use.
//!
//! [`Running::start`] binds `127.0.0.1:0`, spawns [`Server::serve`] on the current tokio
//! runtime with a oneshot as its shutdown signal, and returns the bound address, the hub
//! and the counters. [`Running::stop`] sends the signal and waits (bounded) for `serve` to
//! drain and return. Dropping a handle that was not stopped sends the signal too, so a
//! failing test never leaves a server serving.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Config, Hub, Server, Snapshot};

/// The server's `serve` future, boxed so a caller can wrap it (to instrument it, say).
pub type ServeFuture = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// Why an in-process server failed to start or to stop.
#[derive(Debug, thiserror::Error)]
pub enum RunningError {
    /// Binding the loopback listener failed.
    #[error("binding 127.0.0.1:0 for the in-process server: {0}")]
    Bind(#[source] io::Error),
    /// `serve` returned an error.
    #[error("the in-process server failed: {0}")]
    Serve(#[source] io::Error),
    /// The server task panicked or was cancelled.
    #[error("the in-process server task ended abnormally: {0}")]
    Task(String),
    /// It did not stop within the limit (its task was then aborted).
    #[error("the in-process server did not stop within {0:?}")]
    StopTimeout(Duration),
}

/// A reference server serving on a loopback port of this process.
#[derive(Debug)]
pub struct Running {
    server: Server,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    /// Binds `127.0.0.1:0` (whatever `config.bind` says) and serves `config` on the
    /// current runtime.
    ///
    /// # Errors
    /// [`RunningError::Bind`].
    pub async fn start(config: Config) -> Result<Self, RunningError> {
        Self::start_wrapped(config, |serve| serve).await
    }

    /// As [`Running::start`], with the serve future passed through `wrap` before it is
    /// spawned (pass `|f| f` to run it as is).
    ///
    /// # Errors
    /// [`RunningError::Bind`].
    pub async fn start_wrapped<W, F>(config: Config, wrap: W) -> Result<Self, RunningError>
    where
        W: FnOnce(ServeFuture) -> F,
        F: Future<Output = io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .map_err(RunningError::Bind)?;
        let addr = listener.local_addr().map_err(RunningError::Bind)?;
        let server = Server::new(config);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serve: ServeFuture = Box::pin(server.clone().serve(listener, async move {
            let _ = stopped.await;
        }));
        let task = tokio::spawn(wrap(serve));
        Ok(Self {
            server,
            addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server (a cheap clone shares its hub and counters).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server's hub, to publish in-process.
    pub fn hub(&self) -> &Hub {
        self.server.hub()
    }

    /// The figures `/metrics` serves (reads `/proc`, so it allocates).
    pub fn metrics(&self) -> Snapshot {
        self.server.metrics()
    }

    /// Signals shutdown and waits up to `limit` for `serve` to drain and return.
    ///
    /// # Errors
    /// `serve` failed or panicked, or did not return within `limit` (it is then aborted).
    pub async fn stop(mut self, limit: Duration) -> Result<(), RunningError> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(limit, &mut self.task).await {
            Err(_) => {
                self.task.abort();
                Err(RunningError::StopTimeout(limit))
            }
            Ok(Err(join)) => Err(RunningError::Task(join.to_string())),
            Ok(Ok(Err(err))) => Err(RunningError::Serve(err)),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_on_a_free_loopback_port_and_stops() {
        let running = Running::start(Config::default()).await.unwrap();
        assert!(running.addr().ip().is_loopback());
        assert_ne!(running.addr().port(), 0);
        assert_eq!(running.base_url(), format!("http://{}", running.addr()));
        running.hub().publish(None, b"x").unwrap();
        assert_eq!(running.hub().last_id(), 1);
        let stream = tokio::net::TcpStream::connect(running.addr()).await.unwrap();
        drop(stream);
        running.stop(Duration::from_secs(10)).await.unwrap();
    }
}
