//! [`Cache`]: the shard array, hashing to a shard, and the public methods.

use crate::builder::{CacheBuilder, Weigher};
use crate::clock::{Now, TimeSource};
use crate::flight::{Found, Outcome, Signal};
use crate::listener::{Listener, RemovalCause, Removals};
use crate::shard::{Core, Freshness, Lookup, NewEntry, Shard, ShardConfig};
use crate::stats::CacheStats;
use hashbrown::DefaultHashBuilder;
use std::borrow::Borrow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Duration;

/// A bounded, concurrent LRU cache with lazy TTL expiry.
///
/// The cache is split into shards, each an exact LRU of its slice of the keys behind its own
/// lock; with [`shards(1)`](CacheBuilder::shards) it is one exact LRU. Every method takes `&self`:
/// share a cache between threads with `Arc` or a reference.
///
/// A hit clones the value: share large values with `Arc`. No user code — listener, weigher,
/// loader, or the `Drop` of a key or value — runs while a shard lock is held (the key's `Eq`
/// and `V::clone` are the exceptions a lookup cannot avoid). A panic in any of them leaves the
/// cache consistent and usable.
///
/// Keys chosen by an attacker cannot be made to collide: the default hasher (hashbrown's
/// foldhash) is seeded randomly per process and per cache. A weak hasher passed to
/// [`CacheBuilder::hasher`] gives that up; the cache then stays correct, but slow.
///
/// # Examples
///
/// ```
/// use stratacache::Cache;
///
/// let cache: Cache<u64, String> = Cache::new(2);
/// cache.insert(1, "one".to_string());
/// cache.insert(2, "two".to_string());
/// assert_eq!(cache.get(&1).as_deref(), Some("one")); // 1 is now the most recently used
/// cache.insert(3, "three".to_string()); // evicts 2, the least recently used
/// assert!(!cache.contains_key(&2));
/// assert_eq!(cache.len(), 2);
/// ```
pub struct Cache<K, V, S = DefaultHashBuilder> {
    /// Shared only with the metrics thread (feature `metrics`), which holds it weakly.
    shards: Arc<[Shard<K, V>]>,
    /// A hash selects shard `(hash >> shard_shift) & shard_mask`: bits just below the seven top
    /// bits that hashbrown keeps for its control bytes, so both stay independent.
    shard_shift: u32,
    shard_mask: usize,
    hasher: S,
    capacity: u64,
    ttl: Option<Duration>,
    weigher: Option<Weigher<K, V>>,
    listener: Option<Listener<K, V>>,
    time: TimeSource,
    name: Option<Arc<str>>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V, DefaultHashBuilder> {
    /// A cache of at most `max_capacity` entries, with default settings.
    ///
    /// # Panics
    ///
    /// If `max_capacity` is 0. Use [`Cache::builder`] to get a [`BuildError`](crate::BuildError)
    /// instead.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(100);
    /// cache.insert("k", 1);
    /// assert_eq!(cache.capacity(), 100);
    /// ```
    #[must_use]
    pub fn new(max_capacity: u64) -> Self {
        match Self::builder().max_capacity(max_capacity).build() {
            Ok(c) => c,
            Err(e) => panic!("Cache::new({max_capacity}): {e}"),
        }
    }

    /// A builder for every setting: capacity, shards, TTL, weigher, listener, clock, hasher.
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::Cache;
    /// let cache: Cache<u32, u32> = Cache::builder().max_capacity(10).shards(1).build().unwrap();
    /// assert!(cache.is_empty());
    /// ```
    pub fn builder() -> CacheBuilder<K, V, DefaultHashBuilder> {
        CacheBuilder::new()
    }
}

impl<K, V, S> Cache<K, V, S> {
    pub(crate) fn from_parts(b: CacheBuilder<K, V, S>, capacity: u64, shards: usize) -> Self {
        debug_assert!(shards.is_power_of_two() && shards as u64 <= capacity);
        let n = shards as u64;
        // Nanoseconds, as the shards count time; 0 is "none".
        let idle = b.tti.map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        let shard_vec: Vec<Shard<K, V>> = (0..n)
            .map(|i| {
                Shard::new(ShardConfig {
                    capacity: capacity / n + u64::from(i < capacity % n),
                    weighted: b.weigher.is_some(),
                    idle,
                    lossy: b.promotion == crate::Promotion::Lossy,
                    tiny_lfu: b.admission == crate::Admission::TinyLfu,
                })
            })
            .collect();
        let bits = shards.trailing_zeros();
        let shard_arc: Arc<[Shard<K, V>]> = shard_vec.into();
        #[cfg(feature = "metrics")]
        if let (Some(register), Some(name)) = (b.register, &b.name) {
            register(Arc::clone(name), Arc::downgrade(&shard_arc));
        }
        Cache {
            shards: shard_arc,
            shard_shift: 57 - bits,
            shard_mask: shards - 1,
            hasher: b.hasher,
            capacity,
            ttl: b.ttl,
            weigher: b.weigher,
            listener: b.listener,
            time: TimeSource::new(b.clock),
            name: b.name,
        }
    }

