//! The database behind the cache: the [`Store`] trait, [`WriteOp`], and the stores we ship.

mod layered;
mod memory;
pub use layered::{DEFAULT_LEASE_WAIT, Layered, LayeredError, LeaseStats};
pub use memory::{MemoryStore, MemoryStoreError};

mod codec;
pub(crate) use codec::encode;
#[cfg(feature = "redis")]
pub use codec::{KeyFormat, ValueCodec};
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod redis_bus;
#[cfg(feature = "redis")]
pub(crate) mod redis_keys;
#[cfg(feature = "redis")]
mod text_key;
#[cfg(feature = "redis")]
pub use self::redis::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, MAX_RECONNECT_BACKOFF, RECONNECT_BACKOFF,
    RedisStore, RedisStoreError,
};
#[cfg(feature = "redis")]
pub use redis_bus::{DEFAULT_RECONCILE_INTERVAL, Invalidation, InvalidationBus, Publishing};
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "sqlite")]
pub use sqlite::{Sqlite, SqliteStore, SqliteStoreError, SqliteTable};
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "postgres")]
pub use postgres::{
    DEFAULT_PG_POOL_SIZE, DEFAULT_PG_TIMEOUT, PgTable, Postgres, PostgresStore, PostgresStoreError,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod table;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use table::{Driver, MapError, Params, Table};

use std::sync::Arc;
use std::time::Duration;

/// How long a fill lease lasts by default: a reader that took a lease on a miss must fill the
/// key within this long, or its fill is refused and the next miss gets a new lease (so a crashed
/// reader blocks the key's other readers for no longer).
pub const DEFAULT_FILL_LEASE: Duration = Duration::from_secs(10);

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
    /// A tier that hands out leases hands out at most one per key at a time, as memcache does
    /// (Nishtala et al., NSDI 2013): the first miss gets the lease and reads the slower store;
    /// a miss while it is out gets [`Leased::Held`] and should wait for the holder's fill
    /// rather than read the slower store too. A lease ends when it is used
    /// ([`fill`](Self::fill)), given back ([`release`](Self::release)), or expires (so a holder
    /// that crashed blocks the key for no longer than that); a write or delete of the key
    /// revokes it, so that a fill can never land over a newer write or a newer delete.
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

    /// Gives `lease` back without filling (the slower store had nothing, or failed), so that the
    /// key's next miss gets a lease at once instead of waiting for this one to expire. Does
    /// nothing if the lease has already ended. Default: nothing.
    fn release(&self, key: &K, lease: FillLease) -> Result<(), Self::Error> {
        let _ = (key, lease);
        Ok(())
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
#[non_exhaustive]
pub enum Leased<V> {
    /// The value.
    Hit(V),
    /// Nothing there; with a lease, the reader may fill the key.
    Miss(Option<FillLease>),
    /// Nothing there, and another reader holds the key's lease: it is reading the slower store
    /// and will fill the key. Ask again shortly.
    Held,
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
    fn release(&self, key: &K, lease: FillLease) -> Result<(), Self::Error> {
        (**self).release(key, lease)
    }
}
