//! A counting global allocator: forwards every call to the system allocator and counts
//! the allocations (and the bytes they asked for) made on the calling thread while a
//! [`count`] is running there.
//!
//! A test binary installs it once:
//! ```text
//! #[global_allocator]
//! static ALLOCATOR: testkit::alloc::Counting = testkit::alloc::Counting;
//! ```
//! and measures a closure with [`count`]. Only the measuring thread's allocations count,
//! so the test harness's other threads (other tests, output capture) never disturb a
//! figure; a closure that hands work to other threads does not see their allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static BYTES: Cell<u64> = const { Cell::new(0) };
}

/// What a measured closure allocated on its thread.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allocations {
    /// Calls to `alloc`, `alloc_zeroed` and `realloc`.
    pub count: u64,
    /// Bytes those calls asked for (a `realloc` counts its new size).
    pub bytes: u64,
}

fn note(size: usize) {
    // `try_with`: during thread teardown the thread-locals may be gone; those
    // allocations are not ours to count.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            let _ = BYTES.try_with(|n| n.set(n.get() + size as u64));
        }
    });
}

// SAFETY: defers every operation to the system allocator unchanged; the bookkeeping uses
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn totals() -> Allocations {
    Allocations {
        count: ALLOCATIONS.with(Cell::get),
        bytes: BYTES.with(Cell::get),
    }
}

/// Counting on this thread from [`Counter::start`] to [`Counter::stop`], for code that
/// cannot be one closure (an `async` block on a current-thread runtime, say).
#[derive(Debug)]
#[must_use = "stop the counter to read what was allocated"]
pub struct Counter {
    before: Allocations,
}

impl Counter {
    /// Starts counting this thread's allocations.
    pub fn start() -> Self {
        let before = totals();
        COUNTING.with(|on| on.set(true));
        Self { before }
    }

    /// Stops counting; what was allocated on this thread since [`Counter::start`].
    pub fn stop(self) -> Allocations {
        COUNTING.with(|on| on.set(false));
        let after = totals();
        Allocations {
            count: after.count - self.before.count,
            bytes: after.bytes - self.before.bytes,
        }
    }
}

/// Runs `f` and returns its result with what it allocated on this thread. Counts only
/// when [`Counting`] is the global allocator (otherwise every figure is 0). Not reentrant:
/// a count inside `f` ends the outer one's counting early.
pub fn count<T>(f: impl FnOnce() -> T) -> (T, Allocations) {
    let counter = Counter::start();
    let out = f();
    (out, counter.stop())
}
