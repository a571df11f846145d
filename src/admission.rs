//! The opt-in policies beside exact LRU: [`Admission`] (TinyLFU: which new keys may displace an
//! old one) and [`Promotion`] (how hits reach the LRU order), and the pieces TinyLFU is made of:
//! the [`FrequencySketch`] and the [`WindowSizer`] that sizes its admission window.

use hashbrown::HashTable;
use std::collections::VecDeque;

/// Which inserts a cache admits (see [`CacheBuilder::admission`](crate::CacheBuilder::admission)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Admission {
    /// Every insert is admitted: the cache is the exact LRU of the crate's semantics.
    #[default]
    All,
    /// W-TinyLFU (Einziger, Friedman and Manes, "TinyLFU: A Highly Efficient Cache Admission
    /// Policy", 2017; Caffeine's design): a new entry enters a small LRU *window*; the entry the
    /// window pushes out is admitted to the *main* space only if a frequency sketch estimates it
    /// more popular than the main space's victim, else it is evicted (cause `Evicted`, so the
    /// listener still sees every value leave exactly once). The main space is a segmented LRU:
    /// admitted entries start on *probation* and move to the *protected* segment when read
    /// again; the victim is probation's least recently used. The window's share of the capacity
    /// (from 1 %) and the protected segment's share of the main space (from 80 %) adapt to the
    /// workload, as ARC sizes its lists: *ghosts* remember the hashes of the last keys
    /// admission rejected, the last keys the main space evicted, and which of those had been
    /// demoted from the protected segment (a twelfth of the shard's entries each). A key that
    /// comes back from one of them moves the window by its weight (the protected share by half
    /// of it) towards the side that would have kept it. Recency-heavy workloads get a larger window,
    /// frequency-heavy ones a smaller one; skewed, steady ones more protection. The window
    /// grows only while it earns hits of its own. A candidate must be estimated more frequent
    /// than the victim by more than one count, unless the last duels won or lost by one count show
    /// that one count decides on this workload: then by more than none. A victim that
    /// out-counts the candidate by more than one goes to the front of probation, so that the
    /// next candidate meets the next victim. Where keys are all about as frequent and come back
    /// in reverse order (the LIRS2 traces backf and zigzag in `tests/data`), exact LRU still
    /// keeps a few points more (README, "Beyond exact LRU").
    ///
    /// Per shard, it keeps 4-bit counters (8 bytes per entry of capacity), one byte per entry
    /// for its segment and, once keys have left, the ghosts' 32-bit hashes and the last narrow
    /// duels' pairs of them: 9.0 bytes per entry before any key has left, 13.7 once every ghost
    /// and the duels are full (`examples/memory`). Eviction inside each segment stays LRU.
    /// Frequencies are aged by halving every counter after 10 × capacity recorded accesses.
    TinyLfu,
}

/// How a hit reaches the LRU order (see
/// [`CacheBuilder::promotion`](crate::CacheBuilder::promotion)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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
    /// 1.44x quick_cache's rate against 0.90x in exact mode (`examples/compare`, README).
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

/// Each ghost remembers at most the shard's entry count divided by this. Larger ghosts move the
/// window on more returning keys, smaller ones swing it less (a burst of returning keys, as at
/// zigzag's turns, moves it by up to a ghost's size). Over the fourteen traces of `tests/data`
/// at 250 to 2,000 entries (`examples/replay --summary`, three runs each, with [`ADMIT_MARGIN`]
/// and [`WINDOW_CREDIT`]), the cells within a point of the best of exact LRU, moka and
/// quick_cache, and how far behind the worst cell was:
///
/// | ghost | cells (of 70) | worst cell |
/// |---|---|---|
/// | a tenth | 63, 64, 64 | 4.9 to 7.6 points |
/// | a twelfth | 63, 65, 63 | 4.0 to 6.7 |
/// | a fourteenth | 61, 60, 62 | 3.8 to 4.5 |
/// | a sixteenth | 59, 60, 59 | 3.5 to 3.7 |
///
/// The geometric mean read 53.5 % to 53.8 % in all twelve runs (moka: 52.1 % to 52.4 %). The
/// worst cell is sprite or backf at 250 or 500 entries. (Measured before the [`Duels`] and the
/// victim's turn at probation's front; with them, at a twelfth, 64 cells of 70 in each of three
/// `--runs 10` runs.)
pub(crate) const GHOST_SHARE: usize = 12;

