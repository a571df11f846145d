//! The opt-in policies beside exact LRU: [`Admission`] (TinyLFU: which new keys may displace an
//! old one) and [`Promotion`] (how hits reach the LRU order), and the pieces TinyLFU is made of:
//! the [`FrequencySketch`] and the hill climber that sizes its admission window.

/// Which inserts a cache admits (see [`CacheBuilder::admission`](crate::CacheBuilder::admission)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Admission {
    /// Every insert is admitted: the cache is the exact LRU of the crate's semantics.
    #[default]
    All,
    /// W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
    /// Policy", 2017; Caffeine's design): a new entry enters a small LRU *window*; the entry the
    /// window pushes out is admitted to the *main* space only if a frequency sketch estimates it
    /// more popular than the main space's victim, else it is evicted (cause `Evicted`, so the
    /// listener still sees every value leave exactly once). The main space is a segmented LRU:
    /// admitted entries start on *probation* and move to the *protected* segment (80 % of the
    /// main space) when read again; the victim is probation's least recently used. The window's
    /// share of the capacity adapts to the workload by hill climbing on the hit ratio, from 1 %:
    /// recency-heavy workloads get a larger window, frequency-heavy ones a smaller one.
    ///
    /// Per shard, it keeps 4-bit counters (8 bytes per entry of capacity) and one byte per entry
    /// for its segment: 9.4 bytes per entry in all (`examples/memory`). Eviction inside each
    /// segment stays LRU.
    /// Frequencies are aged by halving every counter after 10 × capacity recorded accesses.
    TinyLfu,
}

/// How a hit reaches the LRU order (see
/// [`CacheBuilder::promotion`](crate::CacheBuilder::promotion)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Promotion {
    /// Every hit is replayed, in order, before the next exclusive operation on its shard: the
    /// order is exactly the one relinking on every hit would give.
    #[default]
    Exact,
    /// A hit that finds its shard's promotion buffer full (12 hits since the last exclusive
    /// lock) is counted but not replayed, and its reader never waits for the exclusive lock:
    /// only after every 1,024 such hits on a shard does a reader replay the buffer, and only if
    /// the lock is free at that moment. As Caffeine's lossy read buffer, this keeps readers off
    /// the exclusive lock and off the list's cache lines: read-only hits on 2 threads ran at
    /// 1.36x quick_cache's rate against 0.81x in exact mode (`examples/compare`, README).
    ///
    /// Drift: only hits are dropped, never inserts or removals, so capacity, TTL, time-to-idle,
    /// the counters and the listener stay exact, and so does the order every write and miss
    /// sees of the hits before it that were replayed. A dropped hit leaves its entry where it
    /// was in the LRU order, as if that read had not happened, so eviction can take an entry
    /// read since it was last promoted. Between two exclusive operations on a shard (an insert,
    /// a removal, a miss that loads), at most 12 hits, plus 12 per 1,024 after them, reach the
    /// order. So the order is exact on shards written at least once per 12 reads, and on a
    /// read-mostly shard it is the order of a sample of its reads. Entries read often are in
    /// that sample often, so they stay near the front.
    Lossy,
}

/// A count-min sketch of 4-bit counters, as Caffeine's `FrequencySketch`: each key bumps one
/// counter in each of four rows (here four 4-bit slots of one 64-bit word per row hash, all in
/// one table), and its estimate is the least of them. When the recorded increments reach
/// `sample` (10 × capacity), every counter is halved (aging), so that the sketch follows the
/// workload. Deterministic: the same hashes in the same order give the same estimates.
pub(crate) struct FrequencySketch {
    /// One word per entry of capacity (8 bytes each).
    table: Vec<u64>,
    size: u64,
    sample: u64,
}

/// Seeds that spread a key's hash over the table's words, one per row.
const SEEDS: [u64; 4] = [
    0xc3a5_c85c_97cb_3127,
    0xb492_b66f_be98_f273,
    0x9ae1_6a3b_2f90_404f,
    0xcbf2_9ce4_8422_2325,
];

impl FrequencySketch {
    /// A sketch for a shard of `capacity` entries.
    pub(crate) fn new(capacity: u64) -> Self {
        let words = capacity.clamp(1, 1 << 30) as usize;
        FrequencySketch {
            table: vec![0; words],
            size: 0,
            sample: capacity.max(1).saturating_mul(10),
        }
    }

