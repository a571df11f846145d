//! The core cache in one page: bounded LRU, TTL, single-flight loads, the listener, statistics.
//!
//! Run: `cargo run --release --example quickstart`

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, RemovalCause};

fn slow_square(n: u64) -> u64 {
    thread::sleep(Duration::from_millis(100)); // stands for a slow computation or query
    n * n
}

fn main() -> Result<(), stratacache::BuildError> {
    let evicted = Arc::new(AtomicUsize::new(0));
    let counter = evicted.clone();
    let cache: Arc<Cache<u64, u64>> = Arc::new(
        Cache::builder()
            .max_capacity(1_000)
            .time_to_live(Duration::from_millis(300))
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Evicted {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build()?,
    );

    // A miss runs the loader; the hit after it does not.
    let t = Instant::now();
    let v = cache.get_or_insert_with(12, || slow_square(12));
    println!("miss: {v} in {:?}", t.elapsed());
    let t = Instant::now();
    let v = cache.get_or_insert_with(12, || slow_square(12));
    println!("hit:  {v} in {:?}", t.elapsed());

    // Eight threads miss on one key at once: the loader runs once.
    let loads = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (cache, loads) = (cache.clone(), loads.clone());
            thread::spawn(move || {
                cache.get_or_insert_with(99, || {
                    loads.fetch_add(1, Ordering::Relaxed);
                    slow_square(99)
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    println!(
        "8 concurrent misses, {} load",
        loads.load(Ordering::Relaxed)
    );

    // The TTL passes: the next read is a miss.
    thread::sleep(Duration::from_millis(350));
    println!("after the TTL: {:?}", cache.get(&12));

    // Bounded: 5,000 inserts into a cache of 1,000.
    for k in 1_000..6_000 {
        cache.insert(k, k);
    }
    println!(
        "len {} (capacity {}), {} evicted",
        cache.len(),
        cache.capacity(),
        evicted.load(Ordering::Relaxed)
    );
    let s = cache.stats();
    println!(
        "stats: {} hits, {} misses, {} inserts, {} evictions, {} expirations, hit ratio {:.2}",
        s.hits,
        s.misses,
        s.inserts,
        s.evictions,
        s.expirations,
        s.hit_ratio()
    );
    Ok(())
}
