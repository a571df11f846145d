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
pub(crate) mod redis_keys;
#[cfg(feature = "redis")]
pub use self::redis::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FILL_LEASE, DEFAULT_IO_TIMEOUT, MAX_RECONNECT_BACKOFF,
    RECONNECT_BACKOFF, RedisStore, RedisStoreError,
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

    /// A cache tier's read on the way to a slower store: the value, or a miss with a
    /// [`FillLease`] that lets the reader [`fill`](Self::fill) the key with what it then reads
    /// from the slower store. Default: [`load`](Self::load), and a miss without a lease (this
    /// store is then never filled).
    ///
    /// A tier that hands out leases must revoke a key's lease whenever the key is written or
    /// deleted, and hand every miss between two such revocations the same lease (or a fresh one
    /// after it expired), so that a fill can never land over a newer write or a newer delete.
    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, Self::Error> {
        Ok(match self.load(key)? {
            Some(v) => Leased::Hit(v),
            None => Leased::Miss(None),
        })
    }

    /// Stores `value`, just read from a slower store after a miss that handed out `lease`, if
    /// the lease still holds: no write or delete of the key came in between and the lease has
    /// not expired. Returns whether it stored. Default: stores nothing (`Ok(false)`), which is
    /// always safe. `RedisStore` and `MemoryStore` check leases.
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, Self::Error> {
        let _ = (key, value, lease);
        Ok(false)
    }
}

/// A permission to [`fill`](Store::fill) one key of a cache tier, handed out by the miss
/// ([`Store::load_or_lease`]) whose reader is about to read the slower store. A write or delete
/// of the key revokes it, so the fill of a value read before that write cannot land after it
/// (the technique of memcache's leases, Nishtala et al., NSDI 2013).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FillLease(u64);

impl FillLease {
    /// A lease with this token (for stores that hand out leases).
    #[must_use]
    pub const fn new(token: u64) -> Self {
        FillLease(token)
    }

    /// The token.
    #[must_use]
    pub const fn token(self) -> u64 {
        self.0
    }
}

/// What [`Store::load_or_lease`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leased<V> {
    /// The value.
    Hit(V),
    /// Nothing there; with a lease, the reader may fill the key.
    Miss(Option<FillLease>),
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
    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, Self::Error> {
        (**self).load_or_lease(key)
    }
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, Self::Error> {
        (**self).fill(key, value, lease)
    }
}
