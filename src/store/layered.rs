//! [`Layered`]: a fast shared tier (Redis) in front of the database, itself a [`Store`].

use super::{Leased, Store, WriteOp};
use std::error::Error;
use std::fmt;

/// Two stores as one: a shared cache tier (`front`, say a `RedisStore`) in front of the database
/// (`back`, say a `SqliteStore`). It is a [`Store`], so every policy works over it.
///
/// - `load` asks the front with [`Store::load_or_lease`]; on a miss it reads the back and fills
///   the front with what it read through [`Store::fill`], which stores only while the lease the
///   miss was given holds. A front that fails is skipped: reads go on from the database while
///   the cache tier is down.
/// - `write`, `delete` and `write_batch` go to the back first, then update (or delete) the front,
///   which revokes the key's lease. A front that fails after the back succeeded is reported as
///   [`LayeredError::Front`]: the database holds the write, the front may be stale until its TTL.
///
/// Invariant: a fill never lands over a newer write or a newer delete of its key, in any
/// process. The lease is taken before the database is read and revoked after the database is
/// written, so a fill whose value was read before a write finds its lease gone. A front that
/// hands out no leases (the default of `load_or_lease`) is never filled.
///
/// Consistency model, for a key written through `Layered` (readers in any process):
///
/// | after | the database | the front tier | a reader of the front sees |
/// |---|---|---|---|
/// | `write`/`delete` returned `Ok` | the new value | the new value, or nothing | the new value (or reads it from the database) from then on |
/// | `write` returned `Front` error | the new value | possibly the old value | the old value until the front's TTL (none: until the next write) |
/// | a fill, racing a write or delete | untouched | never the filled value over the newer one | the newer value, or a miss |
/// | a reader crashed holding a lease | untouched | nothing filled | a miss; the lease expires (`RedisStore`: after its lease TTL) |
///
/// # Examples
///
/// ```
/// use stratacache::{Layered, MemoryStore, Store};
/// let db = MemoryStore::new();
/// db.write(&1, &"one").unwrap();
/// let tiers = Layered::new(MemoryStore::new(), db);
/// assert_eq!(tiers.load(&1).unwrap(), Some("one"));
/// assert_eq!(tiers.front().peek(&1), Some("one")); // filled on the way
/// tiers.write(&1, &"uno").unwrap();
/// assert_eq!((tiers.front().peek(&1), tiers.back().peek(&1)), (Some("uno"), Some("uno")));
/// ```
#[derive(Debug)]
pub struct Layered<F, B> {
    front: F,
    back: B,
}

impl<F, B> Layered<F, B> {
    /// `front` in front of `back`.
    pub fn new(front: F, back: B) -> Self {
        Layered { front, back }
    }

    /// The front tier.
    pub fn front(&self) -> &F {
        &self.front
    }

    /// The back tier (the database).
    pub fn back(&self) -> &B {
        &self.back
    }
}

/// Which tier failed.
#[derive(Debug)]
pub enum LayeredError<FE, BE> {
    /// The front tier, after the back tier took the write (or, for a load, never: a failing
    /// front is skipped).
    Front(FE),
    /// The back tier; nothing was written to the front.
    Back(BE),
}

impl<FE: fmt::Display, BE: fmt::Display> fmt::Display for LayeredError<FE, BE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayeredError::Front(e) => write!(f, "front tier (the back tier has the write): {e}"),
            LayeredError::Back(e) => write!(f, "back tier: {e}"),
        }
    }
}

impl<FE: Error + 'static, BE: Error + 'static> Error for LayeredError<FE, BE> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            LayeredError::Front(e) => Some(e),
            LayeredError::Back(e) => Some(e),
        }
    }
}

impl<K, V, F, B> Store<K, V> for Layered<F, B>
where
    F: Store<K, V>,
    B: Store<K, V>,
{
    type Error = LayeredError<F::Error, B::Error>;

    fn load(&self, key: &K) -> Result<Option<V>, Self::Error> {
        let lease = match self.front.load_or_lease(key) {
            Ok(Leased::Hit(v)) => return Ok(Some(v)),
            Ok(Leased::Miss(lease)) => lease,
            Err(_) => None,
        };
        let v = self.back.load(key).map_err(LayeredError::Back)?;
        if let (Some(lease), Some(v)) = (lease, &v) {
            // A failed or refused fill only costs the next reader a trip to the database.
            let _ = self.front.fill(key, v, lease);
        }
        Ok(v)
    }

    fn write(&self, key: &K, value: &V) -> Result<(), Self::Error> {
        self.back.write(key, value).map_err(LayeredError::Back)?;
        self.front.write(key, value).map_err(LayeredError::Front)
    }

    fn delete(&self, key: &K) -> Result<(), Self::Error> {
        self.back.delete(key).map_err(LayeredError::Back)?;
        self.front.delete(key).map_err(LayeredError::Front)
    }

    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), Self::Error> {
        self.back.write_batch(ops).map_err(LayeredError::Back)?;
        self.front.write_batch(ops).map_err(LayeredError::Front)
    }
}
