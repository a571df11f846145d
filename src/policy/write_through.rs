//! [`WriteThrough`]: every write goes to the store and then to the cache.

use super::PolicyError;
use super::core::Written;
use super::read_through::ReadThrough;
use crate::Store;
use std::hash::Hash;
use std::sync::Arc;

/// Write-through: `put` writes the store, then the cache, so the cache stays warm with what the
/// store holds. Writers of one key are serialised, so the cache ends with the value the store
/// ends with. `get` reads through like [`CacheAside`](crate::CacheAside).
///
/// Consistency: once `put` or `delete` returns `Ok`, no later `get` on any thread returns an
/// older value, and once the store has settled the cache holds nothing the store does not. A
/// write abandoned by a timeout is still ordered before the next write of its key, and drops the
/// cached copy when it lands.
///
/// # Examples
///
/// ```
/// use stratacache::{Cache, MemoryStore, WriteThrough};
/// let policy = WriteThrough::new(Cache::new(100), MemoryStore::new());
/// policy.put(7, "seven")?;
/// assert_eq!(policy.cache().get(&7), Some("seven")); // cached by the write
/// assert_eq!(policy.store().peek(&7), Some("seven"));
///
/// policy.store().fail_next(1);
/// assert!(policy.put(7, "eight").is_err());
/// assert_eq!(policy.cache().get(&7), Some("seven")); // unchanged on a store error
/// # Ok::<(), stratacache::PolicyError>(())
/// ```
pub struct WriteThrough<K, V, S> {
    core: Arc<ReadThrough<K, V, S>>,
}

impl<K, V, S> WriteThrough<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// Writes the store, then the cache.
    ///
    /// # Errors
    ///
    /// The store's error, returned with the cache unchanged. After a timeout the store may or
    /// may not hold the value, so the cached copy is dropped instead; the abandoned write keeps
    /// the key's writer lock until it lands (later writes of the key wait for it) and drops the
    /// cached copy again when it does (see
    /// [`PolicyOptions::timeout`](crate::PolicyOptions::timeout)).
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        let v = value.clone();
        self.core.write(
            &key,
            move |s: &S, k: &K| s.write(k, &v),
            Written::ThroughPut(value),
        )
    }

    /// Deletes from the store, then from the cache.
    ///
    /// # Errors
    ///
    /// The store's error, with the cache unchanged (dropped after a timeout, as for
    /// [`put`](Self::put)).
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.core
            .write(key, |s: &S, k: &K| s.delete(k), Written::ThroughDelete)
    }
}

read_through_policy!(WriteThrough, "Write-through");
