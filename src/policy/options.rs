//! [`PolicyOptions`]: the read-path settings every policy shares.

use std::time::Duration;

/// How many absent keys a negative cache remembers by default.
pub const DEFAULT_NEGATIVE_CAPACITY: u64 = 10_000;

/// How many store calls with a timeout may run at once per policy, by default. Each runs on a
/// helper thread; a store that hangs holds at most this many threads.
pub const DEFAULT_MAX_STORE_THREADS: usize = 64;

/// Settings of a policy's read path and store calls. The default: no negative caching, no
/// timeout (the store's own timeouts apply).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stratacache::{Cache, CacheAside, MemoryStore, PolicyOptions};
/// let options = PolicyOptions::new()
///     .negative_ttl(Duration::from_secs(5))
///     .timeout(Duration::from_secs(2));
/// let policy = CacheAside::with_options(Cache::new(100), MemoryStore::<u32, u32>::new(), options);
/// assert_eq!(policy.get(&1).unwrap(), None); // loaded once, then remembered as absent
/// assert_eq!(policy.get(&1).unwrap(), None);
/// assert_eq!(policy.store().loads(), 1);
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct PolicyOptions {
    pub(crate) negative_ttl: Option<Duration>,
    pub(crate) negative_capacity: u64,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_store_threads: usize,
    pub(crate) refresh_after: Option<Duration>,
    pub(crate) early_refresh: Option<f64>,
    pub(crate) seed: Option<u64>,
}

impl PolicyOptions {
    /// The defaults.
    pub fn new() -> Self {
        PolicyOptions {
            negative_ttl: None,
            negative_capacity: DEFAULT_NEGATIVE_CAPACITY,
            timeout: None,
            max_store_threads: DEFAULT_MAX_STORE_THREADS,
            refresh_after: None,
            early_refresh: None,
            seed: None,
        }
    }

    /// Remember "not in the store" for `ttl`, so that lookups of missing keys do not reach the
    /// store each time. A `put` of the key forgets it at once. A zero `ttl` turns it off.
    pub fn negative_ttl(mut self, ttl: Duration) -> Self {
        self.negative_ttl = (!ttl.is_zero()).then_some(ttl);
        self
    }

    /// How many absent keys to remember at most (LRU beyond that). Default
    /// [`DEFAULT_NEGATIVE_CAPACITY`].
    pub fn negative_capacity(mut self, capacity: u64) -> Self {
        self.negative_capacity = capacity.max(1);
        self
    }

    /// Give up on a store call (load, and the synchronous writes of cache-aside and
    /// write-through) after `limit`, with [`ErrorKind::Timeout`](crate::ErrorKind::Timeout).
    /// The limit covers the whole call: waiting for the key's writer lock, for a helper thread,
    /// and for the store.
    ///
    /// Each call then runs on a helper thread, at most
    /// [`max_store_threads`](Self::max_store_threads) at once, whatever the store does: a call
    /// that finds them all busy waits for one until its limit. A late answer to a load is
    /// dropped. A write that timed out is abandoned but stays ordered: it keeps its key's writer
    /// lock until the store answers, so the next write of the key cannot overtake it, and when it
    /// lands it drops the cached copy, so the cache cannot keep what it replaced.
    ///
    /// Write-behind's flusher always waits for the store, so that per-key order holds.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// At most `n` store calls with a timeout run at once (default
    /// [`DEFAULT_MAX_STORE_THREADS`]; 0 counts as 1). This bounds the threads a hung store can
    /// hold: a policy never has more than `n` helper threads, however many calls time out.
    pub fn max_store_threads(mut self, n: usize) -> Self {
        self.max_store_threads = n.max(1);
        self
    }
}

impl PolicyOptions {
    /// Refresh-ahead: a `get` that finds a cached value written at least `age` ago returns it at
    /// once (a hit, counted in [`RefreshStats::stale_served`](crate::RefreshStats)) and starts
    /// one background reload of the key, unless one is already running. Readers never wait for
    /// it; a miss that comes while it runs (the entry expired meanwhile) joins it.
    ///
    /// - The reload runs on a helper thread (sync policies; at most
    ///   [`max_store_threads`](Self::max_store_threads) at once, apart from the timed store
    ///   calls) or a task (async policies), under the policy's [`timeout`](Self::timeout).
    /// - What it loads replaces the cached value; if the store no longer has the key, the cached
    ///   copy is dropped (and remembered as absent with a [`negative_ttl`](Self::negative_ttl)).
    /// - A failed reload keeps the old value until its time-to-live and is counted in
    ///   [`RefreshStats::refreshes_failed`](crate::RefreshStats); the next `get` past `age` tries
    ///   again.
    /// - A write of the key that lands while a reload runs wins: the reload fills nothing.
    ///
    /// Ages are read from the cache's [`Clock`](crate::Clock). Set it below the cache's
    /// time-to-live (a value past its TTL is a miss, not a refresh). The cache then keeps 16
    /// bytes more per entry (when each was written and how long its load took). A zero `age`
    /// turns it off.
    pub fn refresh_after(mut self, age: Duration) -> Self {
        self.refresh_after = (!age.is_zero()).then_some(age);
        self
    }

    /// XFetch, probabilistic early refresh (Vattani, Chierichetti and Lowenstein, "Optimal
    /// Probabilistic Cache Stampede Prevention", VLDB 2015): each `get` of an entry with a
    /// time-to-live starts a background reload (as [`refresh_after`](Self::refresh_after) does)
    /// with the probability that
    ///
    /// `delta * beta * -ln(u) >= time left before the entry expires`, `u` uniform in (0, 1],
    ///
    /// where `delta` is how long the load that produced the entry took. Reloads so start earlier
    /// for keys that are slow to load and for keys read often, and spread out before the
    /// deadline instead of piling up at it. `beta = 1.0` is the paper's default and optimal
    /// choice for most uses; above 1 refreshes earlier. Entries without a deadline, or whose load
    /// time is unknown (written by a `put`), are not refreshed early. Durations are read from
    /// the cache's [`Clock`](crate::Clock); the draws from a generator seeded by
    /// [`seed`](Self::seed).
    ///
    /// # Panics
    ///
    /// If `beta` is not a finite number above zero.
    pub fn early_refresh(mut self, beta: f64) -> Self {
        assert!(
            beta.is_finite() && beta > 0.0,
            "PolicyOptions::early_refresh: beta must be a finite number above zero, got {beta}"
        );
        self.early_refresh = Some(beta);
        self
    }

    /// The seed of the early-refresh draws, so that a run can be repeated (tests). Default: one
    /// taken from the time the policy is made.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

impl Default for PolicyOptions {
    fn default() -> Self {
        Self::new()
    }
}
