//! [`CacheAside`]: reads fill the cache from the store; writes go to the store and drop the
//! cached copy, so the next read loads the new value.

use super::PolicyError;
use super::core::Written;
use super::read_through::ReadThrough;
use crate::Store;
use std::hash::Hash;
use std::sync::Arc;

/// Cache-aside (lazy loading): `get` reads through the cache with one load per key, `put` and
/// `delete` write the store and then invalidate the cached copy.
///
/// Consistency: once `put` or `delete` returns `Ok`, no later `get` on any thread returns an
/// older value, and a load that was in progress when a write landed does not put what it read
/// into the cache. A write abandoned by a timeout is still ordered before the next write of its
/// key, and drops the cached copy when it lands.
///
/// # Examples
///
/// ```
/// use stratacache::{Cache, CacheAside, MemoryStore, Store};
/// let store = MemoryStore::new();
/// store.write(&1, &"old").unwrap();
/// let users = CacheAside::new(Cache::new(100), store);
/// assert_eq!(users.get(&1)?, Some("old")); // a miss: loaded from the store
/// assert_eq!(users.get(&1)?, Some("old")); // a hit
/// users.put(1, "new")?; // writes the store, drops the cached copy
/// assert_eq!(users.get(&1)?, Some("new"));
/// assert_eq!(users.store().loads(), 2);
/// # Ok::<(), stratacache::PolicyError>(())
/// ```
pub struct CacheAside<K, V, S> {
    core: Arc<ReadThrough<K, V, S>>,
}

impl<K, V, S> CacheAside<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// Writes the store, then drops the cached copy (the next `get` loads the new value).
    /// Writes of one key are serialised, so the store sees them in the order they were made.
    ///
    /// # Errors
    ///
    /// The store's error; the cached copy is dropped even then, since the store may or may not
    /// hold the new value. After a timeout the write may still land: it keeps the key's writer
    /// lock until it does (later writes of the key wait for it) and drops the cached copy again
    /// when it lands (see [`PolicyOptions::timeout`](crate::PolicyOptions::timeout)).
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        self.core
            .write(&key, move |s: &S, k: &K| s.write(k, &value), Written::Aside)
    }

    /// Deletes from the store, then drops the cached copy.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put): the store's error, and the cached copy is dropped even then.
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.core
            .write(key, |s: &S, k: &K| s.delete(k), Written::Aside)
    }
}

read_through_policy!(CacheAside, "Cache-aside");
