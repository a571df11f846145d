//! The write policies: [`CacheAside`], [`WriteThrough`] and [`WriteBehind`], each a `Cache` and
//! a `Store` with one read-through path (single flight per key, optional negative caching).

/// The methods that [`CacheAside`] and [`WriteThrough`] share word for word: constructors over a
/// [`ReadThrough`](read_through::ReadThrough), the read-through `get`, `invalidate`, the
/// accessors and `Debug`. Each policy writes its own `put` and `delete`.
macro_rules! read_through_policy {
    ($Policy:ident, $what:literal) => {
        impl<K, V, S> $Policy<K, V, S>
        where
            K: std::hash::Hash + Eq + Clone + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
            S: $crate::Store<K, V> + 'static,
        {
            #[doc = concat!($what, " over `store`, with default [`PolicyOptions`](crate::PolicyOptions).")]
            pub fn new(cache: $crate::Cache<K, V>, store: S) -> Self {
                Self::with_options(cache, store, $crate::PolicyOptions::new())
            }

            #[doc = concat!($what, " over `store`, with negative caching or a timeout.")]
            pub fn with_options(
                cache: $crate::Cache<K, V>,
                store: S,
                options: $crate::PolicyOptions,
            ) -> Self {
                $Policy {
                    core: std::sync::Arc::new($crate::policy::read_through::ReadThrough::new(
                        cache, store, &options,
                    )),
                }
            }

            /// The value under `key`: from the cache, or loaded from the store (one load per key
            /// however many callers miss at once) and cached.
            ///
            /// # Errors
            ///
            /// The store's error, a caught panic, or a timeout; the cache is not filled then.
            pub fn get(&self, key: &K) -> Result<Option<V>, $crate::PolicyError> {
                self.core.get(key, |_| None)
            }

            /// Drops the cached copy only (for example when another process changed the store);
            /// a load in progress will not refill it.
            pub fn invalidate(&self, key: &K) {
                self.core.invalidate(key);
            }

            /// The cache.
            pub fn cache(&self) -> &$crate::Cache<K, V> {
                &self.core.cache
            }

            /// The store.
            pub fn store(&self) -> &S {
                &self.core.store
            }
        }

        impl<K, V, S> std::fmt::Debug for $Policy<K, V, S> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($Policy))
                    .field("cache", &self.core.cache)
                    .finish_non_exhaustive()
            }
        }
    };
}

mod cache_aside;
pub(crate) mod core;
mod error;
pub(crate) mod key_locks;
mod options;
mod read_through;
mod store_calls;
pub(crate) mod write_behind;
pub(crate) mod write_queue;
mod write_through;

pub use cache_aside::CacheAside;
pub use error::{ErrorKind, PolicyError};
pub use options::{DEFAULT_MAX_STORE_THREADS, DEFAULT_NEGATIVE_CAPACITY, PolicyOptions};
pub use write_behind::{
    DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_RETRIES, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF, MAX_BACKOFF, OnThread, WhenFull, WriteBehind, WriteBehindBuilder,
    WriteBehindStats,
};
pub use write_through::WriteThrough;
