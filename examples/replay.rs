//! Replays cache traces on stratacache and its peers; prints hit ratio and throughput.
//!
//! Run: `cargo run --release --example replay -- [--trace FILE]... [--capacity N,N,..]
//! [--shards N,N,..] [--threads N,N,..] [--admission all,tinylfu]`
//!
//! `--admission` picks stratacache's admission policies to replay (default both:
//! `Admission::All`, the exact LRU, and `Admission::TinyLfu`).
//!
//! Traces are read from `tests/data` (or `$STRATACACHE_TRACES`) in the formats of its
//! README: ARC (`*.lis*`) or LIRS (one key a line), gzipped when named `*.gz`. The replay rule is
//! the one the published figures use: `get`, and `insert` on a miss. With several threads,
//! thread `t` replays requests `t, t + T, t + 2T, …`, so together they replay the trace once.
//! Without arguments: OLTP and gli at the capacities with published exact-LRU figures.

#[path = "../benches/support/peers.rs"]
mod peers;
#[path = "../tests/common/trace.rs"]
mod trace;

use peers::{Bench, Lru, Moka, Quick};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use stratacache::Admission;

/// Published exact-LRU hits (`tests/data/README.md`).
const PUBLISHED: [(&str, u64, u64); 9] = [
    ("OLTP.lis.gz", 250, 150_591),
    ("OLTP.lis.gz", 500, 214_325),
    ("OLTP.lis.gz", 1_000, 300_122),
    ("OLTP.lis.gz", 2_000, 388_235),
    ("gli.trace", 250, 55),
    ("gli.trace", 500, 57),
    ("gli.trace", 1_000, 674),
    ("gli.trace", 1_500, 2_199),
    ("gli.trace", 2_000, 3_453),
];

fn list(v: &str) -> Vec<u64> {
    v.split(',')
        .map(|x| x.trim().parse().expect("a comma-separated list of numbers"))
        .collect()
}

/// stratacache with a given shard count (0: the default).
struct Sharded(stratacache::Cache<u64, u64>);

fn replay<C: Bench>(cache: &C, keys: &[u64], threads: usize) -> (u64, f64) {
    let hits = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let hits = &hits;
            s.spawn(move || {
                let mut h = 0;
                for &k in keys.iter().skip(t).step_by(threads) {
                    h += u64::from(cache.get_or_insert(k));
                }
                hits.fetch_add(h, Ordering::Relaxed);
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    (hits.into_inner(), keys.len() as f64 / secs / 1e6)
}

impl Bench for Sharded {
    const NAME: &'static str = "stratacache";
    fn with_capacity(capacity: usize) -> Self {
        Sharded(stratacache::Cache::new(capacity as u64))
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}

fn main() {
    let mut traces = Vec::new();
    let (mut capacities, mut shards, mut threads) = (Vec::new(), vec![1, 0], vec![1]);
    let mut admissions = vec![Admission::All, Admission::TinyLfu];
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--trace" => traces.push(value),
            "--capacity" => capacities = list(&value),
            "--shards" => shards = list(&value).into_iter().map(|s| s as usize).collect(),
            "--threads" => threads = list(&value).into_iter().map(|s| s as usize).collect(),
            "--admission" => {
                admissions = value
                    .split(',')
                    .map(|a| match a.trim() {
                        "all" => Admission::All,
                        "tinylfu" => Admission::TinyLfu,
                        other => panic!("unknown admission {other}: all or tinylfu"),
                    })
                    .collect();
            }
            other => panic!("unknown flag {other}; see the doc comment of examples/replay.rs"),
        }
    }
    if traces.is_empty() {
        traces = vec!["OLTP.lis.gz".into(), "gli.trace".into()];
    }
    println!(
        "| trace | capacity | cache | threads | hits | hit ratio | published exact LRU | M req/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for name in &traces {
        let Some(keys) = trace::load(name) else {
            eprintln!("trace {name} not found in {}", trace::dir().display());
            continue;
        };
        let caps: Vec<u64> = if capacities.is_empty() {
            PUBLISHED
                .iter()
                .filter(|p| p.0 == name)
                .map(|p| p.1)
                .collect()
        } else {
            capacities.clone()
        };
        for &cap in &caps {
            let published = PUBLISHED
                .iter()
                .find(|p| p.0 == name && p.1 == cap)
                .map_or("".to_string(), |p| p.2.to_string());
            for &t in &threads {
                let row = |cache: String, (hits, mops): (u64, f64)| {
                    println!(
                        "| {name} | {cap} | {cache} | {t} | {hits} | {:.2} % | {published} | {mops:.1} |",
                        100.0 * hits as f64 / keys.len() as f64
                    );
                };
                for &admission in &admissions {
                    let mut shown = Vec::new();
                    for &s in &shards {
                        let mut b = stratacache::Cache::builder()
                            .max_capacity(cap)
                            .admission(admission);
                        if s != 0 {
                            b = b.shards(s);
                        }
                        let c = Sharded(b.build().expect("valid shard count for this capacity"));
                        if shown.contains(&c.0.shard_count()) {
                            continue;
                        }
                        shown.push(c.0.shard_count());
                        let label = match admission {
                            Admission::TinyLfu => {
                                format!("stratacache TinyLfu shards({})", c.0.shard_count())
                            }
                            _ => format!("stratacache shards({})", c.0.shard_count()),
                        };
                        row(label, replay(&c, &keys, t));
                    }
                }
                row(
                    Quick::NAME.into(),
                    replay(&Quick::with_capacity(cap as usize), &keys, t),
                );
                row(
                    Lru::NAME.into(),
                    replay(&Lru::with_capacity(cap as usize), &keys, t),
                );
                row(
                    Moka::NAME.into(),
                    replay(&Moka::with_capacity(cap as usize), &keys, t),
                );
            }
        }
    }
}
