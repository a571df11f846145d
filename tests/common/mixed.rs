//! The mixed workload that checks conservation, shared by the threaded test
//! (`tests/concurrency.rs`) and the async one (`tests/async_cache.rs`): a seeded stream of
//! operations per worker, and the check that every stored value is present or was reported to
//! the listener exactly once.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use stratacache::Cache;

/// Keys are drawn from `0..KEYS`.
pub const KEYS: u32 = 200;

/// What a worker does next.
pub enum Op {
    Insert(u32, u32),
    GetOrInsert(u32, u32),
    Remove(u32),
    Get(u32),
}

/// Worker `t`'s `n` operations; values are unique across workers (`t` in the low bits, up to
/// 8 workers).
pub fn ops(t: u32, n: u32) -> impl Iterator<Item = Op> {
    let mut rng = 0x9E37_79B9u32.wrapping_mul(t + 1);
    (0..n).map(move |i| {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let (key, value) = (rng % KEYS, (i << 3) | t);
        match rng % 7 {
            0..=2 => Op::Insert(key, value),
            3 => Op::GetOrInsert(key, value),
            // A removed value is reported as Explicit, so it still counts.
            4 => Op::Remove(key),
            _ => Op::Get(key),
        }
    })
}

/// How often the listener saw each value.
pub type Reported = Arc<Mutex<HashMap<u32, usize>>>;

/// A cache of 64 over 4 shards whose listener counts each reported value.
pub fn counted_cache() -> (Arc<Cache<u32, u32>>, Reported) {
    let reported: Reported = Arc::default();
    let sink = reported.clone();
    let cache = Cache::builder()
        .max_capacity(64)
        .shards(4)
        .eviction_listener(move |_k, v, _c| *sink.lock().entry(v).or_default() += 1)
        .build()
        .unwrap();
    (Arc::new(cache), reported)
}

/// Every value in `stored` is in the cache or was reported, exactly once.
pub fn check_conservation(
    cache: &Cache<u32, u32>,
    stored: &[u32],
    reported: &Mutex<HashMap<u32, usize>>,
) {
    cache.validate();
    let present: Vec<u32> = (0..KEYS).filter_map(|k| cache.peek(&k)).collect();
    let reported = reported.lock();
    for v in stored {
        let n = reported.get(v).copied().unwrap_or(0) + present.iter().filter(|p| *p == v).count();
        assert_eq!(n, 1, "value {v} present or reported {n} times");
    }
    assert_eq!(cache.stats().expirations, 0);
}