    /// The total weight the cache holds at most (`max_capacity`).
    #[must_use]
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The name given by [`CacheBuilder::name`](crate::CacheBuilder::name), if any.
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn name_arc(&self) -> Option<&Arc<str>> {
        self.name.as_ref()
    }

    /// The number of shards.
    #[must_use]
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The default time-to-live, if one was set.
    #[must_use]
    pub fn time_to_live(&self) -> Option<Duration> {
        self.ttl
    }

    /// The number of entries, counting expired ones not yet collected. Locks each shard in turn.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether the cache holds no entries (expired ones count until collected).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(|s| s.read().len() == 0)
    }

    /// The total weight of the entries, counting expired ones not yet collected. Never more than
    /// [`capacity`](Self::capacity): each shard fits its share whenever its lock is free.
    #[must_use]
    pub fn weighted_size(&self) -> u64 {
        self.shards.iter().map(|s| s.read().weight()).sum()
    }

    /// The counters, summed over the shards.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        totals(&self.shards)
    }

    #[inline]
    fn now(&self) -> Now<'_> {
        Now::new(&self.time)
    }

    /// The cache's clock, in nanoseconds since its origin (the unit of [`Freshness`]).
    pub(crate) fn clock_nanos(&self) -> u64 {
        self.now().get()
    }

    /// From now on every entry keeps when it was written and how long its load took, for
    /// [`get_fresh`](Self::get_fresh) (16 bytes per entry; what is cached now counts as written
    /// now).
    pub(crate) fn keep_stamps(&self) {
        let now = self.now();
        for s in self.shards.iter() {
            s.write().keep_stamps(&now);
        }
    }

    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        (hash >> self.shard_shift) as usize & self.shard_mask
    }

    #[inline]
    fn shard(&self, hash: u64) -> &Shard<K, V> {
        &self.shards[self.shard_index(hash)]
    }

    #[inline]
    fn weigh(&self, key: &K, value: &V) -> u32 {
        match &self.weigher {
            None => 1,
            Some(w) => w(key, value).max(1),
        }
    }

    #[inline]
    fn deliver(&self, out: Removals<K, V>) {
        out.deliver(self.listener.as_ref());
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq,
    V: Clone,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The value under `key`, making it the most recently used. An expired entry is a miss, and
    /// is removed (cause `Expired`). Computes in **O(1)** time (average).
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// cache.insert("a", 1);
    /// assert_eq!(cache.get("a"), Some(1));
    /// assert_eq!(cache.get("b"), None);
    /// ```
    #[inline]
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup::<true, _>(key, true)
    }

    /// Like [`get`](Self::get), but leaves the LRU order alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::Cache;
    /// let cache: Cache<u32, u32> = Cache::builder().max_capacity(2).shards(1).build().unwrap();
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// assert_eq!(cache.peek(&1), Some(1)); // 1 stays the least recently used
    /// cache.insert(3, 3);
    /// assert_eq!(cache.peek(&1), None);
    /// ```
    #[inline]
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup::<true, _>(key, false)
    }

    /// A lookup that promotes a hit (or not), and counts a miss when `COUNT_MISS`.
    #[inline]
    fn lookup<const COUNT_MISS: bool, Q>(&self, key: &Q, promote: bool) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let shard = self.shard(hash);
        match shard.lookup::<COUNT_MISS, _, _>(hash, key, &now, promote, Core::value) {
            Lookup::Hit(v) => Some(v),
            Lookup::Miss => None,
            Lookup::Retry => {
                self.lookup_exclusive(shard, hash, key, &now, (promote, COUNT_MISS), Core::value)
            }
        }
    }

    #[cold]
    fn lookup_exclusive<Q, R>(
        &self,
        shard: &Shard<K, V>,
        hash: u64,
        key: &Q,
        now: &Now<'_>,
        (promote, count_miss): (bool, bool),
        read: impl FnOnce(&Core<K, V>, u32) -> R,
    ) -> Option<R>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut out = Removals::new();
        let v = shard
            .write()
            .get(hash, key, now, promote, (true, count_miss), &mut out, read);
        self.deliver(out);
        v
    }

    /// Whether a live entry is under `key`; leaves the LRU order and the counters alone.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// cache.insert(1, "x");
    /// assert!(cache.contains_key(&1));
    /// assert!(!cache.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let shard = self.shard(hash);
        if let Some(found) = shard.contains(hash, key, &now) {
            return found;
        }
        let mut out = Removals::new();
        let found = shard.write().contains(hash, key, &now, &mut out);
        self.deliver(out);
        found
    }

    /// Inserts or replaces; the entry becomes the most recently used and gets the default TTL.
    ///
    /// A replaced value is reported with cause `Replaced` (`Expired` if it had expired), then the
    /// evicted entries in LRU order. A value heavier than its shard's capacity is not stored: it
    /// is reported as `Evicted`, after any older value under its key.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// cache.insert(1, "a");
    /// cache.insert(1, "b");
    /// assert_eq!(cache.get(&1), Some("b"));
    /// ```
    #[inline]
    pub fn insert(&self, key: K, value: V) {
        self.insert_inner(key, value, self.ttl, None);
    }

    /// Like [`insert`](Self::insert), with this entry's own time-to-live.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stratacache::{Cache, ManualClock};
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder().max_capacity(10).clock(clock.clone()).build()?;
    /// cache.insert_with_ttl(1, 1, Duration::from_secs(5));
    /// cache.insert(2, 2); // no default TTL: never expires
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!((cache.get(&1), cache.get(&2)), (None, Some(2)));
    /// # Ok::<(), stratacache::BuildError>(())
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) {
        self.insert_inner(key, value, Some(ttl), None);
    }

    /// A get for a policy that refreshes ahead: the value, with its age, its load time and its
    /// time left (see [`keep_stamps`](Self::keep_stamps)). Counted and promoted as a `get`.
    pub(crate) fn get_fresh(&self, key: &K) -> Option<(V, Freshness)> {
        let hash = self.hash(key);
        let now = self.now();
        let shard = self.shard(hash);
        let read = |c: &Core<K, V>, i| (c.value(i), c.freshness(i, &now));
        match shard.lookup::<true, _, _>(hash, key, &now, true, read) {
            Lookup::Hit(r) => Some(r),
            Lookup::Miss => None,
            Lookup::Retry => self.lookup_exclusive(shard, hash, key, &now, (true, true), read),
        }
    }

    /// A `get` whose miss is not counted: for a read that, on a miss, is followed by a load
    /// whose own lookup counts it (`get_if_present` of the policies).
    pub(crate) fn get_hit_only(&self, key: &K) -> Option<V> {
        self.lookup::<false, _>(key, true)
    }

    /// An insert of a value whose load took `delta` nanoseconds (kept with the entry when the
    /// cache keeps stamps).
    pub(crate) fn insert_loaded(&self, key: K, value: V, delta: u64) {
        self.insert_inner(key, value, self.ttl, Some(delta));
    }

    #[inline]
    fn insert_inner(&self, key: K, value: V, ttl: Option<Duration>, delta: Option<u64>) {
        let hash = self.hash(&key);
        let weight = self.weigh(&key, &value);
        let now = self.now();
        let mut out = Removals::new();
        let new = NewEntry {
            hash,
            key,
            value,
            weight,
            deadline: now.deadline_for(ttl),
            delta,
        };
        self.shard(hash).write().insert(new, &now, &mut out);
        self.deliver(out);
    }

    /// Removes the entry under `key` and returns its value (cause `Explicit`). An expired entry
    /// is removed as `Expired` and `None` is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// cache.insert(1, "a");
    /// assert_eq!(cache.remove(&1), Some("a"));
    /// assert_eq!(cache.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let mut out = Removals::new();
        let removed = self.shard(hash).write().remove(hash, key, &now, &mut out);
        let (k, v) = match removed {
            None => {
                self.deliver(out);
                return None;
            }
            Some(kv) => kv,
        };
        match &self.listener {
            Some(_) => out.push(k, v.clone(), RemovalCause::Explicit),
            None => drop(k),
        }
        self.deliver(out);
        Some(v)
    }

    /// Removes every entry, shard by shard, each in LRU order (cause `Explicit`, or `Expired`
    /// for entries that had expired).
    pub fn clear(&self) {
        let now = self.now();
        for s in self.shards.iter() {
            let mut out = Removals::new();
            s.write().clear(&now, &mut out);
            self.deliver(out);
        }
    }

    /// Removes every expired entry now (cause `Expired`) and returns how many there were.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stratacache::{Cache, ManualClock};
    /// let clock = ManualClock::new();
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .max_capacity(10)
    ///     .time_to_live(Duration::from_secs(1))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// cache.insert(1, 1);
    /// cache.insert(2, 2);
    /// clock.advance(Duration::from_secs(1));
    /// assert_eq!(cache.len(), 2); // expiry is lazy
    /// assert_eq!(cache.purge_expired(), 2);
    /// assert!(cache.is_empty());
    /// # Ok::<(), stratacache::BuildError>(())
    /// ```
    pub fn purge_expired(&self) -> usize {
        let now = self.now();
        let mut purged = 0;
        for s in self.shards.iter() {
            let mut out = Removals::new();
            purged += s.write().purge_expired(&now, &mut out);
            self.deliver(out);
        }
        purged
    }

    /// The value under `key`; on a miss exactly one caller per key runs `init`, its value is
    /// inserted like [`insert`](Self::insert), and concurrent callers for the key wait for it
    /// and get a clone. No lock is held while `init` runs.
    ///
    /// If `init` panics, the panic goes to its caller, and the waiting callers retry (one of them
    /// runs its own `init`); the key is never left locked. No panic of user code (`init`, the
    /// key's `Hash` or `Eq`, `V::clone`, the weigher, the listener, a `Drop`) leaves a waiter
    /// waiting: the leader's flight ends however the leader unwinds.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// assert_eq!(cache.get_or_insert_with(7, || 49), 49);
    /// assert_eq!(cache.get_or_insert_with(7, || unreachable!()), 49);
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        match self.try_get_or_insert_with(key, || Ok::<V, Infallible>(init())) {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with`](Self::get_or_insert_with) with a fallible `init`: an error is
    /// returned to the caller that ran `init` and is not cached; waiting callers retry.
    ///
    /// # Errors
    ///
    /// The error of this caller's own `init`.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache = stratacache::Cache::new(10);
    /// let r: Result<u32, &str> = cache.try_get_or_insert_with(1, || Err("db down"));
    /// assert_eq!(r, Err("db down"));
    /// assert_eq!(cache.try_get_or_insert_with(1, || Ok::<_, &str>(5)), Ok(5));
    /// ```
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        let hash = self.hash(&key);
        let mut record = match self.lookup_shared(hash, &key) {
            Ok(v) => return Ok(v),
            Err(record) => record,
        };
        let mut key = key;
        let lead = loop {
            match self.flight_step(hash, key, &mut record) {
                Step::Hit(v) => return Ok(v),
                Step::Lead(lead) => break lead,
                Step::Wait(k, signal, same) => {
                    key = k;
                    match signal.wait() {
                        Outcome::Value(v) if same => return Ok(v),
                        _ => continue,
                    }
                }
            }
        };
        // An error or a panic from here on abandons the flight (see `Lead::drop`).
        let value = init()?;
        Ok(self.land(hash, lead, value))
    }

    /// The async twin of [`get_or_insert_with`](Self::get_or_insert_with): on a miss exactly
    /// one caller per key awaits `init`; the others wait for its value without blocking a
    /// thread (they are woken by the leader). Needs no runtime: it runs on any executor.
    ///
    /// If the leading caller's future is dropped (cancelled) or `init` panics, no waiter hangs
    /// or inherits the failure: the next waiter leads and awaits its own `init`. A dropped
    /// waiter simply leaves. The future is `Send` when `K`, `V` and `F` are.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_executor_stand_in::block_on(async {
    /// let cache = stratacache::Cache::new(10);
    /// assert_eq!(cache.get_or_insert_with_async(7, async { 49 }).await, 49);
    /// assert_eq!(cache.get_or_insert_with_async(7, async { unreachable!() }).await, 49);
    /// # });
    /// # mod futures_executor_stand_in {
    /// #     pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #         let mut f = std::pin::pin!(f);
    /// #         let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    /// #         loop {
    /// #             if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) { return v; }
    /// #         }
    /// #     }
    /// # }
    /// ```
    pub async fn get_or_insert_with_async<F: Future<Output = V>>(&self, key: K, init: F) -> V {
        let hash = self.hash(&key);
        let record = match self.lookup_shared(hash, &key) {
            Ok(v) => return v,
            Err(record) => record,
        };
        let init = async move { Ok::<V, Infallible>(init.await) };
        match Box::pin(self.flight_async(hash, key, record, init)).await {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }

    /// Like [`get_or_insert_with_async`](Self::get_or_insert_with_async) with a fallible
    /// `init`: an error is returned to the caller whose `init` it was and is not cached; waiting
    /// callers do not inherit it (the next one leads).
    ///
    /// # Errors
    ///
    /// The error of this caller's own `init`.
    pub async fn try_get_or_insert_with_async<E, F: Future<Output = Result<V, E>>>(
        &self,
        key: K,
        init: F,
    ) -> Result<V, E> {
        let hash = self.hash(&key);
        let record = match self.lookup_shared(hash, &key) {
            Ok(v) => return Ok(v),
            Err(record) => record,
        };
        // The miss path's state lives on the heap: a hit's future stays small.
        Box::pin(self.flight_async(hash, key, record, init)).await
    }

    /// A hit under the shared lock, or whether the miss still has to be counted (`true`: the
    /// shared path could not tell, the exclusive one counts it).
    #[inline]
    fn lookup_shared(&self, hash: u64, key: &K) -> Result<V, bool> {
        match self
            .shard(hash)
            .lookup::<true, _, _>(hash, key, &self.now(), true, Core::value)
        {
            Lookup::Hit(v) => Ok(v),
            Lookup::Miss => Err(false),
            Lookup::Retry => Err(true),
        }
    }

    /// The miss path of the async pair: wait for the key's flight or lead one.
    async fn flight_async<E, F: Future<Output = Result<V, E>>>(
        &self,
        hash: u64,
        key: K,
        mut record: bool,
        init: F,
    ) -> Result<V, E> {
        let mut key = key;
        let lead = loop {
            match self.flight_step(hash, key, &mut record) {
                Step::Hit(v) => return Ok(v),
                Step::Lead(lead) => break lead,
                Step::Wait(k, signal, same) => {
                    key = k;
                    match signal.wait_async().await {
                        Outcome::Value(v) if same => return Ok(v),
                        _ => continue,
                    }
                }
            }
        };
        // An error, a panic or a drop of this future from here on abandons the flight.
        let value = init.await?;
        Ok(self.land(hash, lead, value))
    }

    /// One step of a flight for `key` after a miss under the shared lock: its value, or the
    /// flight to wait for (with the key back, and whether the flight is for this very key), or
    /// the lead of a new flight. It runs under the exclusive lock, where "is it there, and is
    /// somebody loading it" is one question; `record` says whether the miss is still to be
    /// counted (then it is, once). No lock is held when it returns.
    fn flight_step(&self, hash: u64, key: K, record: &mut bool) -> Step<'_, K, V> {
        let shard = self.shard(hash);
        let now = self.now();
        let mut out = Removals::new();
        let mut core = shard.write();
        let counted = (*record, *record);
        if let Some(v) = core.get(hash, &key, &now, true, counted, &mut out, Core::value) {
            drop(core);
            self.deliver(out);
            return Step::Hit(v);
        }
        *record = false;
        match core.flights.find(hash, &key) {
            Some(found) => {
                drop(core);
                self.deliver(out);
                match found {
                    Found::Same(s) => Step::Wait(key, s, true),
                    Found::Maybe(s) => Step::Wait(key, s, false),
                }
            }
            None => {
                let signal = core.flights.start(hash, key);
                drop(core);
                let lead = Lead {
                    shard,
                    signal,
                    ended: false,
                };
                self.deliver(out);
                Step::Lead(lead)
            }
        }
    }

    /// The leader's landing: weigh outside the lock, insert, wake the waiters with a clone.
    fn land(&self, hash: u64, mut lead: Lead<'_, K, V>, value: V) -> V {
        let (key, weight) = if self.weigher.is_some() {
            let key = lead.shard.write().flights.take_key(&lead.signal);
            let key = key.expect("the leader's flight holds its key");
            let weight = self.weigh(&key, &value);
            (Some(key), weight)
        } else {
            (None, 1)
        };
        let stored = value.clone();
        let now = self.now();
        let deadline = now.deadline_for(self.ttl);
        let mut out = Removals::new();
        let waiters = {
            let mut core = lead.shard.write();
            let taken = core.flights.finish(&lead.signal);
            let key = key
                .or(taken)
                .expect("the flight's key is either here or there");
            let new = NewEntry {
                hash,
                key,
                value: stored,
                weight,
                deadline,
                delta: None,
            };
            core.insert(new, &now, &mut out);
            Arc::strong_count(&lead.signal) > 1
        };
        // The clone for the waiters is user code: should it panic, `Lead::drop` (with `ended`
        // still false) abandons the flight and the waiters retry, finding the value inserted.
        let handoff = waiters.then(|| value.clone());
        lead.signal.end(handoff);
        lead.ended = true;
        self.deliver(out);
        value
    }

    /// Checks every invariant of every shard: the list and the table agree, weights add up,
    /// capacity holds, stored hashes are the keys' hashes.
    ///
    /// # Panics
    ///
    /// With a description of the first broken invariant. Used by tests and fuzzing.
    pub fn validate(&self) {
        for (i, s) in self.shards.iter().enumerate() {
            // Hashing keys under the lock: this is a test aid, not an operation.
            let core = s.write();
            let placed = core.keys_lru().all(|k| self.shard_index(self.hash(k)) == i);
            let checked = core.validate(|k| self.hash(k)).and_then(|()| {
                placed
                    .then_some(())
                    .ok_or_else(|| "a key is in the wrong shard".to_owned())
            });
            if let Err(e) = checked {
                panic!("shard {i} of {}: {e}", self.shards.len());
            }
        }
    }

    /// The keys of one shard from least to most recently used, cloned (tests and debugging).
    #[doc(hidden)]
    pub fn shard_keys_lru(&self, shard: usize) -> Vec<K>
    where
        K: Clone,
    {
        self.shards[shard].write().keys_lru().cloned().collect()
    }
}

