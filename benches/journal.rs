//! Criterion: puts per second through write-through and write-behind, with and without a
//! journal, over SQLite on a file, on 1 and 2 writer threads (`cargo bench --features sqlite
//! --bench journal`). The README's table, with latencies, comes from `examples/durability.rs`,
//! which runs the same harness (`benches/support/durability.rs`).

#[path = "support/durability.rs"]
mod durability;
#[path = "support/histogram.rs"]
mod histogram;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use durability::Setup;
use std::time::Duration;

fn puts(c: &mut Criterion) {
    for threads in [1usize, 2] {
        let mut g = c.benchmark_group(format!("puts/{threads} writers"));
        g.sample_size(10)
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(1));
        for setup in Setup::ALL {
            g.bench_function(setup.name(), |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads as u64).max(1);
                    durability::run(setup, threads, per_thread).0
                });
            });
        }
        g.finish();
    }
}

criterion_group!(benches, puts);
criterion_main!(benches);
