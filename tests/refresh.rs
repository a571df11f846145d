//! Refresh-ahead and XFetch early refresh, for the three sync and the three async policies: one
//! text per scenario, run on each. Deterministic: a `ManualClock` drives ages and load times,
//! gates hold the background reload where a scenario needs it, and the draws are seeded.

mod common;

use common::gate::Gated;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::{Duration, Instant};
use stratacache::{
    Cache, CacheAside, ManualClock, MemoryStoreError, PolicyError, PolicyOptions, RefreshStats,
    Store, WriteBehind, WriteOp, WriteThrough,
};

const TTL: Duration = Duration::from_secs(60);
const AFTER: Duration = Duration::from_secs(10);

/// The database: a gated `MemoryStore` whose loads take `load_time` on the test's clock.
struct Db {
    gated: Gated,
    clock: ManualClock,
    load_time: Mutex<Duration>,
}

impl Store<u32, u64> for Db {
    type Error = MemoryStoreError;
    fn load(&self, key: &u32) -> Result<Option<u64>, MemoryStoreError> {
        self.clock.advance(*self.load_time.lock());
        self.gated.load(key)
    }
    fn write(&self, key: &u32, value: &u64) -> Result<(), MemoryStoreError> {
        self.gated.write(key, value)
    }
    fn delete(&self, key: &u32) -> Result<(), MemoryStoreError> {
        self.gated.delete(key)
    }
    fn write_batch(&self, ops: &[WriteOp<u32, u64>]) -> Result<(), MemoryStoreError> {
        self.gated.write_batch(ops)
    }
}

impl Db {
    fn new(clock: &ManualClock) -> Arc<Self> {
        Arc::new(Db {
            gated: Gated::default(),
            clock: clock.clone(),
            load_time: Mutex::new(Duration::ZERO),
        })
    }
    fn set(&self, k: u32, v: u64) {
        self.gated.inner.write(&k, &v).unwrap();
    }
    fn loads(&self) -> u64 {
        self.gated.inner.loads()
    }
    /// Loads of `k` park after reading, until `release`.
    fn hold(&self, k: u32) {
        *self.gated.hold_load.lock() = Some(k);
        self.gated.load_gate.close();
    }
    fn open_gate(&self) {
        self.gated.load_gate.open();
        *self.gated.hold_load.lock() = None;
    }
}

/// A policy as the scenarios use it.
trait Policy {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError>;
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError>;
    fn refresh_stats(&self) -> RefreshStats;
    fn cache(&self) -> &Cache<u32, u64>;
}

/// How a policy is made over a cache, the database and options.
trait Make {
    type P: Policy;
    fn make(cache: Cache<u32, u64>, db: Arc<Db>, options: PolicyOptions) -> Self::P;
}

macro_rules! policy {
    ($name:ident, $ty:ty, $make:expr, sync) => {
        policy!(@impl $name, $ty, $make, |f| f);
    };
    ($name:ident, $ty:ty, $make:expr, async) => {
        policy!(@impl $name, $ty, $make, |f| rt().block_on(f));
    };
    (@impl $name:ident, $ty:ty, $make:expr, $run:expr) => {
        struct $name;
        impl Policy for $ty {
            fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
                ($run)(<$ty>::get(self, k))
            }
            fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
                ($run)(<$ty>::put(self, k, v))
            }
            fn refresh_stats(&self) -> RefreshStats {
                <$ty>::refresh_stats(self)
            }
            fn cache(&self) -> &Cache<u32, u64> {
                <$ty>::cache(self)
            }
        }
        impl Make for $name {
            type P = $ty;
            fn make(cache: Cache<u32, u64>, db: Arc<Db>, options: PolicyOptions) -> $ty {
                ($make)(cache, db, options)
            }
        }
    };
}

policy!(SyncAside, CacheAside<u32, u64, Arc<Db>>, CacheAside::with_options, sync);
policy!(SyncThrough, WriteThrough<u32, u64, Arc<Db>>, WriteThrough::with_options, sync);
policy!(
    SyncBehind,
    WriteBehind<u32, u64, Arc<Db>>,
    |c, db, o| WriteBehind::builder(c, db).options(o).build().unwrap(),
    sync
);

