//! The async face of the cache against the peers' async APIs, on a `current_thread` tokio
//! runtime, in one group per workload (criterion, `Throughput::Elements`).
//!
//! Run: `cargo bench --features tokio --bench async`.
//! - `async_hit`: 100k entries, uniform lookups of present keys through each cache's async
//!   get-or-insert (`get_or_insert_with_async`, moka's `future::Cache::get_with`, quick_cache's
//!   `get_or_insert_async`), and stratacache's sync `get` in the same loop as the baseline.
//! - `async_zipf`: Zipf(0.99) over 1M keys, capacity 100k, the same async get-or-insert.

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

#[path = "support/peers.rs"]
mod peers;

/// Operations per measured iteration.
const BATCH: usize = 1 << 14;
/// Keys per stream.
const STREAM: usize = 1 << 21;

/// The async get-or-insert of one cache.
trait AsyncCache: Sync {
    const NAME: &'static str;
    fn with_capacity(capacity: u64) -> Self;
    async fn get_or_insert(&self, k: u64) -> u64;
}

struct Strata(stratacache::Cache<u64, u64>);
impl AsyncCache for Strata {
    const NAME: &'static str = "stratacache get_or_insert_with_async";
    fn with_capacity(capacity: u64) -> Self {
        Strata(stratacache::Cache::new(capacity))
    }
    async fn get_or_insert(&self, k: u64) -> u64 {
        self.0.get_or_insert_with_async(k, async move { k }).await
    }
}

/// The baseline: the sync `get` (and `insert` on a miss) inside the same async loop.
struct StrataSync(stratacache::Cache<u64, u64>);
impl AsyncCache for StrataSync {
    const NAME: &'static str = "stratacache sync get";
    fn with_capacity(capacity: u64) -> Self {
        StrataSync(stratacache::Cache::new(capacity))
    }
    async fn get_or_insert(&self, k: u64) -> u64 {
        match self.0.get(&k) {
            Some(v) => v,
            None => {
                self.0.insert(k, k);
                k
            }
        }
    }
}

struct Moka(moka::future::Cache<u64, u64>);
impl AsyncCache for Moka {
    const NAME: &'static str = "moka future get_with";
    fn with_capacity(capacity: u64) -> Self {
        Moka(moka::future::Cache::new(capacity))
    }
    async fn get_or_insert(&self, k: u64) -> u64 {
        self.0.get_with(k, async move { k }).await
    }
}

struct Quick(quick_cache::sync::Cache<u64, u64>);
impl AsyncCache for Quick {
    const NAME: &'static str = "quick_cache get_or_insert_async";
    fn with_capacity(capacity: u64) -> Self {
        Quick(quick_cache::sync::Cache::new(capacity as usize))
    }
    async fn get_or_insert(&self, k: u64) -> u64 {
        match self
            .0
            .get_or_insert_async(&k, async move { Ok::<u64, Infallible>(k) })
            .await
        {
            Ok(v) => v,
            Err(never) => match never {},
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

/// `BATCH` async get-or-inserts per iteration, walking through `keys`.
fn run<C: AsyncCache>(g: &mut BenchmarkGroup<'_, WallTime>, c: &C, keys: &[u64]) {
    let rt = runtime();
    let mut at = 0;
    g.bench_function(C::NAME, |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut sum = 0u64;
                for _ in 0..BATCH {
                    sum = sum.wrapping_add(c.get_or_insert(keys[at]).await);
                    at = (at + 1) % keys.len();
                }
                black_box(sum)
            })
        })
    });
}

fn hit<C: AsyncCache>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let c = C::with_capacity(200_000);
    let rt = runtime();
    rt.block_on(async {
        for k in 0..100_000 {
            c.get_or_insert(k).await;
        }
    });
    run(g, &c, &peers::uniform_keys(STREAM, 100_000, 1));
}

fn zipf<C: AsyncCache>(g: &mut BenchmarkGroup<'_, WallTime>) {
    let c = C::with_capacity(100_000);
    run(g, &c, &peers::zipf_keys(STREAM, 1_000_000, 0.99, 7));
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(BATCH as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn benches(c: &mut Criterion) {
    let mut g = group(c, "async_hit");
    hit::<StrataSync>(&mut g);
    hit::<Strata>(&mut g);
    hit::<Moka>(&mut g);
    hit::<Quick>(&mut g);
    g.finish();
    let mut g = group(c, "async_zipf");
    zipf::<StrataSync>(&mut g);
    zipf::<Strata>(&mut g);
    zipf::<Moka>(&mut g);
    zipf::<Quick>(&mut g);
    g.finish();
}

criterion_group!(asynchronous, benches);
criterion_main!(asynchronous);
