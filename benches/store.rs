//! `put` throughput on a `SqliteStore` file: write-through (one store write per put) against
//! write-behind (puts land in the cache; the flusher writes batches, one transaction each).
//!
//! Run: `cargo bench --features sqlite --bench store`. Each iteration puts 1,000 keys; the
//! write-behind figure includes the `flush` that persists them, so both measure writes that
//! reached the database.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use stratacache::{Cache, SqliteStore, WriteBehind, WriteThrough};

const PUTS: u64 = 1_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("sqlite_put");
    g.throughput(Throughput::Elements(PUTS))
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));

    let wt = WriteThrough::new(
        Cache::new(100_000),
        SqliteStore::<u64, String>::open(dir.path().join("wt.db")).unwrap(),
    );
    let mut n = 0u64;
    g.bench_function("write_through", |b| {
        b.iter(|| {
            for _ in 0..PUTS {
                n += 1;
                wt.put(n % 50_000, format!("value {n}")).unwrap();
            }
        })
    });

    let wb = WriteBehind::builder(
        Cache::new(100_000),
        SqliteStore::<u64, String>::open(dir.path().join("wb.db")).unwrap(),
    )
    .batch_size(256)
    .build()
    .unwrap();
    g.bench_function("write_behind", |b| {
        b.iter(|| {
            for _ in 0..PUTS {
                n += 1;
                wb.put(n % 50_000, format!("value {n}")).unwrap();
            }
            wb.flush().unwrap();
        })
    });
    g.finish();
}

criterion_group!(store, bench);
criterion_main!(store);
