//! [`MemoryStore`]: a `HashMap` store with optional injected latency and failures, for examples,
//! tests and users' own tests.

use super::{FillLease, Leased, Store, WriteOp};
use crate::sync::Mutex;
use crate::sync::atomic::{AtomicU64, Ordering};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// An in-memory store: a `HashMap` behind a mutex, which can be made slow or unreliable on
/// purpose. It is meant for examples and tests (yours too), not as a database.
///
/// - [`with_latency`](Self::with_latency): every call (a batch is one call) sleeps first.
/// - [`fail_next`](Self::fail_next): the next `n` calls fail.
/// - [`fail_one_in`](Self::fail_one_in): calls fail pseudo-randomly, one in `n` (seeded, so runs
///   repeat).
/// - [`set_down`](Self::set_down): every call fails until it is brought back up.
///
/// A failed call changes nothing. Counters tell how often each method ran.
///
/// As the front tier of a [`Layered`](crate::Layered) store it hands out fill leases: the first
/// miss of a key gets one, later misses find it [`Held`](crate::Leased::Held) until it is used,
/// given back or expires ([`with_fill_lease`](Self::with_fill_lease)), a write or delete of the
/// key revokes it, and [`Store::fill`] stores only under a lease that still holds, so a fill
/// never overwrites a newer write or delete.
///
/// # Examples
///
/// ```
/// use stratacache::{MemoryStore, Store};
/// let store = MemoryStore::new();
/// store.write(&1, &"one").unwrap();
/// store.fail_next(1);
/// assert!(store.load(&1).is_err());
/// assert_eq!(store.load(&1).unwrap(), Some("one"));
/// assert_eq!(store.loads(), 2);
/// ```
pub struct MemoryStore<K, V> {
    map: Mutex<HashMap<K, V>>,
    /// Outstanding fill leases; locked after `map`, whose writes revoke them.
    leases: Mutex<Leases<K>>,
    latency: Mutex<Duration>,
    faults: Mutex<Faults>,
    loads: AtomicU64,
    writes: AtomicU64,
    deletes: AtomicU64,
    batches: AtomicU64,
}

/// At most this many fill leases are kept; past it they are all revoked (which only costs the
/// fills of reads in progress), so keys that miss everywhere cannot grow the table.
const MAX_LEASES: usize = 4_096;

struct Leases<K> {
    /// Each key's outstanding lease: its token and when it expires.
    by_key: HashMap<K, (u64, Instant)>,
    next: u64,
    lasts: Duration,
}

impl<K: Hash + Eq + Clone> Leases<K> {
    /// A new lease for the key, or `None` while another one is out.
    fn grant(&mut self, key: &K) -> Option<FillLease> {
        let now = Instant::now();
        if self.by_key.get(key).is_some_and(|&(_, until)| now < until) {
            return None;
        }
        if self.by_key.len() >= MAX_LEASES {
            self.by_key.retain(|_, &mut (_, until)| now < until);
            if self.by_key.len() >= MAX_LEASES {
                self.by_key.clear();
            }
        }
        self.next += 1;
        self.by_key
            .insert(key.clone(), (self.next, now + self.lasts));
        Some(FillLease::new(self.next))
    }

    /// Ends `lease` if it is the key's outstanding one, and says whether it still held.
    fn redeem(&mut self, key: &K, lease: FillLease) -> bool {
        match self.by_key.get(key) {
            Some(&(t, until)) if t == lease.token() => {
                self.by_key.remove(key);
                Instant::now() < until
            }
            _ => false,
        }
    }
}

#[derive(Default)]
struct Faults {
    next: u64,
    one_in: u64,
    rng: u64,
    down: bool,
}

impl Faults {
    fn strike(&mut self) -> bool {
        if self.down {
            return true;
        }
        if self.next > 0 {
            self.next -= 1;
            return true;
        }
        if self.one_in > 1 {
            // xorshift64: repeatable, and plenty for deciding which call fails.
            self.rng ^= self.rng << 13;
            self.rng ^= self.rng >> 7;
            self.rng ^= self.rng << 17;
            return self.rng.is_multiple_of(self.one_in);
        }
        self.one_in == 1
    }
}

/// The injected failure of a [`MemoryStore`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryStoreError {
    op: &'static str,
}

impl fmt::Display for MemoryStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected failure of MemoryStore::{}", self.op)
    }
}

impl std::error::Error for MemoryStoreError {}

impl<K, V> MemoryStore<K, V> {
    /// An empty, fast and reliable store.
    #[must_use]
    pub fn new() -> Self {
        MemoryStore {
            map: Mutex::new(HashMap::new()),
            leases: Mutex::new(Leases {
                by_key: HashMap::new(),
                next: 0,
                lasts: super::DEFAULT_FILL_LEASE,
            }),
            latency: Mutex::new(Duration::ZERO),
            faults: Mutex::new(Faults::default()),
            loads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
            batches: AtomicU64::new(0),
        }
    }

