//! Threaded tests: single-flight loads, panicking loaders, listeners and weighers, reentrancy,
//! and a mixed workload that checks conservation of every value.

mod common;

use common::mixed::{self, Op};
use parking_lot::Mutex;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::Duration;
use stratacache::Cache;

#[test]
fn sixteen_concurrent_misses_run_init_once() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let calls = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(16));
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let (cache, calls, barrier) = (cache.clone(), calls.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                cache.get_or_insert_with(7, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    // Keep the flight open long enough for every thread to join it.
                    thread::sleep(Duration::from_millis(50));
                    49
                })
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 49);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.get(&7), Some(49));
    assert_eq!(cache.stats().inserts, 1);
}

#[test]
fn panicking_init_releases_the_key_and_a_waiter_takes_over() {
    let cache: Arc<Cache<u64, u64>> = Arc::new(Cache::new(100));
    let started = Arc::new(Barrier::new(2));
    let leader = {
        let (cache, started) = (cache.clone(), started.clone());
        thread::spawn(move || {
            cache.get_or_insert_with(1, || {
                started.wait();
                thread::sleep(Duration::from_millis(50));
                panic!("loader failed");
            })
        })
    };
    started.wait();
    let calls = Arc::new(AtomicUsize::new(0));
    let waiters: Vec<_> = (0..8)
        .map(|_| {
            let (cache, calls) = (cache.clone(), calls.clone());
            thread::spawn(move || {
                cache.get_or_insert_with(1, || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(20));
                    11
                })
            })
        })
        .collect();
    let err = leader.join().unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"loader failed"));
    for w in waiters {
        assert_eq!(w.join().unwrap(), 11);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "one waiter took over, once"
    );
    assert_eq!(cache.get(&1), Some(11));
    cache.validate();
}

#[test]
fn init_error_is_not_cached() {
    let cache: Cache<u64, u64> = Cache::new(10);
    let r: Result<u64, String> = cache.try_get_or_insert_with(1, || Err("down".into()));
    assert_eq!(r, Err("down".to_string()));
    assert!(!cache.contains_key(&1));
    assert_eq!(
        cache.try_get_or_insert_with(1, || Ok::<_, String>(3)),
        Ok(3)
    );
    assert_eq!(
        cache.try_get_or_insert_with(1, || Err::<u64, _>("unused")),
        Ok(3)
    );
}

#[test]
fn panicking_listener_leaves_the_cache_consistent_and_delivers_the_rest() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(4)
        .shards(1)
        .eviction_listener(move |k, _v, _c| {
            sink.lock().push(k);
            if k == 1 {
                panic!("listener failed on {k}");
            }
        })
        .build()
        .unwrap();
    for i in 0..4 {
        cache.insert(i, i);
    }
    // clear() reports 0, 1, 2, 3; the panic on 1 must not stop 2 and 3.
    let r = panic::catch_unwind(AssertUnwindSafe(|| cache.clear()));
    assert!(r.is_err());
    assert_eq!(*seen.lock(), [0, 1, 2, 3]);
    assert!(cache.is_empty());
    cache.validate();
    cache.insert(9, 9);
    assert_eq!(cache.get(&9), Some(9));
}

#[test]
fn panicking_weigher_leaves_the_cache_consistent() {
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .weigher(|_k, v| if *v == 13 { panic!("unlucky") } else { 1 })
        .build()
        .unwrap();
    cache.insert(1, 1);
    assert!(panic::catch_unwind(AssertUnwindSafe(|| cache.insert(2, 13))).is_err());
    assert!(panic::catch_unwind(AssertUnwindSafe(|| cache.get_or_insert_with(3, || 13))).is_err());
    cache.validate();
    assert_eq!(cache.len(), 1);
    // The flight of key 3 was released.
    assert_eq!(cache.get_or_insert_with(3, || 4), 4);
}

#[test]
fn listener_and_weigher_may_call_back_into_the_cache() {
    // They run outside every lock, so reentrant calls must not deadlock.
    let slot: Arc<OnceLock<Arc<Cache<u32, u32>>>> = Arc::new(OnceLock::new());
    let (l, w) = (slot.clone(), slot.clone());
    let cache = Arc::new(
        Cache::builder()
            .max_capacity(2)
            .shards(1)
            .weigher(move |_k: &u32, _v: &u32| {
                let _ = w.get().map(|c| c.len());
                1
            })
            .eviction_listener(move |k, _v, _c| {
                if let Some(c) = l.get() {
                    let _ = c.get(&k);
                    let _ = c.len();
                }
            })
            .build()
            .unwrap(),
    );
    slot.set(cache.clone()).unwrap();
    for i in 0..10 {
        cache.insert(i, i);
        cache.get_or_insert_with(100 + i, || i);
    }
    assert_eq!(cache.len(), 2);
}

#[test]
fn mixed_workload_on_four_threads_conserves_every_value() {
    const THREADS: u32 = 4;
    const OPS: u32 = if cfg!(miri) { 200 } else { 20_000 };
    let (cache, reported) = mixed::counted_cache();
    let barrier = Arc::new(Barrier::new(THREADS as usize));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, barrier) = (cache.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut stored = Vec::new();
                for op in mixed::ops(t, OPS) {
                    match op {
                        Op::Insert(k, v) => {
                            cache.insert(k, v);
                            stored.push(v);
                        }
                        Op::GetOrInsert(k, v) => {
                            if cache.get_or_insert_with(k, || v) == v {
                                stored.push(v);
                            }
                        }
                        Op::Remove(k) => {
                            cache.remove(&k);
                        }
                        Op::Get(k) => {
                            cache.get(&k);
                        }
                    }
                    assert!(cache.weighted_size() <= cache.capacity());
                }
                stored
            })
        })
        .collect();
    let stored: Vec<u32> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    mixed::check_conservation(&cache, &stored, &reported);
}
