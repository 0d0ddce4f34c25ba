//! Publishing from the generator: stamped events POSTed to `/publish` at a fixed rate or in a burst.
//!
//! Each event's data is the reference publisher's stamp (`t=<unix-nanos>` plus padding,
//! [`sse_server::publisher::stamp`]), so subscribers measure publish-to-receive latency
//! the same way whoever publishes.

use std::time::Duration;

use bytes::Bytes;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, HttpConnection, Target};
use crate::scenario::outcome::Published;

/// Limit of one publish request.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

fn stamped(buf: &mut Vec<u8>, payload: usize) -> Bytes {
    sse_server::publisher::stamp(buf, payload);
    Bytes::copy_from_slice(buf)
}

/// Publishes at `rate` events per second until `stop`.
pub async fn at_rate(publish: Target, rate: f64, payload: usize, stop: CancellationToken) -> Published {
    let mut conn = HttpConnection::new(publish, PUBLISH_TIMEOUT);
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.001)));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut buf = Vec::with_capacity(payload.max(32));
    let mut done = Published::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return done,
            _ = ticks.tick() => {}
        }
        count(&mut done, conn.post(stamped(&mut buf, payload)).await);
    }
}

/// Publishes `events` events from `concurrency` keep-alive connections at once.
pub async fn burst(
    publish: Target,
    events: u64,
    payload: usize,
    concurrency: usize,
    stop: CancellationToken,
) -> Published {
    let concurrency = concurrency.max(1) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let share = events / concurrency + u64::from(worker < events % concurrency);
        let publish = publish.clone();
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut conn = HttpConnection::new(publish, PUBLISH_TIMEOUT);
            let mut buf = Vec::with_capacity(payload.max(32));
            let mut done = Published::default();
            for _ in 0..share {
                if stop.is_cancelled() {
                    break;
                }
                count(&mut done, conn.post(stamped(&mut buf, payload)).await);
            }
            done
        });
    }
    let mut total = Published::default();
    while let Some(done) = tasks.join_next().await {
        if let Ok(done) = done {
            total.events += done.events;
            total.failed += done.failed;
        }
    }
    total
}

fn count(done: &mut Published, result: Result<Bytes, ClientError>) {
    match result {
        Ok(_) => done.events += 1,
        Err(err) => {
            done.failed += 1;
            tracing::debug!(%err, "publish failed");
        }
    }
}
