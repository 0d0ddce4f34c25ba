//! Per-worker statistics: histograms by metric, event and connection counts, merged at the end.
//!
//! Clients are spread over a fixed number of shards ("workers"); each shard owns one
//! histogram per [`Metric`]. A client buffers its samples in a fixed array
//! ([`Pending`]) while it parses a chunk and flushes them under the shard's lock once per
//! chunk (the lock is never held across an `.await`). At the end the shards are merged
//! into one [`Totals`]. Memory is fixed by the number of shards, never by the run length.

use crate::client::ErrorKind;
use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hdrhistogram::Histogram;

use super::histogram::{self, micros};
use super::sequence::SequenceCounts;

/// What a latency sample measures. The names are the report's `latency` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// Request sent → response headers received.
    TimeToHeaders,
    /// Connect started → first event parsed.
    TimeToFirstEvent,
    /// Gap between consecutive events of one stream.
    InterEvent,
    /// Gap between consecutive events, corrected for coordinated omission.
    InterEventCorrected,
    /// Publish time stamped in the event → receive time (same host clock).
    PublishToReceive,
    /// SIGTERM sent to the server → the client saw its stream end.
    StreamEnd,
    /// Stream dropped by the client → first event on the resumed stream.
    ReconnectGap,
    /// Frozen client connected → the server counted it evicted.
    Eviction,
}

impl Metric {
    /// Number of metrics.
    pub const COUNT: usize = 8;

    /// Every metric, in index order.
    pub const ALL: [Metric; Self::COUNT] = [
        Self::TimeToHeaders,
        Self::TimeToFirstEvent,
        Self::InterEvent,
        Self::InterEventCorrected,
        Self::PublishToReceive,
        Self::StreamEnd,
        Self::ReconnectGap,
        Self::Eviction,
    ];

    /// The report's latency key.
    pub fn key(self) -> &'static str {
        match self {
            Self::TimeToHeaders => "time_to_headers",
            Self::TimeToFirstEvent => "time_to_first_event",
            Self::InterEvent => "inter_event",
            Self::InterEventCorrected => "inter_event_corrected",
            Self::PublishToReceive => "publish_to_receive",
            Self::StreamEnd => "stream_end",
            Self::ReconnectGap => "reconnect_gap",
            Self::Eviction => "eviction",
        }
    }

    /// One line: what is timed, from where to where.
    pub fn measured(self) -> &'static str {
        match self {
            Self::TimeToHeaders => "client: TCP connect started -> HTTP response headers received",
            Self::TimeToFirstEvent => "client: TCP connect started -> first event parsed",
            Self::InterEvent | Self::InterEventCorrected => {
                "client: receive time of an event -> receive time of the next event on the same stream (receive time: when the read that delivered it returned; events of one read share it)"
            }
            Self::PublishToReceive => {
                "server publish stamp (t=unix-nanos in the data) -> when the client's read that delivered the event returned, same host clock"
            }
            Self::StreamEnd => "generator sent SIGTERM to the server -> client saw its stream end",
            Self::ReconnectGap => {
                "client dropped its stream -> first event on the stream resumed with Last-Event-ID"
            }
            Self::Eviction => {
                "frozen client connected -> server counted it evicted (/metrics clients_evicted, polled)"
            }
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Connection outcome counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnCounts {
    /// Connections tried.
    pub attempted: u64,
    /// Connections that got an event stream.
    pub succeeded: u64,
    /// Connections that failed before the stream started.
    pub failed: u64,
    /// Streams ended by the server with a clean end of body.
    pub ended_clean: u64,
    /// Streams ended by a reset or I/O error.
    pub ended_reset: u64,
}

impl ConnCounts {
    fn add(&mut self, other: &ConnCounts) {
        self.attempted += other.attempted;
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.ended_clean += other.ended_clean;
        self.ended_reset += other.ended_reset;
    }
}

/// What one logical client reports when it finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClientSummary {
    /// Its event sequence counts.
    pub events: SequenceCounts,
    /// Keep-alive comments it received.
    pub comments: u64,
    /// Body bytes it received.
    pub bytes: u64,
    /// Its connection outcomes.
    pub connections: ConnCounts,
    /// Events per second over the time it held a stream (None if it never did).
    pub events_per_sec: Option<f64>,
}

