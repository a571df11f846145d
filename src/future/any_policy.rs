//! [`AsyncPolicy`]: the sync [`Policy`](crate::Policy) trait's async twin, for the async
//! policies.

use super::AsyncStore;
use super::policy::ReadThroughPolicy;
use super::write_behind::WriteBehind;
use crate::policy::PolicyError;
use crate::{Cache, CacheStats, WriteMode};
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;

/// A boxed, `Send` future: what [`AsyncPolicy`]'s I/O methods return, so that the trait stays
/// dyn-compatible.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The methods the async [`CacheAside`](super::CacheAside), [`WriteThrough`](super::WriteThrough)
/// and [`WriteBehind`] share, with the same meaning as theirs. Dyn-compatible (the I/O methods
/// return [`BoxFuture`]s), so a service can choose its write rule at run time.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use stratacache::future::{AsyncPolicy, Blocking, CacheAside, WriteBehind};
/// use stratacache::{Cache, MemoryStore};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let db = Arc::new(MemoryStore::<u32, u32>::new());
/// let policies: Vec<Arc<dyn AsyncPolicy<u32, u32>>> = vec![
///     Arc::new(CacheAside::new(Cache::new(100), Blocking::new(db.clone()))),
///     Arc::new(WriteBehind::builder(Cache::new(100), Blocking::new(db)).build()?),
/// ];
/// for p in &policies {
///     p.put(1, 10).await?;
///     assert_eq!(p.get(&1).await?, Some(10));
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub trait AsyncPolicy<K, V>: Send + Sync {
    /// The value under `key`, from the cache or loaded.
    fn get<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<Option<V>, PolicyError>>;

    /// The cached value, without loading; a miss is left to the `get` that follows.
    fn get_if_present(&self, key: &K) -> Option<V>;

    /// Writes `value` under `key` by the policy's rule.
    fn put(&self, key: K, value: V) -> BoxFuture<'_, Result<(), PolicyError>>;

    /// Deletes `key` by the policy's rule.
    fn delete<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), PolicyError>>;

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
        fn get<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<Option<V>, PolicyError>> {
            Box::pin(<$ty>::get(self, key))
        }
        fn get_if_present(&self, key: &K) -> Option<V> {
            <$ty>::get_if_present(self, key)
        }
        fn put(&self, key: K, value: V) -> BoxFuture<'_, Result<(), PolicyError>> {
            Box::pin(<$ty>::put(self, key, value))
        }
        fn delete<'a>(&'a self, key: &'a K) -> BoxFuture<'a, Result<(), PolicyError>> {
            Box::pin(<$ty>::delete(self, key))
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
        fn stats(&self) -> CacheStats {
            <$ty>::cache(self).stats()
        }
    };
}

impl<K, V, S, M> AsyncPolicy<K, V> for ReadThroughPolicy<K, V, S, M>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
    M: WriteMode,
{
    delegate!(ReadThroughPolicy<K, V, S, M>);
}

impl<K, V, S> AsyncPolicy<K, V> for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    delegate!(WriteBehind<K, V, S>);
}
