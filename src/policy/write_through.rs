//! [`WriteThrough`]: every write goes to the store and then to the cache.

use super::read_through::ReadThrough;
use super::{ErrorKind, PolicyError};
use crate::Store;
use std::hash::Hash;
use std::sync::Arc;

/// Write-through: `put` writes the store, then the cache, so the cache stays warm with what the
/// store holds. Writers of one key are serialised, so the cache ends with the value the store
/// ends with. `get` reads through like [`CacheAside`](crate::CacheAside).
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
    /// may not hold the value, so the cached copy is dropped instead.
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        let _writer = self.core.stripe(&key);
        let (k, v) = (key.clone(), value.clone());
        match self.core.call(move |s: &S| s.write(&k, &v)) {
            Ok(()) => {
                self.core.detach(&key);
                self.core.cache.insert(key, value);
                Ok(())
            }
            Err(e) => {
                if e.kind() == ErrorKind::Timeout {
                    self.core.invalidate(&key);
                }
                Err(e)
            }
        }
    }

    /// Deletes from the store, then from the cache.
    ///
    /// # Errors
    ///
    /// The store's error, with the cache unchanged (dropped after a timeout).
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        let _writer = self.core.stripe(key);
        let k = key.clone();
        let r = self.core.call(move |s: &S| s.delete(&k));
        if r.as_ref()
            .map_or_else(|e| e.kind() == ErrorKind::Timeout, |()| true)
        {
            self.core.invalidate(key);
        }
        r
    }
}

read_through_policy!(WriteThrough, "Write-through");
