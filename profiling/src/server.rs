//! The reference server run in-process ([`Running`], so its heap and CPU can be profiled), and the in-process publisher that feeds its hub.
//!
//! ## Configuration
//! The server runs with the `sse-server` defaults (replay capacity 1024, send timeout
//! 10 s, 20,000 connections) except: it binds `127.0.0.1:0`, keep-alive pings are off
//! (so idle streams are really idle and every run does the same work), and the shutdown
//! grace is 2 s.
//!
//! ## Published events
//! Every event is exactly [`crate::workload::FRAME_BYTES`] bytes on the wire, whatever
//! its id: the data (`t=<unix-nanos>` padded with `.`) shrinks by one byte per extra id
//! digit. Once the replay ring is full, publishing one event frees one frame of the same
//! size, so the heap returns to the same level and any growth is the server's.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use sse_server::frame::FrameError;
use sse_server::running::{RunningError, ServeFuture};
use sse_server::{Config, Hub, Running, Snapshot};

/// Why the in-process server failed.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Starting or stopping it failed.
    #[error(transparent)]
    Running(#[from] RunningError),
    /// Publishing failed (cannot happen with the events this crate publishes).
    #[error("publishing an event: {0}")]
    Publish(#[from] FrameError),
    /// Subscribers did not reach the expected count in time.
    #[error("the server still had {actual} hub subscribers after {after:?}, expected {expected}")]
    Subscribers {
        /// Expected subscriber count.
        expected: usize,
        /// Count when the wait gave up.
        actual: usize,
        /// The wait.
        after: Duration,
    },
}

/// The configuration profiling runs use (see the module docs).
pub fn profiling_config() -> Config {
    Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        ping_interval: None,
        shutdown_grace: Duration::from_secs(2),
        ..Config::default()
    }
}

/// Starts the in-process server with the open-file limit raised; `wrap` gets the serve
/// future first (pass `|f| f` to run it as is).
///
/// # Errors
/// Binding failed.
pub async fn start<W, F>(config: Config, wrap: W) -> Result<Running, ServerError>
where
    W: FnOnce(ServeFuture) -> F,
    F: Future<Output = io::Result<()>> + Send + 'static,
{
    if let Err(err) = sse_server::limits::raise_fd_limit() {
        tracing::warn!(%err, "could not raise the open-file limit");
    }
    Ok(Running::start_wrapped(config, wrap).await?)
}

/// The server's figures read on tokio's blocking pool: with thousands of open fds the
/// `/proc` listing takes milliseconds, which must not block a worker of the server's
/// runtime (it would show as event-loop blocking).
pub async fn metrics_off_runtime(running: &Running) -> Snapshot {
    let server = running.server().clone();
    match tokio::task::spawn_blocking(move || server.metrics()).await {
        Ok(snapshot) => snapshot,
        Err(_) => running.metrics(),
    }
}

/// Waits until `hub` has exactly `expected` subscribers (polling every 2 ms; allocates nothing).
///
/// # Errors
/// [`ServerError::Subscribers`] after `timeout`.
pub async fn await_subscribers(hub: &Hub, expected: usize, timeout: Duration) -> Result<(), ServerError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let actual = hub.subscribers();
        if actual == expected {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ServerError::Subscribers {
                expected,
                actual,
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Publishes fixed-size events on a hub (see the module docs). One publisher per hub:
/// the next id is read from the hub to size the data.
#[derive(Debug)]
pub struct HubPublisher {
    hub: Hub,
    frame_bytes: usize,
    data: Vec<u8>,
}

/// Bytes of a frame besides the id digits and the data: `id: `, LF, `data: `, LF, LF.
const FRAME_OVERHEAD: usize = "id: \ndata: \n\n".len();
/// Digits of the largest id (`u64::MAX`).
const MAX_ID_DIGITS: usize = 20;
/// Smallest frame size: the data must hold the 21-byte `t=<nanos>` stamp whatever the id.
pub const MIN_FRAME_BYTES: usize = FRAME_OVERHEAD + MAX_ID_DIGITS + 22;

impl HubPublisher {
    /// A publisher of `frame_bytes`-byte events (raised to [`MIN_FRAME_BYTES`]).
    pub fn new(hub: Hub, frame_bytes: usize) -> Self {
        let frame_bytes = frame_bytes.max(MIN_FRAME_BYTES);
        Self {
            hub,
            frame_bytes,
            data: Vec::with_capacity(frame_bytes),
        }
    }

    /// Publishes `count` events. Allocates only what the hub allocates per event (the
    /// data buffer is reused).
    ///
    /// # Errors
    /// [`ServerError::Publish`] (not expected: the events carry no event name).
    pub fn publish(&mut self, count: u64) -> Result<(), ServerError> {
        for _ in 0..count {
            let next_id = self.hub.last_id() + 1;
            let digits = next_id.checked_ilog10().unwrap_or(0) as usize + 1;
            let data_len = self.frame_bytes - FRAME_OVERHEAD - digits;
            sse_server::publisher::stamp(&mut self.data, data_len);
            self.hub.publish(None, &self.data)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_have_the_same_size_whatever_the_id() {
        use futures_util::StreamExt;
        let hub = Hub::new(16);
        let mut publisher = HubPublisher::new(hub.clone(), 96);
        let mut sub = hub.subscribe(None);
        publisher.publish(12).unwrap();
        for id in 1..=12 {
            let frame = sub.live.next().await.unwrap().unwrap();
            assert_eq!((frame.id, frame.bytes.len()), (id, 96));
            let data = frame
                .bytes
                .strip_prefix(format!("id: {id}\ndata: ").as_bytes())
                .unwrap();
            assert!(sse_server::publisher::publish_time(data).is_some());
        }
        assert!(HubPublisher::new(hub, 1).frame_bytes >= MIN_FRAME_BYTES);
    }

    #[tokio::test]
    async fn serves_on_loopback_and_waits_for_subscribers() {
        let server = start(profiling_config(), |f| f).await.unwrap();
        await_subscribers(server.hub(), 0, Duration::from_secs(1))
            .await
            .unwrap();
        let _held = server.hub().subscribe(None);
        let err = await_subscribers(server.hub(), 0, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert!(matches!(err, ServerError::Subscribers { actual: 1, .. }), "{err}");
        assert!(metrics_off_runtime(&server).await.connections == 0);
        server.stop(Duration::from_secs(5)).await.unwrap();
    }
}
