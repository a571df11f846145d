//! Criterion benches: stratacache and its peers on the same seeded key streams, in one group per
//! workload, with `Throughput::Elements` (operations per second).
//!
//! Run: `cargo bench --bench cache` (HTML report in `target/criterion/report/index.html`).
//! Workloads:
//! Each iteration runs `BATCH` operations taken in turn from a stream of 2M seeded keys.
//! - `get_hit`: 100k entries, uniform `get`s of present keys.
//! - `get_miss`: 100k entries, `get`s of absent keys.
//! - `insert_churn`: capacity 10k, inserts of fresh keys (every insert evicts).
//! - `zipf_1t` / `zipf_2t`: Zipf(0.99) over 1M keys, capacity 100k, get-or-insert, 1 and 2 threads.
//! - `replay_oltp`: the OLTP trace (`tests/data`) at capacity 2000, get-or-insert.

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "support/peers.rs"]
mod peers;
#[path = "../tests/common/trace.rs"]
mod trace;

use peers::{Bench, Lru, Moka, Plain, Quick, Strata, StrataOne};

/// Operations per measured iteration.
const BATCH: usize = 1 << 14;
/// Keys per stream: iterations walk through it, so the working set is the stream's, not a batch's.
const STREAM: usize = 1 << 21;

/// Runs `op` on the next `n` keys of `keys`, starting at `*at` and wrapping around.
#[inline]
fn walk(keys: &[u64], at: &mut usize, n: usize, mut op: impl FnMut(u64)) {
    for _ in 0..n {
        op(keys[*at]);
        *at = (*at + 1) % keys.len();
    }
}

fn get_hit<C: Bench>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let c = C::with_capacity(200_000);
    for k in 0..100_000 {
        c.insert(k, k);
    }
    let keys = peers::uniform_keys(STREAM, 100_000, 1);
    let mut at = 0;
    g.bench_function(C::NAME, |b| {
        b.iter(|| {
            walk(&keys, &mut at, BATCH, |k| {
                black_box(c.get(k));
            })
        })
    });
}

fn get_miss<C: Bench>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let c = C::with_capacity(200_000);
    for k in 0..100_000 {
        c.insert(k, k);
    }
    let keys: Vec<u64> = peers::uniform_keys(BATCH, 100_000, 2)
        .iter()
        .map(|k| k + 1_000_000)
        .collect();
    g.bench_function(C::NAME, |b| {
        b.iter(|| {
            for &k in &keys {
                black_box(c.get(k));
            }
        })
    });
}

fn insert_churn<C: Bench>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let c = C::with_capacity(10_000);
    let mut next = 0u64;
    g.bench_function(C::NAME, |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                next += 1;
                c.insert(next, next);
            }
        })
    });
}

fn zipf<C: Bench>(g: &mut BenchmarkGroup<'_, WallTime>, threads: usize) {
    let c = C::with_capacity(100_000);
    let streams: Vec<Vec<u64>> = (0..threads)
        .map(|t| peers::zipf_keys(STREAM, 1_000_000, 0.99, 10 + t as u64))
        .collect();
    // Warm the cache to its steady state.
    for &k in &streams[0] {
        c.get_or_insert(k);
    }
    let mut offsets = vec![0usize; threads];
    g.bench_function(C::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for (keys, at) in streams.iter().zip(offsets.iter_mut()) {
                    let c = &c;
                    s.spawn(move || {
                        walk(keys, at, iters as usize * BATCH, |k| {
                            black_box(c.get_or_insert(k));
                        })
                    });
                }
            });
            start.elapsed()
        })
    });
}

fn replay<C: Bench>(g: &mut BenchmarkGroup<'_, WallTime>, keys: &[u64]) {
    g.bench_function(C::NAME, |b| {
        b.iter(|| {
            let c = C::with_capacity(2_000);
            let mut hits = 0u64;
            for &k in keys {
                hits += u64::from(c.get_or_insert(k));
            }
            black_box(hits)
        })
    });
}

macro_rules! each_peer {
    ($f:ident, $g:expr $(, $arg:expr)*) => {{
        $f::<Strata>($g $(, $arg)*);
        $f::<Quick>($g $(, $arg)*);
        $f::<Lru>($g $(, $arg)*);
        $f::<Moka>($g $(, $arg)*);
        $f::<Plain>($g $(, $arg)*);
    }};
}

fn group<'a>(c: &'a mut Criterion, name: &str, elements: usize) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(elements as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn benches(c: &mut Criterion) {
    let mut g = group(c, "get_hit", BATCH);
    each_peer!(get_hit, &mut g);
    g.finish();
    let mut g = group(c, "get_miss", BATCH);
    each_peer!(get_miss, &mut g);
    g.finish();
    let mut g = group(c, "insert_churn", BATCH);
    each_peer!(insert_churn, &mut g);
    g.finish();
    let mut g = group(c, "zipf_1t", BATCH);
    each_peer!(zipf, &mut g, 1);
    g.finish();
    let mut g = group(c, "zipf_2t", 2 * BATCH);
    each_peer!(zipf, &mut g, 2);
    g.finish();
    if let Some(keys) = trace::load("OLTP.lis.gz") {
        let mut g = group(c, "replay_oltp", keys.len());
        replay::<StrataOne>(&mut g, &keys);
        each_peer!(replay, &mut g, &keys);
        g.finish();
    }
}

criterion_group!(cache, benches);
criterion_main!(cache);