/// A window candidate is admitted only if the sketch estimates it more frequent than the main
/// space's victim by more than this, unless the [`Duels`] lower the margin to 0. The estimates
/// are 4-bit counts, aged by halving, and where every key is about as frequent (zigzag, backf)
/// a candidate one count ahead is the one just read, not the one read more: admitting on it
/// swapped residents for newcomers at random, and on scan it let scanned keys in. With the
/// margin and [`WINDOW_CREDIT`], TinyLfu's geometric mean over the fourteen traces of
/// `tests/data` rose from between 52.4 % and 52.7 % to between 53.5 % and 53.8 %, and its worst
/// cell from 8 to 13 points behind the best other to 4 to 7 (`examples/replay --summary`;
/// README, "Beyond exact LRU"; `tests/traces.rs`). A victim must out-count the candidate by
/// more than this, too, to be moved to probation's front.
pub(crate) const ADMIT_MARGIN: u8 = 1;

/// What one hit in the window earns it, in weight (times the hit entry's weight): a returning
/// rejected key grows the window only by spending this credit, which never exceeds the capacity.
/// So the window grows only while it earns hits of its own. Without it, a loop slightly larger
/// than the cache (loop at 1,000) grew the window on every returning rejected key, though a
/// window never hits there, until the main space lost the keys the loop needs.
pub(crate) const WINDOW_CREDIT: u64 = 8;

/// Sizes a W-TinyLFU window, and the protected part of its main space, from ghosts: the hashes
/// of keys that left the cache recently, as ARC (Megiddo and Modha, 2003) sizes its two lists.
/// Ghosts, each of at most [`1/GHOST_SHARE`](GHOST_SHARE) of the shard's entries, remember the
/// last keys that
///
/// - the window pushed out and admission *rejected* (a larger window would have kept them);
/// - the main space *evicted* (a larger main space would have kept them);
/// - the main space evicted after they had been *demoted* from the protected segment to
///   probation (a larger protected segment would have kept them).
///
/// When a key that is in one of the first two ghosts and not the other is inserted again, it
/// would have been a hit with the window that much larger (or smaller), so the window moves by
/// the new entry's weight in that direction. The two ghosts are of one size, so their hits
/// compare the gains of the same extra room on either side: a local gradient of the hit ratio,
/// measured on every miss, where hill climbing needs whole samples of accesses (and so lags on
/// short traces and phase changes). A scan of new keys hits neither ghost and leaves the window
/// alone.
///
/// The main space's split is sized the same way, as ARC splits its cache between keys seen once and
/// keys seen again: a returning key the main space evicted grows the protected segment's share (by
/// half its weight) if it had been demoted from it, and shrinks it if it had only been on probation
/// (a larger probation would have kept it). The share starts at Caffeine's 80 % and stays between
/// 20 % and 98 %. Skewed, steady workloads get more protection; churning ones more probation.
///
/// The ghosts' size bounds how far one burst of returning keys moves the window: a workload that
/// comes back over its keys in alternating order (zigzag) makes the window swing by up to a
/// ghost's size each half period. [`GHOST_SHARE`] gives the trade-off measured.
///
/// The window grows only by spending credit that its own hits earned ([`WINDOW_CREDIT`]): a
/// rejected key coming back says a larger window would have kept it, which is not so where the
/// window never hits (a loop a little larger than the cache).
pub(crate) struct WindowSizer {
    /// The window's target size, in weight: from 1 % of the capacity, between 1 and capacity − 1.
    pub(crate) window: u64,
    capacity: u64,
    /// The protected segment's share of the main space.
    share: f64,
    /// Weight the window may still grow by: earned by its hits ([`WINDOW_CREDIT`]).
    credit: u64,
    rejected: Ghost,
    evicted: Ghost,
    demoted: Ghost,
}

impl WindowSizer {
    /// The window starts at 1 % of `capacity` (at least 1), the protected share at 80 %.
    pub(crate) fn new(capacity: u64) -> Self {
        WindowSizer {
            window: (capacity / 100).max(1),
            capacity,
            share: 0.8,
            credit: 0,
            rejected: Ghost::default(),
            evicted: Ghost::default(),
            demoted: Ghost::default(),
        }
    }

