//! What a reading client does with every received item: the per-event hot path.
//!
//! # Hot path
//! [`Recorder::on_item`] runs once per received item, for every client. It allocates
//! nothing and takes no lock: it updates the client's own [`SequenceTracker`] and buffers
//! latency samples (time to first event, inter-event gap, publish-to-receive, reconnect
//! gap) in a fixed [`Pending`] array. The array moves into the client's shard when it is
//! full and when the client stops; [`Recorder::flush`] moves it on demand.
//! `tests/scenarios.rs` counts the allocations of 10,000 events with a counting
//! allocator: zero.
//!
//! ## Receive time
//! An event's receive time is the time of the read that delivered it: the connection
//! reads the monotonic clock once per chunk, and every event parsed from that chunk
//! shares it (no interpolation; the parser gives no finer time that is not invented).
//! A resumed stream's replay (events published before its connect started, by their
//! send stamp) records no inter-event gaps: replayed events arrive back to back.
//!
//! Publish-to-receive needs Unix time: it is derived from that same instant through a
//! [`WallClock`] pairing, so no event costs a clock read of its own.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::{Item, event_number};
use crate::measure::clock::WallClock;
use crate::measure::send_time::SendTime;
use crate::measure::sequence::SequenceTracker;
use crate::measure::stats::{Metric, Pending, Shard};

/// The event the reference server sends before a replay that misses events; it carries
/// no id of its own, so it is not counted.
const REPLAY_GAP_EVENT: &str = "replay-gap";

/// Measurement state of one stream.
#[derive(Debug)]
pub struct Recorder<'a> {
    tracker: &'a mut SequenceTracker,
    pending: &'a mut Pending,
    shard: &'a Mutex<Shard>,
    expected_interval: Option<Duration>,
    connect_started: Instant,
    resumed_from: Option<Instant>,
    send_time: &'a SendTime,
    wall: WallClock,
    /// On a resumed stream: the Unix time (ns) its connect started, 0 otherwise. Events
    /// published before it are the replay, which adds no inter-event gap.
    replay_before: u64,
    last_event: Option<Instant>,
    events: u64,
    comments: u64,
}

impl<'a> Recorder<'a> {
    /// A recorder for a stream whose connect started at `connect_started`.
    ///
    /// `expected_interval` is the intended gap between events (for coordinated-omission
    /// correction), `resumed_from` when the previous stream was dropped (for the
    /// reconnect gap); `send_time` says where events carry their send time.
    pub fn new(
        tracker: &'a mut SequenceTracker,
        pending: &'a mut Pending,
        shard: &'a Mutex<Shard>,
        expected_interval: Option<Duration>,
        connect_started: Instant,
        resumed_from: Option<Instant>,
        send_time: &'a SendTime,
    ) -> Self {
        let mut wall = WallClock::now();
        let replay_before = resumed_from.map_or(0, |_| wall.unix_nanos_at(connect_started));
        Self {
            tracker,
            pending,
            shard,
            expected_interval,
            connect_started,
            resumed_from,
            send_time,
            replay_before,
            wall,
            last_event: None,
            events: 0,
            comments: 0,
        }
    }

    /// Records one item received at `at`. Hot path: no allocation, no lock (a full sample
    /// buffer is flushed, which takes the shard's lock once per 64 samples).
    pub fn on_item(&mut self, item: Item<'_>, at: Instant) {
        let event = match item {
            Item::Event(event) => event,
            Item::Comment(_) => {
                self.comments += 1;
                return;
            }
            Item::Retry(_) => return,
        };
        if event.event == REPLAY_GAP_EVENT {
            return;
        }
        if self.events == 0 {
            let first = at.saturating_duration_since(self.connect_started);
            self.pending.push(self.shard, Metric::TimeToFirstEvent, first);
            if let Some(dropped) = self.resumed_from {
                let gap = at.saturating_duration_since(dropped);
                self.pending.push(self.shard, Metric::ReconnectGap, gap);
            }
        }
        let published = self.send_time.read(event.data);
        // A resumed stream first replays what was published while it was away; those
        // events arrive back to back, so their gaps say nothing of the feed's rate.
        // One comparison per event: never true on a first stream (`replay_before` is 0).
        let replayed = published.unwrap_or(u64::MAX) < self.replay_before;
        if let Some(last) = self.last_event.filter(|_| !replayed) {
            let gap = at.saturating_duration_since(last);
            self.pending.push_gap(self.shard, gap, self.expected_interval);
        }
        self.last_event = Some(at);
        self.events += 1;
        match event.id.and_then(event_number) {
            Some(id) => self.tracker.observe(id),
            None => self.tracker.observe_untracked(),
        }
        if let Some(published) = published {
            let nanos = self.wall.unix_nanos_at(at).saturating_sub(published);
            self.pending
                .push(self.shard, Metric::PublishToReceive, Duration::from_nanos(nanos));
        }
    }

    /// Moves the buffered samples into the shard now (the reading client leaves them
    /// until the buffer is full or it stops).
    pub fn flush(&mut self) {
        self.pending.flush(self.shard);
    }

    /// Events recorded on this stream.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Keep-alive comments received on this stream.
    pub fn comments(&self) -> u64 {
        self.comments
    }

    /// Events received by the client's tracker so far (across resumed streams).
    pub fn received(&self) -> u64 {
        self.tracker.counts().received
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    use super::Recorder;
    use crate::client::{Event, Item};
    use crate::measure::send_time::SendTime;
    use crate::measure::sequence::SequenceTracker;
    use crate::measure::stats::{Metric, Pending, Shard, Totals};

    fn unix_nanos() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64
    }

    /// Feeds events `(id, published Unix ns)` to a recorder whose stream `resumed` or not;
    /// returns the inter-event gaps it recorded.
    fn gaps_recorded(events: &[(u64, u64)], resumed: bool) -> u64 {
        let shard = Mutex::new(Shard::default());
        let mut tracker = SequenceTracker::new(Some(1));
        let mut pending = Pending::default();
        let started = Instant::now();
        let send_time = SendTime::Reference;
        let mut recorder = Recorder::new(
            &mut tracker,
            &mut pending,
            &shard,
            None,
            started,
            resumed.then_some(started),
            &send_time,
        );
        for (i, &(id, published)) in events.iter().enumerate() {
            let id = id.to_string();
            let data = format!("t={published}");
            let event = Event {
                id: Some(&id),
                event: "message",
                data: data.as_bytes(),
            };
            recorder.on_item(Item::Event(event), started + Duration::from_millis(i as u64));
        }
        recorder.flush();
        let totals = Totals::merge([shard.into_inner().unwrap()]);
        totals.histogram(Metric::InterEvent).map_or(0, |h| h.len())
    }

    #[test]
    fn a_resumed_streams_replay_records_no_gaps() {
        let now = unix_nanos();
        let before = now - 5_000_000_000;
        let after = now + 5_000_000_000;
        // Three replayed events (published before the connect), then two live ones.
        let events = [(1, before), (2, before), (3, before), (4, after), (5, after)];
        // Resumed: only the gaps ending at a live event count.
        assert_eq!(gaps_recorded(&events, true), 2);
        // A first connection has no replay: every gap counts, whatever the stamps say.
        assert_eq!(gaps_recorded(&events, false), 4);
    }
}
