//! The write policies over stores that are slow, failing, panicking or gated. The cache-aside and
//! write-through scenarios are shared with the async policies (`tests/common/scenarios.rs`).

mod common;

use common::scenarios::{Face, Policy, Recorder};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;
use stratacache::{
    Cache, CacheAside, ErrorKind, MemoryStore, PolicyError, PolicyOptions, Store, WhenFull,
    WriteBehind, WriteOp, WriteThrough,
};

/// The sync front end of the shared scenarios.
struct SyncFace;

impl Policy for CacheAside<u32, u64, Arc<Recorder>> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        CacheAside::get(self, k)
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        CacheAside::put(self, k, v)
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        CacheAside::delete(self, k)
    }
    fn cache(&self) -> &Cache<u32, u64> {
        CacheAside::cache(self)
    }
}

impl Policy for WriteThrough<u32, u64, Arc<Recorder>> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        WriteThrough::get(self, k)
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        WriteThrough::put(self, k, v)
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        WriteThrough::delete(self, k)
    }
    fn cache(&self) -> &Cache<u32, u64> {
        WriteThrough::cache(self)
    }
}

impl Face for SyncFace {
    type Aside = CacheAside<u32, u64, Arc<Recorder>>;
    type Through = WriteThrough<u32, u64, Arc<Recorder>>;
    fn cache_aside(store: Arc<Recorder>, options: PolicyOptions) -> Self::Aside {
        CacheAside::with_options(Cache::new(100), store, options)
    }
    fn write_through(store: Arc<Recorder>, options: PolicyOptions) -> Self::Through {
        WriteThrough::with_options(Cache::new(100), store, options)
    }
}

policy_scenarios!(SyncFace);

fn write_behind(store: Arc<Recorder>, capacity: u64) -> WriteBehind<u32, u64, Arc<Recorder>> {
    WriteBehind::builder(
        Cache::builder()
            .max_capacity(capacity)
            .shards(1)
            .build()
            .unwrap(),
        store,
    )
    .flush_interval(Duration::from_millis(5))
    .retry_backoff(Duration::from_micros(100))
    .build()
    .unwrap()
}

#[test]
fn write_behind_reads_its_writes_after_eviction() {
    let store = Arc::new(Recorder::default());
    store.gate(true); // nothing reaches the store yet
    let policy = write_behind(store.clone(), 2);
    for k in 0..50 {
        policy.put(k, u64::from(k) + 1000).unwrap();
    }
    policy.delete(&3).unwrap();
    assert!(policy.cache().len() <= 2);
    for k in 0..50 {
        let want = (k != 3).then_some(u64::from(k) + 1000);
        assert_eq!(policy.get(&k).unwrap(), want, "key {k}");
    }
    assert_eq!(policy.stats().pending, 50);
    store.gate(false);
    policy.flush().unwrap();
    assert_eq!(policy.stats().pending, 0);
    assert_eq!(store.inner.len(), 49);
}

