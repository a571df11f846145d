//! [`Layered`]: a fast shared tier (Redis) in front of the database, itself a [`Store`].

use super::{FillLease, Leased, Store, WriteOp};
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

/// How long a reader that found a key's fill lease held waits for the holder's fill, by
/// default, before it reads the database itself.
pub const DEFAULT_LEASE_WAIT: Duration = Duration::from_secs(2);

/// The first pause between two looks at a held key; it doubles up to [`MAX_LEASE_POLL`].
const FIRST_LEASE_POLL: Duration = Duration::from_millis(1);
/// The longest pause between two looks at a held key.
const MAX_LEASE_POLL: Duration = Duration::from_millis(20);

/// Two stores as one: a shared cache tier (`front`, say a `RedisStore`) in front of the database
/// (`back`, say a `SqliteStore`). It is a [`Store`], so every policy works over it.
///
/// - `load` asks the front with [`Store::load_or_lease`]. On a miss with the key's lease it
///   reads the back and fills the front with what it read through [`Store::fill`], which
///   stores only while the lease holds (if the back has nothing, or fails, the lease is given
///   back). On a miss whose lease another reader holds, in this process or any other, it waits
///   for that reader's fill, looking again after 1 ms, then 2, 4, ... up to 20 ms, for at most
///   [`with_lease_wait`](Self::with_lease_wait) (default [`DEFAULT_LEASE_WAIT`]); if the lease
///   ends unfilled it may get the next one, and if the wait runs out it reads the back itself,
///   without filling. So when a hot key expires in the front, one reader in the whole fleet
///   reads the database and the others get its value. A front that fails is skipped: reads go
///   on from the database while the cache tier is down.
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
    wait: Duration,
    won: AtomicU64,
    waited: AtomicU64,
    expired: AtomicU64,
}

/// What a [`Layered`] store's reads did with fill leases.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LeaseStats {
    /// Misses that got the key's lease at once, and read the database.
    pub won: u64,
    /// Misses that found the lease held and then got the holder's fill (or a newer write) from
    /// the front: database reads saved.
    pub waited: u64,
    /// Misses that found the lease held but had to read the database after all: the lease
    /// ended unfilled (its holder found nothing, failed, crashed and let it expire, or was
    /// overtaken by a delete) or the wait ran out.
    pub expired: u64,
}

impl<F, B> Layered<F, B> {
    /// `front` in front of `back`.
    pub fn new(front: F, back: B) -> Self {
        Layered {
            front,
            back,
            wait: DEFAULT_LEASE_WAIT,
            won: AtomicU64::new(0),
            waited: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    /// How long a miss whose lease another reader holds waits for that reader's fill before it
    /// reads the database itself (default [`DEFAULT_LEASE_WAIT`]). Zero: it never waits, and
    /// every miss reads the database (only the lease holder fills).
    #[must_use]
    pub fn with_lease_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    /// The counters of the reads' leases.
    pub fn lease_stats(&self) -> LeaseStats {
        LeaseStats {
            won: self.won.load(Relaxed),
            waited: self.waited.load(Relaxed),
            expired: self.expired.load(Relaxed),
        }
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
        let Some(lease) = self.lease(key) else {
            return self.back.load(key).map_err(LayeredError::Back);
        };
        let lease = match lease {
            Ok(v) => return Ok(Some(v)),
            Err(lease) => lease,
        };
        // Given back unless filled, whatever happens to the read (an error, a panic).
        let mut holding = Holding {
            front: &self.front,
            key,
            lease,
            _types: std::marker::PhantomData,
        };
        let v = self.back.load(key).map_err(LayeredError::Back)?;
        if let (Some(v), Some(lease)) = (&v, holding.lease) {
            holding.lease = None;
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

/// A fill lease held while the database is read: given back when dropped unused.
struct Holding<'a, K, V, F: Store<K, V>> {
    front: &'a F,
    key: &'a K,
    lease: Option<FillLease>,
    _types: std::marker::PhantomData<fn() -> V>,
}

impl<K, V, F: Store<K, V>> Drop for Holding<'_, K, V, F> {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            // If this fails the lease expires instead.
            let _ = self.front.release(self.key, lease);
        }
    }
}

impl<F, B> Layered<F, B> {
    /// The front's answer to a miss: `Some(Ok(value))` (a hit, maybe after waiting for a
    /// holder's fill), `Some(Err(lease))` (read the back; with a lease, fill the front), or
    /// `None` (the front failed: read the back, fill nothing).
    fn lease<K, V>(&self, key: &K) -> Option<Result<V, Option<FillLease>>>
    where
        F: Store<K, V>,
    {
        let mut deadline = None;
        let mut pause = FIRST_LEASE_POLL;
        loop {
            let answer = match self.front.load_or_lease(key) {
                Ok(a) => a,
                Err(_) => return None,
            };
            let waited = deadline.is_some();
            match answer {
                Leased::Hit(v) => {
                    if waited {
                        self.waited.fetch_add(1, Relaxed);
                    }
                    return Some(Ok(v));
                }
                Leased::Miss(lease) => {
                    if lease.is_some() {
                        let counter = if waited { &self.expired } else { &self.won };
                        counter.fetch_add(1, Relaxed);
                    }
                    return Some(Err(lease));
                }
                Leased::Held => {
                    let now = Instant::now();
                    let until = *deadline.get_or_insert(now + self.wait);
                    if now >= until {
                        self.expired.fetch_add(1, Relaxed);
                        return Some(Err(None));
                    }
                    crate::sync::thread::sleep(pause.min(until - now));
                    pause = (pause * 2).min(MAX_LEASE_POLL);
                }
            }
        }
    }
}
