//! `Cache::get_or_insert_with_async` and `try_get_or_insert_with_async` on tokio's
//! `current_thread` and multi-thread runtimes. Time is tokio's paused clock: a sleep advances it
//! only when every task waits, so "the loads overlapped" is a fact about virtual time (100 ms
//! elapsed, not 5 s), never a wall-clock measurement.

mod common;

use common::mixed::{self, Op};
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use stratacache::Cache;
use tokio::time::{Instant, sleep};

const LOAD: Duration = Duration::from_millis(100);

/// The futures are `Send`: they can be spawned on a multi-thread runtime.
fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test(start_paused = true)]
async fn misses_on_different_keys_overlap_and_the_runtime_keeps_ticking() {
    let cache = Arc::new(Cache::<u32, u32>::new(1_000));
    let ticks = Arc::new(AtomicUsize::new(0));
    let ticker = {
        let ticks = ticks.clone();
        tokio::spawn(async move {
            loop {
                sleep(Duration::from_millis(10)).await;
                ticks.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let start = Instant::now();
    let tasks: Vec<_> = (0..50u32)
        .map(|k| {
            let c = cache.clone();
            tokio::spawn(assert_send(async move {
                c.get_or_insert_with_async(k, async move {
                    sleep(LOAD).await;
                    k * 10
                })
                .await
            }))
        })
        .collect();
    for (k, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), k as u32 * 10);
    }
    // One load's time for all fifty: they ran side by side on one thread.
    assert!(start.elapsed() < LOAD * 2, "{:?}", start.elapsed());
    assert!(ticks.load(Ordering::SeqCst) >= 9, "the ticker starved");
    ticker.abort();
}

async fn one_load_per_key(cache: Arc<Cache<u32, u32>>) {
    let loads = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (c, loads) = (cache.clone(), loads.clone());
            tokio::spawn(async move {
                c.get_or_insert_with_async(1, async move {
                    loads.fetch_add(1, Ordering::SeqCst);
                    sleep(LOAD).await;
                    7
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 7);
    }
    assert_eq!(loads.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn concurrent_misses_on_one_key_run_one_load_current_thread() {
    one_load_per_key(Arc::new(Cache::new(10))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_on_one_key_run_one_load_multi_thread() {
    one_load_per_key(Arc::new(Cache::new(10))).await;
}

/// A leader that fails in `how`, a waiter behind it: the waiter must lead and load its own value.
async fn waiter_takes_over(how: &'static str) {
    let cache = Arc::new(Cache::<u32, u32>::new(10));
    let leader = {
        let c = cache.clone();
        tokio::spawn(async move {
            c.try_get_or_insert_with_async(1, async move {
                sleep(LOAD).await;
                match how {
                    "error" => Err("db down"),
                    "panic" => panic!("the loader panicked on purpose"),
                    _ => pending().await,
                }
            })
            .await
        })
    };
    tokio::task::yield_now().await; // the leader registers its flight
    let waiter = {
        let c = cache.clone();
        tokio::spawn(async move { c.get_or_insert_with_async(1, async { 2 }).await })
    };
    tokio::task::yield_now().await; // the waiter waits on it
    if how == "cancel" {
        sleep(LOAD).await;
        leader.abort();
    }
    let led = leader.await;
    match how {
        "error" => assert_eq!(led.unwrap(), Err("db down")),
        "panic" => assert!(led.unwrap_err().is_panic()),
        _ => assert!(led.unwrap_err().is_cancelled()),
    }
    // Not the leader's failure: the waiter's own value.
    let got = tokio::time::timeout(Duration::from_secs(60), waiter)
        .await
        .expect("the waiter hangs")
        .unwrap();
    assert_eq!(got, 2);
    assert_eq!(cache.get(&1), Some(2));
    cache.validate();
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_leader_hands_over_to_a_waiter() {
    waiter_takes_over("cancel").await;
}

#[tokio::test(start_paused = true)]
async fn an_erring_leader_hands_over_to_a_waiter() {
    waiter_takes_over("error").await;
}

#[tokio::test(start_paused = true)]
async fn a_panicking_leader_hands_over_to_a_waiter() {
    waiter_takes_over("panic").await;
}

#[tokio::test(start_paused = true)]
async fn a_dropped_waiter_leaves_the_flight_untouched() {
    let cache = Arc::new(Cache::<u32, u32>::new(10));
    let leader = {
        let c = cache.clone();
        tokio::spawn(async move {
            c.get_or_insert_with_async(1, async {
                sleep(LOAD).await;
                1
            })
            .await
        })
    };
    tokio::task::yield_now().await;
    let waiter = {
        let c = cache.clone();
        tokio::spawn(async move { c.get_or_insert_with_async(1, async { 2 }).await })
    };
    tokio::task::yield_now().await;
    waiter.abort();
    assert!(waiter.await.unwrap_err().is_cancelled());
    assert_eq!(leader.await.unwrap(), 1);
    assert_eq!(cache.get(&1), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_tasks_conserve_every_value() {
    const TASKS: u32 = 8;
    const OPS: u32 = 5_000;
    let (cache, reported) = mixed::counted_cache();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let cache = cache.clone();
            tokio::spawn(async move {
                let mut stored = Vec::new();
                for op in mixed::ops(t, OPS) {
                    match op {
                        Op::Insert(k, v) => {
                            cache.insert(k, v);
                            stored.push(v);
                        }
                        Op::GetOrInsert(k, v) => {
                            let got = cache
                                .get_or_insert_with_async(k, async move {
                                    tokio::task::yield_now().await;
                                    v
                                })
                                .await;
                            if got == v {
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
                }
                stored
            })
        })
        .collect();
    let mut stored = Vec::new();
    for t in tasks {
        stored.extend(t.await.unwrap());
    }
    mixed::check_conservation(&cache, &stored, &reported);
}
