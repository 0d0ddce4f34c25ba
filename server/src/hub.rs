//! The broadcast hub: every event is encoded once, kept in a replay ring and fanned out as shared `Bytes`.
//!
//! Publishing takes one short lock (no `.await` inside it): the event gets the next id,
//! is encoded once, is pushed into the replay ring (preallocated, so no allocation) and
//! is sent on a [`tokio::sync::broadcast`] channel. A subscriber therefore costs one
//! reference-count bump per event, never an encoding or a copy.
//!
//! ## Last-Event-ID
//! Ids start at 1 and grow by one per event. [`Hub::subscribe`] takes the id a client
//! saw last and, under the same lock that publishing takes, both joins the live
//! channel and copies the held events after that id, so a resumed client gets every
//! missed event still held and then live ones, with no gap and no duplicate.
//!
//! * An id older than the ring (the client missed events the hub no longer holds): the
//!   client gets every held event and the subscription reports a [`ReplayGap`]; the
//!   HTTP layer tells the client with an `event: replay-gap` event before the replay.
//! * An id newer than anything published (say, the server restarted): there is nothing
//!   to replay and the client gets live events only.
//!
//! ## Lagging
//! The broadcast channel holds as many events as the replay ring. A subscriber that falls
//! further behind than that (its client reads too slowly) is ended by the HTTP layer and
//! counted as lagged; it can reconnect with `Last-Event-ID` and resume from the ring.
//! A client that stops reading entirely is evicted sooner by the send timeout (see the
//! crate docs, `## Slow clients`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::frame::{Event, FrameError};
use crate::live::LiveFrames;

/// One encoded event with its hub id; cloning it is a reference-count bump.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The event's id (1, 2, 3, …).
    pub id: u64,
    /// The event in SSE wire format.
    pub bytes: Bytes,
}

/// The single broadcast hub of a server. Cheap to clone: clones share one hub.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Frame>,
    published: AtomicU64,
}

#[derive(Debug)]
struct Ring {
    next_id: u64,
    capacity: usize,
    limits: HubLimits,
    /// Encoded bytes of the frames held.
    bytes: usize,
    frames: VecDeque<Frame>,
}

/// Byte bounds of a hub: the replay ring and each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HubLimits {
    /// Encoded bytes the replay ring may hold; the oldest events go first.
    pub replay_bytes: usize,
    /// Largest encoded event (fields, `data:` lines and the blank line) accepted.
    pub max_event_bytes: usize,
}

impl Default for HubLimits {
    /// Unbounded bytes (the event count still bounds the ring).
    fn default() -> Self {
        Self {
            replay_bytes: usize::MAX,
            max_event_bytes: usize::MAX,
        }
    }
}

/// Events a resuming client asked for that the ring no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayGap {
    /// The id the client reported as last seen.
    pub last_event_id: u64,
    /// The oldest id still held (the first one the client will get).
    pub oldest_held: u64,
}

impl ReplayGap {
    /// How many events were lost for good.
    pub fn missed(&self) -> u64 {
        self.oldest_held - self.last_event_id - 1
    }
}

/// A hub subscriber: held events to replay first, then the live channel.
#[derive(Debug)]
pub struct Subscription {
    /// Events after the client's Last-Event-ID that the ring still held, oldest first.
    pub replay: VecDeque<Frame>,
    /// Live events published after the subscription was made.
    pub live: LiveFrames,
    /// Set when the client's Last-Event-ID was older than the ring.
    pub gap: Option<ReplayGap>,
}

impl Hub {
    /// A hub that keeps the last `replay_capacity` events (at least 1) for Last-Event-ID
    /// replay, with no byte bounds.
    pub fn new(replay_capacity: usize) -> Self {
        Self::with_limits(replay_capacity, HubLimits::default())
    }

    /// A hub that keeps at most `replay_capacity` events and `limits.replay_bytes` encoded
    /// bytes for replay, and refuses events larger than `limits.max_event_bytes`.
    pub fn with_limits(replay_capacity: usize, limits: HubLimits) -> Self {
        let capacity = replay_capacity.max(1);
        let (live, _) = broadcast::channel(capacity);
        Self {
            inner: Arc::new(Inner {
                ring: Mutex::new(Ring {
                    next_id: 1,
                    capacity,
                    limits,
                    bytes: 0,
                    frames: VecDeque::with_capacity(capacity),
                }),
                live,
                published: AtomicU64::new(0),
            }),
        }
    }

