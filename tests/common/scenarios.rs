//! The guarantees every policy keeps, as scenarios over a [`Face`]: the sync policies run them in
//! `tests/policies.rs`, the async ones (on a tokio runtime, over `Blocking`) in
//! `tests/async_policies.rs`. One text, two front ends.

use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use stratacache::{
    BuildError, Cache, ErrorKind, MemoryStore, MemoryStoreError, PolicyError, PolicyOptions, Store,
    WhenFull, WriteBehindBuilder, WriteBehindStats, WriteOp,
};

/// A store that records every write in order, and can be gated (calls wait) or made to panic.
#[derive(Default)]
pub struct Recorder {
    pub inner: MemoryStore<u32, u64>,
    pub log: Mutex<Vec<WriteOp<u32, u64>>>,
    closed: Mutex<bool>,
    opened: Condvar,
    pub panics: AtomicUsize,
}

impl Recorder {
    /// Closes (calls wait) or opens the gate.
    pub fn gate(&self, closed: bool) {
        *self.closed.lock() = closed;
        self.opened.notify_all();
    }
    fn pass(&self) {
        let mut c = self.closed.lock();
        while *c {
            self.opened.wait(&mut c);
        }
        drop(c);
        if self.panics.load(Ordering::SeqCst) > 0 {
            self.panics.fetch_sub(1, Ordering::SeqCst);
            panic!("store panicked on purpose");
        }
    }
}

impl Store<u32, u64> for Recorder {
    type Error = MemoryStoreError;
    fn load(&self, key: &u32) -> Result<Option<u64>, MemoryStoreError> {
        self.pass();
        self.inner.load(key)
    }
    fn write(&self, key: &u32, value: &u64) -> Result<(), MemoryStoreError> {
        self.write_batch(&[WriteOp::Put(*key, *value)])
    }
    fn delete(&self, key: &u32) -> Result<(), MemoryStoreError> {
        self.write_batch(&[WriteOp::Delete(*key)])
    }
    fn write_batch(&self, ops: &[WriteOp<u32, u64>]) -> Result<(), MemoryStoreError> {
        self.pass();
        self.inner.write_batch(ops)?;
        self.log.lock().extend_from_slice(ops);
        Ok(())
    }
}

/// A policy as the scenarios see it: sync calls (the async face blocks on a runtime).
pub trait Policy: Send + Sync + 'static {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError>;
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError>;
    fn delete(&self, k: &u32) -> Result<(), PolicyError>;
    fn cache(&self) -> &Cache<u32, u64>;
}

/// A write-behind policy as the scenarios see it.
pub trait Behind: Policy {
    fn flush(&self) -> Result<(), PolicyError>;
    fn close(&self) -> Result<(), PolicyError>;
    fn stats(&self) -> WriteBehindStats;
}

/// A write-behind error callback, shareable.
pub type OnError = Arc<dyn Fn(&WriteOp<u32, u64>, &PolicyError) + Send + Sync>;

/// The knobs a scenario sets on a write-behind builder (either front end's).
#[derive(Clone)]
pub struct WbConfig {
    pub cache: u64,
    pub batch_size: usize,
    pub flush_interval: Duration,
    pub queue_capacity: usize,
    pub max_retries: u32,
    pub retry_backoff: Duration,
    pub when_full: WhenFull,
    pub on_error: Option<OnError>,
}

impl Default for WbConfig {
    fn default() -> Self {
        WbConfig {
            cache: 1_000,
            batch_size: stratacache::DEFAULT_BATCH_SIZE,
            flush_interval: Duration::from_millis(5),
            queue_capacity: stratacache::DEFAULT_QUEUE_CAPACITY,
            max_retries: stratacache::DEFAULT_MAX_RETRIES,
            retry_backoff: Duration::from_micros(100),
            when_full: WhenFull::Block,
            on_error: None,
        }
    }
}

impl WbConfig {
    /// The cache, one exact LRU of `self.cache`.
    pub fn cache(&self) -> Cache<u32, u64> {
        Cache::builder()
            .max_capacity(self.cache)
            .shards(1)
            .build()
            .unwrap()
    }

