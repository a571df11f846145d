//! The database behind the cache: the [`Store`] trait, [`WriteOp`], and the stores we ship.

mod layered;
mod memory;
pub use layered::{Layered, LayeredError};
pub use memory::{MemoryStore, MemoryStoreError};

#[cfg(any(feature = "sqlite", feature = "redis"))]
mod codec;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_bus;
#[cfg(feature = "redis")]
pub use self::redis::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, MAX_RECONNECT_BACKOFF, RECONNECT_BACKOFF,
    RedisStore, RedisStoreError,
};
#[cfg(feature = "redis")]
pub use redis_bus::{Invalidation, InvalidationBus, Publishing};
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteStore, SqliteStoreError};

use std::sync::Arc;

/// The database behind a cache, as the write policies see it.
///
/// Delivery is at-least-once: a write may be repeated (after a retry whose first attempt did in
/// fact succeed), so a store must accept a repeated write. Calls come from the policies' caller
/// threads and from the write-behind flusher, never under a shard lock.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use std::convert::Infallible;
/// use parking_lot::Mutex;
/// use stratacache::{Store, WriteOp};
///
/// struct Map(Mutex<HashMap<u32, String>>);
///
/// impl Store<u32, String> for Map {
///     type Error = Infallible;
///     fn load(&self, key: &u32) -> Result<Option<String>, Infallible> {
///         Ok(self.0.lock().get(key).cloned())
///     }
///     fn write(&self, key: &u32, value: &String) -> Result<(), Infallible> {
///         self.0.lock().insert(*key, value.clone());
///         Ok(())
///     }
///     fn delete(&self, key: &u32) -> Result<(), Infallible> {
///         self.0.lock().remove(key);
///         Ok(())
///     }
/// }
///
/// let store = Map(Mutex::new(HashMap::new()));
/// store.write_batch(&[WriteOp::Put(1, "a".into()), WriteOp::Delete(1)]).unwrap();
/// assert_eq!(store.load(&1).unwrap(), None);
/// ```
pub trait Store<K, V>: Send + Sync {
    /// What a failed call returns.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The value stored under `key`, or `None`.
    fn load(&self, key: &K) -> Result<Option<V>, Self::Error>;

    /// Stores `value` under `key` (insert or replace).
    fn write(&self, key: &K, value: &V) -> Result<(), Self::Error>;

    /// Removes `key`; removing an absent key succeeds.
    fn delete(&self, key: &K) -> Result<(), Self::Error>;

    /// Applies `ops` in order. Default: one by one, stopping at the first error. A store that
    /// can do better (one transaction, one pipeline) should.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), Self::Error> {
        for op in ops {
            match op {
                WriteOp::Put(k, v) => self.write(k, v)?,
                WriteOp::Delete(k) => self.delete(k)?,
            }
        }
        Ok(())
    }

    /// Stores a value just read from a slower store, as a cache tier does on a miss. Default:
    /// [`write`](Self::write). A tier that can should not overwrite a value that is already there
    /// (a concurrent write is newer than what was read); `RedisStore` uses `SET NX`.
    fn fill(&self, key: &K, value: &V) -> Result<(), Self::Error> {
        self.write(key, value)
    }
}

/// One write of a batch.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum WriteOp<K, V> {
    /// Store this value under this key.
    Put(K, V),
    /// Remove this key.
    Delete(K),
}

impl<K, V> WriteOp<K, V> {
    /// The key written.
    pub fn key(&self) -> &K {
        match self {
            WriteOp::Put(k, _) | WriteOp::Delete(k) => k,
        }
    }
}

/// A shared store is a store: wrap a store in `Arc` to use it from several policies.
impl<K, V, S: Store<K, V> + ?Sized> Store<K, V> for Arc<S> {
    type Error = S::Error;
    fn load(&self, key: &K) -> Result<Option<V>, Self::Error> {
        (**self).load(key)
    }
    fn write(&self, key: &K, value: &V) -> Result<(), Self::Error> {
        (**self).write(key, value)
    }
    fn delete(&self, key: &K) -> Result<(), Self::Error> {
        (**self).delete(key)
    }
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), Self::Error> {
        (**self).write_batch(ops)
    }
    fn fill(&self, key: &K, value: &V) -> Result<(), Self::Error> {
        (**self).fill(key, value)
    }
}
