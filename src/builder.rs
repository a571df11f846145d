//! [`CacheBuilder`]: settings, their validation and defaults, and [`BuildError`].

use crate::admission::{Admission, Promotion};
use crate::cache::Cache;
use crate::clock::{Clock, RealClock};
use crate::listener::RemovalCause;
use hashbrown::DefaultHashBuilder;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// The most shards a cache may have (shard selection uses up to 16 hash bits).
pub const MAX_SHARDS: usize = 1 << 16;

/// The default sharding never gives a shard less capacity than this. A shard is an exact LRU of
/// its own slice of the keys; a thousand entries per shard keeps the union close to one global
/// LRU (the trace tests show sharded hit ratios within a fraction of a point of exact LRU).
pub const MIN_SHARD_CAPACITY: u64 = 1024;

/// Shards per available core by default: enough that two threads rarely meet on one lock or
/// one lock's cache line (on 2 cores, 32 shards instead of 8 gave read-only hits 1.2-1.6x the
/// throughput in `examples/compare`).
pub const SHARDS_PER_CORE: usize = 16;

pub(crate) type Weigher<K, V> = Box<dyn Fn(&K, &V) -> u32 + Send + Sync>;

/// Builds a [`Cache`]; every setting but `max_capacity` is optional.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stratacache::{Cache, RemovalCause};
///
/// let cache: Cache<String, Vec<u8>> = Cache::builder()
///     .max_capacity(1 << 20) // bytes, with the weigher below
///     .weigher(|k: &String, v: &Vec<u8>| (k.len() + v.len()) as u32)
///     .time_to_live(Duration::from_secs(300))
///     .eviction_listener(|k, _v, cause| {
///         if cause == RemovalCause::Evicted {
///             eprintln!("evicted {k}");
///         }
///     })
///     .build()?;
/// cache.insert("a".to_string(), vec![0; 10]);
/// assert_eq!(cache.weighted_size(), 11);
/// # Ok::<(), stratacache::BuildError>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct CacheBuilder<K, V, S = DefaultHashBuilder> {
    pub(crate) max_capacity: Option<u64>,
    pub(crate) shards: Option<usize>,
    pub(crate) ttl: Option<Duration>,
    pub(crate) tti: Option<Duration>,
    pub(crate) admission: Admission,
    pub(crate) promotion: Promotion,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listener: Option<crate::listener::Listener<K, V>>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: S,
    pub(crate) name: Option<Arc<str>>,
    /// Publishes a named cache's counters (feature `metrics`), instantiated where `name` had
    /// the bounds that needs.
    #[cfg(feature = "metrics")]
    pub(crate) register: Option<crate::cache::Register<K, V>>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> CacheBuilder<K, V, DefaultHashBuilder> {
    pub(crate) fn new() -> Self {
        CacheBuilder {
            max_capacity: None,
            shards: None,
            ttl: None,
            tti: None,
            admission: Admission::All,
            promotion: Promotion::Exact,
            weigher: None,
            listener: None,
            clock: Arc::new(RealClock),
            hasher: DefaultHashBuilder::default(),
            name: None,
            #[cfg(feature = "metrics")]
            register: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// The total weight the cache holds; without a weigher every entry weighs 1, so this is the
    /// most entries it holds. Required, at least 1.
    pub fn max_capacity(mut self, max_capacity: u64) -> Self {
        self.max_capacity = Some(max_capacity);
        self
    }

    /// The number of independently locked shards, rounded up to a power of two. `1` makes the
    /// cache one exact global LRU. Capacity is split evenly over the shards, and each shard
    /// evicts its own least recently used entry.
    ///
    /// Default: [`SHARDS_PER_CORE`] × available parallelism, rounded up to a power of two, but
    /// never so many that a shard gets less than [`MIN_SHARD_CAPACITY`] (so small caches get one
    /// shard). Must be between 1 and [`MAX_SHARDS`] and, rounded, at most `max_capacity`.
    pub fn shards(mut self, shards: usize) -> Self {
        self.shards = Some(shards);
        self
    }

    /// The default time-to-live of every entry: an entry inserted at `t` is expired from
    /// `t + ttl` on. Reads do not extend it; replacing the value restarts it. Must not be zero.
    pub fn time_to_live(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The time-to-idle of every entry: an entry not read (by `get`, `peek` or a hit of
    /// `get_or_insert_with`) for this long is expired, cause `Expired`. Every such hit, and every
    /// insert, restarts its idle clock (a `peek` still leaves the LRU order alone);
    /// `contains_key`, which reads no value, does not. With a time-to-live too, whichever comes
    /// first expires it. Must not be zero. Costs 8 bytes per entry, and nothing for caches
    /// without it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use stratacache::{Cache, ManualClock};
    /// let clock = ManualClock::new();
    /// let cache = Cache::builder()
    ///     .max_capacity(10)
    ///     .time_to_idle(Duration::from_secs(60))
    ///     .clock(clock.clone())
    ///     .build()?;
    /// cache.insert(1, "one");
    /// clock.advance(Duration::from_secs(59));
    /// assert_eq!(cache.get(&1), Some("one")); // read: idle for another 60 s from now
    /// clock.advance(Duration::from_secs(59));
    /// assert_eq!(cache.get(&1), Some("one"));
    /// clock.advance(Duration::from_secs(60));
    /// assert_eq!(cache.get(&1), None); // not read for 60 s
    /// # Ok::<(), stratacache::BuildError>(())
    /// ```
    pub fn time_to_idle(mut self, tti: Duration) -> Self {
        self.tti = Some(tti);
        self
    }

    /// Which inserts the cache admits (default [`Admission::All`]: every one, exact LRU).
    /// [`Admission::TinyLfu`] keeps entries by estimated frequency behind a small LRU window,
    /// for hit ratio on workloads that scan or loop.
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Admission, Cache};
    /// let cache: Cache<u32, u32> = Cache::builder()
    ///     .max_capacity(1_000)
    ///     .admission(Admission::TinyLfu)
    ///     .build()?;
    /// for round in 0..20 {
    ///     for k in 0..500 {
    ///         cache.get_or_insert_with(k, || k); // a hot set, read again and again
    ///     }
    ///     let scan = 1_000_000 * (round + 1);
    ///     for k in scan..scan + 5_000 {
    ///         cache.get_or_insert_with(k, || k); // a scan of keys read once
    ///     }
    /// }
    /// let kept = (0..500).filter(|k| cache.contains_key(k)).count();
    /// assert!(kept > 450, "the scans flushed the hot set: {kept} of 500 kept");
    /// # Ok::<(), stratacache::BuildError>(())
    /// ```
    pub fn admission(mut self, admission: Admission) -> Self {
        self.admission = admission;
        self
    }

    /// How hits reach the LRU order (default [`Promotion::Exact`]). [`Promotion::Lossy`] drops
    /// hits that find their shard's promotion buffer full, for read throughput.
    pub fn promotion(mut self, promotion: Promotion) -> Self {
        self.promotion = promotion;
        self
    }

    /// The weight of an entry, counted against `max_capacity`; 0 counts as 1. Called outside
    /// every lock, once per insert.
    pub fn weigher(mut self, weigher: impl Fn(&K, &V) -> u32 + Send + Sync + 'static) -> Self {
        self.weigher = Some(Box::new(weigher));
        self
    }

    /// Called with every removed entry and why it left, after the shard lock is released, on the
    /// thread whose operation removed it. If it panics, the rest of that operation's removals are
    /// still delivered, then the panic is resumed on that thread; the cache stays consistent.
    pub fn eviction_listener(
        mut self,
        listener: impl Fn(K, V, RemovalCause) + Send + Sync + 'static,
    ) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// The clock used for TTLs. Default: [`RealClock`]. Tests pass a
    /// [`ManualClock`](crate::ManualClock).
    pub fn clock(mut self, clock: impl Clock + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The cache's name, for its metrics (the `cache` label, feature `metrics`: see
    /// `publish_metrics`) and its policies' tracing spans (feature
    /// `tracing`). Unnamed caches publish no metrics. Give each live cache its own name: two
    /// caches of one name publish over each other's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let cache: stratacache::Cache<u64, String> =
    ///     stratacache::Cache::builder().max_capacity(1_000).name("users").build()?;
    /// assert_eq!(cache.name(), Some("users"));
    /// # Ok::<(), stratacache::BuildError>(())
    /// ```
    pub fn name(mut self, name: &str) -> Self
    where
        K: Send + Sync + 'static,
        V: Send + Sync + 'static,
    {
        self.name = Some(name.into());
        #[cfg(feature = "metrics")]
        {
            self.register = Some(crate::cache::register::<K, V>);
        }
        self
    }

    /// The hasher for keys. The default is seeded randomly per process, so keys chosen by an
    /// attacker cannot be made to collide; a fixed-seed hasher gives that up.
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            max_capacity: self.max_capacity,
            shards: self.shards,
            ttl: self.ttl,
            tti: self.tti,
            admission: self.admission,
            promotion: self.promotion,
            weigher: self.weigher,
            listener: self.listener,
            clock: self.clock,
            hasher,
            name: self.name,
            #[cfg(feature = "metrics")]
            register: self.register,
            _types: PhantomData,
        }
    }

    /// Checks the settings and builds the cache.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] saying which setting is wrong: no or zero `max_capacity`, zero or too many
    /// shards, more shards than capacity, or a zero time-to-live.
    pub fn build(self) -> Result<Cache<K, V, S>, BuildError>
    where
        K: Hash + Eq,
        V: Clone,
        S: BuildHasher,
    {
        let capacity = match self.max_capacity {
            None => return Err(BuildError::new("max_capacity is required")),
            Some(0) => return Err(BuildError::new("max_capacity must be at least 1")),
            Some(c) => c,
        };
        let shards = match self.shards {
            Some(0) => return Err(BuildError::new("shards must be at least 1")),
            Some(n) if n > MAX_SHARDS => {
                return Err(BuildError(format!(
                    "shards must be at most {MAX_SHARDS}, got {n}"
                )));
            }
            Some(n) => n.next_power_of_two(),
            None => default_shards(capacity),
        };
        if shards as u64 > capacity {
            return Err(BuildError::from_string(format!(
                "{shards} shards (rounded up to a power of two) exceed max_capacity {capacity}: \
                 every shard needs a capacity of at least 1"
            )));
        }
        if self.ttl == Some(Duration::ZERO) {
            return Err(BuildError::new("time_to_live must be greater than zero"));
        }
        if self.tti == Some(Duration::ZERO) {
            return Err(BuildError::new("time_to_idle must be greater than zero"));
        }
        Ok(Cache::from_parts(self, capacity, shards))
    }
}

/// The default shard count for a cache of this capacity (see [`CacheBuilder::shards`]).
pub(crate) fn default_shards(capacity: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = (cores * SHARDS_PER_CORE)
        .next_power_of_two()
        .min(MAX_SHARDS);
    let by_capacity = capacity / MIN_SHARD_CAPACITY;
    let mut shards = 1usize;
    while shards < wanted && (shards as u64) * 2 <= by_capacity {
        shards *= 2;
    }
    shards
}

/// An invalid cache setting; the message names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildError(String);

impl BuildError {
    pub(crate) fn new(msg: &str) -> Self {
        BuildError(msg.to_owned())
    }

    pub(crate) fn from_string(msg: String) -> Self {
        BuildError(msg)
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cache configuration: {}", self.0)
    }
}

impl std::error::Error for BuildError {}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("max_capacity", &self.max_capacity)
            .field("shards", &self.shards)
            .field("time_to_live", &self.ttl)
            .field("time_to_idle", &self.tti)
            .field("admission", &self.admission)
            .field("promotion", &self.promotion)
            .field("weigher", &self.weigher.is_some())
            .field("eviction_listener", &self.listener.is_some())
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_shards_respect_min_capacity() {
        assert_eq!(default_shards(1), 1);
        assert_eq!(default_shards(2047), 1);
        assert_eq!(default_shards(2048), 2);
        let big = default_shards(1 << 30);
        assert!(big.is_power_of_two() && big >= 1);
        assert!(big <= MAX_SHARDS);
    }
}
