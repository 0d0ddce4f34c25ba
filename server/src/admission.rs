//! Who holds a connection slot: `--max-connections` counts only connections that sent a complete request head.
//!
//! ## Unfinished connections
//! A connection is *unfinished* from accept until its first request head is complete.
//! Unfinished connections do not count against `--max-connections`, so a crowd of
//! clients that connect and then send nothing (or one header byte at a time) cannot
//! lock real clients out. They are bounded twice instead: each is closed after
//! `--header-timeout`, and at most `--max-pending-connections` of them are open: when
//! one more arrives, the oldest unfinished connection is closed (a real client finishes
//! its head within milliseconds, so the oldest is the likeliest to be hostile).
//!
//! ## Admission
//! When a connection's first request head is complete, the connection is *admitted* if
//! fewer than `--max-connections` are; it then keeps its slot until it closes. At the
//! cap, `/health`, `/metrics` and `/metrics/prometheus` are still answered (the
//! connection is closed after the answer and never takes a slot), so a monitor can
//! always see an overloaded server; any other request is answered 503 with
//! `Retry-After: 1`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::metrics::{Counters, bump};

/// Paths answered even when every connection slot is taken.
pub const ALWAYS_ANSWERED: [&str; 3] = ["/health", "/metrics", "/metrics/prometheus"];

/// What happens to a request of a connection that is not admitted yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The connection holds a slot; serve normally.
    Admitted,
    /// At the cap, but the path is always answered: serve, then close the connection.
    Exempt,
    /// At the cap: answer 503 and close.
    Rejected,
}

/// The state of one connection that its task, its requests and the admission share.
#[derive(Debug, Default)]
pub struct ConnShared {
    admitted: AtomicBool,
    closed: AtomicBool,
    active: AtomicU32,
    /// Woken when the last request in flight finishes (the idle timer starts).
    pub idle: Notify,
    /// Woken when this unfinished connection is closed to make room for a newer one.
    pub evict: Notify,
}

impl ConnShared {
    /// Whether the connection has been admitted (it sent a complete request head).
    pub fn admitted(&self) -> bool {
        self.admitted.load(Ordering::Acquire)
    }

    /// Requests whose response has not been finished (or dropped) yet.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Acquire)
    }
}

/// Counts a request in flight on its connection until dropped (held by the response body).
#[derive(Debug)]
pub struct InFlight(Arc<ConnShared>);

impl InFlight {
    /// Counts one more request in flight on `conn`.
    pub fn new(conn: Arc<ConnShared>) -> Self {
        conn.active.fetch_add(1, Ordering::AcqRel);
        Self(conn)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_one();
        }
    }
}

/// The connection limits of one server.
#[derive(Debug)]
pub struct Admission {
    max_connections: u64,
    max_pending: usize,
    admitted: AtomicU64,
    /// Unfinished connections, oldest first (finished ones are pruned lazily from the front).
    pending: Mutex<VecDeque<Arc<ConnShared>>>,
    counters: Arc<Counters>,
}

impl Admission {
    /// Limits for `max_connections` admitted and `max_pending` unfinished connections.
    pub fn new(max_connections: usize, max_pending: usize, counters: Arc<Counters>) -> Self {
        Self {
            max_connections: max_connections as u64,
            max_pending: max_pending.max(1),
            admitted: AtomicU64::new(0),
            pending: Mutex::new(VecDeque::new()),
            counters,
        }
    }

    /// Registers a newly accepted connection as unfinished; closes the oldest unfinished
    /// one when there are `--max-pending-connections` already.
    pub fn accept(&self) -> Arc<ConnShared> {
        let conn = Arc::new(ConnShared::default());
        let unfinished = self
            .counters
            .connections_unfinished
            .fetch_add(1, Ordering::AcqRel)
            + 1;
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        // Drop admitted and closed connections from the front; every unfinished one is
        // gone within --header-timeout, so the queue holds at most that much history.
        while pending
            .front()
            .is_some_and(|c| c.admitted() || c.closed.load(Ordering::Acquire))
        {
            pending.pop_front();
        }
        if unfinished as usize > self.max_pending {
            while let Some(oldest) = pending.pop_front() {
                if !oldest.admitted() && !oldest.closed.load(Ordering::Acquire) {
                    oldest.evict.notify_one();
                    bump(&self.counters.connections_pending_evicted);
                    break;
                }
            }
        }
        pending.push_back(Arc::clone(&conn));
        conn
    }

    /// Decides about a request of `conn` for `path`; admits the connection if it may.
    pub fn on_request(&self, conn: &ConnShared, path: &str) -> Verdict {
        if self.try_admit(conn) {
            return Verdict::Admitted;
        }
        if ALWAYS_ANSWERED.contains(&path) {
            Verdict::Exempt
        } else {
            bump(&self.counters.connections_rejected);
            Verdict::Rejected
        }
    }

    /// Admits `conn` if it is admitted already or a slot is free; counts nothing when
    /// not (the request then goes on to [`Admission::on_request`], which answers it).
    pub fn try_admit(&self, conn: &ConnShared) -> bool {
        if conn.admitted() {
            return true;
        }
        if self.admitted.fetch_add(1, Ordering::AcqRel) < self.max_connections {
            if conn.admitted.swap(true, Ordering::AcqRel) {
                // Another stream of the same HTTP/2 connection admitted it first.
                self.admitted.fetch_sub(1, Ordering::AcqRel);
            } else {
                self.counters
                    .connections_unfinished
                    .fetch_sub(1, Ordering::AcqRel);
            }
            return true;
        }
        self.admitted.fetch_sub(1, Ordering::AcqRel);
        false
    }

    /// Releases what `conn` held; called once when its connection closes.
    pub fn on_close(&self, conn: &ConnShared) {
        conn.closed.store(true, Ordering::Release);
        if conn.admitted() {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
        } else {
            self.counters
                .connections_unfinished
                .fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfinished_connections_do_not_take_slots() {
        let counters = Arc::new(Counters::default());
        let admission = Admission::new(1, 3, Arc::clone(&counters));
        let slow: Vec<_> = (0..3).map(|_| admission.accept()).collect();
        let real = admission.accept();
        // The fourth unfinished connection made the oldest one go.
        assert_eq!(counters.connections_pending_evicted.load(Ordering::Relaxed), 1);
        assert_eq!(admission.on_request(&real, "/events"), Verdict::Admitted);
        assert_eq!(admission.on_request(&real, "/events"), Verdict::Admitted);
        assert_eq!(admission.on_request(&slow[1], "/events"), Verdict::Rejected);
        assert_eq!(admission.on_request(&slow[1], "/health"), Verdict::Exempt);
        assert!(!slow[1].admitted());
        admission.on_close(&real);
        assert_eq!(admission.on_request(&slow[2], "/events"), Verdict::Admitted);
        for conn in &slow {
            admission.on_close(conn);
        }
        assert_eq!(counters.connections_unfinished.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn in_flight_wakes_the_idle_timer_when_the_last_request_ends() {
        let conn = Arc::new(ConnShared::default());
        let a = InFlight::new(Arc::clone(&conn));
        let b = InFlight::new(Arc::clone(&conn));
        assert_eq!(conn.active(), 2);
        drop(a);
        assert_eq!(conn.active(), 1);
        drop(b);
        assert_eq!(conn.active(), 0);
        // The permit is stored: a later `notified()` completes at once.
        let notified = conn.idle.notified();
        futures_util::pin_mut!(notified);
        assert!(
            futures_util::FutureExt::now_or_never(notified).is_some(),
            "idle was notified"
        );
    }
}