    /// The protected segment's target weight.
    #[inline]
    pub(crate) fn protected(&self) -> u64 {
        (self.capacity.saturating_sub(self.window) as f64 * self.share) as u64
    }

    /// A new key of `weight` is being inserted: if a ghost remembers it, the window (and the
    /// protected share) move.
    pub(crate) fn inserting(&mut self, tag: u32, weight: u64) {
        if self.rejected.is_empty() && self.evicted.is_empty() {
            return;
        }
        let weight = weight.max(1);
        let (rejected, evicted) = (self.rejected.contains(tag), self.evicted.contains(tag));
        if !rejected {
            // The main space's split, by half the key's weight: it moves more slowly than the
            // window, so that the two do not chase each other (half steps measured better than
            // whole ones on the five traces first in `tests/data`, and about as well on skewed
            // streams).
            // The demoted ghost is fed more slowly than the evicted one, so it can remember a
            // key the other has forgotten: it is asked first.
            let main = self.capacity.saturating_sub(self.window).max(1) as f64;
            let step = weight as f64 / main / 2.0;
            if self.demoted.contains(tag) {
                self.share = (self.share + step).min(0.98);
            } else if evicted {
                self.share = (self.share - step).max(0.2);
            }
        }
        match (rejected, evicted) {
            (true, false) if self.credit >= weight => {
                self.credit -= weight;
                let max = self.capacity.saturating_sub(1).max(1);
                self.window = self.window.saturating_add(weight).min(max);
            }
            (false, true) => self.window = self.window.saturating_sub(weight).max(1),
            _ => {}
        }
    }

    /// An entry of `weight` in the window was hit: the window earns credit to grow by.
    #[inline]
    pub(crate) fn window_hit(&mut self, weight: u64) {
        self.credit = self
            .credit
            .saturating_add(weight.saturating_mul(WINDOW_CREDIT))
            .min(self.capacity);
    }

    /// Admission rejected the key of `tag`; `entries` is the shard's entry count.
    pub(crate) fn rejected(&mut self, tag: u32, entries: usize) {
        self.rejected.push(tag, entries / GHOST_SHARE);
    }

    /// The main space evicted the key of `tag`, which had been `demoted` from the protected
    /// segment or not; `entries` is the shard's entry count.
    pub(crate) fn evicted(&mut self, tag: u32, entries: usize, demoted: bool) {
        self.evicted.push(tag, entries / GHOST_SHARE);
        if demoted {
            self.demoted.push(tag, entries / GHOST_SHARE);
        }
    }

    /// The ghosts' size in bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.rejected.bytes() + self.evicted.bytes() + self.demoted.bytes()
    }
}

/// The hashes of the last keys that left by one door, oldest first, with a table to find them.
#[derive(Default)]
struct Ghost {
    order: VecDeque<u32>,
    /// The same hashes (a multiset: a key can leave twice), hashed by themselves.
    set: HashTable<u32>,
}

impl Ghost {
    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn contains(&self, tag: u32) -> bool {
        self.set.find(spread(tag), |&t| t == tag).is_some()
    }

