//! Why a near cache: a hit in the in-process cache against a Redis `GET` round trip on loopback.
//!
//! Run: `cargo bench --features redis --bench redis` (uses `$STRATACACHE_REDIS_URL`, or starts
//! Debian's `redis-server` on a free port). Both read the same 1,000 `u64 -> String` entries.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use stratacache::{Cache, RedisStore, Store};

#[path = "support/redis_server.rs"]
mod redis_server;

const KEYS: u64 = 1_000;

fn bench(c: &mut Criterion) {
    let redis = match redis_server::find_or_start() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    let store: RedisStore<u64, String> = RedisStore::open(&redis.url)
        .unwrap()
        .with_namespace(&format!("bench-{}", std::process::id()));
    let cache: Cache<u64, String> = Cache::new(10_000);
    for k in 0..KEYS {
        let v = format!("user {k} <user{k}@example.com>");
        store.write(&k, &v).unwrap();
        cache.insert(k, v);
    }
    let mut g = c.benchmark_group("near_cache");
    g.throughput(Throughput::Elements(KEYS))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function("local_hit", |b| {
        b.iter(|| {
            for k in 0..KEYS {
                black_box(cache.get(&k));
            }
        })
    });
    g.bench_function("redis_get", |b| {
        b.iter(|| {
            for k in 0..KEYS {
                black_box(store.load(&k).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(near, bench);
criterion_main!(near);