/// One worker's statistics.
#[derive(Debug, Default)]
pub struct Shard {
    histograms: [Option<Histogram<u64>>; Metric::COUNT],
    totals: Counts,
}

/// Counts over many clients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counts {
    /// Event sequence counts.
    pub events: SequenceCounts,
    /// Keep-alive comments.
    pub comments: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Connection outcomes.
    pub connections: ConnCounts,
    /// Errors by kind name ([`ErrorKind::name`], [`ErrorKind::name_on_stream`]).
    pub errors: BTreeMap<&'static str, u64>,
    /// Events per second of each client that held a stream (bounded by the client count).
    pub per_client_rates: Vec<f64>,
    /// Events each client received over the whole run (bounded by the client count).
    pub per_client_events: Vec<u64>,
}

impl Shard {
    /// A shard whose histograms for every metric clients record exist already, so that
    /// creating them (about 180 KB each, zeroed page by page) happens while a run is set
    /// up rather than inside its measured window and on its clients' first events. A
    /// histogram that stays empty counts as absent when the shards merge.
    pub fn with_histograms() -> Self {
        let mut shard = Self::default();
        for metric in Metric::ALL {
            if metric != Metric::Eviction {
                shard.histograms[metric.index()] = Some(histogram::new_histogram());
            }
        }
        shard
    }

    /// Records one sample (allocates the metric's histogram on first use only).
    pub fn record(&mut self, metric: Metric, value_us: u64) {
        self.record_n(metric, value_us, 1);
    }

    /// Records `count` equal samples at once.
    pub fn record_n(&mut self, metric: Metric, value_us: u64, count: u64) {
        self.histograms[metric.index()]
            .get_or_insert_with(histogram::new_histogram)
            .saturating_record_n(value_us, count);
    }

    /// Records an inter-event gap, raw and corrected for an intended interval.
    pub fn record_scheduled(&mut self, gap: Duration, expected: Duration) {
        self.record_scheduled_n(micros(gap), micros(expected), 1);
    }

    /// Records `count` equal inter-event gaps (µs), raw and corrected for an intended
    /// interval (µs).
    pub fn record_scheduled_n(&mut self, gap_us: u64, interval_us: u64, count: u64) {
        // Two slots of one array: take the corrected histogram out (a move of its handle,
        // not of its buckets) to borrow both at once.
        let corrected_slot = Metric::InterEventCorrected.index();
        let mut corrected = self.histograms[corrected_slot]
            .take()
            .unwrap_or_else(histogram::new_histogram);
        let raw = self.histograms[Metric::InterEvent.index()].get_or_insert_with(histogram::new_histogram);
        histogram::record_n_with_schedule(raw, &mut corrected, gap_us, interval_us, count);
        self.histograms[corrected_slot] = Some(corrected);
    }

    /// Adds a finished client's summary.
    pub fn finish_client(&mut self, summary: &ClientSummary) {
        let t = &mut self.totals;
        t.events.add(&summary.events);
        t.comments += summary.comments;
        t.bytes += summary.bytes;
        t.connections.add(&summary.connections);
        if let Some(rate) = summary.events_per_sec {
            t.per_client_rates.push(rate);
        }
        t.per_client_events.push(summary.events.received);
    }

    /// Counts a failed connect of `kind` (e.g. `http_503`, `connect_refused`).
    pub fn error(&mut self, kind: ErrorKind) {
        *self.totals.errors.entry(kind.name()).or_default() += 1;
    }