/// Where a caller of `get_or_insert_with` stands after one look at its key.
enum Step<'a, K, V: Clone> {
    Hit(V),
    /// Wait for this flight (`true`: it is for this very key), then look again.
    Wait(K, Arc<Signal<V>>, bool),
    Lead(Lead<'a, K, V>),
}

/// The leader of a flight. Dropped without `ended` (an error or panic in `init` or the weigher),
/// it unregisters the flight, drops the key outside the lock and lets the waiters retry.
struct Lead<'a, K, V: Clone> {
    shard: &'a Shard<K, V>,
    signal: Arc<Signal<V>>,
    ended: bool,
}

impl<K, V: Clone> Drop for Lead<'_, K, V> {
    fn drop(&mut self) {
        if !self.ended {
            let key = self.shard.write().flights.finish(&self.signal);
            drop(key);
            self.signal.end(None);
        }
    }
}

/// The counters of `shards`, summed.
fn totals<K, V>(shards: &[Shard<K, V>]) -> CacheStats {
    let mut total = CacheStats::default();
    for s in shards {
        total.add(&s.stats());
    }
    total
}

/// Registers a named cache's shards with the metrics thread (feature `metrics`).
#[cfg(feature = "metrics")]
pub(crate) type Register<K, V> = fn(Arc<str>, std::sync::Weak<[Shard<K, V>]>);