    /// The table's size in bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.table.len() * 8
    }

    #[inline]
    fn spot(&self, hash: u32, row: usize) -> (usize, u32) {
        let h = (u64::from(hash) ^ SEEDS[row]).wrapping_mul(SEEDS[(row + 1) & 3]);
        let h = h ^ (h >> 32);
        // Onto the table by multiply-shift: any length, no modulo.
        let word = ((u128::from(h) * self.table.len() as u128) >> 64) as usize;
        // Each row uses its own quarter of the word's sixteen counters.
        let counter = (row as u32) * 4 + (h as u32 & 3);
        (word, counter * 4)
    }

    /// The estimated count of `hash`, 0 to 15.
    pub(crate) fn frequency(&self, hash: u32) -> u8 {
        (0..4)
            .map(|row| {
                let (w, shift) = self.spot(hash, row);
                ((self.table[w] >> shift) & 0xf) as u8
            })
            .min()
            .unwrap_or(0)
    }

    /// Records one access to `hash`.
    pub(crate) fn increment(&mut self, hash: u32) {
        let mut added = false;
        for row in 0..4 {
            let (w, shift) = self.spot(hash, row);
            if (self.table[w] >> shift) & 0xf < 15 {
                self.table[w] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.size += 1;
            if self.size >= self.sample {
                self.age();
            }
        }
    }

    /// Halves every counter.
    fn age(&mut self) {
        for w in &mut self.table {
            *w = (*w >> 1) & 0x7777_7777_7777_7777;
        }
        self.size /= 2;
    }
}

/// Sizes a W-TinyLFU window by hill climbing on the hit ratio (Caffeine's "simple climber"):
/// after each sample of accesses, it moves the window's share one step in the direction that
/// last improved the hit ratio, reversing when the ratio fell, with steps that shrink by 2 %
/// each time and restart when the ratio jumps by 5 points (a new workload phase).
pub(crate) struct Climber {
    /// The window's target size, in weight.
    pub(crate) window: u64,
    capacity: u64,
    step: f64,
    previous: f64,
    hits: u64,
    accesses: u64,
    sample: u64,
}

impl Climber {
    /// The window starts at 1 % of `capacity` (at least 1).
    pub(crate) fn new(capacity: u64) -> Self {
        Climber {
            window: (capacity / 100).max(1),
            capacity,
            step: -(capacity as f64) * 0.0625,
            previous: 0.0,
            hits: 0,
            accesses: 0,
            sample: capacity.saturating_mul(10).max(100),
        }
    }

    /// Records one lookup; at the end of a sample, adjusts the window.
    #[cfg(test)]
    pub(crate) fn record(&mut self, hit: bool) {
        self.record_many(u64::from(hit), u64::from(!hit));
    }

    /// Records lookups; at the end of a sample, adjusts the window.
    #[inline]
    pub(crate) fn record_many(&mut self, hits: u64, misses: u64) {
        self.hits += hits;
        self.accesses += hits + misses;
        if self.accesses >= self.sample {
            self.climb();
        }
    }

    fn climb(&mut self) {
        let ratio = self.hits as f64 / self.accesses as f64;
        let change = ratio - self.previous;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        self.step = if change.abs() >= 0.05 {
            0.0625 * self.capacity as f64 * amount.signum()
        } else {
            amount * 0.98
        };
        let max = self.capacity.saturating_sub(1).max(1) as f64;
        self.window = (self.window as f64 + amount).clamp(1.0, max) as u64;
        self.previous = ratio;
        self.hits = 0;
        self.accesses = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_grow_saturate_and_age_deterministically() {
        let mut a = FrequencySketch::new(64);
        let mut b = FrequencySketch::new(64);
        for i in 0..20 {
            a.increment(7);
            b.increment(7);
            assert_eq!(a.frequency(7), b.frequency(7));
            assert_eq!(a.frequency(7), (i + 1).min(15) as u8);
        }
        assert_eq!(a.frequency(8), 0);
        // 640 counted increments (10 × capacity) age it: every counter halves.
        for k in 0..640u32 {
            a.increment(1_000 + k);
        }
        assert!(a.frequency(7) <= 8, "aged: {}", a.frequency(7));
        assert!(a.frequency(7) >= 7);
        assert_eq!(a.bytes(), 64 * 8, "8 bytes per entry of capacity");
    }

    #[test]
    fn estimates_never_undercount_before_aging() {
        let mut s = FrequencySketch::new(1024);
        let mut truth = std::collections::HashMap::new();
        let mut x = 1u64;
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 500) as u32;
            s.increment(k);
            *truth.entry(k).or_insert(0u32) += 1;
        }
        for (k, n) in truth {
            assert!(u32::from(s.frequency(k)) >= n.min(15), "key {k}: {n}");
        }
    }

    #[test]
    fn the_climber_grows_the_window_while_that_helps() {
        let mut c = Climber::new(1_000);
        let start = c.window;
        // The first sample sets the baseline; then the ratio keeps rising, so the climber keeps
        // its direction.
        let mut ratio = 0.30;
        let mut windows = vec![];
        for _ in 0..5 {
            for i in 0..c.sample {
                c.record((i as f64) < ratio * c.sample as f64);
            }
            windows.push(c.window);
            ratio += 0.01;
        }
        assert!(windows.iter().all(|w| (1..1_000).contains(w)));
        assert_ne!(windows.last(), Some(&start), "the window never moved");
    }
}
