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
}

impl PolicyOptions {
    /// The defaults.
    pub fn new() -> Self {
        PolicyOptions {
            negative_ttl: None,
            negative_capacity: DEFAULT_NEGATIVE_CAPACITY,
            timeout: None,
            max_store_threads: DEFAULT_MAX_STORE_THREADS,
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

impl Default for PolicyOptions {
    fn default() -> Self {
        Self::new()
    }
}
