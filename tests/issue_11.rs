//! Regression tests for issue 11 ("eight broken promises"), one per violation that needs no
//! Redis server (the Redis ones, 4 and 6, are in `tests/redis.rs`; the thread bound, 8, is in
//! `tests/store_threads.rs`, alone in its process so that its thread count is its own). Each
//! failed on the code before the fix.
//!
//! The races are made deterministic with gates: a store call or a key's `Hash` parks at a gate
//! until the test opens it, and the test waits until the call has arrived there.

mod common;

use common::gate::{Gate, Gated};
use std::cell::Cell;
use std::hash::{Hash, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{
    Cache, CacheAside, ErrorKind, Layered, MemoryStore, MemoryStoreError, PolicyOptions, Store,
    WriteBehind, WriteThrough,
};

/// Polls until `cond` holds, for at most ten seconds (a bound on a wait, not a timing claim).
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(1));
    }
    cond()
}

// ---- 1. write-behind: a load racing a put must not refill the cache with the old value ----

thread_local! {
    /// Armed on the reader thread: its `PAUSE_AT`-th hash of a `Paused` key parks at `HASH_GATE`.
    static HASHES: Cell<Option<usize>> = const { Cell::new(None) };
}
const PAUSE_AT: usize = 2;
static HASH_GATE: Gate = Gate::new();

/// A key whose `Hash` (user code, which may be slow) can pause a reader mid-`get`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Paused(u32);

impl Hash for Paused {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if let Some(n) = HASHES.get() {
            HASHES.set(Some(n + 1));
            if n + 1 == PAUSE_AT {
                HASH_GATE.pass();
            }
        }
        self.0.hash(h);
    }
}

/// The reader parks in its second hash of the key, the negative-cache check (the first is the
/// cache's; an empty pending map hashes nothing): before the fix that was after it had asked the
/// pending writes and before it registered its load, after the fix it is before both. A write
/// lands meanwhile; once it has returned, every `get` must return what it wrote (`want`), before
/// and after `flush`, and the store must hold it after `flush`.
fn write_racing_a_reader(
    want: Option<u64>,
    write: impl FnOnce(&WriteBehind<Paused, u64, MemoryStore<Paused, u64>>) + Send + 'static,
) {
    let store = MemoryStore::new();
    store.write(&Paused(1), &1).unwrap();
    let options = PolicyOptions::new().negative_ttl(Duration::from_secs(60));
    let policy = Arc::new(
        WriteBehind::builder(Cache::new(100), store)
            .flush_interval(Duration::from_secs(3600))
            .options(options)
            .build()
            .unwrap(),
    );
    HASH_GATE.close();
    let reader = {
        let p = policy.clone();
        thread::spawn(move || {
            HASHES.set(Some(0));
            let r = p.get(&Paused(1));
            HASHES.set(None);
            r.unwrap()
        })
    };
    HASH_GATE.wait_for(1);
    write(&policy); // the reader holds no lock while it hashes
    HASH_GATE.open();
    let _ = reader.join().unwrap(); // began before the write returned: either answer is right
    assert_eq!(
        policy.get(&Paused(1)).unwrap(),
        want,
        "read after the write returned"
    );
    policy.flush().unwrap();
    assert_eq!(policy.get(&Paused(1)).unwrap(), want, "read after flush");
    assert_eq!(policy.store().peek(&Paused(1)), want, "store after flush");
}

#[test]
fn write_behind_load_racing_a_write_does_not_refill_the_old_value() {
    // One test, so that the two runs do not share the hash gate at once.
    write_racing_a_reader(Some(2), |p| p.put(Paused(1), 2).unwrap());
    write_racing_a_reader(None, |p| p.delete(&Paused(1)).unwrap());
}