    /// Sets the knobs on a builder of either front end.
    pub fn apply<S, D>(
        &self,
        b: WriteBehindBuilder<u32, u64, S, D>,
    ) -> WriteBehindBuilder<u32, u64, S, D> {
        let b = b
            .batch_size(self.batch_size)
            .flush_interval(self.flush_interval)
            .queue_capacity(self.queue_capacity)
            .max_retries(self.max_retries)
            .retry_backoff(self.retry_backoff)
            .when_full(self.when_full);
        match self.on_error.clone() {
            Some(f) => b.on_write_error(move |op, e| f(op, e)),
            None => b,
        }
    }
}

/// One front end: how it makes its policies over a shared `Recorder`.
pub trait Face {
    type Aside: Policy;
    type Through: Policy;
    type Behind: Behind;
    fn cache_aside(store: Arc<Recorder>, options: PolicyOptions) -> Self::Aside;
    fn write_through(store: Arc<Recorder>, options: PolicyOptions) -> Self::Through;
    fn write_behind(store: Arc<Recorder>, config: WbConfig) -> Result<Self::Behind, BuildError>;
}

fn store_with_latency(ms: u64) -> Arc<Recorder> {
    let r = Recorder::default();
    r.inner.set_latency(Duration::from_millis(ms));
    Arc::new(r)
}

/// Calls `f` on `n` threads at once, and collects what they return.
fn at_once<P: Policy, R: Send + 'static>(
    policy: &Arc<P>,
    n: usize,
    f: impl Fn(&P) -> R + Send + Sync + 'static,
) -> Vec<R> {
    let barrier = Arc::new(Barrier::new(n));
    let f = Arc::new(f);
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (p, b, f) = (policy.clone(), barrier.clone(), f.clone());
            thread::spawn(move || {
                b.wait();
                f(&p)
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

pub fn sixteen_concurrent_misses_one_load<F: Face>() {
    let store = store_with_latency(50);
    store.inner.write(&1, &100).unwrap();
    let policy = Arc::new(F::cache_aside(store.clone(), PolicyOptions::new()));
    for got in at_once(&policy, 16, |p| p.get(&1).unwrap()) {
        assert_eq!(got, Some(100));
    }
    assert_eq!(store.inner.loads(), 1);
}

pub fn concurrent_misses_on_a_failing_store_share_one_load_and_its_error<F: Face>() {
    let store = store_with_latency(50);
    store.inner.set_down(true);
    let policy = Arc::new(F::write_through(store.clone(), PolicyOptions::new()));
    for kind in at_once(&policy, 8, |p| p.get(&1).unwrap_err().kind()) {
        assert_eq!(kind, ErrorKind::Store);
    }
    assert_eq!(store.inner.loads(), 1);
    assert!(policy.cache().is_empty(), "an error is not cached");
}

pub fn put_then_get_never_returns_the_old_value<F: Face>() {
    // Readers keep loads in flight while the writer updates: a load that read the old value
    // must not put it back into the cache after the write.
    let store = store_with_latency(1);
    store.inner.write(&7, &0).unwrap();
    let policy = Arc::new(F::cache_aside(store, PolicyOptions::new()));
    let stop = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (p, stop) = (policy.clone(), stop.clone());
            thread::spawn(move || {
                while stop.load(Ordering::Relaxed) == 0 {
                    p.get(&7).unwrap();
                }
            })
        })
        .collect();
    for i in 1..=100u64 {
        policy.put(7, i).unwrap();
        assert_eq!(policy.get(&7).unwrap(), Some(i), "stale read after put {i}");
    }
    stop.store(1, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}

pub fn write_through_store_error_leaves_the_cache_unchanged<F: Face>() {
    let store = Arc::new(Recorder::default());
    let policy = F::write_through(store.clone(), PolicyOptions::new());
    policy.put(1, 1).unwrap();
    assert_eq!(policy.cache().get(&1), Some(1));
    store.inner.fail_next(1);
    let e = policy.put(1, 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Store);
    assert!(e.to_string().contains("injected failure"), "{e}");
    assert_eq!(policy.cache().get(&1), Some(1));
    assert_eq!(store.inner.peek(&1), Some(1));
    store.inner.fail_next(1);
    assert!(policy.delete(&1).is_err());
    assert_eq!(policy.cache().get(&1), Some(1));
    policy.delete(&1).unwrap();
    assert_eq!(policy.get(&1).unwrap(), None);
}

pub fn panicking_store_becomes_an_error<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.panics.store(1, Ordering::SeqCst);
    let policy = F::cache_aside(store.clone(), PolicyOptions::new());
    let e = policy.get(&1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Panicked);
    assert!(e.to_string().contains("on purpose"), "{e}");
    assert_eq!(policy.get(&1).unwrap(), None, "the key is not left locked");
    store.panics.store(1, Ordering::SeqCst);
    assert_eq!(policy.put(1, 1).unwrap_err().kind(), ErrorKind::Panicked);
    policy.put(1, 2).unwrap();
    assert_eq!(
        policy.get(&1).unwrap(),
        Some(2),
        "the key is not left locked"
    );
}

pub fn hanging_store_times_out<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.gate(true);
    let options = PolicyOptions::new().timeout(Duration::from_millis(20));
    let policy = F::write_through(store.clone(), options);
    assert_eq!(policy.get(&1).unwrap_err().kind(), ErrorKind::Timeout);
    assert_eq!(policy.put(1, 1).unwrap_err().kind(), ErrorKind::Timeout);
    assert!(policy.cache().is_empty());
    store.gate(false);
}