    /// Remembers `tag`, forgetting the oldest past `limit` (at least one is kept).
    fn push(&mut self, tag: u32, limit: usize) {
        self.order.push_back(tag);
        self.set.insert_unique(spread(tag), tag, |&t| spread(t));
        while self.order.len() > limit.max(1) {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Ok(e) = self.set.find_entry(spread(old), |&t| t == old) {
                e.remove();
            }
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.order.capacity() * 4 + self.set.allocation_size()
    }
}

/// How many more narrow duels the candidate must have won than the victim, among those decided
/// lately, before a candidate one count ahead is admitted ([`Duels`]). A single early win would
/// otherwise open the margin for as long as the next duels take to be decided, which on a
/// trace of long reuse distances (zigzag) is thousands of requests.
pub(crate) const DUEL_LEAD: i32 = 4;

/// The [`Duels`] remember the last `entries / DUEL_SHARE` narrow duels (the shard's entries):
/// one still undecided when that many newer ones have come is forgotten. Over the fourteen
/// traces of `tests/data`, a twelfth and a twenty-fourth measured alike, a thirty-second was
/// worse on sprite at 250; a twenty-fourth costs at most 1.9 bytes per entry.
pub(crate) const DUEL_SHARE: usize = 24;

/// The duels' score saturates at plus or minus this, so that it follows a change of workload
/// within that many decided duels.
pub(crate) const DUEL_RANGE: i32 = 32;

/// Narrow duels: the ones a candidate won or lost by one count ([`ADMIT_MARGIN`]). Whether one
/// count decides is a property of the workload, not of the sketch. On a trace whose keys differ
/// in popularity by small steps (sprite at 250 entries), the candidate one count ahead is the
/// one read again first in most such duels (56 % of those decided), and rejecting it cost about
/// 3 points; where every key is about as frequent and comes back in a fixed order (zigzag,
/// backf), the victim is read again first in nearly nine of ten, and admitting the candidate
/// cost up to 5 points (23 with exact counts in place of the sketch).
///
/// So each narrow duel is remembered, whichever way the margin decided it, as the pair of its
/// keys' hashes, and is decided by which of the two is read (or inserted) again first: the
/// candidate, and admitting it would have been right; the victim, and rejecting it was. The
/// score is the difference, saturating at [`DUEL_RANGE`]; while the candidate leads by more than
/// [`DUEL_LEAD`], the margin is 0, else [`ADMIT_MARGIN`]. A duel still undecided when
/// [`DUEL_SHARE`] allows no more is forgotten and counts for neither side. Scanned keys are
/// never read again, so the duels they are in go to the victims or to neither. Each duel is
/// decided once, by the first read of either key, so old evidence is not counted again.
#[derive(Default)]
pub(crate) struct Duels {
    /// The last duels, oldest first: the candidate's tag and the victim's, numbered from
    /// `first` on (wrapping: fewer than the entries are numbered at once).
    order: VecDeque<(u32, u32)>,
    first: u32,
    /// Each undecided duel's two tags, with its number.
    pending: HashTable<(u32, u32)>,
    /// Duels the candidate won minus duels the victim won, within ± [`DUEL_RANGE`].
    score: i32,
}

impl Duels {
    /// The margin a candidate must clear: 0 while recent narrow duels favour the candidate by
    /// more than [`DUEL_LEAD`], else [`ADMIT_MARGIN`].
    #[inline]
    pub(crate) fn margin(&self) -> u8 {
        if self.score > DUEL_LEAD {
            0
        } else {
            ADMIT_MARGIN
        }
    }

    /// `candidate` (a tag) was estimated ahead of `victim` by one count, at most
    /// [`ADMIT_MARGIN`]: a narrow duel, remembered whichever way the margin decided it;
    /// `entries` is the shard's entry count. Not remembered if either key is already in an
    /// undecided duel.
    pub(crate) fn narrow(&mut self, candidate: u32, victim: u32, entries: usize) {
        if candidate == victim || self.find(candidate).is_some() || self.find(victim).is_some() {
            return;
        }
        let n = self.first.wrapping_add(self.order.len() as u32);
        self.order.push_back((candidate, victim));
        for tag in [candidate, victim] {
            self.pending
                .insert_unique(spread(tag), (tag, n), |&(t, _)| spread(t));
        }
        while self.order.len() > (entries / DUEL_SHARE).max(1) {
            let Some((c, v)) = self.order.pop_front() else {
                break;
            };
            // Undecided: forgotten (a decided duel's tags have left already).
            self.forget(c, self.first);
            self.forget(v, self.first);
            self.first = self.first.wrapping_add(1);
        }
    }

    /// The key of `tag` is read or inserted: the undecided duel it is in, if any, is decided.
    #[inline]
    pub(crate) fn accessed(&mut self, tag: u32) {
        if self.pending.is_empty() {
            return;
        }
        let Some(n) = self.find(tag) else {
            return;
        };
        let Some(&(candidate, victim)) = self.order.get(n.wrapping_sub(self.first) as usize) else {
            return;
        };
        self.forget(candidate, n);
        self.forget(victim, n);
        self.score = if tag == candidate {
            (self.score + 1).min(DUEL_RANGE)
        } else {
            (self.score - 1).max(-DUEL_RANGE)
        };
    }

    fn find(&self, tag: u32) -> Option<u32> {
        self.pending
            .find(spread(tag), |&(t, _)| t == tag)
            .map(|&(_, n)| n)
    }

