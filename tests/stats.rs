//! The counters a service sees: honest under the "look, then load" pattern, and exportable.

use std::sync::Arc;
use stratacache::{Cache, CacheAside, MemoryStore, Store, WriteBehind};

/// A service that looks in the cache first and loads on a miss: with `get_if_present`, every
/// lookup is counted once, so the hit ratio the stats show is the one the service had (with
/// `cache().get()` first, each miss was counted twice).
#[test]
fn look_then_load_counts_each_lookup_once() {
    let db = MemoryStore::new();
    for k in 0..100u32 {
        db.write(&k, &k).unwrap();
    }
    let policy = CacheAside::new(
        Cache::builder().max_capacity(50).shards(1).build().unwrap(),
        db,
    );
    let (mut hits, mut lookups) = (0u64, 0u64);
    let mut x = 7u32;
    for _ in 0..5_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let k = (x % 1_000).min(x % 100); // skewed towards small keys
        lookups += 1;
        match policy.get_if_present(&k) {
            Some(v) => {
                assert_eq!(v, k);
                hits += 1;
            }
            None => assert_eq!(policy.get(&k).unwrap(), Some(k)),
        }
    }
    let s = policy.stats();
    assert_eq!(s.hits + s.misses, lookups, "each lookup counted once");
    assert_eq!(s.hits, hits);
    let real = hits as f64 / lookups as f64;
    assert!((s.hit_ratio() - real).abs() < 1e-12);

    // The pattern this replaces counts each miss twice.
    let before = policy.stats();
    policy.invalidate(&1);
    assert_eq!(policy.cache().get(&1), None);
    policy.get(&1).unwrap();
    assert_eq!(policy.stats().misses - before.misses, 2);
}

/// A write still pending in write-behind is present, even after the cache evicted it.
#[test]
fn write_behind_get_if_present_sees_pending_writes() {
    let store = Arc::new(MemoryStore::<u32, u32>::new());
    store.set_down(true);
    let policy = WriteBehind::builder(
        Cache::builder().max_capacity(1).shards(1).build().unwrap(),
        store.clone(),
    )
    .max_retries(u32::MAX)
    .build()
    .unwrap();
    policy.put(1, 10).unwrap();
    policy.put(2, 20).unwrap(); // evicts 1 from the cache; its write is still pending
    assert_eq!(policy.cache().peek(&1), None);
    assert_eq!(policy.get_if_present(&1), Some(10));
    assert_eq!(policy.get_if_present(&3), None);
    store.set_down(false);
    policy.flush().unwrap();
}

/// With feature `serde`, the counters serialize (here to JSON) with their field names.
#[test]
#[cfg(feature = "serde")]
fn counters_serialize() {
    let cache: Cache<u32, u32> = Cache::new(10);
    cache.insert(1, 1);
    cache.get(&1);
    cache.get(&2);
    let json = serde_json::to_value(cache.stats()).unwrap();
    assert_eq!(json["hits"], 1);
    assert_eq!(json["misses"], 1);
    assert_eq!(json["inserts"], 1);
    let policy = WriteBehind::builder(Cache::new(10), MemoryStore::<u32, u32>::new())
        .build()
        .unwrap();
    policy.put(1, 1).unwrap();
    policy.flush().unwrap();
    let json = serde_json::to_value(policy.stats()).unwrap();
    assert_eq!(json["written"], 1);
    assert_eq!(json["pending"], 0);
    let json = serde_json::to_value(policy.refresh_stats()).unwrap();
    assert_eq!(json["refreshes_started"], 0);
    let tiers = stratacache::Layered::new(MemoryStore::<u32, u32>::new(), MemoryStore::new());
    tiers.back().write(&1, &1).unwrap();
    tiers.load(&1).unwrap();
    assert_eq!(serde_json::to_value(tiers.lease_stats()).unwrap()["won"], 1);
}
