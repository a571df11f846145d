//! The async policies (`stratacache::future`, feature `tokio`): the scenarios every cache-aside
//! and write-through policy passes (`tests/common/scenarios.rs`, shared with the sync policies),
//! run through a tokio runtime over `Blocking`, and what only async code can do wrong: block a
//! runtime thread, strand a waiter when a task is cancelled, or lose a write whose caller went
//! away.
#![cfg(feature = "tokio")]

mod common;

use common::gate::Gated;
use common::runtime::rt;
use common::scenarios::{Behind, Face, Policy, Recorder, WbConfig};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, ThreadId};
use std::time::Duration;
use stratacache::future::{AsyncStore, Blocking, CacheAside, WriteBehind, WriteThrough};
use stratacache::{
    BuildError, Cache, ErrorKind, MemoryStore, MemoryStoreError, PolicyError, PolicyOptions, Store,
    WriteBehindStats,
};

type Store_ = Blocking<Arc<Recorder>>;

impl Policy for CacheAside<u32, u64, Store_> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        rt().block_on(CacheAside::get(self, k))
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        rt().block_on(CacheAside::put(self, k, v))
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        rt().block_on(CacheAside::delete(self, k))
    }
    fn cache(&self) -> &Cache<u32, u64> {
        CacheAside::cache(self)
    }
}

impl Policy for WriteThrough<u32, u64, Store_> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        rt().block_on(WriteThrough::get(self, k))
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        rt().block_on(WriteThrough::put(self, k, v))
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        rt().block_on(WriteThrough::delete(self, k))
    }
    fn cache(&self) -> &Cache<u32, u64> {
        WriteThrough::cache(self)
    }
}

impl Policy for WriteBehind<u32, u64, Store_> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        rt().block_on(WriteBehind::get(self, k))
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        rt().block_on(WriteBehind::put(self, k, v))
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        rt().block_on(WriteBehind::delete(self, k))
    }
    fn cache(&self) -> &Cache<u32, u64> {
        WriteBehind::cache(self)
    }
}

impl Behind for WriteBehind<u32, u64, Store_> {
    fn flush(&self) -> Result<(), PolicyError> {
        rt().block_on(WriteBehind::flush(self))
    }
    fn close(&self) -> Result<(), PolicyError> {
        rt().block_on(WriteBehind::close(self))
    }
    fn stats(&self) -> WriteBehindStats {
        WriteBehind::stats(self)
    }
}

/// The async front end of the shared scenarios.
struct AsyncFace;

impl Face for AsyncFace {
    type Aside = CacheAside<u32, u64, Store_>;
    type Through = WriteThrough<u32, u64, Store_>;
    type Behind = WriteBehind<u32, u64, Store_>;
    fn cache_aside(store: Arc<Recorder>, options: PolicyOptions) -> Self::Aside {
        CacheAside::with_options(Cache::new(100), Blocking::new(store), options)
    }
    fn write_through(store: Arc<Recorder>, options: PolicyOptions) -> Self::Through {
        WriteThrough::with_options(Cache::new(100), Blocking::new(store), options)
    }
    fn write_behind(store: Arc<Recorder>, config: WbConfig) -> Result<Self::Behind, BuildError> {
        let _runtime = rt().enter(); // the flusher task is spawned there
        config
            .apply(WriteBehind::builder(config.cache(), Blocking::new(store)))
            .build()
    }
}

policy_scenarios!(AsyncFace);

/// The futures of the async policies are `Send`, so handlers can be spawned.
#[test]
fn policy_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let p = CacheAside::new(Cache::new(1), Blocking::new(MemoryStore::<u32, u64>::new()));
    send(&p.get(&1));
    send(&p.put(1, 1));
    send(&p.delete(&1));
}

