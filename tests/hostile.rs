//! Hostile keys. The default hasher is seeded randomly per process, so an attacker cannot pick
//! keys that collide. A user who picks a weak hasher gives that up: every key in one bucket
//! chain and one shard. The cache must then still be correct, only slower.

use std::hash::{BuildHasherDefault, Hasher};
use stratacache::Cache;

/// The worst hasher there is: every key hashes to 0.
#[derive(Default)]
struct Zero;

impl Hasher for Zero {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

#[test]
fn all_keys_colliding_still_works() {
    let cache: Cache<u32, u32, BuildHasherDefault<Zero>> = Cache::builder()
        .max_capacity(512)
        .shards(4)
        .hasher(BuildHasherDefault::<Zero>::default())
        .build()
        .unwrap();
    // Every key lands in one shard: 128 entries there, the other shards stay empty.
    for i in 0..2_000 {
        cache.insert(i, i * 2);
    }
    assert_eq!(cache.len(), 128);
    for i in 2_000 - 128..2_000 {
        assert_eq!(cache.get(&i), Some(i * 2));
    }
    assert_eq!(cache.get(&0), None);
    assert_eq!(cache.remove(&1_999), Some(3_998));
    cache.validate();
}

#[test]
fn the_default_hasher_differs_between_caches() {
    // Seeded per process (and per builder): the same key does not land in the same shard of
    // every cache, so no fixed list of keys floods one shard everywhere.
    let layouts: Vec<Vec<usize>> = (0..8)
        .map(|_| {
            let c: Cache<u64, u64> = Cache::builder()
                .max_capacity(4096)
                .shards(64)
                .build()
                .unwrap();
            for k in 0..64 {
                c.insert(k, k);
            }
            (0..64).map(|s| c.shard_keys_lru(s).len()).collect()
        })
        .collect();
    assert!(
        layouts.windows(2).any(|w| w[0] != w[1]),
        "eight caches spread 64 keys identically"
    );
}
