//! The read-through and write guarantees every cache-aside and write-through policy keeps, as
//! scenarios over a [`Face`]: the sync policies run them in `tests/policies.rs`, the async ones
//! (on a tokio runtime, over `Blocking`) in `tests/async_policies.rs`. One text, two front ends.

use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use stratacache::{
    Cache, ErrorKind, MemoryStore, MemoryStoreError, PolicyError, PolicyOptions, Store, WriteOp,
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

/// One front end: how it makes its two policies over a shared `Recorder`.
pub trait Face {
    type Aside: Policy;
    type Through: Policy;
    fn cache_aside(store: Arc<Recorder>, options: PolicyOptions) -> Self::Aside;
    fn write_through(store: Arc<Recorder>, options: PolicyOptions) -> Self::Through;
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
    };
}