    /// Every call sleeps `latency` first (a batch sleeps once): a stand-in for a slow database.
    #[must_use]
    pub fn with_latency(self, latency: Duration) -> Self {
        *self.latency.lock() = latency;
        self
    }

    /// How long a fill lease lasts (default [`DEFAULT_FILL_LEASE`](crate::DEFAULT_FILL_LEASE);
    /// at least 1 ms).
    #[must_use]
    pub fn with_fill_lease(self, lease: Duration) -> Self {
        self.leases.lock().lasts = lease.max(Duration::from_millis(1));
        self
    }

    /// Changes the latency of later calls.
    pub fn set_latency(&self, latency: Duration) {
        *self.latency.lock() = latency;
    }

    /// The next `n` calls fail.
    pub fn fail_next(&self, n: u64) {
        self.faults.lock().next = n;
    }

    /// From now on about one call in `n` fails (0 turns this off), chosen by a generator seeded
    /// with `seed`.
    pub fn fail_one_in(&self, n: u64, seed: u64) {
        let mut f = self.faults.lock();
        f.one_in = n;
        f.rng = seed | 1;
    }

    /// While down, every call fails.
    pub fn set_down(&self, down: bool) {
        self.faults.lock().down = down;
    }

    /// How many `load` calls were made (failed ones included).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// How many `write` calls were made, and puts applied through batches.
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// How many `delete` calls were made, and deletes applied through batches.
    pub fn deletes(&self) -> u64 {
        self.deletes.load(Ordering::Relaxed)
    }

    /// How many `write_batch` calls were made.
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// The number of stored keys.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.map.lock().is_empty()
    }

    /// A copy of the contents, bypassing latency, failures and counters.
    pub fn snapshot(&self) -> HashMap<K, V>
    where
        K: Clone,
        V: Clone,
    {
        self.map.lock().clone()
    }

    /// The stored value, bypassing latency, failures and counters.
    pub fn peek(&self, key: &K) -> Option<V>
    where
        K: Hash + Eq,
        V: Clone,
    {
        self.map.lock().get(key).cloned()
    }

    fn call(&self, op: &'static str, counter: &AtomicU64) -> Result<(), MemoryStoreError> {
        counter.fetch_add(1, Ordering::Relaxed);
        let latency = *self.latency.lock();
        if !latency.is_zero() {
            crate::sync::thread::sleep(latency);
        }
        if self.faults.lock().strike() {
            Err(MemoryStoreError { op })
        } else {
            Ok(())
        }
    }
}

impl<K, V> Default for MemoryStore<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> fmt::Debug for MemoryStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.map.lock().len())
            .field("latency", &*self.latency.lock())
            .finish_non_exhaustive()
    }
}

impl<K, V> Store<K, V> for MemoryStore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync,
    V: Clone + Send + Sync,
{
    type Error = MemoryStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, MemoryStoreError> {
        self.call("load", &self.loads)?;
        Ok(self.map.lock().get(key).cloned())
    }

    fn write(&self, key: &K, value: &V) -> Result<(), MemoryStoreError> {
        self.call("write", &self.writes)?;
        let mut map = self.map.lock();
        self.leases.lock().by_key.remove(key);
        map.insert(key.clone(), value.clone());
        Ok(())
    }

    fn delete(&self, key: &K) -> Result<(), MemoryStoreError> {
        self.call("delete", &self.deletes)?;
        let mut map = self.map.lock();
        self.leases.lock().by_key.remove(key);
        map.remove(key);
        Ok(())
    }

    /// All or nothing: a failed batch changes nothing.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), MemoryStoreError> {
        self.call("write_batch", &self.batches)?;
        let mut map = self.map.lock();
        let mut leases = self.leases.lock();
        for op in ops {
            leases.by_key.remove(op.key());
            match op {
                WriteOp::Put(k, v) => {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                    map.insert(k.clone(), v.clone());
                }
                WriteOp::Delete(k) => {
                    self.deletes.fetch_add(1, Ordering::Relaxed);
                    map.remove(k);
                }
            }
        }
        Ok(())
    }

    /// Counted as a load.
    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, MemoryStoreError> {
        self.call("load", &self.loads)?;
        let map = self.map.lock();
        Ok(match map.get(key) {
            Some(v) => Leased::Hit(v.clone()),
            None => match self.leases.lock().grant(key) {
                Some(lease) => Leased::Miss(Some(lease)),
                None => Leased::Held,
            },
        })
    }

    /// Not counted.
    fn release(&self, key: &K, lease: FillLease) -> Result<(), MemoryStoreError> {
        self.leases.lock().redeem(key, lease);
        Ok(())
    }

    /// Counted as a write.
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, MemoryStoreError> {
        self.call("write", &self.writes)?;
        let mut map = self.map.lock();
        if !self.leases.lock().redeem(key, lease) {
            return Ok(false);
        }
        map.insert(key.clone(), value.clone());
        Ok(true)
    }
}
