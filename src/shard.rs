//! One shard: a `hashbrown::HashTable` of `u32` indices into a dense slab of entries, the LRU
//! list threaded through those entries, weights, deadlines and counters.
//!
//! Everything here runs under the shard lock, so nothing here calls user code other than the
//! key's `Eq` (to probe) and the clock (to check a deadline). Removed keys and values are handed
//! out in a [`Removals`], to be reported and dropped after the lock is released.

use crate::admission::{ADMIT_MARGIN, Duels, FrequencySketch, WindowSizer};
use crate::clock::{NEVER, Now};
use crate::flight::Flights;
use crate::list::{Linked, Links, List, NIL};
use crate::listener::{RemovalCause, Removals};
use crate::promotions::Promotions;
use crate::stats::CacheStats;
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed};
use crate::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use hashbrown::HashTable;
use std::borrow::Borrow;

/// The hash the table uses, made from the 32 bits of the key's hash that each entry keeps (in its
/// links): hashbrown places by the low bits and tags by the top seven, so both halves get those
/// 32 bits. The shard was chosen from other bits of the full hash (see `Cache::shard_index`).
#[inline]
fn table_hash(tag: u32) -> u64 {
    (u64::from(tag) << 32) | u64::from(tag)
}

/// The 32 bits of a key's hash an entry keeps.
#[inline]
fn tag_of(hash: u64) -> u32 {
    hash as u32
}

/// The most entries one shard holds: slab indices are `u32` and [`NIL`] is reserved.
const MAX_ENTRIES: u64 = (NIL - 1) as u64;

/// How many slots the slab reserves at first; it then doubles up to the shard's entry bound.
const MIN_SLAB: usize = 16;

/// A shard of the cache, aligned to keep neighbouring shards' locks off each other's cache lines.
///
/// Lookups take the lock shared and record their promotion (see [`Promotions`]); everything else
/// takes it exclusively through [`write`](Self::write), which replays those promotions first.
///
/// The lock comes first, so its word starts the shard's first cache line, and the promotion
/// buffer that leads `Core` fills the rest of that line.
#[repr(C, align(128))]
pub(crate) struct Shard<K, V> {
    core: RwLock<Core<K, V>>,
    /// Hits counted by `peek` under the shared lock.
    peek_hits: AtomicU64,
}

/// What a lookup under the shared lock found.
pub(crate) enum Lookup<R> {
    /// What the lookup read from the entry (its value, say).
    Hit(R),
    Miss,
    /// An expired entry to remove, or a full promotion buffer: ask again under the exclusive lock.
    Retry,
}

/// A shard's settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ShardConfig {
    pub(crate) capacity: u64,
    pub(crate) weighted: bool,
    /// The time-to-idle in nanoseconds, 0 for none.
    pub(crate) idle: u64,
    /// `Promotion::Lossy`.
    pub(crate) lossy: bool,
    /// `Admission::TinyLfu`.
    pub(crate) tiny_lfu: bool,
}

impl ShardConfig {
    /// An exact LRU of `capacity`, unweighted, without time-to-idle.
    #[cfg(test)]
    pub(crate) fn lru(capacity: u64) -> Self {
        ShardConfig {
            capacity,
            weighted: false,
            idle: 0,
            lossy: false,
            tiny_lfu: false,
        }
    }
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(config: ShardConfig) -> Self {
        Shard {
            core: RwLock::new(Core::new(config)),
            peek_hits: AtomicU64::new(0),
        }
    }

    /// The exclusive lock, with the LRU list brought up to date.
    #[inline]
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Core<K, V>> {
        let mut core = self.core.write();
        core.replay();
        core
    }

    /// With `Promotion::Lossy`, after a hit found the buffer full: replays it if the exclusive
    /// lock is free now, else leaves it (the hits past the buffer are dropped).
    #[cold]
    fn try_drain(&self) {
        if let Some(mut core) = self.core.try_write() {
            core.replay();
        }
    }

    /// Takes the exclusive lock only to move the misses counted under the shared lock into the
    /// shard's counters (which [`write`](Self::write) does).
    #[cold]
    fn fold_misses(&self) {
        drop(self.write());
    }

    /// The shared lock, for what does not depend on the LRU order.
    #[inline]
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Core<K, V>> {
        self.core.read()
    }

    /// A lookup under the shared lock: a hit is recorded for replay (with `promote`) or counted,
    /// and `read` reads what the caller wants of the entry (its value, say). A miss is counted
    /// when `COUNT_MISS`.
    #[inline]
    pub(crate) fn lookup<const COUNT_MISS: bool, Q, R>(
        &self,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        promote: bool,
        read: impl FnOnce(&Core<K, V>, u32) -> R,
    ) -> Lookup<R>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let core = self.core.read();
        let Some(i) = core.find(hash, key) else {
            if COUNT_MISS && !core.promotions.miss() {
                drop(core);
                self.fold_misses();
            }
            return Lookup::Miss;
        };
        if core.is_expired(i, now) {
            return Lookup::Retry;
        }
        if promote {
            if !core.promotions.record(i) {
                if !core.lossy {
                    return Lookup::Retry;
                }
                // Lossy: the hit is counted (the buffer's claims are), not replayed.
                core.touch(i, now);
                let r = read(&core, i);
                let claims = core.promotions.claims();
                drop(core);
                if claims >= crate::promotions::MISSES_FOLD {
                    // Claims near the counter's limit: they must be folded in.
                    drop(self.write());
                } else if claims.is_multiple_of(crate::promotions::LOSSY_DRAIN) {
                    // Now and then, replay what the buffer holds if nobody holds the lock.
                    self.try_drain();
                }
                return Lookup::Hit(r);
            }
        } else {
            self.peek_hits.fetch_add(1, Relaxed);
        }
        // Every hit restarts the idle clock, a peek's too.
        core.touch(i, now);
        Lookup::Hit(read(&core, i))
    }

    /// Whether a live entry is under `key`, under the shared lock; `None`: it has expired, ask
    /// again under the exclusive lock (which removes it).
    #[inline]
    pub(crate) fn contains<Q>(&self, hash: u64, key: &Q, now: &Now<'_>) -> Option<bool>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let core = self.core.read();
        match core.find(hash, key) {
            None => Some(false),
            Some(i) if core.is_expired(i, now) => None,
            Some(_) => Some(true),
        }
    }

    /// The counters, with the lookups made under the shared lock: taking the exclusive lock adds
    /// the buffered hits and the pending misses, and the peek hits are added here.
    pub(crate) fn stats(&self) -> CacheStats {
        let mut s = self.write().stats;
        s.hits += self.peek_hits.load(Relaxed);
        s
    }
}

