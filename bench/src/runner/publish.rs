//! Publishing from the generator: one request per event (`POST /publish`, or a target file's template) at a fixed rate or in a burst.
//!
//! By default each event's data is the reference publisher's stamp (`t=<unix-nanos>`
//! plus padding), so subscribers measure publish-to-receive latency the same way
//! whoever publishes; a target file's body template puts the send time where that
//! server expects it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::client::{ClientError, HttpConnection, Target};
use crate::description::BodyTemplate;
use crate::description::file::DEFAULT_PUBLISH_BODY;
use crate::measure::histogram;
use crate::scenario::outcome::{PublishLag, Published};

/// The request that publishes one event.
#[derive(Debug, Clone)]
pub struct Publication {
    /// Where it goes (with its headers).
    pub target: Target,
    /// Its method.
    pub method: Method,
    /// Its body.
    pub body: Arc<BodyTemplate>,
}

impl Publication {
    /// The reference server's `POST /publish` with the stamp as body.
    pub fn reference(target: Target) -> Self {
        let body = BodyTemplate::parse(DEFAULT_PUBLISH_BODY)
            .unwrap_or_else(|_| unreachable!("the default body parses"));
        Self {
            target,
            method: Method::POST,
            body: Arc::new(body),
        }
    }
}

/// Sends publications one after the other on one keep-alive connection.
struct Sender {
    conn: HttpConnection,
    method: Method,
    body: Arc<BodyTemplate>,
    buf: String,
    payload: usize,
}

impl Sender {
    fn new(publication: &Publication, payload: usize) -> Self {
        Self {
            conn: HttpConnection::new(publication.target.clone(), PUBLISH_TIMEOUT),
            method: publication.method.clone(),
            body: Arc::clone(&publication.body),
            buf: String::with_capacity(payload.max(64)),
            payload,
        }
    }

    async fn send(&mut self, seq: u64) -> Result<Bytes, ClientError> {
        let body = self.body.render(&mut self.buf, seq, self.payload);
        self.conn.request(self.method.clone(), body).await
    }
}

/// Limit of one publish request.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes at `rate` events per second until `stop`, measuring how late each request
/// left against its schedule (the n-th is due at start + (n − 1) / rate): a publisher that
/// falls behind (a slow target, a busy host) shows in the lag, not only in a shorter feed.
pub async fn at_rate(publish: Publication, rate: f64, payload: usize, stop: CancellationToken) -> Published {
    let mut sender = Sender::new(&publish, payload);
    let period = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut lag = histogram::new_histogram();
    let mut done = Published::default();
    let mut seq: u32 = 0;
    let start = Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let due = start + period.saturating_mul(seq);
        histogram::record(&mut lag, Instant::now().saturating_duration_since(due));
        seq = seq.saturating_add(1);
        count(&mut done, sender.send(u64::from(seq)).await);
    }
    done.lag = (!lag.is_empty()).then(|| PublishLag {
        p99_micros: lag.value_at_quantile(0.99),
        max_micros: lag.max(),
    });
    done
}

/// Publishes `events` events from `concurrency` keep-alive connections at once.
pub async fn burst(
    publish: Publication,
    events: u64,
    payload: usize,
    concurrency: usize,
    stop: CancellationToken,
) -> Published {
    let concurrency = concurrency.max(1) as u64;
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let share = events / concurrency + u64::from(worker < events % concurrency);
        let mut sender = Sender::new(&publish, payload);
        let stop = stop.clone();
        tasks.spawn(async move {
            let mut done = Published::default();
            for n in 0..share {
                if stop.is_cancelled() {
                    break;
                }
                // Sequence numbers interleave across workers: 1..=events overall.
                count(&mut done, sender.send(worker + 1 + n * concurrency).await);
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