pub fn negative_caching_remembers_absent_keys_until_a_put<F: Face>() {
    let options = PolicyOptions::new().negative_ttl(Duration::from_secs(60));
    let store = Arc::new(Recorder::default());
    let policy = F::cache_aside(store.clone(), options);
    for _ in 0..5 {
        assert_eq!(policy.get(&1).unwrap(), None);
    }
    assert_eq!(store.inner.loads(), 1);
    policy.put(1, 11).unwrap();
    assert_eq!(policy.get(&1).unwrap(), Some(11));
    // Off by default.
    let store = Arc::new(Recorder::default());
    let plain = F::cache_aside(store.clone(), PolicyOptions::new());
    plain.get(&1).unwrap();
    plain.get(&1).unwrap();
    assert_eq!(store.inner.loads(), 2);
}

pub fn write_behind_reads_its_writes_after_eviction<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.gate(true); // nothing reaches the store yet
    let config = WbConfig {
        cache: 2,
        ..WbConfig::default()
    };
    let policy = F::write_behind(store.clone(), config).unwrap();
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

pub fn write_behind_keeps_per_key_order<F: Face>() {
    let store = Arc::new(Recorder::default());
    let policy = Arc::new(F::write_behind(store.clone(), WbConfig::default()).unwrap());
    let handles: Vec<_> = (0..4u32)
        .map(|t| {
            let p = policy.clone();
            thread::spawn(move || {
                for i in 0..1000u64 {
                    p.put(t, i).unwrap();
                    if i % 250 == 0 {
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
        assert_eq!(last.get(&t), Some(&999));
        assert_eq!(store.inner.peek(&t), Some(999));
    }
}

pub fn write_behind_close_flushes_and_refuses_writes<F: Face>() {
    let store = Arc::new(Recorder::default());
    let config = WbConfig {
        flush_interval: Duration::from_secs(3600),
        ..WbConfig::default()
    };
    let policy = F::write_behind(store.clone(), config).unwrap();
    for k in 0..100 {
        policy.put(k, u64::from(k)).unwrap();
    }
    policy.close().unwrap();
    assert_eq!(store.inner.len(), 100);
    assert_eq!(store.inner.peek(&99), Some(99));
    assert_eq!(policy.put(1, 1).unwrap_err().kind(), ErrorKind::Closed);
    assert_eq!(policy.get(&5).unwrap(), Some(5), "reads still work");
    policy.close().unwrap();
}

pub fn write_behind_full_queue_errors_and_leaves_the_cache_unchanged<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.gate(true);
    let config = WbConfig {
        queue_capacity: 2,
        when_full: WhenFull::Error,
        flush_interval: Duration::ZERO,
        ..WbConfig::default()
    };
    let policy = F::write_behind(store.clone(), config).unwrap();
    policy.put(1, 1).unwrap();
    policy.put(2, 2).unwrap();
    policy.put(2, 22).unwrap(); // a pending key takes no more room
    let e = policy.put(3, 3).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::QueueFull);
    assert!(!policy.cache().contains_key(&3));
    store.gate(false);
    policy.flush().unwrap();
    policy.put(3, 3).unwrap();
    policy.close().unwrap();
    let snap = store.inner.snapshot();
    assert_eq!(snap, HashMap::from([(1, 1), (2, 22), (3, 3)]));
}

pub fn write_behind_full_queue_blocks_until_there_is_room<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.gate(true);
    let config = WbConfig {
        queue_capacity: 1,
        flush_interval: Duration::ZERO,
        ..WbConfig::default()
    };
    let policy = Arc::new(F::write_behind(store.clone(), config).unwrap());
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

pub fn write_behind_reports_writes_that_fail_for_good<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.inner.write(&1, &1).unwrap();
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = reported.clone();
    let config = WbConfig {
        max_retries: 2,
        retry_backoff: Duration::from_micros(10),
        flush_interval: Duration::ZERO,
        on_error: Some(Arc::new(move |op, e| {
            sink.lock().push((op.clone(), e.kind()))
        })),
        ..WbConfig::default()
    };
    let policy = F::write_behind(store.clone(), config).unwrap();
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

pub fn write_behind_survives_a_panicking_store<F: Face>() {
    let store = Arc::new(Recorder::default());
    store.panics.store(2, Ordering::SeqCst);
    let policy = F::write_behind(store.clone(), WbConfig::default()).unwrap();
    policy.put(1, 1).unwrap();
    policy.flush().unwrap();
    assert_eq!(store.inner.peek(&1), Some(1));
    assert_eq!(policy.stats().retried, 2);
}

pub fn write_behind_builders_reject_bad_settings<F: Face>() {
    let store = Arc::new(Recorder::default());
    let bad = |config| match F::write_behind(store.clone(), config) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a bad setting was accepted"),
    };
    let batch = WbConfig {
        batch_size: 0,
        ..WbConfig::default()
    };
    assert!(bad(batch).contains("batch_size"));
    let queue = WbConfig {
        queue_capacity: 0,
        ..WbConfig::default()
    };
    assert!(bad(queue).contains("queue_capacity"));
}

pub fn writers_blocked_on_a_full_queue_do_not_stall_the_report_of_failed_writes<F: Face>() {
    // A queue of one over a store that is down, with no retries: each accepted write fails for
    // good, and reporting it is what makes room. Writers waiting for room must not hold the
    // per-key lock the flusher takes to report (with 16 writers waiting, some share its stripe).
    let store = Arc::new(Recorder::default());
    store.inner.set_down(true);
    let config = WbConfig {
        cache: 10_000,
        queue_capacity: 1,
        max_retries: 0,
        flush_interval: Duration::ZERO,
        ..WbConfig::default()
    };
    let policy = Arc::new(F::write_behind(store.clone(), config).unwrap());
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

/// A store failing a third of its calls loses nothing: after `flush` it holds the last write of
/// every key, and every read saw the latest write. `ops`: (kind, key, value), kind 0-5 put,
/// 6-7 delete, 8-10 get, 11 flush.
pub fn write_behind_loses_nothing<F: Face>(seed: u64, ops: &[(u8, u32, u64)]) {
    let store = Arc::new(Recorder::default());
    store.inner.fail_one_in(3, seed);
    let config = WbConfig {
        cache: 4,
        batch_size: 4,
        flush_interval: Duration::ZERO,
        max_retries: 60,
        retry_backoff: Duration::from_micros(1),
        ..WbConfig::default()
    };
    let policy = F::write_behind(store.clone(), config).unwrap();
    let mut model: HashMap<u32, u64> = HashMap::new();
    for &(kind, k, v) in ops {
        match kind {
            0..=5 => {
                policy.put(k, v).unwrap();
                model.insert(k, v);
            }
            6 | 7 => {
                policy.delete(&k).unwrap();
                model.remove(&k);
            }
            8..=10 => {
                // A read that has to go to the failing store may fail; it must never return
                // anything but the latest write.
                if let Ok(got) = policy.get(&k) {
                    assert_eq!(got, model.get(&k).copied(), "read of {k}");
                }
            }
            _ => policy.flush().unwrap(),
        }
    }
    policy.flush().unwrap();
    assert_eq!(policy.stats().failed, 0);
    assert_eq!(store.inner.snapshot(), model);
}

/// One `#[test]` per scenario for a front end `$face`.
#[macro_export]
macro_rules! policy_scenarios {
    ($face:ty) => {
        #[test]
        fn sixteen_concurrent_misses_one_load() {
            common::scenarios::sixteen_concurrent_misses_one_load::<$face>();
        }
        #[test]
        fn concurrent_misses_on_a_failing_store_share_one_load_and_its_error() {
            common::scenarios::concurrent_misses_on_a_failing_store_share_one_load_and_its_error::<
                $face,
            >();
        }
        #[test]
        fn put_then_get_never_returns_the_old_value() {
            common::scenarios::put_then_get_never_returns_the_old_value::<$face>();
        }
        #[test]
        fn write_through_store_error_leaves_the_cache_unchanged() {
            common::scenarios::write_through_store_error_leaves_the_cache_unchanged::<$face>();
        }
        #[test]
        fn panicking_store_becomes_an_error() {
            common::scenarios::panicking_store_becomes_an_error::<$face>();
        }
        #[test]
        fn hanging_store_times_out() {
            common::scenarios::hanging_store_times_out::<$face>();
        }
        #[test]
        fn negative_caching_remembers_absent_keys_until_a_put() {
            common::scenarios::negative_caching_remembers_absent_keys_until_a_put::<$face>();
        }
        #[test]
        fn write_behind_reads_its_writes_after_eviction() {
            common::scenarios::write_behind_reads_its_writes_after_eviction::<$face>();
        }
        #[test]
        fn write_behind_keeps_per_key_order() {
            common::scenarios::write_behind_keeps_per_key_order::<$face>();
        }
        #[test]
        fn write_behind_close_flushes_and_refuses_writes() {
            common::scenarios::write_behind_close_flushes_and_refuses_writes::<$face>();
        }
        #[test]
        fn write_behind_full_queue_errors_and_leaves_the_cache_unchanged() {
            common::scenarios::write_behind_full_queue_errors_and_leaves_the_cache_unchanged::<
                $face,
            >();
        }
        #[test]
        fn write_behind_full_queue_blocks_until_there_is_room() {
            common::scenarios::write_behind_full_queue_blocks_until_there_is_room::<$face>();
        }
        #[test]
        fn write_behind_reports_writes_that_fail_for_good() {
            common::scenarios::write_behind_reports_writes_that_fail_for_good::<$face>();
        }
        #[test]
        fn write_behind_survives_a_panicking_store() {
            common::scenarios::write_behind_survives_a_panicking_store::<$face>();
        }
        #[test]
        fn write_behind_builders_reject_bad_settings() {
            common::scenarios::write_behind_builders_reject_bad_settings::<$face>();
        }
        #[test]
        fn writers_blocked_on_a_full_queue_do_not_stall_the_report_of_failed_writes() {
            common::scenarios::writers_blocked_on_a_full_queue_do_not_stall_the_report_of_failed_writes::<$face>();
        }
        mod failing_store_model {
            use super::*;
            use proptest::prelude::*;
            fn op() -> impl Strategy<Value = (u8, u32, u64)> {
                (0u8..12, 0u32..16, any::<u64>())
            }
            proptest! {
                #![proptest_config(ProptestConfig::with_cases(32))]
                #[test]
                fn write_behind_loses_nothing(
                    seed in any::<u64>(),
                    ops in prop::collection::vec(op(), 1..120),
                ) {
                    common::scenarios::write_behind_loses_nothing::<$face>(seed, &ops);
                }
            }
        }
    };
}