/// One cached entry in the slab: its place in the LRU list, 32 bits of its key's hash (in the
/// links), key and value, on as few cache lines as the types allow. A hit reads the key and
/// value and then (at replay) rewrites the links, and an eviction reads the links, the hash and
/// the key: each touches one line of the entry, not one line in each of several arrays.
///
/// `bucket` is the index of the entry's bucket in the table, so that evicting or moving an entry
/// reaches its bucket directly instead of probing for it (a probe reads the bucket's control
/// group and then its slot, one after the other; with the index both loads go out at once).
/// Buckets move only when the table grows or rehashes, and then every index is recomputed
/// (see [`Core::table_insert`]); a stale index would still be caught and probed past.
///
/// Aligned to 32 bytes so that an entry of up to 32 bytes (such as `u64 -> u64`) never straddles
/// two cache lines.
#[repr(align(32))]
pub(crate) struct Node<K, V> {
    links: Links,
    bucket: u32,
    key: K,
    value: V,
}

/// When an entry was written and how long the load that produced it took, in nanoseconds of the
/// cache's clock: kept only once a policy that refreshes ahead asks for them
/// ([`Core::keep_stamps`]).
#[derive(Clone, Copy, Debug, Default)]
struct Stamp {
    born: u64,
    delta: u64,
}

/// What a policy that refreshes ahead reads with a hit (nanoseconds of the cache's clock).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Freshness {
    /// Since the entry was written (0 if the cache keeps no stamps).
    pub(crate) age: u64,
    /// How long the load that produced it took (0 if unknown).
    pub(crate) delta: u64,
    /// Until its deadline, if it has one.
    pub(crate) left: Option<u64>,
}

impl<K, V> Linked for Node<K, V> {
    #[inline]
    fn links(&self) -> &Links {
        &self.links
    }
    #[inline]
    fn links_mut(&mut self) -> &mut Links {
        &mut self.links
    }
}

/// An entry on its way in: its hash and weight computed outside the lock.
pub(crate) struct NewEntry<K, V> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) value: V,
    /// At least 1.
    pub(crate) weight: u32,
    /// When it expires (nanoseconds on the cache's clock), or [`NEVER`]: computed before the
    /// lock is taken, from the operation's [`Now`].
    pub(crate) deadline: u64,
    /// How long the load of the value took (nanoseconds), for caches that keep stamps; `None`
    /// keeps what a replaced entry had.
    pub(crate) delta: Option<u64>,
}

/// The state of one shard, behind its lock.
///
/// The slab is a set of parallel arrays indexed by slot: `nodes` (links with 32 bits of the key's
/// hash, table bucket, key and value), and the optional `weights` and `deadlines`.
///
/// `repr(C)` keeps the fields in the order written. The promotion buffer, which every hit writes,
/// comes first, on the lock word's cache line (see [`Promotions`]). Next is what a lookup reads
/// and only the exclusive lock writes, and last the list and counters, which every exclusive lock
/// writes.
#[repr(C)]
pub(crate) struct Core<K, V> {
    promotions: Promotions,
    table: HashTable<u32>,
    /// Dense: a removal moves the last node into the freed slot. Each node keeps 32 bits of its
    /// key's hash, so table growth and removal never rehash, so never run user code.
    nodes: Vec<Node<K, V>>,
    /// One deadline per node once any entry of this shard got one; empty before.
    deadlines: Vec<u64>,
    timed: bool,
    /// The time-to-idle in nanoseconds, 0 for none.
    idle: u64,
    /// `timed` or a time-to-idle: whether any entry can expire (one test on the hot path).
    expiring: bool,
    /// With a time-to-idle, when each node was last read or written (atomics: a hit under the
    /// shared lock records its time here); empty otherwise.
    accessed: Vec<AtomicU64>,
    /// Whether `stamps` is kept: one per node once a policy that refreshes ahead asked for them.
    stamped: bool,
    stamps: Vec<Stamp>,
    /// `Promotion::Lossy`: a hit that finds the promotion buffer full is dropped.
    pub(crate) lossy: bool,
    /// `Admission::TinyLfu`: the window and protected segments, the sketch, the window's sizer;
    /// `list` is then the probation segment.
    tiny: Option<Box<Tiny>>,
    weighted: bool,
    /// One weight per node when the cache has a weigher; empty otherwise (every weight is 1).
    weights: Vec<u32>,
    capacity: u64,
    max_entries: usize,
    list: List,
    weight: u64,
    /// Counted under the exclusive lock; see [`Shard::stats`] for the rest.
    stats: CacheStats,
    pub(crate) flights: Flights<K, V>,
}

/// The segments of a W-TinyLFU shard: new entries enter the window; the main space is a
/// segmented LRU, entries admitted from the window on probation, and moved to the protected
/// segment when read again (Caffeine's layout).
const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;
/// On probation, having been moved there from the protected segment (which tells the window's
/// sizer, should the main space evict it, that the protected segment was too small for it).
const DEMOTED: u8 = 3;

/// The segment whose list and weight hold a node of segment value `seg`: a demoted node is on
/// probation.
#[inline]
fn part(seg: u8) -> u8 {
    if seg == DEMOTED { PROBATION } else { seg }
}

/// W-TinyLFU's state in a shard: the window and protected LRUs (over the same slab as the
/// probation LRU, which is the shard's `list`), each node's segment, the frequency sketch and
/// the window's sizer.
struct Tiny {
    window: List,
    protected: List,
    /// The total weight in each segment.
    weight: [u64; 3],
    /// Per node: its segment.
    seg: Vec<u8>,
    sketch: FrequencySketch,
    sizer: WindowSizer,
    duels: Duels,
}

impl Tiny {
    /// The list of segment `seg` (the probation list is the shard's own).
    #[inline]
    fn list<'a>(&'a mut self, probation: &'a mut List, seg: u8) -> &'a mut List {
        match seg {
            WINDOW => &mut self.window,
            PROTECTED => &mut self.protected,
            _ => probation,
        }
    }
}