/// A policy over a cache on `clock` (TTL 60 s) and a database holding 1 -> 10.
fn setup<M: Make>(options: PolicyOptions) -> (M::P, Arc<Db>, ManualClock) {
    let clock = ManualClock::new();
    let cache = Cache::builder()
        .max_capacity(100)
        .time_to_live(TTL)
        .clock(clock.clone())
        .build()
        .unwrap();
    let db = Db::new(&clock);
    db.set(1, 10);
    (M::make(cache, db.clone(), options), db, clock)
}

/// Waits (at most 10 s of real time: a hang is a failure, not a wait) until `done`.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < give_up, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// A value past `refresh_after` is returned at once, however many read it, while one reload
/// runs behind them; then the reloaded value is served, fresh.
fn stale_value_is_served_while_one_reload_runs<M: Make>() {
    let (p, db, clock) = setup::<M>(PolicyOptions::new().refresh_after(AFTER));
    assert_eq!(p.get(&1).unwrap(), Some(10));
    db.set(1, 11); // changed behind the cache's back
    db.hold(1);
    clock.advance(AFTER);
    for _ in 0..5 {
        assert_eq!(
            p.get(&1).unwrap(),
            Some(10),
            "served at once, not waited for"
        );
    }
    db.gated.load_gate.wait_for(1); // the reload has read 11 and is held
    let s = p.refresh_stats();
    assert_eq!((s.refreshes_started, s.stale_served), (1, 5));
    assert_eq!(db.loads(), 2, "one reload for five stale reads");
    db.open_gate();
    until("the reload lands", || p.cache().peek(&1) == Some(11));
    assert_eq!(p.get(&1).unwrap(), Some(11));
    let s = p.refresh_stats();
    assert_eq!((s.refreshes_started, s.stale_served), (1, 5), "fresh again");
    assert_eq!(s.refreshes_failed, 0);
}

/// A reload that fails keeps the old value (until its TTL) and is counted; the next stale read
/// tries again.
fn failed_refresh_keeps_the_old_value<M: Make>() {
    let (p, db, clock) = setup::<M>(PolicyOptions::new().refresh_after(AFTER));
    assert_eq!(p.get(&1).unwrap(), Some(10));
    db.set(1, 11);
    db.gated.inner.fail_next(1);
    clock.advance(AFTER);
    assert_eq!(p.get(&1).unwrap(), Some(10));
    until("the reload fails", || {
        p.refresh_stats().refreshes_failed == 1
    });
    assert_eq!(p.cache().peek(&1), Some(10), "the old value stays");
    assert_eq!(p.get(&1).unwrap(), Some(10));
    until("the second reload lands", || p.cache().peek(&1) == Some(11));
    let s = p.refresh_stats();
    assert_eq!((s.refreshes_started, s.refreshes_failed), (2, 1));
    // Past the TTL the old value is gone: a miss, loaded.
    clock.advance(TTL);
    db.set(1, 12);
    assert_eq!(p.get(&1).unwrap(), Some(12));
}

/// A write that lands while a reload runs wins over it: the reload's older value never
/// replaces the written one.
fn write_during_refresh_wins<M: Make>() {
    let (p, db, clock) = setup::<M>(PolicyOptions::new().refresh_after(AFTER));
    assert_eq!(p.get(&1).unwrap(), Some(10));
    db.set(1, 11);
    db.hold(1);
    clock.advance(AFTER);
    assert_eq!(p.get(&1).unwrap(), Some(10));
    db.gated.load_gate.wait_for(1); // the reload has read 11
    p.put(1, 12).unwrap();
    db.open_gate();
    until("the reload ends", || {
        p.refresh_stats().refreshes_superseded == 1
    });
    assert_ne!(p.cache().peek(&1), Some(11), "the reload did not land");
    assert_eq!(p.get(&1).unwrap(), Some(12));
}

/// A reload that finds the key gone from the store drops the cached copy.
fn refresh_of_a_deleted_key_drops_the_copy<M: Make>() {
    let (p, db, clock) = setup::<M>(PolicyOptions::new().refresh_after(AFTER));
    assert_eq!(p.get(&1).unwrap(), Some(10));
    db.gated.inner.delete(&1).unwrap();
    clock.advance(AFTER);
    assert_eq!(p.get(&1).unwrap(), Some(10));
    until("the copy is dropped", || p.cache().peek(&1).is_none());
    assert_eq!(p.get(&1).unwrap(), None);
}

