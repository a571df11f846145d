//! Side-by-side throughput of stratacache and its peers, as a table of medians and ratios.
//!
//! Run: `cargo run --release --example compare -- [--rounds N] [--only NAME,NAME] [--workload NAME]`
//!
//! Every round runs every workload on every cache, interleaved, so that the machine's noise falls
//! on all of them alike; the table shows the median over the rounds, in millions of operations
//! per second, and stratacache's ratio to each peer.
//!
//! Workloads:
//! - `zipf_1t`, `zipf_2t`: Zipf(0.99) over 1M keys, capacity 100k, `get` then `insert` on a miss,
//!   on 1 and 2 threads (each thread its own seeded stream);
//! - `hits_2t`: read-only `get` hits, 100k entries, uniform keys, 2 threads;
//! - `churn_1t`: inserts of fresh keys into a full cache of 10k (every insert evicts).

#[path = "../benches/support/machine.rs"]
mod machine;
#[path = "../benches/support/peers.rs"]
mod peers;

use peers::{Bench, Lru, Moka, Plain, Quick, Strata, StrataLossy};
use std::hint::black_box;
use std::time::Instant;

const OPS: usize = 2_000_000;

struct Args {
    rounds: usize,
    only: Option<String>,
    workload: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        rounds: 5,
        only: None,
        workload: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--rounds" => a.rounds = value().parse().expect("--rounds takes a number"),
            "--only" => a.only = Some(value()),
            "--workload" => a.workload = Some(value()),
            other => panic!("unknown flag {other}; see the doc comment of examples/compare.rs"),
        }
    }
    a
}

/// Runs `threads` copies of `work` on one cache at once; returns ops per second.
fn run<C: Bench>(c: &C, streams: &[Vec<u64>], work: fn(&C, &[u64])) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for keys in streams {
            s.spawn(move || work(c, keys));
        }
    });
    let ops: usize = streams.iter().map(Vec::len).sum();
    ops as f64 / start.elapsed().as_secs_f64()
}

fn get_or_insert_all<C: Bench>(c: &C, keys: &[u64]) {
    for &k in keys {
        black_box(c.get_or_insert(k));
    }
}

fn get_all<C: Bench>(c: &C, keys: &[u64]) {
    for &k in keys {
        black_box(c.get(k));
    }
}

fn insert_all<C: Bench>(c: &C, keys: &[u64]) {
    for &k in keys {
        c.insert(k, k);
    }
}

/// One measurement of one workload on a fresh cache of type `C`.
fn measure<C: Bench>(workload: &str, streams: &Streams) -> f64 {
    match workload {
        "zipf_1t" | "zipf_2t" => {
            let threads = if workload == "zipf_1t" { 1 } else { 2 };
            let c = C::with_capacity(100_000);
            run(&c, &streams.zipf_warm, get_or_insert_all::<C>);
            run(&c, &streams.zipf[..threads], get_or_insert_all::<C>)
        }
        "hits_2t" => {
            let c = C::with_capacity(200_000);
            for k in 0..100_000 {
                c.insert(k, k);
            }
            run(&c, &streams.uniform, get_all::<C>)
        }
        "churn_1t" => {
            let c = C::with_capacity(10_000);
            run(&c, &streams.fresh_warm, insert_all::<C>);
            run(&c, &streams.fresh, insert_all::<C>)
        }
        other => panic!("unknown workload {other}"),
    }
}

struct Streams {
    zipf_warm: Vec<Vec<u64>>,
    zipf: Vec<Vec<u64>>,
    uniform: Vec<Vec<u64>>,
    fresh_warm: Vec<Vec<u64>>,
    fresh: Vec<Vec<u64>>,
}

const WORKLOADS: [&str; 4] = ["zipf_1t", "zipf_2t", "hits_2t", "churn_1t"];

fn main() {
    let a = args();
    let streams = Streams {
        zipf_warm: vec![peers::zipf_keys(OPS, 1_000_000, 0.99, 99)],
        zipf: (0..2)
            .map(|t| peers::zipf_keys(OPS, 1_000_000, 0.99, t))
            .collect(),
        uniform: (0..2)
            .map(|t| peers::uniform_keys(OPS, 100_000, 50 + t))
            .collect(),
        fresh_warm: vec![(1u64 << 40..(1u64 << 40) + 20_000).collect()],
        fresh: vec![(0..OPS as u64).collect()],
    };
    type Measure = fn(&str, &Streams) -> f64;
    let caches: [(&str, Measure); 6] = [
        (Strata::NAME, measure::<Strata>),
        (StrataLossy::NAME, measure::<StrataLossy>),
        (Quick::NAME, measure::<Quick>),
        (Lru::NAME, measure::<Lru>),
        (Moka::NAME, measure::<Moka>),
        (Plain::NAME, measure::<Plain>),
    ];
    let workloads: Vec<&str> = WORKLOADS
        .into_iter()
        .filter(|w| a.workload.as_deref().is_none_or(|x| x == *w))
        .collect();
    let chosen: Vec<usize> = (0..caches.len())
        .filter(|&i| {
            i == 0
                || a.only
                    .as_deref()
                    .is_none_or(|o| o.split(',').any(|x| caches[i].0.contains(x)))
        })
        .collect();
    // results[workload][cache] = one figure per round
    let mut results = vec![vec![Vec::new(); caches.len()]; workloads.len()];
    for round in 0..a.rounds {
        eprintln!("round {} of {}", round + 1, a.rounds);
        for (w, workload) in workloads.iter().enumerate() {
            for &i in &chosen {
                results[w][i].push(caches[i].1(workload, &streams));
            }
        }
    }
    println!("Machine: {}", machine::describe());
    println!(
        "Median of {} rounds, million ops/s (ratio: stratacache / peer), {} cores\n",
        a.rounds,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    print!("| workload |");
    for &i in &chosen {
        print!(" {} |", caches[i].0);
    }
    println!();
    print!("|---|");
    for _ in &chosen {
        print!("---|");
    }
    println!();
    for (w, workload) in workloads.iter().enumerate() {
        let ours = median(&mut results[w][0]);
        print!("| {workload} |");
        for &i in &chosen {
            let m = median(&mut results[w][i]);
            if i == 0 {
                print!(" {:.1} |", m / 1e6);
            } else {
                print!(" {:.1} ({:.2}x) |", m / 1e6, ours / m);
            }
        }
        println!();
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