#[cfg(feature = "metrics")]
pub(crate) fn register<K, V>(name: Arc<str>, shards: std::sync::Weak<[Shard<K, V>]>)
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    use crate::telemetry::{counter, gauge};
    crate::telemetry::register_while(shards, move |shards| {
        let s = totals(shards);
        let (len, weight) = shards.iter().fold((0, 0), |(n, w), s| {
            let s = s.read();
            (n + s.len(), w + s.weight())
        });
        let cache = [("cache", name.to_string())];
        let with = |k: &'static str, v: &str| [cache[0].clone(), (k, v.to_owned())];
        for (result, n) in [("hit", s.hits), ("miss", s.misses)] {
            counter(
                "stratacache_cache_requests_total",
                &with("result", result),
                n,
            );
        }
        counter("stratacache_cache_inserts_total", &cache, s.inserts);
        for (cause, n) in [("evicted", s.evictions), ("expired", s.expirations)] {
            counter("stratacache_cache_removals_total", &with("cause", cause), n);
        }
        gauge("stratacache_cache_entries", &cache, len as f64);
        gauge("stratacache_cache_weighted_size", &cache, weight as f64);
    });
}

impl<K, V, S> fmt::Debug for Cache<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("capacity", &self.capacity)
            .field("shards", &self.shards.len())
            .field("time_to_live", &self.ttl)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
