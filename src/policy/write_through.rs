//! [`WriteThrough`]: every write goes to the store and then to the cache.

use super::mode::Through;
use super::read_through_policy::ReadThroughPolicy;

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
pub type WriteThrough<K, V, S> = ReadThroughPolicy<K, V, S, Through>;