    /// Drops `tag`'s entry for duel `n`, if it is there.
    fn forget(&mut self, tag: u32, n: u32) {
        if let Ok(e) = self.pending.find_entry(spread(tag), |&e| e == (tag, n)) {
            e.remove();
        }
    }

    /// How many duels are undecided.
    #[cfg(test)]
    pub(crate) fn undecided(&self) -> usize {
        self.pending.len() / 2
    }
}

/// A tag is a hash already; this spreads it over the 64 bits the table reads (its control
/// bytes come from the top seven).
#[inline]
fn spread(tag: u32) -> u64 {
    u64::from(tag).wrapping_mul(0x9e37_79b9_7f4a_7c15)
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
    fn ghosts_move_the_window_towards_the_side_that_would_have_hit() {
        let mut w = WindowSizer::new(1_000);
        assert_eq!(w.window, 10, "1 % to start");
        // Nothing remembered: nothing moves.
        w.inserting(1, 1);
        assert_eq!(w.window, 10);
        // Keys the window pushed out and admission rejected come back: the window grows by
        // each one's weight, while it has the credit its own hits earned.
        for k in 0..6 {
            w.rejected(k, 1_000);
        }
        w.window_hit(1);
        assert_eq!(w.credit, WINDOW_CREDIT);
        for k in 0..5 {
            w.inserting(k, 2);
        }
        assert_eq!(w.window, 18, "8 of credit: four keys of weight 2");
        assert_eq!(w.credit, 0);
        w.window_hit(1);
        w.inserting(4, 2);
        assert_eq!(w.window, 20);
        // Keys the main space evicted come back: it shrinks.
        for k in 100..103 {
            w.evicted(k, 1_000, false);
        }
        for k in 100..103 {
            w.inserting(k, 1);
        }
        assert_eq!(w.window, 17);
        // A key in both ghosts says nothing; one in neither neither.
        w.evicted(0, 1_000, false);
        w.inserting(0, 1);
        w.inserting(7_777, 1);
        assert_eq!(w.window, 17);
    }

    /// A loop slightly larger than the cache: every rejected key comes back, but the window
    /// never hits, so it must not grow (it would only take room the loop's keys need).
    #[test]
    fn a_window_that_never_hits_does_not_grow() {
        let mut w = WindowSizer::new(1_000);
        for round in 0..100u32 {
            for k in 0..20 {
                w.rejected(round * 20 + k, 1_000);
            }
            for k in 0..20 {
                w.inserting(round * 20 + k, 1);
            }
        }
        assert_eq!(w.window, 10, "no credit, no growth");
        // Credit is earned by hits and bounded by the capacity, so a long run of window hits
        // cannot pay for growth long after the window stopped hitting.
        for _ in 0..1_000 {
            w.window_hit(3);
        }
        assert_eq!(w.credit, 1_000);
    }

    #[test]
    fn returning_keys_size_the_protected_share_as_arc_splits_its_lists() {
        let mut w = WindowSizer::new(1_000);
        assert_eq!(w.protected(), 792, "80 % of the main space (1,000 - 10)");
        // Keys the main space evicted after demoting them from the protected segment come back:
        // a larger protected segment would have kept them. (They also shrink the window.)
        for k in 0..50 {
            w.evicted(k, 1_000, true);
        }
        for k in 0..50 {
            w.inserting(k, 1);
        }
        assert_eq!(w.window, 1);
        let grown = w.protected();
        assert!(grown > 815, "{grown}");
        // Keys evicted from probation, never protected, come back: a larger probation would
        // have kept them.
        for k in 100..160 {
            w.evicted(k, 1_000, false);
        }
        for k in 100..160 {
            w.inserting(k, 1);
        }
        let shrunk = w.protected();
        assert!(shrunk < grown - 25, "{shrunk} after {grown}");
        // The share stays between a fifth and 98 % of the main space.
        for _ in 0..5_000 {
            w.inserting(150, 1);
        }
        assert_eq!(w.protected(), 999 / 5);
        w.evicted(7, 1_000, true);
        for _ in 0..5_000 {
            w.inserting(7, 1);
        }
        assert_eq!(w.protected(), (999.0 * 0.98) as u64);
    }

    #[test]
    fn ghosts_are_bounded_and_forget_the_oldest_first() {
        let mut w = WindowSizer::new(1_000);
        // 1,000 entries: each ghost keeps 83.
        for k in 0..1_000 {
            w.rejected(k, 1_000);
        }
        assert_eq!(w.rejected.order.len(), 1_000 / GHOST_SHARE);
        assert_eq!(w.rejected.set.len(), 1_000 / GHOST_SHARE);
        assert!(!w.rejected.contains(916));
        assert!(w.rejected.contains(917) && w.rejected.contains(999));
        // About 14 bytes a remembered key at most (4 in the queue, 4 and a control byte in the
        // table, both rounded up to a power of two): a ghost of a twelfth of the entries costs
        // about 1.2 bytes per entry. (`examples/memory` measures the three together.)
        assert!(w.bytes() <= 128 * 4 * 2 + 128 * 5, "{} bytes", w.bytes());
        // A key that left twice is remembered until its second leaving is forgotten.
        w.rejected(950, 1_000);
        for k in 2_000..2_060 {
            w.rejected(k, 1_000);
        }
        assert!(w.rejected.contains(950));
        // The window stays within [1, capacity - 1] however often a ghost is hit.
        for _ in 0..3_000 {
            w.window_hit(1);
            w.inserting(999, 1);
        }
        assert_eq!(w.window, 999);
        w.evicted(5, 1_000, false);
        for _ in 0..3_000 {
            w.inserting(5, 1);
        }
        assert_eq!(w.window, 1);
    }

    #[test]
    fn narrow_duels_open_the_margin_only_on_a_clear_lead() {
        let mut d = Duels::default();
        assert_eq!(d.margin(), ADMIT_MARGIN, "no evidence: the fixed margin");
        // Candidates read again before their victims: won by the candidate.
        let lead = DUEL_LEAD as u32;
        for k in 0..=lead {
            assert_eq!(d.margin(), ADMIT_MARGIN, "a lead of {k} is not enough");
            d.narrow(2 * k, 2 * k + 1, 1_200);
            d.accessed(2 * k);
        }
        assert_eq!(d.score, DUEL_LEAD + 1);
        assert_eq!(d.margin(), 0);
        // A victim read first: won by the victim, and the lead is no longer clear.
        d.narrow(100, 101, 1_200);
        d.accessed(101);
        assert_eq!(d.margin(), ADMIT_MARGIN);
        // The score saturates, so a change of workload turns it within DUEL_RANGE duels.
        for k in 0..200 {
            d.narrow(1_000 + 2 * k, 1_001 + 2 * k, 1_200);
            d.accessed(1_000 + 2 * k);
        }
        assert_eq!(d.score, DUEL_RANGE);
        for k in 0..(DUEL_RANGE - DUEL_LEAD) as u32 {
            assert_eq!(d.margin(), 0);
            d.narrow(5_000 + 2 * k, 5_001 + 2 * k, 1_200);
            d.accessed(5_001 + 2 * k);
        }
        assert_eq!(d.margin(), ADMIT_MARGIN);
    }

    #[test]
    fn a_duel_is_decided_once_and_forgotten_when_old() {
        let mut d = Duels::default();
        d.narrow(1, 2, 1_200);
        d.accessed(2);
        assert_eq!(d.score, -1, "the victim was read first");
        d.accessed(1);
        d.accessed(2);
        assert_eq!(d.score, -1, "decided once");
        // A key already in an undecided duel enters no second one.
        d.narrow(3, 4, 1_200);
        d.narrow(3, 5, 1_200);
        d.narrow(6, 4, 1_200);
        d.accessed(5);
        d.accessed(6);
        assert_eq!(d.score, -1);
        d.accessed(3);
        assert_eq!(d.score, 0);
        // At most one duel per DUEL_SHARE entries is remembered, the oldest forgotten first:
        // the first ten of these thirty are undecided and forgotten.
        for k in 0..30 {
            d.narrow(100 + k, 200 + k, 240);
        }
        assert_eq!(d.order.len(), 240 / DUEL_SHARE);
        assert_eq!(d.pending.len(), 2 * 240 / DUEL_SHARE);
        for k in 0..30 {
            d.accessed(100 + k);
        }
        assert_eq!(d.score, 10, "only the last ten were remembered");
        assert!(d.pending.is_empty());
    }
}