/// The same race without hooks: readers that drop the cached copy and read again, beside
/// writers that check they read their own writes. Bounded: a fixed number of rounds.
#[test]
fn write_behind_read_your_writes_under_concurrent_readers() {
    let policy = Arc::new(
        WriteBehind::builder(Cache::new(1_000), MemoryStore::<u32, u64>::new())
            .flush_interval(Duration::from_micros(200))
            .build()
            .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..4)
        .map(|t| {
            let (p, stop) = (policy.clone(), stop.clone());
            thread::spawn(move || {
                let mut k = t;
                while !stop.load(Ordering::Relaxed) {
                    k = (k + 1) % 4;
                    p.cache().remove(&k);
                    let _ = p.get(&k).unwrap();
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..4u32)
        .map(|k| {
            let p = policy.clone();
            thread::spawn(move || {
                for v in 1..=3_000u64 {
                    p.put(k, v).unwrap();
                    let got = p.get(&k).unwrap();
                    assert_eq!(
                        got,
                        Some(v),
                        "put({v}) of key {k} returned, then get gave {got:?}"
                    );
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    policy.flush().unwrap();
    for k in 0..4 {
        assert_eq!(policy.get(&k).unwrap(), Some(3_000));
        assert_eq!(policy.store().peek(&k), Some(3_000));
    }
}

// ---- 2. write-through with a timeout: an abandoned write must not land after a newer one ----

#[test]
fn write_through_timed_out_write_cannot_overtake_the_next_write() {
    let store = Arc::new(Gated::default());
    *store.hold_write.lock() = Some(100);
    store.write_gate.close();
    store.landed.close();
    let options = PolicyOptions::new().timeout(Duration::from_millis(100));
    let policy = WriteThrough::with_options(Cache::new(10), store.clone(), options);
    assert_eq!(policy.put(1, 100).unwrap_err().kind(), ErrorKind::Timeout);
    store.write_gate.wait_for(1); // the write of 100 is still with the store
    // The next write must wait for the abandoned one (up to its own timeout), not go first:
    // the late 100 would then land over it.
    let next = policy.put(1, 200);
    store.write_gate.open();
    store.landed.pass(); // the held write has reached the store
    match &next {
        Ok(()) => assert_eq!(
            store.inner.peek(&1),
            Some(200),
            "an older write landed last"
        ),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout),
    }
    assert!(
        next.is_err(),
        "put(200) went ahead of the write still running"
    );
    // Once the store has settled, the cache holds nothing the store does not.
    assert!(eventually(|| policy
        .cache()
        .peek(&1)
        .is_none_or(|v| Some(v) == store.inner.peek(&1))));
    assert_eq!(policy.get(&1).unwrap(), store.inner.peek(&1));
}

#[test]
fn write_through_next_write_waits_for_the_abandoned_one_then_wins() {
    let store = Arc::new(Gated::default());
    *store.hold_write.lock() = Some(100);
    store.write_gate.close();
    let options = PolicyOptions::new().timeout(Duration::from_millis(50));
    let policy = Arc::new(WriteThrough::with_options(
        Cache::new(10),
        store.clone(),
        options,
    ));
    assert_eq!(policy.put(1, 100).unwrap_err().kind(), ErrorKind::Timeout);
    store.write_gate.wait_for(1);
    store.write_gate.open();
    // Once the late write has landed and released the key, the next write goes through and
    // both tiers end with it.
    assert!(eventually(|| policy.put(1, 200).is_ok()));
    assert_eq!(store.inner.peek(&1), Some(200));
    assert_eq!(policy.get(&1).unwrap(), Some(200));
}

// ---- 3. cache-aside with a timeout: a late write must drop the copy loaded before it ----

#[test]
fn cache_aside_late_write_drops_the_copy_loaded_meanwhile() {
    let store = Arc::new(Gated::default());
    store.inner.write(&1, &1).unwrap();
    *store.hold_write.lock() = Some(2);
    store.write_gate.close();
    store.landed.close();
    let options = PolicyOptions::new().timeout(Duration::from_millis(100));
    let policy = CacheAside::with_options(Cache::new(10), store.clone(), options);
    assert_eq!(policy.put(1, 2).unwrap_err().kind(), ErrorKind::Timeout);
    store.write_gate.wait_for(1);
    // The write is in limbo: a reader loads the old value and caches it.
    assert_eq!(policy.get(&1).unwrap(), Some(1));
    store.write_gate.open();
    store.landed.pass(); // the late write of 2 is in the store
    assert_eq!(store.inner.peek(&1), Some(2));
    assert!(
        eventually(|| policy.get(&1).unwrap() == Some(2)),
        "the cache kept serving 1 after the store took 2"
    );
}

// ---- 5. Layered with a MemoryStore front: a fill must not overwrite a newer write or delete ----

/// What the front holds after a fill raced `write` (see `common::gate::fill_racing`).
fn fill_racing(write: impl FnOnce(&Layered<MemoryStore<u32, u64>, Arc<Gated>>)) -> Option<u64> {
    common::gate::fill_racing(MemoryStore::new(), write)
        .front()
        .peek(&1)
}

#[test]
fn layered_fill_does_not_overwrite_a_newer_write() {
    let front = fill_racing(|t| t.write(&1, &2).unwrap());
    assert_eq!(front, Some(2), "the stale fill overwrote the newer write");
}

#[test]
fn layered_fill_does_not_resurrect_a_deleted_value() {
    let front = fill_racing(|t| t.delete(&1).unwrap());
    assert_eq!(front, None, "the stale fill resurrected the deleted value");
}

#[test]
fn layered_fill_without_a_race_fills_the_front() {
    let back = MemoryStore::new();
    back.write(&1, &1u64).unwrap();
    let tiers = Layered::new(MemoryStore::new(), back);
    assert_eq!(tiers.load(&1u32).unwrap(), Some(1));
    assert_eq!(tiers.front().peek(&1), Some(1));
    // A store that hands out no leases (the trait's default) is never filled.
    struct NoLeases(MemoryStore<u32, u64>);
    impl Store<u32, u64> for NoLeases {
        type Error = MemoryStoreError;
        fn load(&self, k: &u32) -> Result<Option<u64>, MemoryStoreError> {
            self.0.load(k)
        }
        fn write(&self, k: &u32, v: &u64) -> Result<(), MemoryStoreError> {
            self.0.write(k, v)
        }
        fn delete(&self, k: &u32) -> Result<(), MemoryStoreError> {
            self.0.delete(k)
        }
    }
    let tiers = Layered::new(NoLeases(MemoryStore::new()), tiers);
    assert_eq!(tiers.load(&1).unwrap(), Some(1));
    assert_eq!(tiers.front().0.peek(&1), None);
}

// ---- 7. get_or_insert_with: a panicking V::clone in the leader must not strand its waiters ----

/// The `n`-th clone from now panics (0: none).
static CLONE_BOMB: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, PartialEq)]
struct Fragile(u32);

impl Clone for Fragile {
    fn clone(&self) -> Fragile {
        let was = CLONE_BOMB
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .unwrap_or(0);
        if was == 1 {
            panic!("V::clone panicked on purpose");
        }
        Fragile(self.0)
    }
}

#[test]
fn panicking_clone_in_the_leader_does_not_strand_waiters() {
    // The leader clones its value twice: once to store it, once for its waiters. The second
    // panics. The waiter must not wait forever; it gets the stored value. Repeated until the
    // waiter was in fact waiting when the leader handed off (it is given 50 ms to get there).
    for _ in 0..20 {
        let cache = Arc::new(Cache::<u32, Fragile>::new(10));
        let init_gate = Arc::new(Gate::default());
        init_gate.close();
        let leader = {
            let (c, g) = (cache.clone(), init_gate.clone());
            thread::spawn(move || {
                panic::catch_unwind(AssertUnwindSafe(|| {
                    c.get_or_insert_with(1, || {
                        g.pass();
                        Fragile(7)
                    })
                }))
            })
        };
        init_gate.wait_for(1);
        let waiter = {
            let c = cache.clone();
            thread::spawn(move || c.get_or_insert_with(1, || Fragile(8)))
        };
        thread::sleep(Duration::from_millis(50));
        CLONE_BOMB.store(2, Ordering::SeqCst);
        init_gate.open();
        let led = leader.join().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(waiter.join());
        });
        let got = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the waiter is stranded")
            .expect("the waiter panicked");
        CLONE_BOMB.store(0, Ordering::SeqCst);
        assert_eq!(got, Fragile(7));
        assert_eq!(cache.get(&1), Some(Fragile(7)));
        cache.validate();
        if led.is_err() {
            return; // the hand-off clone panicked with a waiter waiting: the case under test
        }
    }
    panic!("the waiter never reached its wait before the leader's hand-off");
}

// ---- no user-code panic strands a waiter: a `Hash` that panics while the leader unregisters ----

thread_local! {
    /// Counts this thread's hashes of `Flaky` keys; the one numbered `FLAKY_AT` panics.
    static FLAKY_HASHES: Cell<Option<usize>> = const { Cell::new(None) };
}
/// The leader's hashes of its key: the cache's lookup, the load's registration, the store's
/// map, the fill's insert into the cache, then its unregistration: that one panics.
const FLAKY_AT: usize = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Flaky(u32);

impl Hash for Flaky {
    fn hash<H: Hasher>(&self, h: &mut H) {
        if let Some(n) = FLAKY_HASHES.get() {
            FLAKY_HASHES.set(Some(n + 1));
            if n + 1 == FLAKY_AT {
                panic!("Hash panicked on purpose");
            }
        }
        self.0.hash(h);
    }
}

#[test]
fn a_load_left_registered_by_a_panicking_hash_is_not_served_again() {
    let store = MemoryStore::new();
    store.write(&Flaky(1), &1u64).unwrap();
    let policy = CacheAside::new(Cache::new(10), store);
    FLAKY_HASHES.set(Some(0));
    let r = panic::catch_unwind(AssertUnwindSafe(|| policy.get(&Flaky(1))));
    FLAKY_HASHES.set(None);
    assert!(r.is_err(), "the hash bomb did not go off");
    // The store changes; the cached copy is dropped; the next read must load again, not be
    // handed the result of the load that could not unregister itself.
    policy.store().write(&Flaky(1), &2).unwrap();
    policy.cache().remove(&Flaky(1));
    assert_eq!(policy.get(&Flaky(1)).unwrap(), Some(2));
}
