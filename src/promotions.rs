//! Promotions: hits found under a shard's shared lock record the entry here instead of relinking
//! it, and every holder of the exclusive lock replays them, in order, before doing anything else.
//!
//! So readers never serialise on the LRU list, and the list is still exactly the one that
//! relinking on every hit would have produced: the order of the records is the order of the
//! `fetch_add`s that claimed their slots, which is a valid order of those concurrent hits, and
//! no operation sees the list before the hits that came before it are replayed.
//!
//! The buffer is the first field of the shard's state and fits in the rest of the lock word's
//! cache line (see `Core`). Every lookup writes that line anyway, to take and release the shared
//! lock, so claiming and filling a slot moves no second line between cores. Two cores reading
//! the same shard otherwise pass the buffer's lines back and forth on every hit.
//!
//! | field | meaning |
//! |---|---|
//! | `claimed` | slots claimed since the last replay; past [`SLOTS`] the buffer is full and a hit takes the exclusive lock instead |
//! | `misses` | lookups under the shared lock that found nothing, since the last exclusive lock (which adds them to the shard's counters) |
//! | `slots[i]` | the slab index of the `i`-th hit; written before its reader releases the shared lock, so the replaying writer (who acquires the exclusive lock after that release) sees it |

use crate::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Hits a shard buffers between two replays: as many as fit on the lock word's cache line,
/// after the lock word (8 bytes) and the two counters (4 bytes each).
pub(crate) const SLOTS: usize = 12;

/// Past this many misses, the reader that counts one takes the exclusive lock to add them to
/// the shard's 64-bit counters, long before the 32-bit counter could wrap. (Four in the unit
/// tests, so that they fold.)
pub(crate) const MISSES_FOLD: u32 = if cfg!(test) { 4 } else { 1 << 31 };

/// With lossy promotion, every this many claims past a full buffer, the reader replays it if the
/// shard's lock is free (otherwise hits are dropped until the next exclusive operation).
pub(crate) const LOSSY_DRAIN: u32 = 1024;

/// 56 bytes: with the lock word, one cache line.
#[repr(C)]
pub(crate) struct Promotions {
    claimed: AtomicU32,
    misses: AtomicU32,
    slots: [AtomicU32; SLOTS],
}

impl Promotions {
    pub(crate) fn new() -> Self {
        Promotions {
            claimed: AtomicU32::new(0),
            misses: AtomicU32::new(0),
            slots: std::array::from_fn(|_| AtomicU32::new(0)),
        }
    }

    /// Records a hit on slab index `i`; `false` when the buffer is full. Call with the shard's
    /// shared lock held.
    ///
    /// `claimed` cannot wrap: in exact mode a reader that finds the buffer full takes the
    /// exclusive lock, which empties it, so between two replays it grows by at most [`SLOTS`]
    /// plus one per thread; in lossy mode the reader that sees it reach [`MISSES_FOLD`] does.
    #[inline]
    pub(crate) fn record(&self, i: u32) -> bool {
        let n = self.claimed.fetch_add(1, Relaxed) as usize;
        if n < SLOTS {
            self.slots[n].store(i, Relaxed);
            true
        } else {
            false
        }
    }

    /// Counts a miss; `false` when the misses are due to be moved to the shard's counters (under
    /// the exclusive lock, by [`replay`](Self::replay)). Call with the shard's shared lock held.
    #[inline]
    pub(crate) fn miss(&self) -> bool {
        self.misses.fetch_add(1, Relaxed) < MISSES_FOLD
    }

    /// Misses counted and not yet moved to the shard's counters.
    #[cfg(test)]
    pub(crate) fn pending_misses(&self) -> u32 {
        self.misses.load(Relaxed)
    }

    /// Hands every recorded hit to `apply`, oldest first, and empties the buffer; returns the
    /// misses counted since the last call and the slots claimed (recorded or not), and zeroes
    /// them. Call with the shard's exclusive lock held.
    #[inline]
    pub(crate) fn replay(&mut self, mut apply: impl FnMut(u32)) -> (u64, u64) {
        let n = self.claimed.load(Relaxed) as usize;
        if n != 0 {
            for slot in &self.slots[..n.min(SLOTS)] {
                apply(slot.load(Relaxed));
            }
            self.claimed.store(0, Relaxed);
        }
        let misses = self.misses.load(Relaxed);
        if misses != 0 {
            self.misses.store(0, Relaxed);
        }
        (u64::from(misses), n as u64)
    }

    /// Slots claimed since the last replay. With lossy promotion, claims go on past the buffer
    /// (each one a hit to count) until a replay, which is due before [`MISSES_FOLD`].
    #[inline]
    pub(crate) fn claims(&self) -> u32 {
        self.claimed.load(Relaxed)
    }
}