    /// Counts a failure of `kind` on a stream that was open (`stream_reset`, ...).
    pub fn stream_error(&mut self, kind: ErrorKind) {
        *self.totals.errors.entry(kind.name_on_stream()).or_default() += 1;
    }
}

/// A client's samples waiting to be flushed into its shard: fixed size, no allocation.
///
/// A sample equal to the one buffered just before it (same metric, same microsecond;
/// for gaps, same interval) only increments that entry's count, so the events of one
/// chunk, which share a receive time and hence a gap of 0, cost one histogram update
/// at the flush instead of one each.
#[derive(Debug)]
pub struct Pending {
    samples: [(Metric, u64, u64); Self::CAPACITY],
    len: usize,
    gaps: [(u64, u64, u64); Self::CAPACITY],
    gaps_len: usize,
}

impl Default for Pending {
    fn default() -> Self {
        Self {
            samples: [(Metric::InterEvent, 0, 0); Self::CAPACITY],
            len: 0,
            gaps: [(0, 0, 0); Self::CAPACITY],
            gaps_len: 0,
        }
    }
}

impl Pending {
    /// Distinct samples held before a flush is forced.
    pub const CAPACITY: usize = 64;

    /// Buffers a sample; flushes into `shard` first when full.
    pub fn push(&mut self, shard: &Mutex<Shard>, metric: Metric, d: Duration) {
        let value = micros(d);
        if let Some(last) = self.len.checked_sub(1).map(|i| &mut self.samples[i])
            && last.0 == metric
            && last.1 == value
        {
            last.2 += 1;
            return;
        }
        if self.len == Self::CAPACITY {
            self.flush(shard);
        }
        self.samples[self.len] = (metric, value, 1);
        self.len += 1;
    }

    /// Buffers an inter-event gap with its intended interval (see [`Shard::record_scheduled`]).
    pub fn push_gap(&mut self, shard: &Mutex<Shard>, gap: Duration, expected: Option<Duration>) {
        let Some(expected) = expected else {
            return self.push(shard, Metric::InterEvent, gap);
        };
        let (gap, interval) = (micros(gap), micros(expected));
        if let Some(last) = self.gaps_len.checked_sub(1).map(|i| &mut self.gaps[i])
            && last.0 == gap
            && last.1 == interval
        {
            last.2 += 1;
            return;
        }
        if self.gaps_len == Self::CAPACITY {
            self.flush(shard);
        }
        self.gaps[self.gaps_len] = (gap, interval, 1);
        self.gaps_len += 1;
    }

    /// Moves the buffered samples into `shard` under one short lock.
    pub fn flush(&mut self, shard: &Mutex<Shard>) {
        if self.len == 0 && self.gaps_len == 0 {
            return;
        }
        let mut shard = lock(shard);
        for &(metric, value, count) in &self.samples[..self.len] {
            shard.record_n(metric, value, count);
        }
        for &(gap, interval, count) in &self.gaps[..self.gaps_len] {
            shard.record_scheduled_n(gap, interval, count);
        }
        self.len = 0;
        self.gaps_len = 0;
    }
}

/// Locks a shard, recovering it if a panicking holder poisoned it.
pub fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Every shard's figures merged.
#[derive(Debug, Default)]
pub struct Totals {
    /// Merged histograms by metric (absent when nothing was recorded).
    pub histograms: BTreeMap<Metric, Histogram<u64>>,
    /// Merged counts.
    pub counts: Counts,
}

