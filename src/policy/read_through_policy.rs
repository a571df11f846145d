//! [`ReadThroughPolicy`]: the sync cache-aside and write-through policies as one generic type
//! over the sync front end of the policy core, the two differing only in what a write does to
//! the cache ([`WriteMode`]); their names are aliases (`cache_aside.rs`, `write_through.rs`).

use super::PolicyError;
use super::mode::{self, WriteMode};
use super::read_through::ReadThrough;
use crate::telemetry::Op;
use crate::{Cache, CacheStats, PolicyOptions, Store};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

/// The sync cache-aside and write-through policies: use them by their names,
/// [`CacheAside`](crate::CacheAside) and [`WriteThrough`](crate::WriteThrough). Cheap to clone (clones share the cache and the store).
pub struct ReadThroughPolicy<K, V, S, M> {
    core: Arc<ReadThrough<K, V, S>>,
    mode: PhantomData<fn() -> M>,
}

impl<K, V, S, M> Clone for ReadThroughPolicy<K, V, S, M> {
    fn clone(&self) -> Self {
        ReadThroughPolicy {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

impl<K, V, S, M> ReadThroughPolicy<K, V, S, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
    M: WriteMode,
{
    /// The policy over `store`, with default [`PolicyOptions`].
    pub fn new(cache: Cache<K, V>, store: S) -> Self {
        Self::with_options(cache, store, PolicyOptions::new())
    }

    /// The policy over `store`, with negative caching or a timeout.
    pub fn with_options(cache: Cache<K, V>, store: S, options: PolicyOptions) -> Self {
        ReadThroughPolicy {
            core: Arc::new(ReadThrough::new(cache, store, &options)),
            mode: PhantomData,
        }
    }

    /// The value under `key`: from the cache, or loaded from the store (one load per key
    /// however many callers miss at once) and cached.
    ///
    /// # Errors
    ///
    /// The store's error, a caught panic, or a timeout; the cache is not filled then.
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Cache, CacheAside, MemoryStore, Store};
    /// let db = MemoryStore::new();
    /// db.write(&7, &"ada")?;
    /// let users = CacheAside::new(Cache::new(100), db);
    /// assert_eq!(users.get(&7)?, Some("ada")); // a miss: loaded from the store, then cached
    /// assert_eq!(users.get(&7)?, Some("ada")); // a hit
    /// assert_eq!(users.get(&8)?, None); // absent from the store too
    /// assert_eq!(users.store().loads(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
        self.core.get(key, |_| None)
    }

    /// The cached value under `key`, without loading it. A hit counts as a `get`'s; a miss is
    /// not counted, because the `get` that usually follows it counts it: `get_if_present`,
    /// then `get` on a miss, counts each lookup once. (`cache().get()` then `get()` would
    /// count such a miss twice.)
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Cache, CacheAside, MemoryStore, Store};
    /// let db = MemoryStore::new();
    /// db.write(&1, &"one")?;
    /// let policy = CacheAside::new(Cache::new(10), db);
    /// assert_eq!(policy.get_if_present(&1), None); // not loaded, not counted
    /// assert_eq!(policy.get(&1)?, Some("one")); // the miss, counted once
    /// assert_eq!(policy.get_if_present(&1), Some("one"));
    /// let s = policy.stats();
    /// assert_eq!((s.hits, s.misses), (1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_if_present(&self, key: &K) -> Option<V> {
        self.core.cache.get_hit_only(key)
    }

    /// Writes the store, then the cache (write-through) or drops the cached copy (cache-aside).
    /// Writes of one key are serialised, so the store sees them in the order they were made.
    ///
    /// # Errors
    ///
    /// The store's error: write-through leaves the cache unchanged, cache-aside drops the copy
    /// anyway (the store may or may not hold the new value). After a timeout the write may still
    /// land: it keeps the key's writer lock until it does (later writes of the key wait for it)
    /// and drops the cached copy when it lands (see
    /// [`PolicyOptions::timeout`](crate::PolicyOptions::timeout)).
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Cache, CacheAside, MemoryStore, Store, WriteThrough};
    /// let through = WriteThrough::new(Cache::new(100), MemoryStore::new());
    /// through.put(7, "ada")?;
    /// assert_eq!(through.store().load(&7)?, Some("ada"));
    /// assert_eq!(through.cache().get(&7), Some("ada")); // write-through caches the value
    /// let aside = CacheAside::new(Cache::new(100), MemoryStore::new());
    /// aside.put(7, "ada")?;
    /// assert_eq!(aside.cache().get(&7), None); // cache-aside drops the copy; the next get loads
    /// assert_eq!(aside.get(&7)?, Some("ada"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        let v = value.clone();
        self.core.write(
            &key,
            Op::Write,
            move |s: &S, k: &K| s.write(k, &v),
            mode::put::<M, V>(value),
        )
    }

    /// Deletes from the store, then from the cache.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Cache, MemoryStore, Store, WriteThrough};
    /// let users = WriteThrough::new(Cache::new(100), MemoryStore::new());
    /// users.put(7, "ada")?;
    /// users.delete(&7)?;
    /// assert_eq!(users.get(&7)?, None);
    /// assert_eq!(users.store().load(&7)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.core.write(
            key,
            Op::Delete,
            |s: &S, k: &K| s.delete(k),
            mode::delete::<M, V>(),
        )
    }

    /// Drops the cached copy only (for example when another process changed the store); a load
    /// in progress will not refill it.
    pub fn invalidate(&self, key: &K) {
        self.core.invalidate(key);
    }

    /// Drops every cached copy; no load in progress will refill the cache with what it read
    /// before. What to do on `Invalidation::All` (feature `redis`: this process may have
    /// missed writes): unlike `cache().clear()`, it also stops loads that are under way.
    pub fn invalidate_all(&self) {
        self.core.invalidate_all();
    }

    /// The cache.
    pub fn cache(&self) -> &Cache<K, V> {
        &self.core.cache
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.core.store
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        self.core.cache.stats()
    }

    /// The counters of refresh-ahead and early refresh ([`PolicyOptions::refresh_after`](crate::PolicyOptions::refresh_after)).
    pub fn refresh_stats(&self) -> crate::RefreshStats {
        self.core.refresh_stats()
    }
}

impl<K, V, S, M: WriteMode> fmt::Debug for ReadThroughPolicy<K, V, S, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(M::NAME)
            .field("cache", &self.core.cache)
            .finish_non_exhaustive()
    }
}
