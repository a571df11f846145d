//! [`Policy`]: what the three sync policies share, as a trait, for services that pick their
//! policy from configuration (`Arc<dyn Policy<K, V>>`, or a generic parameter).

use super::PolicyError;
use super::mode::WriteMode;
use super::read_through_policy::ReadThroughPolicy;
use super::write_behind::WriteBehind;
use crate::{Cache, CacheStats, Store};
use std::hash::Hash;

/// The methods [`CacheAside`](crate::CacheAside), [`WriteThrough`](crate::WriteThrough) and
/// [`WriteBehind`] share, with the same meaning as theirs. It is dyn-compatible, so a service can
/// choose its write rule at run time.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use stratacache::{Cache, CacheAside, MemoryStore, Policy, WriteBehind, WriteThrough};
///
/// fn policy(kind: &str, db: Arc<MemoryStore<u32, String>>) -> Arc<dyn Policy<u32, String>> {
///     let cache = Cache::new(1_000);
///     match kind {
///         "aside" => Arc::new(CacheAside::new(cache, db)),
///         "through" => Arc::new(WriteThrough::new(cache, db)),
///         _ => Arc::new(WriteBehind::builder(cache, db).build().unwrap()),
///     }
/// }
///
/// let db = Arc::new(MemoryStore::new());
/// for kind in ["aside", "through", "behind"] {
///     let users = policy(kind, db.clone());
///     users.put(1, format!("written by {kind}"))?;
///     assert_eq!(users.get(&1)?.as_deref(), Some(format!("written by {kind}").as_str()));
/// }
/// # Ok::<(), stratacache::PolicyError>(())
/// ```
pub trait Policy<K, V>: Send + Sync {
    /// The value under `key`, from the cache or loaded (see the policies' `get`).
    ///
    /// # Errors
    ///
    /// As the policy's `get`.
    fn get(&self, key: &K) -> Result<Option<V>, PolicyError>;

    /// The cached value, without loading; a miss is left to the `get` that follows.
    fn get_if_present(&self, key: &K) -> Option<V>;

    /// Writes `value` under `key` by the policy's rule.
    ///
    /// # Errors
    ///
    /// As the policy's `put`.
    fn put(&self, key: K, value: V) -> Result<(), PolicyError>;

    /// Deletes `key` by the policy's rule.
    ///
    /// # Errors
    ///
    /// As the policy's `delete`.
    fn delete(&self, key: &K) -> Result<(), PolicyError>;

    /// Drops the cached copy of `key`; a load in progress will not refill it.
    fn invalidate(&self, key: &K);

    /// Drops every cached copy; no load in progress will refill the cache.
    fn invalidate_all(&self);

    /// The cache.
    fn cache(&self) -> &Cache<K, V>;

    /// The cache's counters.
    fn stats(&self) -> CacheStats;
}

/// The trait's methods, each the inherent method of the same name.
macro_rules! delegate {
    ($ty:ty) => {
        fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
            <$ty>::get(self, key)
        }
        fn get_if_present(&self, key: &K) -> Option<V> {
            <$ty>::get_if_present(self, key)
        }
        fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
            <$ty>::put(self, key, value)
        }
        fn delete(&self, key: &K) -> Result<(), PolicyError> {
            <$ty>::delete(self, key)
        }
        fn invalidate(&self, key: &K) {
            <$ty>::invalidate(self, key)
        }
        fn invalidate_all(&self) {
            <$ty>::invalidate_all(self)
        }
        fn cache(&self) -> &Cache<K, V> {
            <$ty>::cache(self)
        }
    };
}

impl<K, V, S, M> Policy<K, V> for ReadThroughPolicy<K, V, S, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
    M: WriteMode,
{
    delegate!(ReadThroughPolicy<K, V, S, M>);
    fn stats(&self) -> CacheStats {
        ReadThroughPolicy::stats(self)
    }
}

impl<K, V, S> Policy<K, V> for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    delegate!(WriteBehind<K, V, S>);
    fn stats(&self) -> CacheStats {
        self.cache().stats()
    }
}
