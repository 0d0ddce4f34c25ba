//! Event ids in order: gaps (lost), duplicates and out-of-order arrivals by numeric id.
//!
//! The tracker keeps the highest id seen and a fixed 1,024-id window of which ids below
//! it arrived, so it allocates nothing and costs a few instructions per event: the window
//! is a ring of bits indexed by `id % 1024`, so an id in order sets one bit (ids skipped
//! clear theirs) instead of shifting the whole window.
//!
//! An id above the highest counts the skipped ids as lost; an id inside the window that
//! was already seen is a duplicate; one not yet seen is out of order (and no longer lost).
//! Ids older than the window are counted as out of order.

/// Ids remembered below the highest one.
const WINDOW: u64 = 1024;
const WORDS: usize = (WINDOW / 64) as usize;

/// Counts of one client's event sequence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SequenceCounts {
    /// Events with an id (or without: they are counted here but not tracked).
    pub received: u64,
    /// Ids skipped and never seen (so far).
    pub lost: u64,
    /// Ids seen more than once.
    pub duplicated: u64,
    /// Ids that arrived after a higher one.
    pub out_of_order: u64,
}

impl SequenceCounts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &SequenceCounts) {
        self.received += other.received;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
    }
}

/// Tracks one logical client's ids across reconnections.
#[derive(Debug, Clone)]
pub struct SequenceTracker {
    /// Highest id seen; `None` before the first.
    highest: Option<u64>,
    /// The first id the client expects, when known (e.g. 1 on a fresh `/sse` stream).
    expected_first: Option<u64>,
    /// Bit `id % WINDOW` set: `id` was seen, for the ids in `highest - WINDOW + 1 ..= highest`.
    seen: [u64; WORDS],
    counts: SequenceCounts,
}

impl SequenceTracker {
    /// A tracker; with `expected_first`, ids skipped before the first event count as lost.
    pub fn new(expected_first: Option<u64>) -> Self {
        Self {
            highest: None,
            expected_first,
            seen: [0; WORDS],
            counts: SequenceCounts::default(),
        }
    }

    /// The highest id seen (what a client sends as `Last-Event-ID`).
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    /// The counts so far.
    pub fn counts(&self) -> SequenceCounts {
        self.counts
    }

    /// Counts an event whose id did not parse as a number (or was absent).
    pub fn observe_untracked(&mut self) {
        self.counts.received += 1;
    }

    /// Counts the event with `id`. Allocation-free.
    pub fn observe(&mut self, id: u64) {
        self.counts.received += 1;
        let Some(highest) = self.highest else {
            if let Some(first) = self.expected_first {
                self.counts.lost += id.saturating_sub(first);
            }
            self.highest = Some(id);
            self.seen = [0; WORDS];
            self.set(id);
            return;
        };
        if id > highest {
            let skipped = id - highest - 1;
            self.counts.lost += skipped;
            // The skipped ids' slots held ids now below the window: clear them.
            if skipped >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                for missing in highest + 1..id {
                    self.clear(missing);
                }
            }
            self.highest = Some(id);
            self.set(id);
            return;
        }
        if highest - id >= WINDOW {
            self.counts.out_of_order += 1;
        } else if self.get(id) {
            self.counts.duplicated += 1;
        } else {
            self.counts.out_of_order += 1;
            self.counts.lost = self.counts.lost.saturating_sub(1);
            self.set(id);
        }
    }

    /// The word and bit of `id`'s slot in the ring.
    fn slot(id: u64) -> (usize, u64) {
        let at = id % WINDOW;
        ((at / 64) as usize, 1 << (at % 64))
    }

    fn get(&self, id: u64) -> bool {
        let (word, bit) = Self::slot(id);
        self.seen[word] & bit != 0
    }

    fn set(&mut self, id: u64) {
        let (word, bit) = Self::slot(id);
        self.seen[word] |= bit;
    }

    fn clear(&mut self, id: u64) {
        let (word, bit) = Self::slot(id);
        self.seen[word] &= !bit;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(first: Option<u64>, ids: &[u64]) -> SequenceCounts {
        let mut t = SequenceTracker::new(first);
        for &id in ids {
            t.observe(id);
        }
        t.counts()
    }

    #[test]
    fn in_order_is_clean() {
        let ids: Vec<u64> = (1..=5000).collect();
        let c = run(Some(1), &ids);
        assert_eq!(
            c,
            SequenceCounts {
                received: 5000,
                ..Default::default()
            }
        );
    }

    #[test]
    fn gaps_duplicates_and_late_ids() {
        let c = run(Some(1), &[1, 2, 5, 5, 3, 6, 2]);
        assert_eq!(c.received, 7);
        assert_eq!(c.lost, 1, "4 never arrived");
        assert_eq!(c.duplicated, 2, "5 and 2 twice");
        assert_eq!(c.out_of_order, 1, "3 after 5");
    }

    #[test]
    fn missing_start_counts_as_lost_only_when_expected() {
        assert_eq!(run(Some(1), &[4, 5]).lost, 3);
        assert_eq!(run(None, &[4, 5]).lost, 0);
    }

    #[test]
    fn window_shifts_across_words() {
        let mut t = SequenceTracker::new(None);
        t.observe(1);
        t.observe(70);
        t.observe(200);
        t.observe(70);
        t.observe(1);
        let c = t.counts();
        assert_eq!(c.duplicated, 2);
        assert_eq!(c.lost, 68 + 129);
        t.observe(5000);
        t.observe(70);
        assert_eq!(t.counts().out_of_order, 1, "older than the window");
    }

    /// The same rules over a set of every id seen: what the ring must agree with.
    fn model(first: Option<u64>, ids: &[u64]) -> SequenceCounts {
        let mut counts = SequenceCounts::default();
        let mut seen = std::collections::HashSet::new();
        let mut highest: Option<u64> = None;
        for &id in ids {
            counts.received += 1;
            match highest {
                None => {
                    counts.lost += first.map_or(0, |f| id.saturating_sub(f));
                    highest = Some(id);
                    seen.insert(id);
                }
                Some(h) if id > h => {
                    counts.lost += id - h - 1;
                    highest = Some(id);
                    seen.insert(id);
                }
                Some(h) if h - id >= WINDOW => counts.out_of_order += 1,
                Some(_) if seen.contains(&id) => counts.duplicated += 1,
                Some(_) => {
                    counts.out_of_order += 1;
                    counts.lost = counts.lost.saturating_sub(1);
                    seen.insert(id);
                }
            }
        }
        counts
    }

    #[test]
    fn the_ring_agrees_with_a_set_of_every_id() {
        // A fixed pseudo-random walk: mostly in order, with skips, repeats, late ids,
        // jumps past the window and ids around the ring's wrap.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let mut ids = Vec::new();
            let mut id = 1 + next() % 3000;
            for _ in 0..2_000 {
                ids.push(id);
                id = match next() % 100 {
                    0..=79 => id + 1,
                    80..=87 => id + 1 + next() % 40,
                    88..=91 => id,
                    92..=96 => id.saturating_sub(next() % 1100).max(1),
                    97 => id + WINDOW + next() % 3000,
                    _ => id + WINDOW - 1 - next() % 3,
                };
            }
            let first = (round % 2 == 0).then_some(1);
            assert_eq!(run(first, &ids), model(first, &ids), "round {round}");
        }
    }
}