    /// Encodes `data` (with an optional event name) once and sends it to every subscriber.
    ///
    /// Returns the id the event got.
    ///
    /// # Errors
    /// [`FrameError`] when the event name contains a line break or NUL, or the encoded
    /// event is larger than `max_event_bytes`.
    pub fn publish(&self, event: Option<&str>, data: &[u8]) -> Result<u64, FrameError> {
        // The lock is held while encoding so that ids, ring order and channel order agree
        // even with concurrent publishers; it is never held across an `.await`.
        let mut ring = self.lock();
        let id = ring.next_id;
        let mut digits = itoa::Buffer::new();
        let event = Event {
            id: Some(digits.format(id)),
            event,
            retry: None,
            data,
        };
        let len = event.encoded_len();
        if len > ring.limits.max_event_bytes {
            return Err(FrameError::TooLarge {
                len,
                max: ring.limits.max_event_bytes,
            });
        }
        let frame = Frame {
            id,
            bytes: event.encode()?,
        };
        while !ring.frames.is_empty()
            && (ring.frames.len() == ring.capacity || ring.bytes + len > ring.limits.replay_bytes)
        {
            if let Some(old) = ring.frames.pop_front() {
                ring.bytes -= old.bytes.len();
            }
        }
        ring.bytes += len;
        ring.frames.push_back(frame.clone());
        ring.next_id += 1;
        // An error only means nobody is subscribed right now.
        let _ = self.inner.live.send(frame);
        drop(ring);
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        Ok(id)
    }

    /// Subscribes; with `last_event_id`, first replays every held event after it.
    pub fn subscribe(&self, last_event_id: Option<u64>) -> Subscription {
        let ring = self.lock();
        let live = LiveFrames::new(self.inner.live.subscribe());
        let mut gap = None;
        let replay = match last_event_id {
            Some(last) if last < ring.next_id - 1 => {
                let oldest_held = ring.frames.front().map_or(ring.next_id, |f| f.id);
                if last + 1 < oldest_held {
                    gap = Some(ReplayGap {
                        last_event_id: last,
                        oldest_held,
                    });
                }
                ring.frames.iter().filter(|f| f.id > last).cloned().collect()
            }
            // No id, up to date, or ahead of this hub (e.g. it restarted): live only.
            _ => VecDeque::new(),
        };
        drop(ring);
        Subscription { replay, live, gap }
    }

    /// Number of events published so far.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }

    /// Id of the newest event, 0 before the first.
    pub fn last_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// Encoded bytes the replay ring holds now.
    pub fn replay_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Subscribers currently attached.
    pub fn subscribers(&self) -> usize {
        self.inner.live.receiver_count()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.inner.ring.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn ids(sub: &Subscription) -> Vec<u64> {
        sub.replay.iter().map(|f| f.id).collect()
    }

    #[test]
    fn ids_are_monotonic_from_one() {
        let hub = Hub::new(8);
        assert_eq!(hub.publish(None, b"a").unwrap(), 1);
        assert_eq!(hub.publish(Some("x"), b"b").unwrap(), 2);
        assert_eq!(hub.last_id(), 2);
        assert_eq!(hub.published(), 2);
    }

    #[test]
    fn replay_after_last_event_id() {
        let hub = Hub::new(8);
        for _ in 0..5 {
            hub.publish(None, b"e").unwrap();
        }
        let sub = hub.subscribe(Some(2));
        assert_eq!(ids(&sub), vec![3, 4, 5]);
        assert_eq!(sub.gap, None);
        assert!(hub.subscribe(Some(5)).replay.is_empty());
        assert!(hub.subscribe(Some(99)).replay.is_empty());
        assert!(hub.subscribe(None).replay.is_empty());
    }

    #[test]
    fn id_older_than_ring_reports_gap() {
        let hub = Hub::new(4);
        for _ in 0..10 {
            hub.publish(None, b"e").unwrap();
        }
        let sub = hub.subscribe(Some(2));
        assert_eq!(ids(&sub), vec![7, 8, 9, 10]);
        let gap = sub.gap.unwrap();
        assert_eq!(gap.oldest_held, 7);
        assert_eq!(gap.missed(), 4);
        assert_eq!(hub.subscribe(Some(6)).gap, None);
        assert_eq!(hub.subscribe(Some(0)).gap.unwrap().missed(), 6);
    }

    #[test]
    fn ring_is_bounded_in_bytes_and_events_in_size() {
        let limits = HubLimits {
            replay_bytes: 100,
            max_event_bytes: 40,
        };
        let hub = Hub::with_limits(1000, limits);
        // "id: N\ndata: " + 20 bytes + "\n\n" = 34 bytes for N < 10.
        for _ in 0..9 {
            hub.publish(None, &[b'x'; 20]).unwrap();
        }
        assert_eq!(hub.replay_bytes(), 2 * 34, "a third event would pass 100 bytes");
        assert_eq!(ids(&hub.subscribe(Some(0))), vec![8, 9]);
        assert_eq!(
            hub.publish(None, &[b'x'; 30]),
            Err(FrameError::TooLarge { len: 45, max: 40 })
        );
        assert_eq!(hub.last_id(), 9, "a refused event takes no id");
    }

    #[tokio::test]
    async fn live_events_follow_replay_without_duplicates() {
        let hub = Hub::new(8);
        hub.publish(None, b"1").unwrap();
        hub.publish(None, b"2").unwrap();
        let mut sub = hub.subscribe(Some(1));
        hub.publish(None, b"3").unwrap();
        assert_eq!(ids(&sub), vec![2]);
        let live = sub.live.next().await.unwrap().unwrap();
        assert_eq!(live.id, 3);
        assert_eq!(&live.bytes[..], b"id: 3\ndata: 3\n\n");
    }
}