/// A sync store wrapped in `Blocking` runs on tokio's blocking pool, never on the thread that
/// drives the runtime.
#[test]
fn blocking_keeps_a_sync_store_off_the_runtime_threads() {
    struct Where {
        inner: MemoryStore<u32, u64>,
        threads: parking_lot::Mutex<Vec<ThreadId>>,
    }
    impl Store<u32, u64> for Where {
        type Error = MemoryStoreError;
        fn load(&self, k: &u32) -> Result<Option<u64>, MemoryStoreError> {
            self.threads.lock().push(thread::current().id());
            self.inner.load(k)
        }
        fn write(&self, k: &u32, v: &u64) -> Result<(), MemoryStoreError> {
            self.threads.lock().push(thread::current().id());
            self.inner.write(k, v)
        }
        fn delete(&self, k: &u32) -> Result<(), MemoryStoreError> {
            self.threads.lock().push(thread::current().id());
            self.inner.delete(k)
        }
    }
    let store = Arc::new(Where {
        inner: MemoryStore::new(),
        threads: parking_lot::Mutex::default(),
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let policy = WriteThrough::new(Cache::new(10), Blocking::new(store.clone()));
    rt.block_on(async {
        policy.put(1, 1).await.unwrap();
        policy.cache().clear();
        assert_eq!(policy.get(&1).await.unwrap(), Some(1));
        policy.delete(&1).await.unwrap();
    });
    let runtime_thread = thread::current().id();
    let threads = store.threads.lock();
    assert_eq!(threads.len(), 3);
    assert!(threads.iter().all(|t| *t != runtime_thread));
}

/// A store whose calls never answer, and count how often they were made.
#[derive(Default)]
struct Hung {
    calls: AtomicUsize,
}

impl AsyncStore<u32, u64> for Hung {
    type Error = MemoryStoreError;
    async fn load(&self, _: &u32) -> Result<Option<u64>, MemoryStoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
    async fn write(&self, _: &u32, _: &u64) -> Result<(), MemoryStoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
    async fn delete(&self, _: &u32) -> Result<(), MemoryStoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

/// Timeouts run on the runtime's timer: a hung store costs no thread per call (on paused
/// time, the runtime is one thread and stays one).
#[tokio::test(start_paused = true)]
async fn timed_out_calls_on_a_hung_store_use_the_timer() {
    let options = PolicyOptions::new().timeout(Duration::from_millis(5));
    let store = Arc::new(Hung::default());
    let policy = CacheAside::with_options(Cache::new(1_000), store.clone(), options);
    for k in 0..200 {
        assert_eq!(policy.get(&k).await.unwrap_err().kind(), ErrorKind::Timeout);
    }
    assert_eq!(store.calls.load(Ordering::SeqCst), 200);
    let e = policy.put(1, 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
}

/// A cancelled `get` that was loading hands the load over: the next caller loads, nobody hangs.
#[tokio::test(start_paused = true)]
async fn a_cancelled_loading_get_hands_over() {
    let store = Arc::new(Gated::default());
    store.inner.write(&1, &10).unwrap();
    *store.hold_load.lock() = Some(1);
    store.load_gate.close();
    let policy = CacheAside::new(Cache::new(10), Blocking::new(store.clone()));
    let leader = {
        let p = policy.clone();
        tokio::spawn(async move { p.get(&1).await })
    };
    tokio::task::yield_now().await;
    let waiter = {
        let p = policy.clone();
        tokio::spawn(async move { p.get(&1).await })
    };
    tokio::task::yield_now().await;
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // The abandoned load's blocking call is still parked; the waiter loads anew.
    *store.hold_load.lock() = None;
    store.load_gate.open();
    assert_eq!(waiter.await.unwrap().unwrap(), Some(10));
}

/// A `put` whose caller went away still lands, in order, and drops the cached copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_put_still_lands_and_drops_the_copy() {
    let store = Arc::new(Gated::default());
    store.inner.write(&1, &1).unwrap();
    *store.hold_write.lock() = Some(2);
    store.write_gate.close();
    store.landed.close();
    let policy = CacheAside::new(Cache::new(10), Blocking::new(store.clone()));
    let put = {
        let p = policy.clone();
        tokio::spawn(async move { p.put(1, 2).await })
    };
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.write_gate.wait_for(1))
        .await
        .unwrap();
    put.abort();
    let _ = put.await;
    // The old value is loaded and cached while the write is in limbo.
    assert_eq!(policy.get(&1).await.unwrap(), Some(1));
    store.write_gate.open();
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.landed.pass())
        .await
        .unwrap();
    // Once it lands, the copy it replaced is dropped (by the task that ran it) ...
    let mut dropped = false;
    for _ in 0..10_000 {
        if policy.cache().peek(&1).is_none() {
            dropped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(dropped, "the cache kept the value the late write replaced");
    assert_eq!(policy.get(&1).await.unwrap(), Some(2));
    // ... and its key's lock is free.
    policy.put(1, 3).await.unwrap();
    assert_eq!(policy.get(&1).await.unwrap(), Some(3));
}

/// Outside a runtime the builder says so instead of panicking.
#[test]
fn write_behind_build_needs_a_runtime() {
    let b = WriteBehind::builder(
        Cache::new(10),
        Blocking::new(MemoryStore::<u32, u64>::new()),
    );
    let e = b.build().unwrap_err();
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

/// Dropping an async write-behind cannot wait: its flusher task finishes the writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_behind_drop_hands_the_writes_to_the_flusher_task() {
    let store = Arc::new(MemoryStore::<u32, u64>::new());
    let policy = WriteBehind::builder(Cache::new(10), Blocking::new(store.clone()))
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    for k in 0..100 {
        policy.put(k, u64::from(k)).await.unwrap();
    }
    drop(policy);
    let mut waited = 0;
    while store.len() < 100 && waited < 10_000 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        waited += 1;
    }
    assert_eq!(store.len(), 100);
}

/// A writer waiting for room on a full queue waits as a task: on a `current_thread` runtime the
/// flusher still runs and makes the room.
#[tokio::test]
async fn write_behind_full_queue_waits_without_blocking_the_runtime() {
    let store = Arc::new(MemoryStore::<u32, u64>::new().with_latency(Duration::from_millis(1)));
    let policy = WriteBehind::builder(Cache::new(10), Blocking::new(store.clone()))
        .queue_capacity(2)
        .flush_interval(Duration::ZERO)
        .build()
        .unwrap();
    for k in 0..50 {
        policy.put(k, u64::from(k)).await.unwrap();
    }
    policy.shutdown().await.unwrap();
    assert_eq!(store.len(), 50);
}