impl Totals {
    /// Merges `shards` (consumed).
    pub fn merge(shards: impl IntoIterator<Item = Shard>) -> Self {
        let mut totals = Totals::default();
        for shard in shards {
            for (metric, hist) in Metric::ALL.into_iter().zip(shard.histograms) {
                let Some(hist) = hist.filter(|h| !h.is_empty()) else {
                    continue;
                };
                match totals.histograms.get_mut(&metric) {
                    Some(into) => histogram::merge(into, &hist),
                    None => {
                        totals.histograms.insert(metric, hist);
                    }
                }
            }
            let c = &mut totals.counts;
            let s = shard.totals;
            c.events.add(&s.events);
            c.comments += s.comments;
            c.bytes += s.bytes;
            c.connections.add(&s.connections);
            for (kind, n) in s.errors {
                *c.errors.entry(kind).or_default() += n;
            }
            c.per_client_rates.extend(s.per_client_rates);
            c.per_client_events.extend(s.per_client_events);
        }
        totals
    }

    /// The merged histogram of `metric`, if anything was recorded.
    pub fn histogram(&self, metric: Metric) -> Option<&Histogram<u64>> {
        self.histograms.get(&metric).filter(|h| !h.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_flushes_into_shards_and_shards_merge() {
        let shards: Vec<Mutex<Shard>> = (0..2).map(|_| Mutex::new(Shard::default())).collect();
        let mut pending = Pending::default();
        for i in 0..200u64 {
            pending.push(
                &shards[0],
                Metric::TimeToFirstEvent,
                Duration::from_micros(100 + i),
            );
            pending.push_gap(
                &shards[1],
                Duration::from_millis(30),
                Some(Duration::from_millis(10)),
            );
        }
        pending.flush(&shards[0]);
        let unavailable = ErrorKind::Status(crate::client::StatusKind::ServiceUnavailable);
        lock(&shards[1]).error(unavailable);
        lock(&shards[0]).error(unavailable);
        lock(&shards[0]).stream_error(ErrorKind::Reset);
        lock(&shards[0]).finish_client(&ClientSummary {
            events_per_sec: Some(5.0),
            bytes: 10,
            ..ClientSummary::default()
        });
        let totals = Totals::merge(shards.into_iter().map(|m| m.into_inner().unwrap()));
        assert_eq!(totals.histogram(Metric::TimeToFirstEvent).unwrap().len(), 200);
        assert_eq!(totals.histogram(Metric::InterEvent).unwrap().len(), 200);
        // Each 30 ms gap on a 10 ms schedule implies two more samples.
        assert_eq!(totals.histogram(Metric::InterEventCorrected).unwrap().len(), 600);
        assert_eq!(totals.counts.errors["http_503"], 2);
        assert_eq!(totals.counts.errors["stream_reset"], 1);
        assert_eq!(totals.counts.per_client_rates, vec![5.0]);
        assert!(totals.histogram(Metric::StreamEnd).is_none());
    }

    #[test]
    fn equal_samples_in_a_row_take_one_entry_and_keep_their_count() {
        let shard = Mutex::new(Shard::default());
        let mut pending = Pending::default();
        // A chunk of 1,000 events sharing one receive time: 1,000 gaps of 0 (1 µs).
        for _ in 0..1_000 {
            pending.push(&shard, Metric::InterEvent, Duration::ZERO);
            pending.push_gap(&shard, Duration::from_millis(35), Some(Duration::from_millis(10)));
        }
        assert_eq!((pending.len, pending.gaps_len), (1, 1));
        pending.push(&shard, Metric::InterEvent, Duration::from_micros(7));
        pending.push(&shard, Metric::InterEvent, Duration::ZERO);
        assert_eq!(pending.len, 3, "only neighbours merge");
        pending.flush(&shard);
        let totals = Totals::merge([shard.into_inner().unwrap()]);
        let gaps = totals.histogram(Metric::InterEvent).unwrap();
        assert_eq!(gaps.len(), 1_000 + 1_000 + 2);
        assert_eq!(gaps.count_at(1), 1_001);
        assert_eq!(gaps.count_at(7), 1);
        // Every 35 ms gap on a 10 ms schedule implies 2 more samples, counted per gap.
        let corrected = totals.histogram(Metric::InterEventCorrected).unwrap();
        assert_eq!(corrected.len(), 3_000);
    }
}
