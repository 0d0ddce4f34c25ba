//! The built-in publisher: events at a fixed rate whose data carries the publish time.
//!
//! ## Data format
//! `t=<unix-nanos>` (decimal nanoseconds since the Unix epoch, from the system clock),
//! then, when `payload_size` asks for more, one space and `.` padding up to exactly
//! `payload_size` bytes. A client on the same host subtracts the stamp from its own
//! receive time to get publish-to-receive latency; [`publish_time`] reads it back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// Rate and size of the built-in publisher.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PublisherConfig {
    /// Events per second (> 0).
    pub rate: f64,
    /// Bytes of data per event (the stamp alone is used when it is longer).
    pub payload_size: usize,
}

/// Nanoseconds since the Unix epoch, now.
pub fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Writes a stamped payload of `payload_size` bytes (or just the stamp) into `buf`.
pub fn stamp(buf: &mut Vec<u8>, payload_size: usize) {
    buf.clear();
    buf.extend_from_slice(b"t=");
    buf.extend_from_slice(itoa::Buffer::new().format(unix_nanos()).as_bytes());
    if payload_size > buf.len() {
        buf.push(b' ');
        buf.resize(payload_size, b'.');
    }
}

/// The publish time embedded by [`stamp`], if `data` starts with one.
pub fn publish_time(data: &[u8]) -> Option<u64> {
    let digits = data.strip_prefix(b"t=")?;
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// Most events published in one timer tick; beyond this the publisher reports that it
/// cannot keep up and drops the backlog instead of bursting.
const MAX_BATCH: u64 = 10_000;

/// Publishes on `hub` at `config.rate` until `stop` is cancelled.
pub async fn run(hub: Hub, config: PublisherConfig, stop: CancellationToken) {
    pace(config, stop, |data| match hub.publish(None, data) {
        Ok(_) => true,
        Err(err) => {
            // Only a size over --max-event-bytes can fail here (`Args::check` refuses it).
            tracing::error!(%err, "the built-in publisher cannot publish; stopping it");
            false
        }
    })
    .await;
}

/// Calls `publish` with stamped data ([`stamp`]) at `config.rate` until `stop` is cancelled
/// or `publish` returns `false`: the pacing of the built-in publisher, shared with other
/// servers that publish the same events (the comparator designs of `sse-bench`).
///
/// The timer ticks at most once a millisecond (tokio's resolution); each tick publishes
/// every event that is due by then, so rates above 1,000/s arrive in small batches.
pub async fn pace(config: PublisherConfig, stop: CancellationToken, mut publish: impl FnMut(&[u8]) -> bool) {
    let period = Duration::from_secs_f64((1.0 / config.rate).max(0.001));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let start = Instant::now();
    let mut sent: u64 = 0;
    let mut data = Vec::with_capacity(config.payload_size.max(32));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let due = (start.elapsed().as_secs_f64() * config.rate) as u64 + 1;
        let backlog = due.saturating_sub(sent);
        for _ in 0..backlog.min(MAX_BATCH) {
            stamp(&mut data, config.payload_size);
            if !publish(&data) {
                return;
            }
        }
        if backlog > MAX_BATCH {
            tracing::warn!(
                skipped = backlog - MAX_BATCH,
                "publisher cannot keep up; skipping"
            );
        }
        sent = sent.max(due);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_pads() {
        let mut buf = Vec::new();
        stamp(&mut buf, 100);
        assert_eq!(buf.len(), 100);
        let t = publish_time(&buf).unwrap();
        assert!(t > 1_600_000_000_000_000_000);
        stamp(&mut buf, 0);
        assert_eq!(publish_time(&buf), Some(publish_time(&buf).unwrap()));
        assert!(!buf.contains(&b' '));
        assert_eq!(publish_time(b"event-1"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn publishes_at_the_rate() {
        let hub = Hub::new(16);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            hub.clone(),
            PublisherConfig {
                rate: 100.0,
                payload_size: 0,
            },
            stop.clone(),
        ));
        tokio::time::sleep(Duration::from_millis(995)).await;
        stop.cancel();
        task.await.unwrap();
        assert!(
            (99..=101).contains(&hub.published()),
            "published {}",
            hub.published()
        );
    }
}
