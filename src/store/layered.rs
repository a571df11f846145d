//! [`Layered`]: a fast shared tier (Redis) in front of the database, itself a [`Store`].

use super::{Store, WriteOp};
use std::error::Error;
use std::fmt;

/// Two stores as one: a shared cache tier (`front`, say a `RedisStore`) in front of the database
/// (`back`, say a `SqliteStore`). It is a [`Store`], so every policy works over it.
///
/// - `load` tries the front, then the back, and fills the front with what the back returned
///   (through [`Store::fill`], which for Redis does not overwrite a newer value). A front that
///   fails is skipped: reads go on from the database while the cache tier is down.
/// - `write`, `delete` and `write_batch` go to the back first, then update (or delete) the front.
///   A front that fails after the back succeeded is reported as [`LayeredError::Front`]: the
///   database holds the write, the front may be stale until its TTL.
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
        let front_ok = match self.front.load(key) {
            Ok(Some(v)) => return Ok(Some(v)),
            Ok(None) => true,
            Err(_) => false,
        };
        let v = self.back.load(key).map_err(LayeredError::Back)?;
        if let (true, Some(v)) = (front_ok, &v) {
            // A failed fill only costs the next reader a trip to the database.
            let _ = self.front.fill(key, v);
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
