//! Promotions: hits found under a shard's shared lock record the entry here instead of relinking
//! it, and every holder of the exclusive lock replays them, in order, before doing anything else.
//!
//! So readers never serialise on the LRU list, and the list is still exactly the one that
//! relinking on every hit would have produced: the order of the records is the order of the
//! `fetch_add`s that claimed their slots, which is a valid order of those concurrent hits, and
//! no operation sees the list before the hits that came before it are replayed.
//!
//! | field | meaning |
//! |---|---|
//! | `claimed` | slots claimed since the last replay; past [`SLOTS`] the buffer is full and a hit takes the exclusive lock instead |
//! | `slots[i]` | the slab index of the `i`-th hit; written before its reader releases the shared lock, so the replaying writer (who acquires the exclusive lock after that release) sees it |
//! | `misses`, `peek_hits` | counters of lookups made under the shared lock |

use crate::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Hits a shard buffers between two replays: enough to amortise taking the exclusive lock,
/// few enough that a replay is short.
pub(crate) const SLOTS: usize = 64;

pub(crate) struct Promotions {
    claimed: AtomicUsize,
    slots: [AtomicU32; SLOTS],
    pub(crate) misses: AtomicU64,
    pub(crate) peek_hits: AtomicU64,
}

impl Promotions {
    pub(crate) fn new() -> Self {
        Promotions {
            claimed: AtomicUsize::new(0),
            slots: std::array::from_fn(|_| AtomicU32::new(0)),
            misses: AtomicU64::new(0),
            peek_hits: AtomicU64::new(0),
        }
    }

    /// Records a hit on slab index `i`; `false` when the buffer is full. Call with the shard's
    /// shared lock held.
    #[inline]
    pub(crate) fn record(&self, i: u32) -> bool {
        let n = self.claimed.fetch_add(1, Relaxed);
        if n < SLOTS {
            self.slots[n].store(i, Relaxed);
            true
        } else {
            false
        }
    }

    /// Hands every recorded hit to `apply`, oldest first, and empties the buffer. Call with the
    /// shard's exclusive lock held.
    #[inline]
    pub(crate) fn replay(&self, mut apply: impl FnMut(u32)) {
        let n = self.claimed.load(Relaxed);
        if n == 0 {
            return;
        }
        for slot in &self.slots[..n.min(SLOTS)] {
            apply(slot.load(Relaxed));
        }
        self.claimed.store(0, Relaxed);
    }
}
