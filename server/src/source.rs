//! Frame sources: hub subscriptions (`/events`) and per-connection generators (`/sse`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::frame::Event;
use crate::hub::{Frame, Subscription};
use crate::live::LiveFrames;
use crate::metrics::{Counters, bump};
use crate::stream::FrameSource;

/// Frames of a hub subscription: an optional notice, the replay, then live events.
#[derive(Debug)]
pub struct HubSource {
    notice: Option<Bytes>,
    replay: VecDeque<Frame>,
    live: LiveFrames,
    counters: Arc<Counters>,
}

impl HubSource {
    /// Wraps a subscription. When the client's Last-Event-ID was older than the replay
    /// ring, the stream opens with an `event: replay-gap` event (no id, so the client's
    /// last id is unchanged) whose data is `{"last_event_id":N,"oldest_held":M,"missed":K}`.
    pub fn new(subscription: Subscription, counters: Arc<Counters>) -> Self {
        let notice = subscription.gap.and_then(|gap| {
            let data = format!(
                r#"{{"last_event_id":{},"oldest_held":{},"missed":{}}}"#,
                gap.last_event_id,
                gap.oldest_held,
                gap.missed()
            );
            Event::data(data.as_bytes()).event("replay-gap").encode().ok()
        });
        Self {
            notice,
            replay: subscription.replay,
            live: subscription.live,
            counters,
        }
    }

    /// Test only: never yields the event with this id (see `--test-drop-event`).
    pub fn dropping(self, id: u64) -> Dropping {
        Dropping { source: self, id }
    }

    /// The next frame with its id (the replay-gap notice has id 0). Inlined, so that
    /// [`HubSource`]'s own `poll_frame` compiles to the frame's bytes directly.
    #[inline(always)]
    fn poll_hub_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        if let Some(notice) = self.notice.take() {
            return Poll::Ready(Some(Frame { id: 0, bytes: notice }));
        }
        if let Some(frame) = self.replay.pop_front() {
            return Poll::Ready(Some(frame));
        }
        match Pin::new(&mut self.live).poll_next(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(frame)),
            Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed)))) => {
                // Skipping ahead would hide the loss from the client; end the stream so
                // it reconnects with Last-Event-ID and resumes from the replay ring.
                bump(&self.counters.clients_lagged);
                tracing::debug!(missed, "subscriber lagged behind the hub; ending its stream");
                Poll::Ready(None)
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl FrameSource for HubSource {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        self.poll_hub_frame(cx)
            .map(|frame| frame.map(|frame| frame.bytes))
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        // What the channel already holds is bounded by its capacity.
        match self.poll_frame(cx) {
            Poll::Pending => Poll::Ready(None),
            ready => ready,
        }
    }
}

/// Test only: a hub subscription that never yields one event id (`--test-drop-event`).
///
/// The `/events` route picks this source at setup only when the knob is on, so the
/// ordinary path does not even compare ids.
#[derive(Debug)]
pub struct Dropping {
    source: HubSource,
    id: u64,
}

impl FrameSource for Dropping {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            match self.source.poll_hub_frame(cx) {
                // Id 0 is the replay-gap notice, never a hub event.
                Poll::Ready(Some(frame)) if frame.id == self.id && frame.id != 0 => continue,
                poll => return poll.map(|frame| frame.map(|frame| frame.bytes)),
            }
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.poll_frame(cx) {
            Poll::Pending => Poll::Ready(None),
            ready => ready,
        }
    }
}

/// How far a generated stream may fall behind its schedule before it starts again from
/// now (one second: a stalled or slow client is not sent a burst of old events).
pub const MAX_LAG: Duration = Duration::from_secs(1);

/// Settings of a generated stream (`/sse`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Generated {
    /// Interval between events, kept on an absolute schedule (up to [`MAX_LAG`] behind);
    /// zero sends as fast as the client takes them.
    pub delay: Duration,
    /// Stop after this many events (`None`: never).
    pub count: Option<u64>,
    /// Pad the data of each event to this many bytes.
    pub size: usize,
    /// The first id to send (1, or Last-Event-ID + 1 for a resumed client); `None`
    /// when the client already saw `u64::MAX`, the last id there is.
    pub first_id: Option<u64>,
}

/// A per-connection generator: `id: N` / `data: event-N` padded with `.` to `size` bytes.
pub struct GeneratedSource {
    spec: Generated,
    /// `None` once `u64::MAX` was sent: ids never wrap, the stream ends instead.
    next_id: Option<u64>,
    sent: u64,
    data: Vec<u8>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl GeneratedSource {
    /// A generator following `spec`.
    pub fn new(spec: Generated) -> Self {
        Self {
            spec,
            next_id: spec.first_id,
            sent: 0,
            data: Vec::with_capacity(spec.size.max(32)),
            timer: (!spec.delay.is_zero()).then(|| Box::pin(tokio::time::sleep(Duration::ZERO))),
        }
    }
}

impl FrameSource for GeneratedSource {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if self.spec.count.is_some_and(|count| self.sent >= count) {
            return Poll::Ready(None);
        }
        let Some(next_id) = self.next_id else {
            return Poll::Ready(None);
        };
        if let Some(timer) = self.timer.as_mut() {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            // The schedule is absolute (the n-th event is due at start + n × delay): a late
            // wake-up sends what is due at once instead of pushing every later event back,
            // so a loaded server keeps the asked rate. Further behind than `MAX_LAG` it
            // starts again from now rather than sending a long backlog in one burst.
            let due = timer.deadline() + self.spec.delay;
            let now = Instant::now();
            let next = if now.saturating_duration_since(due) > MAX_LAG {
                now
            } else {
                due
            };
            timer.as_mut().reset(next);
        }
        let mut digits = itoa::Buffer::new();
        let id = digits.format(next_id);
        // The data buffer is reused: the only allocation per event is its encoding.
        self.data.clear();
        self.data.extend_from_slice(b"event-");
        self.data.extend_from_slice(id.as_bytes());
        if self.data.len() < self.spec.size {
            self.data.resize(self.spec.size, b'.');
        }
        let frame = Event::data(&self.data).id(id).encode().ok();
        self.next_id = next_id.checked_add(1);
        self.sent += 1;
        Poll::Ready(frame)
    }
}
