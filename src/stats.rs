//! [`CacheStats`] and the per-shard counters behind it.

/// A snapshot of a cache's counters, summed over its shards.
///
/// The five counters are fixed, so code that builds or destructures a `CacheStats` keeps
/// compiling: counters that come later get types of their own ([`RefreshStats`](crate::RefreshStats),
/// [`LeaseStats`](crate::LeaseStats), both `#[non_exhaustive]`).
///
/// # Examples
///
/// ```
/// use stratacache::Cache;
/// let cache: Cache<u32, u32> = Cache::new(10);
/// cache.insert(1, 1);
/// assert_eq!(cache.get(&1), Some(1));
/// assert_eq!(cache.get(&2), None);
/// let s = cache.stats();
/// assert_eq!((s.hits, s.misses, s.inserts), (1, 1, 1));
/// assert_eq!(s.hit_ratio(), 0.5);
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CacheStats {
    /// Lookups (`get`, `peek`, `get_or_insert_with`) that found a live entry.
    pub hits: u64,
    /// Lookups that found nothing, or only an expired entry.
    pub misses: u64,
    /// Values stored by `insert`, `insert_with_ttl` and `get_or_insert_with` (replacements count).
    pub inserts: u64,
    /// Entries removed to make room (cause `Evicted`), including values too heavy to store.
    pub evictions: u64,
    /// Entries removed because their time-to-live had passed (cause `Expired`).
    pub expirations: u64,
}

impl CacheStats {
    /// `hits / (hits + misses)`, or 0.0 before the first lookup.
    #[must_use]
    pub fn hit_ratio(&self) -> f64 {
        let total = self.hits + self.misses;
        if total == 0 {
            0.0
        } else {
            self.hits as f64 / total as f64
        }
    }

    pub(crate) fn add(&mut self, other: &CacheStats) {
        self.hits += other.hits;
        self.misses += other.misses;
        self.inserts += other.inserts;
        self.evictions += other.evictions;
        self.expirations += other.expirations;
    }
}
