//! [`CacheAside`] and [`WriteThrough`] for async code: one generic policy over the async core,
//! the two differing only in what a write does to the cache ([`WriteMode`], shared with their
//! sync namesakes, as is the rule itself in the policy core).

use super::AsyncStore;
use super::core::AsyncCore;
use crate::policy::mode;
use crate::{Aside, Cache, CacheStats, PolicyError, PolicyOptions, Through, WriteMode, WriteOp};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

/// Cache-aside over an [`AsyncStore`] (feature `tokio`), with every guarantee of the sync
/// [`crate::CacheAside`]: `get` reads through with one load per key (awaited, not blocking a
/// thread), `put` and `delete` write the store and drop the cached copy, and once they return
/// `Ok` no later `get` returns an older value. A dropped (cancelled) `get` that was loading
/// hands the load to a waiter; a dropped or timed-out `put` still lands in order and then drops
/// the cached copy. Timeouts use the runtime's timer, never a thread.
///
/// # Examples
///
/// ```
/// use stratacache::future::{Blocking, CacheAside};
/// use stratacache::{Cache, MemoryStore, Store};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let db = MemoryStore::new();
/// db.write(&1, &"old").unwrap();
/// let users = CacheAside::new(Cache::new(100), Blocking::new(db));
/// assert_eq!(users.get(&1).await?, Some("old")); // a miss: loaded on the blocking pool
/// users.put(1, "new").await?; // writes the store, drops the cached copy
/// assert_eq!(users.get(&1).await?, Some("new"));
/// # Ok::<(), stratacache::PolicyError>(())
/// # }).unwrap();
/// ```
pub type CacheAside<K, V, S> = ReadThroughPolicy<K, V, S, Aside>;

/// Write-through over an [`AsyncStore`] (feature `tokio`), with every guarantee of the sync
/// [`crate::WriteThrough`]: `put` writes the store, then the cache; on a store error the cache is
/// unchanged; writers of one key are serialised. See [`CacheAside`] for cancellation and
/// timeouts.
///
/// # Examples
///
/// ```
/// use stratacache::future::{Blocking, WriteThrough};
/// use stratacache::{Cache, MemoryStore};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let policy = WriteThrough::new(Cache::new(100), Blocking::new(MemoryStore::new()));
/// policy.put(7, "seven").await?;
/// assert_eq!(policy.cache().get(&7), Some("seven")); // cached by the write
/// assert_eq!(policy.store().inner().peek(&7), Some("seven"));
/// # Ok::<(), stratacache::PolicyError>(())
/// # }).unwrap();
/// ```
pub type WriteThrough<K, V, S> = ReadThroughPolicy<K, V, S, Through>;

/// The async cache-aside and write-through policies: use them by their names, [`CacheAside`]
/// and [`WriteThrough`]. Cheap to clone (clones share the cache and the store).
pub struct ReadThroughPolicy<K, V, S, M> {
    core: Arc<AsyncCore<K, V, S>>,
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
    S: AsyncStore<K, V>,
    M: WriteMode,
{
    /// The policy over `store`, with default [`PolicyOptions`].
    pub fn new(cache: Cache<K, V>, store: S) -> Self {
        Self::with_options(cache, store, PolicyOptions::new())
    }

    /// The policy over `store`, with negative caching or a timeout (on the runtime's timer).
    pub fn with_options(cache: Cache<K, V>, store: S, options: PolicyOptions) -> Self {
        ReadThroughPolicy {
            core: Arc::new(AsyncCore::new(cache, store, &options)),
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
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, CacheAside};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let db = MemoryStore::new();
    /// db.write(&7, &"ada")?;
    /// let users = CacheAside::new(Cache::new(100), Blocking::new(db));
    /// assert_eq!(users.get(&7).await?, Some("ada")); // a miss: loaded, then cached
    /// assert_eq!(users.get(&7).await?, Some("ada")); // a hit
    /// assert_eq!(users.store().inner().loads(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
        self.core.get(key, |_| None).await
    }

    /// Writes the store, then the cache (write-through) or drops the cached copy (cache-aside).
    /// Needs a tokio runtime (the store call runs as a task of its own, so that a cancelled
    /// `put` still lands in order).
    ///
    /// # Errors
    ///
    /// The store's error (write-through: the cache is unchanged; cache-aside: the copy is
    /// dropped anyway), or a timeout (the copy is dropped, and dropped again when the write
    /// lands).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteThrough};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let users = WriteThrough::new(Cache::new(100), Blocking::new(MemoryStore::new()));
    /// users.put(7, "ada").await?;
    /// assert_eq!(users.store().inner().load(&7)?, Some("ada"));
    /// assert_eq!(users.cache().get(&7), Some("ada"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        let written = mode::put::<M, V>(value.clone());
        self.core.write(WriteOp::Put(key, value), written).await
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
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteThrough};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let users = WriteThrough::new(Cache::new(100), Blocking::new(MemoryStore::new()));
    /// users.put(7, "ada").await?;
    /// users.delete(&7).await?;
    /// assert_eq!(users.get(&7).await?, None);
    /// assert_eq!(users.store().inner().load(&7)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.core
            .write(WriteOp::Delete(key.clone()), mode::delete::<M, V>())
            .await
    }

    /// Drops the cached copy only; a load in progress will not refill it.
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

    /// The cached value under `key`, without loading it. A hit counts as a `get`'s; a miss is
    /// not counted, because the `get` that usually follows it counts it: `get_if_present`,
    /// then `get` on a miss, counts each lookup once. (`cache().get()` then `get()` would
    /// count such a miss twice.)
    pub fn get_if_present(&self, key: &K) -> Option<V> {
        self.core.cache.get_hit_only(key)
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
