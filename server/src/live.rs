//! The live half of a hub subscription: the broadcast receiver as a stream that costs little per frame.
//!
//! # Hot path
//! Frames are awaited with a reusable boxed `recv` future (boxed once per subscriber, as
//! `tokio_stream`'s `BroadcastStream` does), which registers the waker; the frame that
//! future yields hands the receiver back. When the future yields a frame at once, without
//! waiting, frames are queued (a backlog): the next ones are taken with
//! [`Receiver::try_recv`], a slot read lock and a reference-count bump and no future,
//! until the channel is empty. `BroadcastStream` builds and polls a fresh `recv` future
//! for every frame, about 300 instructions more per frame of a backlog in the
//! `stream/deliver` instruction bench. A frame that arrives alone (a wake-up per event)
//! takes the future's path only, as with `BroadcastStream`: trying `try_recv` first would
//! cost one failed attempt (three lock operations) per event.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::Stream;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::ReusableBoxFuture;

use crate::hub::Frame;

/// What the waiting future yields: the result and the receiver back.
type Received = (Result<Frame, RecvError>, Receiver<Frame>);

/// A hub subscriber's live frames; a [`Stream`] of frames or of the events it lagged by.
pub struct LiveFrames {
    /// The receiver, while no frame is awaited (`None` while `waiting` holds it).
    ready: Option<Receiver<Frame>>,
    /// The last frame was already queued when asked for: take the next with `try_recv`.
    draining: bool,
    /// Awaits the next frame when the channel was empty.
    waiting: ReusableBoxFuture<'static, Received>,
}

/// Awaits the next frame on `receiver`, then gives the receiver back.
async fn recv(mut receiver: Receiver<Frame>) -> Received {
    let result = receiver.recv().await;
    (result, receiver)
}

impl LiveFrames {
    /// Frames sent on the channel after `receiver` was made.
    pub fn new(receiver: Receiver<Frame>) -> Self {
        Self {
            ready: None,
            draining: false,
            waiting: ReusableBoxFuture::new(recv(receiver)),
        }
    }
}

impl Stream for LiveFrames {
    type Item = Result<Frame, BroadcastStreamRecvError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.draining {
            if let Some(receiver) = this.ready.as_mut() {
                match receiver.try_recv() {
                    Ok(frame) => return Poll::Ready(Some(Ok(frame))),
                    Err(TryRecvError::Lagged(missed)) => {
                        return Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(missed))));
                    }
                    Err(TryRecvError::Closed) => return Poll::Ready(None),
                    Err(TryRecvError::Empty) => this.draining = false,
                }
            }
        }
        // Set here (not woken from a wait): a frame it yields at once was already queued.
        let fresh = match this.ready.take() {
            Some(receiver) => {
                // Same future type, same layout: the box is reused, nothing allocated.
                this.waiting.set(recv(receiver));
                true
            }
            None => false,
        };
        let (result, receiver) = ready!(this.waiting.poll(cx));
        this.ready = Some(receiver);
        this.draining = fresh;
        Poll::Ready(match result {
            Ok(frame) => Some(Ok(frame)),
            Err(RecvError::Lagged(missed)) => Some(Err(BroadcastStreamRecvError::Lagged(missed))),
            Err(RecvError::Closed) => None,
        })
    }
}

impl fmt::Debug for LiveFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveFrames")
            .field("waiting", &self.ready.is_none())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures_util::{FutureExt, StreamExt};
    use tokio::sync::broadcast;

    fn frame(id: u64) -> Frame {
        Frame {
            id,
            bytes: Bytes::from_static(b"data: x\n\n"),
        }
    }

    #[tokio::test]
    async fn frames_come_in_order_whether_queued_or_awaited() {
        let (sender, receiver) = broadcast::channel(8);
        let mut live = LiveFrames::new(receiver);
        assert!(live.next().now_or_never().is_none(), "empty: waits");
        sender.send(frame(1)).unwrap();
        sender.send(frame(2)).unwrap();
        sender.send(frame(3)).unwrap();
        // The first comes from the waiting future, the second from a fresh one (at once:
        // a backlog), the third from `try_recv`.
        for id in 1..=3 {
            assert_eq!(live.next().await.unwrap().unwrap().id, id);
        }
        assert!(live.next().now_or_never().is_none(), "empty again: waits");
        let waiting = tokio::spawn(async move { live.next().await.map(|r| r.unwrap().id) });
        tokio::task::yield_now().await;
        sender.send(frame(4)).unwrap();
        let woken = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
            .await
            .expect("a waiting stream is woken within 10 s");
        assert_eq!(woken.unwrap(), Some(4), "a waiting stream is woken");
    }

    #[tokio::test]
    async fn a_lagging_receiver_is_told_and_a_closed_channel_ends() {
        let (sender, receiver) = broadcast::channel(2);
        let mut live = LiveFrames::new(receiver);
        sender.send(frame(1)).unwrap();
        assert_eq!(live.next().await.unwrap().unwrap().id, 1);
        for id in 2..=5 {
            sender.send(frame(id)).unwrap();
        }
        assert_eq!(
            live.next().await.unwrap().unwrap_err(),
            BroadcastStreamRecvError::Lagged(2)
        );
        assert_eq!(live.next().await.unwrap().unwrap().id, 4);
        drop(sender);
        assert_eq!(live.next().await.unwrap().unwrap().id, 5);
        assert!(live.next().await.is_none());
    }
}
