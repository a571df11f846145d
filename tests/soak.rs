//! Soak: threads mix every cache operation and every write-behind operation against a failing
//! store for a bounded time, then check conservation (every value cached or reported exactly
//! once) and that the store holds exactly the last write of every key. With the feature
//! `deadlock_detection`, a watchdog asks parking_lot for deadlocks throughout.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Admission, Cache, ManualClock, MemoryStore, Promotion, WriteBehind};

const THREADS: u32 = 4;
const KEYS: u32 = 64;
/// Bounded twice: by time, and by operations per thread.
const RUN_FOR: Duration = Duration::from_secs(if cfg!(miri) { 0 } else { 3 });
const MAX_OPS: u32 = if cfg!(miri) { 100 } else { 2_000_000 };

fn xorshift(x: &mut u32) -> u32 {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    *x
}

#[test]
fn soak_cache_and_write_behind() {
    soak(Admission::All, Promotion::Exact);
}

/// The same with TinyLFU admission and lossy promotion: hits dropped under contention, entries
/// rejected at admission, and still every value cached or reported exactly once.
#[test]
fn soak_tiny_lfu_with_lossy_promotion() {
    soak(Admission::TinyLfu, Promotion::Lossy);
}

fn soak(admission: Admission, promotion: Promotion) {
    let clock = ManualClock::new();
    let reported: Arc<Mutex<HashMap<u32, usize>>> = Arc::default();
    let sink = reported.clone();
    let cache: Arc<Cache<u32, u32>> = Arc::new(
        Cache::builder()
            .max_capacity(48)
            .shards(4)
            .admission(admission)
            .promotion(promotion)
            .clock(clock.clone())
            .eviction_listener(move |_k, v, _c| *sink.lock().entry(v).or_default() += 1)
            .build()
            .unwrap(),
    );
    let store = Arc::new(MemoryStore::<u32, u32>::new());
    store.fail_one_in(5, 42);
    let policy = Arc::new(
        WriteBehind::builder(
            Cache::builder().max_capacity(16).build().unwrap(),
            store.clone(),
        )
        .batch_size(8)
        .queue_capacity(32)
        .max_retries(1_000)
        .retry_backoff(Duration::from_micros(50))
        .flush_interval(Duration::from_millis(1))
        .build()
        .unwrap(),
    );
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = watchdog(done.clone());
    let start = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (cache, policy, clock) = (cache.clone(), policy.clone(), clock.clone());
            thread::spawn(move || {
                let mut rng = 0x9E37_79B9 ^ (t + 1);
                let mut stored = Vec::new();
                let mut last: HashMap<u32, Option<u32>> = HashMap::new();
                let mut i = 0;
                while i < MAX_OPS && start.elapsed() < RUN_FOR {
                    i += 1;
                    let r = xorshift(&mut rng);
                    // Other bits than the ones choosing the operation, or they would correlate.
                    let key = (r >> 8) % KEYS;
                    // Unique across threads: the thread in the low bits.
                    let value = (i << 3) | t;
                    match r % 16 {
                        0..=3 => {
                            cache.insert(key, value);
                            stored.push(value);
                        }
                        4 => {
                            cache.insert_with_ttl(
                                key,
                                value,
                                Duration::from_secs(u64::from(r % 3)),
                            );
                            stored.push(value);
                        }
                        5 => {
                            if cache.get_or_insert_with(key, || value) == value {
                                stored.push(value);
                            }
                        }
                        6 => drop(cache.remove(&key)),
                        7 => drop(cache.peek(&key)),
                        8 => drop(cache.contains_key(&key)),
                        9 if r % 64 == 9 => drop(cache.purge_expired()),
                        10 if r % 512 == 10 => cache.clear(),
                        11 if t == 0 => clock.advance(Duration::from_millis(100)),
                        // The policy: each thread owns the keys with its number in the low bits.
                        12 | 13 => {
                            let k = (key << 2) | t;
                            policy.put(k, value).unwrap();
                            last.insert(k, Some(value));
                        }
                        14 => {
                            let k = (key << 2) | t;
                            policy.delete(&k).unwrap();
                            last.insert(k, None);
                        }
                        15 => {
                            let k = (key << 2) | t;
                            if let Ok(v) = policy.get(&k) {
                                assert_eq!(v, last.get(&k).copied().flatten(), "read of {k}");
                            }
                        }
                        _ => drop(cache.get(&key)),
                    }
                }
                (stored, last, i)
            })
        })
        .collect();
    let mut stored = Vec::new();
    let mut last = HashMap::new();
    let mut ops = 0;
    for h in handles {
        let (s, l, n) = h.join().unwrap();
        stored.extend(s);
        last.extend(l);
        ops += n;
    }
    done.store(true, Ordering::SeqCst);
    if let Some(w) = watchdog {
        w.join().unwrap();
    }
    cache.validate();
    assert!(cache.weighted_size() <= cache.capacity());
    let present: Vec<u32> = (0..KEYS).filter_map(|k| cache.peek(&k)).collect();
    let reported = reported.lock();
    for v in &stored {
        let n = reported.get(v).copied().unwrap_or(0) + present.iter().filter(|p| *p == v).count();
        assert_eq!(n, 1, "value {v} is cached or reported {n} times");
    }
    policy.flush().unwrap();
    let want: HashMap<u32, u32> = last
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    assert_eq!(store.snapshot(), want);
    let s = policy.stats();
    assert_eq!(s.failed, 0);
    eprintln!(
        "soak: {ops} operations; write-behind {s:?}; cache {:?}",
        cache.stats()
    );
}

#[cfg(feature = "deadlock_detection")]
fn watchdog(done: Arc<AtomicBool>) -> Option<thread::JoinHandle<()>> {
    Some(thread::spawn(move || {
        while !done.load(Ordering::SeqCst) {
            thread::sleep(Duration::from_millis(100));
            let deadlocks = parking_lot::deadlock::check_deadlock();
            for (i, threads) in deadlocks.iter().enumerate() {
                for t in threads {
                    eprintln!(
                        "deadlock {i}: thread {:?}\n{:?}",
                        t.thread_id(),
                        t.backtrace()
                    );
                }
            }
            assert!(deadlocks.is_empty(), "{} deadlocks", deadlocks.len());
        }
    }))
}

#[cfg(not(feature = "deadlock_detection"))]
fn watchdog(_done: Arc<AtomicBool>) -> Option<thread::JoinHandle<()>> {
    None
}
