//! [`CacheAside`]: reads fill the cache from the store; writes go to the store and drop the
//! cached copy, so the next read loads the new value.

use super::mode::Aside;
use super::read_through_policy::ReadThroughPolicy;

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
pub type CacheAside<K, V, S> = ReadThroughPolicy<K, V, S, Aside>;