#[test]
fn write_behind_keeps_per_key_order() {
    let store = Arc::new(Recorder::default());
    let policy = Arc::new(write_behind(store.clone(), 1000));
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let p = policy.clone();
            thread::spawn(move || {
                for i in 0..2000u64 {
                    p.put(t, i).unwrap();
                    if i % 500 == 0 {
                        p.flush().unwrap();
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    policy.flush().unwrap();
    let mut last: HashMap<u32, u64> = HashMap::new();
    for op in store.log.lock().iter() {
        let WriteOp::Put(k, v) = op else {
            panic!("no deletes were made")
        };
        let prev = last.insert(*k, *v);
        assert!(prev.is_none_or(|p| p < *v), "key {k}: {v} after {prev:?}");
    }
    for t in 0..4 {
        assert_eq!(last.get(&t), Some(&1999));
        assert_eq!(store.inner.peek(&t), Some(1999));
    }
}

#[test]
fn write_behind_drop_flushes() {
    let store = Arc::new(MemoryStore::<u32, u64>::new());
    let policy = WriteBehind::builder(Cache::new(10), store.clone())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    for k in 0..100 {
        policy.put(k, u64::from(k)).unwrap();
    }
    drop(policy);
    assert_eq!(store.len(), 100);
    assert_eq!(store.peek(&99), Some(99));
}

#[test]
fn write_behind_full_queue_errors_and_leaves_the_cache_unchanged() {
    let store = Arc::new(Recorder::default());
    store.gate(true);
    let policy = WriteBehind::builder(Cache::new(10), store.clone())
        .queue_capacity(2)
        .when_full(WhenFull::Error)
        .flush_interval(Duration::ZERO)
        .build()
        .unwrap();
    policy.put(1, 1).unwrap();
    policy.put(2, 2).unwrap();
    policy.put(2, 22).unwrap(); // a pending key takes no more room
    let e = policy.put(3, 3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    assert!(!policy.cache().contains_key(&3));
    store.gate(false);
    policy.flush().unwrap();
    policy.put(3, 3).unwrap();
    policy.shutdown().unwrap();
    let snap = store.inner.snapshot();
    assert_eq!(snap, HashMap::from([(1, 1), (2, 22), (3, 3)]));
}

#[test]
fn write_behind_full_queue_blocks_until_there_is_room() {
    let store = Arc::new(Recorder::default());
    store.gate(true);
    let policy = Arc::new(
        WriteBehind::builder(Cache::new(10), store.clone())
            .queue_capacity(1)
            .flush_interval(Duration::ZERO)
            .build()
            .unwrap(),
    );
    policy.put(1, 1).unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let blocked = {
        let (p, done) = (policy.clone(), done.clone());
        thread::spawn(move || {
            p.put(2, 2).unwrap();
            done.store(1, Ordering::SeqCst);
        })
    };
    thread::sleep(Duration::from_millis(50));
    assert_eq!(
        done.load(Ordering::SeqCst),
        0,
        "the put waits while the queue is full"
    );
    store.gate(false);
    blocked.join().unwrap();
    policy.flush().unwrap();
    assert_eq!(store.inner.snapshot(), HashMap::from([(1, 1), (2, 2)]));
}

#[test]
fn write_behind_reports_writes_that_fail_for_good() {
    let store = Arc::new(Recorder::default());
    store.inner.write(&1, &1).unwrap();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    let policy = WriteBehind::builder(Cache::new(10), store.clone())
        .max_retries(2)
        .retry_backoff(Duration::from_micros(10))
        .flush_interval(Duration::ZERO)
        .on_write_error(move |op, e| sink.lock().push((op.clone(), e.kind())))
        .build()
        .unwrap();
    store.inner.set_down(true);
    policy.put(1, 2).unwrap();
    let e = policy.flush().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WriteFailed);
    assert_eq!(*reported.lock(), [(WriteOp::Put(1, 2), ErrorKind::Store)]);
    let s = policy.stats();
    assert_eq!((s.failed, s.retried, s.pending, s.written), (1, 2, 0, 0));
    // The cache no longer serves what the store does not hold.
    assert!(!policy.cache().contains_key(&1));
    store.inner.set_down(false);
    assert_eq!(policy.get(&1).unwrap(), Some(1));
}

#[test]
fn write_behind_survives_a_panicking_store() {
    let store = Arc::new(Recorder::default());
    store.panics.store(2, Ordering::SeqCst);
    let policy = write_behind(store.clone(), 10);
    policy.put(1, 1).unwrap();
    policy.flush().unwrap();
    assert_eq!(store.inner.peek(&1), Some(1));
    assert_eq!(policy.stats().retried, 2);
}

#[test]
fn builders_reject_bad_settings() {
    let b = WriteBehind::builder(Cache::new(10), MemoryStore::<u32, u64>::new());
    assert!(
        b.batch_size(0)
            .build()
            .unwrap_err()
            .to_string()
            .contains("batch_size")
    );
    let b = WriteBehind::builder(Cache::new(10), MemoryStore::<u32, u64>::new());
    assert!(
        b.queue_capacity(0)
            .build()
            .unwrap_err()
            .to_string()
            .contains("queue_capacity")
    );
}

mod failing_store_model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Put(u32, u64),
        Delete(u32),
        Get(u32),
        Flush,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u32..16, any::<u64>()).prop_map(|(k, v)| Op::Put(k, v)),
            2 => (0u32..16).prop_map(Op::Delete),
            3 => (0u32..16).prop_map(Op::Get),
            1 => Just(Op::Flush),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// A store failing a third of its calls loses nothing: after `flush` it holds the last
        /// write of every key, and every read saw the latest write.
        #[test]
        fn write_behind_loses_nothing(seed in any::<u64>(), ops in prop::collection::vec(op(), 1..120)) {
            let store = Arc::new(MemoryStore::<u32, u64>::new());
            store.fail_one_in(3, seed);
            let policy = WriteBehind::builder(
                Cache::builder().max_capacity(4).shards(1).build().unwrap(),
                store.clone(),
            )
            .batch_size(4)
            .flush_interval(Duration::ZERO)
            .max_retries(60)
            .retry_backoff(Duration::from_micros(1))
            .build()
            .unwrap();
            let mut model: HashMap<u32, u64> = HashMap::new();
            for op in &ops {
                match *op {
                    Op::Put(k, v) => { policy.put(k, v).unwrap(); model.insert(k, v); }
                    Op::Delete(k) => { policy.delete(&k).unwrap(); model.remove(&k); }
                    Op::Get(k) => {
                        // A read that has to go to the failing store may fail; it must never
                        // return anything but the latest write.
                        if let Ok(v) = policy.get(&k) {
                            prop_assert_eq!(v, model.get(&k).copied(), "read of {}", k);
                        }
                    }
                    Op::Flush => policy.flush().unwrap(),
                }
            }
            policy.flush().unwrap();
            prop_assert_eq!(policy.stats().failed, 0);
            prop_assert_eq!(store.snapshot(), model);
        }
    }
}

#[test]
fn writers_blocked_on_a_full_queue_do_not_stall_the_report_of_failed_writes() {
    // A queue of one over a store that is down, with no retries: each accepted write fails for
    // good, and reporting it is what makes room. Writers waiting for room must not hold the
    // per-key lock the flusher takes to report (with 16 writers waiting, some share its stripe).
    let store = Arc::new(MemoryStore::<u32, u64>::new());
    store.set_down(true);
    let policy = Arc::new(
        WriteBehind::builder(Cache::new(10_000), store.clone())
            .queue_capacity(1)
            .max_retries(0)
            .flush_interval(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let handles: Vec<_> = (0..16u32)
        .map(|t| {
            let p = policy.clone();
            thread::spawn(move || {
                for i in 0..32u32 {
                    p.put(t * 1_000 + i, u64::from(i)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Waits for the last report; whether it saw failures depends on when they came.
    let _ = policy.flush();
    let s = policy.stats();
    assert_eq!((s.failed, s.written, s.pending), (16 * 32, 0, 0));
    assert!(
        policy.cache().is_empty(),
        "the cache serves writes the store never took"
    );
}