impl<K, V> Core<K, V> {
    fn new(config: ShardConfig) -> Self {
        let ShardConfig {
            capacity,
            weighted,
            idle,
            lossy,
            tiny_lfu,
        } = config;
        Core {
            idle,
            expiring: idle != 0,
            accessed: Vec::new(),
            stamped: false,
            stamps: Vec::new(),
            lossy,
            tiny: tiny_lfu.then(|| {
                Box::new(Tiny {
                    window: List::new(),
                    protected: List::new(),
                    weight: [0; 3],
                    seg: Vec::new(),
                    sketch: FrequencySketch::new(capacity),
                    sizer: WindowSizer::new(capacity),
                    duels: Duels::default(),
                })
            }),
            promotions: Promotions::new(),
            table: HashTable::new(),
            nodes: Vec::new(),
            weights: Vec::new(),
            deadlines: Vec::new(),
            weighted,
            timed: false,
            list: List::new(),
            weight: 0,
            capacity,
            max_entries: usize::try_from(capacity.min(MAX_ENTRIES)).unwrap_or(usize::MAX),
            flights: Flights::new(),
            stats: CacheStats::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn weight(&self) -> u64 {
        self.weight
    }

    #[inline]
    fn weight_of(&self, i: u32) -> u64 {
        if self.weighted {
            u64::from(self.weights[i as usize])
        } else {
            1
        }
    }

    /// Whether entry `i` has expired: its deadline has come, or it has not been read for the
    /// time-to-idle. The one place that decides it.
    #[inline]
    pub(crate) fn is_expired(&self, i: u32, now: &Now<'_>) -> bool {
        self.expiring && self.expired_at(i, now)
    }

    fn expired_at(&self, i: u32, now: &Now<'_>) -> bool {
        (self.timed && {
            let d = self.deadlines[i as usize];
            d != NEVER && now.get() >= d
        }) || (self.idle != 0
            && now
                .get()
                .saturating_sub(self.accessed[i as usize].load(Relaxed))
                >= self.idle)
    }

    /// Replays the hits recorded under the shared lock, and counts them and the misses.
    #[inline]
    fn replay(&mut self) {
        let Core {
            promotions,
            list,
            nodes,
            stats,
            tiny,
            lossy,
            weights,
            weighted,
            ..
        } = self;
        let (misses, claimed) = match tiny {
            None => promotions.replay(|i| list.move_to_front(nodes, i)),
            Some(t) => promotions.replay(|i| {
                Self::promote_tiny(t, list, nodes, weights, *weighted, i);
            }),
        };
        // Every claimed slot up to the buffer's size held a hit, and was replayed.
        let applied = claimed.min(crate::promotions::SLOTS as u64);
        // Exact: a hit past the buffer is counted by the exclusive lookup its reader makes.
        // Lossy: every claim is a hit, replayed or dropped.
        let hits = if *lossy { claimed } else { applied };
        stats.hits += hits;
        stats.misses += misses;
    }

    /// Entry `i` was used: it becomes the most recently used of its segment (and, with
    /// TinyLFU, its frequency is counted).
    #[inline]
    fn promote(&mut self, i: u32) {
        match &mut self.tiny {
            None => self.list.move_to_front(&mut self.nodes, i),
            Some(t) => Self::promote_tiny(
                t,
                &mut self.list,
                &mut self.nodes,
                &self.weights,
                self.weighted,
                i,
            ),
        }
    }

    /// A W-TinyLFU hit: counted in the sketch; in the window or the protected segment the
    /// entry moves to its front; on probation it moves to the protected segment, whose LRU end
    /// goes back on probation while the segment is over its share.
    #[inline]
    fn promote_tiny(
        t: &mut Tiny,
        probation: &mut List,
        nodes: &mut [Node<K, V>],
        weights: &[u32],
        weighted: bool,
        i: u32,
    ) {
        let weight_of = |j: u32| {
            if weighted {
                u64::from(weights[j as usize])
            } else {
                1
            }
        };
        let tag = nodes[i as usize].links.tag;
        t.sketch.increment(tag);
        t.duels.accessed(tag);
        match t.seg[i as usize] {
            WINDOW => {
                t.window.move_to_front(nodes, i);
                t.sizer.window_hit(weight_of(i));
            }
            PROTECTED => t.protected.move_to_front(nodes, i),
            _ => {
                let w = weight_of(i);
                probation.unlink(nodes, i);
                t.protected.push_front(nodes, i);
                t.seg[i as usize] = PROTECTED;
                t.weight[PROBATION as usize] -= w;
                t.weight[PROTECTED as usize] += w;
                let max = t.sizer.protected();
                while t.weight[PROTECTED as usize] > max {
                    let d = t.protected.tail();
                    if d == NIL || d == i {
                        break;
                    }
                    let dw = weight_of(d);
                    t.protected.unlink(nodes, d);
                    probation.push_front(nodes, d);
                    t.seg[d as usize] = DEMOTED;
                    t.weight[PROTECTED as usize] -= dw;
                    t.weight[PROBATION as usize] += dw;
                }
            }
        }
    }

    /// The entry eviction takes next: the LRU end (with TinyLFU, probation's, else the
    /// protected segment's, else the window's).
    #[inline]
    fn victim(&self) -> u32 {
        match &self.tiny {
            None => self.list.tail(),
            Some(t) => [self.list.tail(), t.protected.tail(), t.window.tail()]
                .into_iter()
                .find(|&v| v != NIL)
                .unwrap_or(NIL),
        }
    }

    /// The value of entry `i`.
    #[inline]
    pub(crate) fn value(&self, i: u32) -> V
    where
        V: Clone,
    {
        self.nodes[i as usize].value.clone()
    }

    /// How old entry `i` is, how long its load took and how long it has left.
    pub(crate) fn freshness(&self, i: u32, now: &Now<'_>) -> Freshness {
        let t = now.get();
        let (age, delta) = match self.stamps.get(i as usize) {
            Some(s) => (t.saturating_sub(s.born), s.delta),
            None => (0, 0),
        };
        let left = match self.deadlines.get(i as usize) {
            Some(&d) if d != NEVER => Some(d.saturating_sub(t)),
            _ => None,
        };
        Freshness { age, delta, left }
    }

    /// From now on, keep a [`Stamp`] per entry; the entries already here count as written now,
    /// with an unknown load time.
    pub(crate) fn keep_stamps(&mut self, now: &Now<'_>) {
        if !self.stamped {
            self.stamped = true;
            self.stamps.reserve_exact(self.nodes.capacity());
            let born = now.get();
            self.stamps
                .resize(self.nodes.len(), Stamp { born, delta: 0 });
        }
    }

    /// Entry `i` was written now, by a load that took `delta` (`None`: as long as the last).
    #[inline]
    fn stamp(&mut self, i: u32, delta: Option<u64>, now: &Now<'_>) {
        if self.stamped {
            let s = &mut self.stamps[i as usize];
            s.born = now.get();
            s.delta = delta.unwrap_or(s.delta);
        }
    }

    /// Entry `i` was read or written now: its idle time starts again.
    #[inline]
    fn touch(&self, i: u32, now: &Now<'_>) {
        if self.idle != 0 {
            self.accessed[i as usize].store(now.get(), Relaxed);
        }
    }

    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let nodes = &self.nodes;
        self.table
            .find(table_hash(tag_of(hash)), |&i| {
                nodes[i as usize].key.borrow() == key
            })
            .copied()
    }

    /// Finds a live entry; an expired one is removed and reported as `Expired`.
    #[inline]
    fn find_live<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        out: &mut Removals<K, V>,
    ) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.find(hash, key)?;
        if self.is_expired(i, now) {
            let (k, v) = self.remove_at(i);
            self.stats.expirations += 1;
            out.push(k, v, RemovalCause::Expired);
            return None;
        }
        Some(i)
    }

    /// A lookup: with `promote` the entry becomes the most recently used; `record` says whether
    /// a hit and whether a miss is counted; `read` reads what the caller wants of the entry.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn get<Q, R>(
        &mut self,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        promote: bool,
        record: (bool, bool),
        out: &mut Removals<K, V>,
        read: impl FnOnce(&Self, u32) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let found = self.find_live(hash, key, now, out);
        let (record_hit, record_miss) = record;
        match found {
            Some(i) => {
                if promote {
                    self.promote(i);
                }
                self.touch(i, now);
                self.stats.hits += u64::from(record_hit);
                Some(read(self, i))
            }
            None => {
                self.stats.misses += u64::from(record_miss);
                None
            }
        }
    }

    pub(crate) fn contains<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        out: &mut Removals<K, V>,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.find_live(hash, key, now, out).is_some()
    }

    /// Removes a live entry and returns it; an expired one goes to `out` instead.
    pub(crate) fn remove<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        out: &mut Removals<K, V>,
    ) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let i = self.find_live(hash, key, now, out)?;
        Some(self.remove_at(i))
    }

    /// Inserts or replaces, then evicts from the LRU end until the shard fits.
    ///
    /// `weight` is at least 1. Reports the replaced value first, then the evictions in LRU order.
    pub(crate) fn insert(&mut self, new: NewEntry<K, V>, now: &Now<'_>, out: &mut Removals<K, V>)
    where
        K: Eq,
    {
        debug_assert!(new.weight >= 1);
        let heavy = u64::from(new.weight) > self.capacity;
        if let Some(i) = self.find(new.hash, &new.key) {
            let NewEntry {
                key,
                value,
                weight,
                deadline,
                delta,
                ..
            } = new;
            let expired = self.is_expired(i, now);
            let cause = if expired {
                self.stats.expirations += 1;
                RemovalCause::Expired
            } else {
                RemovalCause::Replaced
            };
            if heavy {
                let (k, v) = self.remove_at(i);
                out.push(k, v, cause);
                self.reject(key, value, out);
                return;
            }
            let old_weight = self.weight_of(i);
            let n = &mut self.nodes[i as usize];
            let old_key = std::mem::replace(&mut n.key, key);
            let old_value = std::mem::replace(&mut n.value, value);
            out.push(old_key, old_value, cause);
            if self.weighted {
                self.weights[i as usize] = weight;
            }
            self.weight = self.weight - old_weight + u64::from(weight);
            if let Some(t) = &mut self.tiny {
                let seg = &mut t.weight[part(t.seg[i as usize]) as usize];
                *seg = *seg - old_weight + u64::from(weight);
            }
            self.set_deadline(i, deadline);
            self.touch(i, now);
            self.stamp(i, delta, now);
            self.promote(i);
            self.stats.inserts += 1;
            self.evict_while(|c| c.weight > c.capacity, now, out);
            return;
        }
        if heavy {
            self.reject(new.key, new.value, out);
            return;
        }
        self.stats.inserts += 1;
        if self.tiny.is_some() {
            self.insert_tiny(new, now, out);
            return;
        }
        let w = u64::from(new.weight);
        if self.weight + w <= self.capacity && self.nodes.len() < self.max_entries {
            self.push(new, now);
            return;
        }
        // Evict from the LRU end until the new entry fits, and give the last slot freed to the
        // new entry. Evicting first gives the same result as inserting first (the new entry is
        // the most recently used and fits on its own), and moves no other entry in the slab.
        loop {
            let t = self.list.tail();
            debug_assert_ne!(t, NIL, "an empty shard always fits");
            if self.weight - self.weight_of(t) + w <= self.capacity {
                self.reuse(t, new, now, out);
                return;
            }
            self.evict(t, now, out);
        }
    }

    /// W-TinyLFU's insert of a new key: room is made first, then the entry enters the window,
    /// and the window's overflow moves to probation (the main space).
    ///
    /// Room: while the new entry does not fit, the entry the window will push out (its LRU
    /// end, if the window overflows) duels with the main space's victim: the candidate wins
    /// only if the sketch estimates it more frequent than the victim by more than the margin
    /// ([`ADMIT_MARGIN`], or 0 while the recent narrow duels favour the candidate: [`Duels`]),
    /// and then moves to probation while the victim is evicted; otherwise the candidate is
    /// evicted: the incumbent keeps its place on a tie, as in TinyLFU, and on a difference the
    /// sketch's noise can make. A victim on probation that out-counts the candidate by more
    /// than [`ADMIT_MARGIN`] moves to probation's front, so that the next candidate meets the
    /// next victim (TinyLFU keeps it at the end, where a key that is counted often but no
    /// longer read stops every candidate until aging halves its count). Without a candidate,
    /// the victim goes.
    fn insert_tiny(&mut self, new: NewEntry<K, V>, now: &Now<'_>, out: &mut Removals<K, V>)
    where
        K: Eq,
    {
        let w = u64::from(new.weight);
        let tag = tag_of(new.hash);
        let t = self.tiny.as_mut().expect("TinyLFU is on");
        t.sketch.increment(tag);
        t.duels.accessed(tag);
        t.sizer.inserting(tag, w);
        while self.weight + w > self.capacity || self.nodes.len() >= self.max_entries {
            let t = self.tiny.as_ref().expect("TinyLFU is on");
            let overflow = t.weight[WINDOW as usize] + w > t.sizer.window;
            let candidate = if overflow { t.window.tail() } else { NIL };
            let victim = self.victim();
            debug_assert_ne!(victim, NIL, "an empty shard always fits");
            let evict = if candidate != NIL && victim != candidate {
                let (c, v) = (
                    self.nodes[candidate as usize].links.tag,
                    self.nodes[victim as usize].links.tag,
                );
                let (fc, fv) = (t.sketch.frequency(c), t.sketch.frequency(v));
                let margin = t.duels.margin();
                let on_probation = matches!(t.seg[victim as usize], PROBATION | DEMOTED);
                if fc > fv && fc <= fv.saturating_add(ADMIT_MARGIN) {
                    let entries = self.nodes.len();
                    let t = self.tiny.as_mut().expect("TinyLFU is on");
                    t.duels.narrow(c, v, entries);
                }
                if fc > fv.saturating_add(margin) {
                    self.admit_to_main(candidate);
                    victim
                } else {
                    // A victim that clearly out-counts the candidate has earned another turn:
                    // the next candidate duels with the next least recently used.
                    if fv > fc.saturating_add(ADMIT_MARGIN) && on_probation {
                        self.list.move_to_front(&mut self.nodes, victim);
                    }
                    candidate
                }
            } else {
                victim
            };
            // The ghosts remember which door it left by: rejected from the window, or evicted
            // from the main space (and whether it had been demoted from the protected segment).
            let t = self.tiny.as_mut().expect("TinyLFU is on");
            let tag = self.nodes[evict as usize].links.tag;
            let entries = self.nodes.len();
            match t.seg[evict as usize] {
                WINDOW => t.sizer.rejected(tag, entries),
                seg => t.sizer.evicted(tag, entries, seg == DEMOTED),
            }
            self.evict(evict, now, out);
        }
        self.push(new, now);
        loop {
            let t = self.tiny.as_ref().expect("TinyLFU is on");
            let c = t.window.tail();
            if t.weight[WINDOW as usize] <= t.sizer.window || c == NIL {
                break;
            }
            self.admit_to_main(c);
        }
    }

    /// Moves window entry `i` to the head of probation (admitted to the main space).
    fn admit_to_main(&mut self, i: u32) {
        let w = self.weight_of(i);
        let t = self.tiny.as_mut().expect("TinyLFU is on");
        t.window.unlink(&mut self.nodes, i);
        t.weight[WINDOW as usize] -= w;
        t.weight[PROBATION as usize] += w;
        t.seg[i as usize] = PROBATION;
        self.list.push_front(&mut self.nodes, i);
    }

    /// A value too heavy for this shard: not stored, reported as evicted.
    fn reject(&mut self, key: K, value: V, out: &mut Removals<K, V>) {
        self.stats.evictions += 1;
        out.push(key, value, RemovalCause::Evicted);
    }

    fn set_deadline(&mut self, i: u32, deadline: u64) {
        if deadline != NEVER && !self.timed {
            self.timed = true;
            self.expiring = true;
            self.deadlines.reserve_exact(self.nodes.capacity());
            self.deadlines.resize(self.nodes.len(), NEVER);
        }
        if self.timed {
            self.deadlines[i as usize] = deadline;
        }
    }

    /// Appends a new node at the head of the list.
    fn push(&mut self, new: NewEntry<K, V>, now: &Now<'_>) {
        let NewEntry {
            hash,
            key,
            value,
            weight,
            deadline,
            delta,
        } = new;
        let len = self.nodes.len();
        debug_assert!(len < self.max_entries);
        if len == self.nodes.capacity() {
            // Double, but never past the most entries this shard can hold.
            let target = (len * 2).max(MIN_SLAB).min(self.max_entries).max(len + 1);
            self.nodes.reserve_exact(target - len);
            if self.weighted {
                self.weights.reserve_exact(target - len);
            }
            if self.timed {
                self.deadlines.reserve_exact(target - len);
            }
            if self.idle != 0 {
                self.accessed.reserve_exact(target - len);
            }
            if self.stamped {
                self.stamps.reserve_exact(target - len);
            }
            if let Some(t) = &mut self.tiny {
                t.seg.reserve_exact(target - len);
            }
        }
        let i = len as u32;
        self.nodes.push(Node {
            links: Links::unlinked(tag_of(hash)),
            bucket: NIL,
            key,
            value,
        });
        if self.weighted {
            self.weights.push(weight);
        }
        if self.timed {
            self.deadlines.push(NEVER);
        }
        if self.idle != 0 {
            self.accessed.push(AtomicU64::new(now.get()));
        }
        if self.stamped {
            self.stamps.push(Stamp {
                born: now.get(),
                delta: delta.unwrap_or(0),
            });
        }
        self.set_deadline(i, deadline);
        self.table_insert(i);
        match &mut self.tiny {
            None => self.list.push_front(&mut self.nodes, i),
            Some(t) => {
                // A new entry enters the window.
                t.seg.push(WINDOW);
                t.window.push_front(&mut self.nodes, i);
                t.weight[WINDOW as usize] += u64::from(weight);
            }
        }
        self.weight += u64::from(weight);
    }

    /// Evicts entry `t` (the LRU end of `list`) and puts the new entry in its slot.
    fn reuse(&mut self, t: u32, new: NewEntry<K, V>, now: &Now<'_>, out: &mut Removals<K, V>) {
        let NewEntry {
            hash,
            key,
            value,
            weight,
            deadline,
            delta,
        } = new;
        let expired = self.is_expired(t, now);
        self.table_remove(t);
        self.weight = self.weight - self.weight_of(t) + u64::from(weight);
        let n = &mut self.nodes[t as usize];
        let old_key = std::mem::replace(&mut n.key, key);
        let old_value = std::mem::replace(&mut n.value, value);
        n.links.tag = tag_of(hash);
        self.report_evicted(old_key, old_value, expired, out);
        if self.weighted {
            self.weights[t as usize] = weight;
        }
        self.set_deadline(t, deadline);
        self.touch(t, now);
        if self.stamped {
            self.stamps[t as usize] = Stamp {
                born: now.get(),
                delta: delta.unwrap_or(0),
            };
        }
        self.table_insert(t);
        // The slot keeps its place in the slab: the new entry takes the old one's node, and
        // moves from the tail to the head.
        self.list.move_to_front(&mut self.nodes, t);
    }

    /// Adds node `i` (whose tag is set) to the table and records its bucket.
    #[inline(always)]
    fn table_insert(&mut self, i: u32) {
        // hashbrown moves entries only when an insert finds no room left (`capacity == len`);
        // it then rehashes or grows, which leaves room, and every bucket index must be redone.
        let full = self.table.capacity() == self.table.len();
        let nodes = &self.nodes;
        let bucket = self
            .table
            .insert_unique(table_hash(nodes[i as usize].links.tag), i, |&j| {
                table_hash(nodes[j as usize].links.tag)
            })
            .bucket_index();
        self.nodes[i as usize].bucket = u32::try_from(bucket).unwrap_or(NIL);
        if full && self.table.capacity() != self.table.len() {
            self.rebucket();
        }
    }

    /// Recomputes every node's bucket index, after the table moved its entries.
    #[cold]
    fn rebucket(&mut self) {
        for i in 0..self.nodes.len() {
            let hash = table_hash(self.nodes[i].links.tag);
            let bucket = self.table.find_bucket_index(hash, |&j| j as usize == i);
            debug_assert!(bucket.is_some(), "every node is in the table");
            self.nodes[i].bucket = bucket.and_then(|b| u32::try_from(b).ok()).unwrap_or(NIL);
        }
    }

    /// Removes entry `i` from the table (nothing else).
    #[inline]
    fn table_remove(&mut self, i: u32) {
        match self.table.get_bucket_entry(self.bucket_of(i, i)) {
            Ok(e) => {
                e.remove();
            }
            Err(_) => unreachable!("every node is in the table"),
        }
    }

    /// The bucket of node `i`, which holds the slab index `holding` (`i`, or the index the node
    /// had before the slab moved it): the recorded one, checked.
    #[inline]
    fn bucket_of(&self, i: u32, holding: u32) -> usize {
        let bucket = self.nodes[i as usize].bucket as usize;
        if self.table.get_bucket(bucket) == Some(&holding) {
            bucket
        } else {
            self.probe_bucket(i, holding)
        }
    }

    /// [`bucket_of`](Self::bucket_of) when the recorded index was stale: probes.
    #[cold]
    fn probe_bucket(&self, i: u32, holding: u32) -> usize {
        debug_assert!(false, "stale bucket index");
        let hash = table_hash(self.nodes[i as usize].links.tag);
        match self.table.find_bucket_index(hash, |&j| j == holding) {
            Some(bucket) => bucket,
            None => unreachable!("every node is in the table"),
        }
    }

    /// Removes entry `t` to make room: `Expired` if it had expired, `Evicted` otherwise.
    #[inline]
    fn evict(&mut self, t: u32, now: &Now<'_>, out: &mut Removals<K, V>) {
        let expired = self.is_expired(t, now);
        let (k, v) = self.remove_at(t);
        self.report_evicted(k, v, expired, out);
    }

    #[inline]
    fn report_evicted(&mut self, k: K, v: V, expired: bool, out: &mut Removals<K, V>) {
        if expired {
            self.stats.expirations += 1;
            out.push(k, v, RemovalCause::Expired);
        } else {
            self.stats.evictions += 1;
            out.push(k, v, RemovalCause::Evicted);
        }
    }

    /// Removes entries from the LRU end while `over` holds: `Expired` if they had expired,
    /// `Evicted` otherwise.
    #[inline]
    fn evict_while(
        &mut self,
        over: impl Fn(&Self) -> bool,
        now: &Now<'_>,
        out: &mut Removals<K, V>,
    ) {
        while over(self) {
            let t = self.victim();
            debug_assert_ne!(t, NIL, "an empty shard always fits");
            self.evict(t, now, out);
        }
    }

    /// Removes node `i` from the list, the table and the slab; the last node moves into its slot.
    fn remove_at(&mut self, i: u32) -> (K, V) {
        let w = self.weight_of(i);
        match &mut self.tiny {
            Some(t) => {
                let seg = t.seg[i as usize];
                t.weight[part(seg) as usize] -= w;
                t.list(&mut self.list, seg).unlink(&mut self.nodes, i);
            }
            None => self.list.unlink(&mut self.nodes, i),
        }
        self.table_remove(i);
        self.weight -= w;
        let last = (self.nodes.len() - 1) as u32;
        let node = self.nodes.swap_remove(i as usize);
        if self.weighted {
            self.weights.swap_remove(i as usize);
        }
        if self.timed {
            self.deadlines.swap_remove(i as usize);
        }
        if self.idle != 0 {
            self.accessed.swap_remove(i as usize);
        }
        if self.stamped {
            self.stamps.swap_remove(i as usize);
        }
        if let Some(t) = &mut self.tiny {
            t.seg.swap_remove(i as usize);
        }
        if i != last {
            match &mut self.tiny {
                Some(t) => {
                    let seg = t.seg[i as usize];
                    t.list(&mut self.list, seg).relocated(&mut self.nodes, i);
                }
                None => self.list.relocated(&mut self.nodes, i),
            }
            let bucket = self.bucket_of(i, last);
            match self.table.get_bucket_mut(bucket) {
                Some(slot) => *slot = i,
                None => unreachable!("every node is in the table"),
            }
        }
        (node.key, node.value)
    }

    /// Removes every expired entry, reporting them in LRU order; returns how many.
    pub(crate) fn purge_expired(&mut self, now: &Now<'_>, out: &mut Removals<K, V>) -> usize {
        if !self.expiring {
            return 0;
        }
        let mut purged = 0;
        // The LRU list, then (with TinyLFU) the protected segment and the window, each from its
        // LRU end.
        for seg in [PROBATION, PROTECTED, WINDOW] {
            let mut cur = match (&self.tiny, seg) {
                (_, PROBATION) => self.list.tail(),
                (Some(t), PROTECTED) => t.protected.tail(),
                (Some(t), _) => t.window.tail(),
                (None, _) => NIL,
            };
            purged += self.purge_from(&mut cur, now, out);
        }
        purged
    }

    /// Walks one list from `cur` towards its head, removing what has expired.
    fn purge_from(&mut self, cur: &mut u32, now: &Now<'_>, out: &mut Removals<K, V>) -> usize {
        let mut purged = 0;
        let mut last = self.nodes.len() as u32;
        let mut cur = *cur;
        while cur != NIL {
            let mut prev = self.nodes[cur as usize].links.prev;
            if self.is_expired(cur, now) {
                last -= 1;
                let (k, v) = self.remove_at(cur);
                // The node at `last` moved into `cur`'s slot.
                if prev == last {
                    prev = cur;
                }
                self.stats.expirations += 1;
                out.push(k, v, RemovalCause::Expired);
                purged += 1;
            }
            cur = prev;
        }
        purged
    }

    /// Removes everything in LRU order: `Explicit`, or `Expired` for what had expired.
    pub(crate) fn clear(&mut self, now: &Now<'_>, out: &mut Removals<K, V>) {
        loop {
            let t = self.victim();
            if t == NIL {
                break;
            }
            let expired = self.is_expired(t, now);
            let (k, v) = self.remove_at(t);
            if expired {
                self.stats.expirations += 1;
                out.push(k, v, RemovalCause::Expired);
            } else {
                out.push(k, v, RemovalCause::Explicit);
            }
        }
    }

    /// Checks every invariant of the shard; `hash_of` recomputes a key's hash.
    pub(crate) fn validate(&self, hash_of: impl Fn(&K) -> u64) -> Result<(), String> {
        let n = self.nodes.len();
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_owned()) };
        check(self.table.len() == n, "table and slab differ in length")?;
        check(
            n <= self.max_entries,
            "more entries than the shard may hold",
        )?;
        check(self.weight <= self.capacity, "weight exceeds capacity")?;
        check(
            !self.weighted || self.weights.len() == n,
            "weights not parallel to the slab",
        )?;
        check(
            self.weighted || self.weights.is_empty(),
            "weights without a weigher",
        )?;
        check(
            if self.timed {
                self.deadlines.len() == n
            } else {
                self.deadlines.is_empty()
            },
            "deadlines not parallel to the slab",
        )?;
        check(
            self.accessed.len() == if self.idle != 0 { n } else { 0 },
            "access times not parallel to the slab",
        )?;
        check(
            self.stamps.len() == if self.stamped { n } else { 0 },
            "stamps not parallel to the slab",
        )?;
        for &i in &self.table {
            check((i as usize) < n, "table index out of bounds")?;
        }
        let mut total = 0u64;
        for (i, node) in self.nodes.iter().enumerate() {
            let hash = table_hash(node.links.tag);
            check(
                node.links.tag == tag_of(hash_of(&node.key)),
                "stored hash is not the key's hash",
            )?;
            let found = self.table.find(hash, |&j| j as usize == i);
            check(found.is_some(), "node missing from the table")?;
            check(
                self.table.get_bucket(node.bucket as usize) == Some(&(i as u32)),
                "stale bucket index",
            )?;
            let w = self.weight_of(i as u32);
            check(w >= 1 && w <= self.capacity, "entry weight out of range")?;
            total += w;
        }
        check(total == self.weight, "weights do not add up")?;
        // Walk the list (with TinyLFU: probation, protected and the window) both ways.
        let mut seen = vec![false; n];
        let mut count = 0;
        let lists: Vec<(&List, u8)> = match &self.tiny {
            None => vec![(&self.list, PROBATION)],
            Some(t) => vec![
                (&self.list, PROBATION),
                (&t.protected, PROTECTED),
                (&t.window, WINDOW),
            ],
        };
        for (list, seg) in lists {
            let mut prev = NIL;
            let mut cur = list.head();
            let mut weight = 0;
            while cur != NIL {
                check((cur as usize) < n, "list index out of bounds")?;
                check(!seen[cur as usize], "list has a cycle")?;
                seen[cur as usize] = true;
                if let Some(t) = &self.tiny {
                    check(
                        part(t.seg[cur as usize]) == seg,
                        "node in the wrong segment",
                    )?;
                }
                let links = &self.nodes[cur as usize].links;
                check(links.prev == prev, "prev link broken")?;
                count += 1;
                weight += self.weight_of(cur);
                prev = cur;
                cur = links.next;
            }
            check(list.tail() == prev, "tail is not the last node")?;
            if let Some(t) = &self.tiny {
                check(
                    t.weight[seg as usize] == weight,
                    "segment weight does not add up",
                )?;
                check(t.seg.len() == n, "segments not parallel to the slab")?;
            }
        }
        check(count == n, "list does not hold every node")?;
        Ok(())
    }

    /// Keys from least to most recently used (tests and debugging); with TinyLFU, probation's,
    /// then the protected segment's, then the window's.
    pub(crate) fn keys_lru(&self) -> impl Iterator<Item = &K> + '_ {
        let others = self.tiny.as_ref().map(|t| {
            t.protected
                .iter_lru(&self.nodes)
                .chain(t.window.iter_lru(&self.nodes))
        });
        self.list
            .iter_lru(&self.nodes)
            .chain(others.into_iter().flatten())
            .map(|i| &self.nodes[i as usize].key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{RealClock, TimeSource};

    /// `k -> k` under hash `hash`, weight 1, no TTL.
    fn entry(k: u64, hash: u64) -> NewEntry<u64, u64> {
        NewEntry {
            hash,
            key: k,
            value: k,
            weight: 1,
            deadline: NEVER,
            delta: None,
        }
    }

    /// The promotion buffer lies on the shard's first cache line, after the lock word.
    /// (Not under shuttle, whose lock is laid out differently.)
    #[test]
    #[cfg(not(feature = "shuttle"))]
    fn promotion_buffer_shares_the_lock_line() {
        fn check<K, V>() {
            let shard: Shard<K, V> = Shard::new(ShardConfig::lru(8));
            let start = std::ptr::from_ref(&shard).addr();
            let core = shard.read();
            let buffer = std::ptr::from_ref(&core.promotions).addr();
            assert_eq!(start % 128, 0);
            assert_eq!(std::mem::size_of::<Promotions>(), 56);
            assert_eq!(buffer, start + 8, "the buffer follows the lock word");
        }
        check::<u64, u64>();
        check::<String, Vec<u8>>();
        check::<u8, ()>();
        check::<[u64; 4], std::sync::Arc<str>>();
    }

    /// Misses counted under the shared lock reach the counters, across folds (every four misses
    /// in the unit tests: never more are pending) and replays.
    #[test]
    fn misses_and_hits_under_the_shared_lock_are_all_counted() {
        let time = TimeSource::new(std::sync::Arc::new(RealClock));
        let now = Now::new(&time);
        let shard: Shard<u64, u64> = Shard::new(ShardConfig::lru(100));
        for k in 0..10 {
            shard
                .write()
                .insert(entry(k, k), &now, &mut Removals::new());
        }
        let (mut hits, mut misses) = (0, 0);
        for round in 0..50u64 {
            // Every third round peeks (counted apart), the others promote.
            let promote = round % 3 != 0;
            for k in 0..20u64 {
                let found = match shard.lookup::<true, _, _>(k, &k, &now, promote, Core::value) {
                    Lookup::Hit(v) => Some(v),
                    Lookup::Miss => None,
                    Lookup::Retry => shard.write().get(
                        k,
                        &k,
                        &now,
                        promote,
                        (true, true),
                        &mut Removals::new(),
                        Core::value,
                    ),
                };
                let pending = shard.read().promotions.pending_misses();
                assert!(
                    pending <= crate::promotions::MISSES_FOLD,
                    "{pending} misses unfolded"
                );
                if k < 10 {
                    assert_eq!(found, Some(k));
                    hits += 1;
                } else {
                    assert_eq!(found, None);
                    misses += 1;
                }
            }
        }
        let stats = shard.stats();
        assert_eq!((stats.hits, stats.misses), (hits, misses));
    }

    /// Fills a shard of 1,792 to the table's load limit (2,048 buckets), removes the keys
    /// `remove` picks, then inserts up to `refill` entries, with validation after every time
    /// the table moved its entries. Returns how often it grew and rehashed in place.
    fn churn(hash: fn(u64) -> u64, remove: fn(u64) -> bool, refill: usize) -> (usize, usize) {
        let time = TimeSource::new(std::sync::Arc::new(RealClock));
        let now = Now::new(&time);
        let mut core: Core<u64, u64> = Core::new(ShardConfig::lru(1792));
        let (mut grown, mut in_place) = (0, 0);
        let mut insert = |core: &mut Core<u64, u64>, k: u64| {
            let buckets = core.table.num_buckets();
            let no_room = core.table.capacity() == core.table.len();
            core.insert(entry(k, hash(k)), &now, &mut Removals::new());
            if no_room && core.table.capacity() != core.table.len() {
                if core.table.num_buckets() == buckets {
                    in_place += 1;
                } else {
                    grown += 1;
                }
                core.validate(|k| hash(*k)).unwrap();
            }
        };
        for k in 0..1792 {
            insert(&mut core, k);
        }
        for k in (0..1792).filter(|&k| remove(k)) {
            core.remove(hash(k), &k, &now, &mut Removals::new());
        }
        core.validate(|k| hash(*k)).unwrap();
        for k in 1792..1792 + refill as u64 {
            insert(&mut core, k);
        }
        core.validate(|k| hash(*k)).unwrap();
        (grown, in_place)
    }

    /// W-TinyLFU's duel: a victim that clearly out-counts the candidate moves to probation's
    /// front, so that the next candidate meets the next victim; on a tie it stays the victim.
    /// A duel won or lost by one count is remembered for the margin.
    #[test]
    fn a_clear_winner_among_victims_gets_another_turn() {
        let time = TimeSource::new(std::sync::Arc::new(RealClock));
        let now = Now::new(&time);
        let shard: Shard<u64, u64> = Shard::new(ShardConfig {
            tiny_lfu: true,
            ..ShardConfig::lru(100)
        });
        let mut core = shard.write();
        let mut out = Removals::new();
        for k in 0..100 {
            core.insert(entry(k, k), &now, &mut out);
        }
        let has = |core: &Core<u64, u64>, k: u64| core.find(k, &k).is_some();
        let key = |core: &Core<u64, u64>, i: u32| core.nodes[i as usize].key;
        let probation = |core: &Core<u64, u64>| -> Vec<u64> {
            core.list
                .iter_lru(&core.nodes)
                .map(|i| key(core, i))
                .collect()
        };
        assert_eq!(
            probation(&core)[..2],
            [0, 1],
            "the least recently used first"
        );
        // Key 0 has been counted six times, the window's candidate (99) once: the candidate is
        // evicted and key 0 goes to probation's front.
        for _ in 0..5 {
            core.tiny.as_mut().unwrap().sketch.increment(0);
        }
        core.insert(entry(1_000, 1_000), &now, &mut out);
        assert_eq!(core.stats.evictions, 1);
        assert!(has(&core, 0) && !has(&core, 99));
        assert_eq!(probation(&core)[0], 1);
        assert_eq!(*probation(&core).last().unwrap(), 0);
        // Key 1 and the next candidate (1,000) are counted once each: a tie evicts the candidate
        // and leaves key 1 where it is. One count ahead is a narrow duel, remembered.
        core.insert(entry(1_001, 1_001), &now, &mut out);
        assert!(has(&core, 1) && !has(&core, 1_000));
        assert_eq!(probation(&core)[0], 1);
        core.tiny.as_mut().unwrap().sketch.increment(1_001);
        core.insert(entry(1_002, 1_002), &now, &mut out);
        assert!(
            has(&core, 1) && !has(&core, 1_001),
            "one count is within the margin"
        );
        assert_eq!(
            probation(&core)[0],
            1,
            "and within it the victim stays the victim"
        );
        assert_eq!(core.tiny.as_ref().unwrap().duels.undecided(), 1);
        assert_eq!(core.stats.evictions, 3);
    }

    /// hashbrown moves entries between buckets when it grows and when it rehashes in place (to
    /// clear tombstones); every node's bucket index must follow (`validate` checks each one).
    #[test]
    fn bucket_indices_follow_growth() {
        // Doubling the table moves these keys: their bucket is `2k mod buckets`.
        let (grown, _) = churn(|k| k * 2, |k| k < 1000, 100);
        assert_eq!(grown, 10);
    }

    #[test]
    fn bucket_indices_follow_rehash_in_place() {
        // Four keys to an ideal bucket, so most keys sit far from theirs; removing the first
        // 1,000 leaves tombstones in a full table, and new keys that land on empty buckets then
        // make hashbrown rehash in place, which moves the survivors towards their ideal buckets.
        let hash = |k| if k < 1792 { k / 4 } else { k };
        let (_, in_place) = churn(hash, |k| k < 1000, 100);
        assert_eq!(in_place, 1, "no rehash in place: the test does not test");
    }
}