/// XFetch: with each load taking 1 s (on the cache's clock), a read 10 ms before the deadline
/// refreshes early (probability 0.99 per read), a read 30 s before it does not (e^-30); the
/// draws are seeded, so this run is always the same. Early refreshes are not stale reads.
fn early_refresh_comes_before_the_deadline<M: Make>() {
    let (p, db, clock) = setup::<M>(PolicyOptions::new().early_refresh(1.0).seed(3));
    *db.load_time.lock() = Duration::from_secs(1);
    assert_eq!(p.get(&1).unwrap(), Some(10)); // loaded in 1 s: delta recorded
    db.set(1, 11);
    clock.advance(TTL - Duration::from_secs(30));
    for _ in 0..100 {
        assert_eq!(p.get(&1).unwrap(), Some(10));
    }
    assert_eq!(
        p.refresh_stats().refreshes_started,
        0,
        "too early to refresh"
    );
    clock.advance(Duration::from_secs(30) - Duration::from_millis(10));
    let mut reads = 0;
    while p.refresh_stats().refreshes_started == 0 {
        assert_eq!(p.get(&1).unwrap(), Some(10));
        reads += 1;
        assert!(reads < 10, "no early refresh 10 ms before the deadline");
    }
    until("the early refresh lands", || p.cache().peek(&1) == Some(11));
    let s = p.refresh_stats();
    assert_eq!((s.refreshes_started, s.stale_served), (1, 0));
}

/// Without a load time (a value written by a `put`), nothing is refreshed early.
fn no_early_refresh_without_a_load_time<M: Make>() {
    let (p, _db, clock) = setup::<M>(PolicyOptions::new().early_refresh(1.0).seed(5));
    p.put(2, 20).unwrap();
    clock.advance(TTL - Duration::from_millis(1));
    for _ in 0..100 {
        assert_eq!(p.get(&2).unwrap(), Some(20));
    }
    assert_eq!(p.refresh_stats(), RefreshStats::default());
}

macro_rules! scenarios {
    ($($module:ident: $m:ident),*) => {
        $(
            mod $module {
                #[test]
                fn stale_value_is_served_while_one_reload_runs() {
                    super::stale_value_is_served_while_one_reload_runs::<super::$m>();
                }
                #[test]
                fn failed_refresh_keeps_the_old_value() {
                    super::failed_refresh_keeps_the_old_value::<super::$m>();
                }
                #[test]
                fn write_during_refresh_wins() {
                    super::write_during_refresh_wins::<super::$m>();
                }
                #[test]
                fn refresh_of_a_deleted_key_drops_the_copy() {
                    super::refresh_of_a_deleted_key_drops_the_copy::<super::$m>();
                }
                #[test]
                fn early_refresh_comes_before_the_deadline() {
                    super::early_refresh_comes_before_the_deadline::<super::$m>();
                }
                #[test]
                fn no_early_refresh_without_a_load_time() {
                    super::no_early_refresh_without_a_load_time::<super::$m>();
                }
            }
        )*
    };
}

/// The async policies, over `Blocking` on a tokio runtime.
#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;
    use common::runtime::rt;
    use stratacache::future::{self, Blocking};

    type Async = Blocking<Arc<Db>>;

    policy!(
        AsyncAside,
        future::CacheAside<u32, u64, Async>,
        |c, db, o| future::CacheAside::with_options(c, Blocking::new(db), o),
        async
    );
    policy!(
        AsyncThrough,
        future::WriteThrough<u32, u64, Async>,
        |c, db, o| future::WriteThrough::with_options(c, Blocking::new(db), o),
        async
    );
    policy!(
        AsyncBehind,
        future::WriteBehind<u32, u64, Async>,
        |c, db, o| {
            let _in = rt().enter();
            future::WriteBehind::builder(c, Blocking::new(db))
                .options(o)
                .build()
                .unwrap()
        },
        async
    );

    scenarios!(
        async_aside: AsyncAside,
        async_through: AsyncThrough,
        async_behind: AsyncBehind
    );
}

scenarios!(
    sync_aside: SyncAside,
    sync_through: SyncThrough,
    sync_behind: SyncBehind
);

/// Without refresh options, a cache keeps no stamps and a policy never refreshes.
#[test]
fn no_refresh_by_default() {
    let (p, db, clock) = setup::<SyncAside>(PolicyOptions::new());
    assert_eq!(p.get(&1).unwrap(), Some(10));
    clock.advance(TTL - Duration::from_millis(1));
    assert_eq!(p.get(&1).unwrap(), Some(10));
    assert_eq!(
        (p.refresh_stats(), db.loads()),
        (RefreshStats::default(), 1)
    );
}
