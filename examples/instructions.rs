//! Instructions per operation, counted by callgrind: fixed work, so the counts do not depend on
//! what else the machine does (timings here move by 30 % between identical runs). They move only
//! with the hash seeds, which stratacache, `lru` and `hashbrown` draw at random per map (probe
//! lengths differ): by a few percent on the OLTP columns; a hit in stratacache is the same.
//!
//! Run: `cargo run --release --example instructions` (needs valgrind). For each cache it runs
//! itself under `valgrind --tool=callgrind`, reads the inclusive instruction counts of three
//! functions that are never inlined, and divides them by their calls:
//!
//! - `get` and `insert` of the OLTP trace's replay at capacity 1,000 (`get`, and `insert` on a
//!   miss; the cache full after the first thousand misses, so almost every insert evicts); with
//!   `shards(1)` for stratacache, which is what `Cache::new(1000)` gives;
//! - `get_hit`: 1,000,000 gets of the 1,000 keys inserted into a cache of 1,000, in a fixed
//!   pseudo-random order: every one a hit in an exact LRU (the last column says how many hit in
//!   the others).
//!
//! `-- --run NAME` does one cache's work without counting (what callgrind runs).

#[path = "../benches/support/machine.rs"]
mod machine;
#[path = "../benches/support/peers.rs"]
mod peers;
#[path = "../tests/common/trace.rs"]
mod trace;

use peers::{Bench, Lru, Plain, Quick, Strata};
use std::process::Command;

const CAPACITY: usize = 1_000;
const HITS: usize = 1_000_000;

#[inline(never)]
fn get<C: Bench>(c: &C, k: u64) -> Option<u64> {
    c.get(k)
}

#[inline(never)]
fn insert<C: Bench>(c: &C, k: u64) {
    c.insert(k, k);
}

#[inline(never)]
fn get_hit<C: Bench>(c: &C, k: u64) -> Option<u64> {
    c.get(k)
}

/// The work; returns (gets, inserts, calls of `get_hit`, how many of them hit: a cache that
/// does not keep every one of its first 1,000 keys misses some).
fn work<C: Bench>(keys: &[u64]) -> (u64, u64, u64, u64) {
    let c = C::with_capacity(CAPACITY);
    let (mut gets, mut inserts) = (0, 0);
    for &k in keys {
        gets += 1;
        if get(&c, k).is_none() {
            insert(&c, k);
            inserts += 1;
        }
    }
    let hot = C::with_capacity(CAPACITY);
    for k in 0..CAPACITY as u64 {
        hot.insert(k, k);
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut hits = 0;
    let mut calls = 0;
    for _ in 0..HITS {
        calls += 1;
        // xorshift: a fixed order over the keys, no table to read.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if get_hit(&hot, x % CAPACITY as u64).is_some() {
            hits += 1;
        }
    }
    (gets, inserts, calls, hits)
}

fn run(name: &str) -> (u64, u64, u64, u64) {
    let keys = trace::require("OLTP.lis.gz");
    match name {
        "stratacache" => work::<Strata>(&keys),
        "quick_cache" => work::<Quick>(&keys),
        "lru" => work::<Lru>(&keys),
        "hashbrown" => work::<Plain>(&keys),
        other => panic!("unknown cache {other:?}"),
    }
}

/// The inclusive instruction count of the function named `name` in callgrind_annotate's output.
fn inclusive(annotated: &str, name: &str) -> u64 {
    annotated
        .lines()
        .filter(|l| {
            l.contains(&format!("instructions::{name}<"))
                || l.ends_with(&format!("instructions::{name}"))
                || l.contains(&format!("instructions::{name} "))
        })
        .filter_map(|l| {
            l.split_whitespace()
                .next()?
                .replace(',', "")
                .parse::<u64>()
                .ok()
        })
        .max()
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--run") {
        let name = args.get(i + 1).expect("--run takes a cache name");
        let (gets, inserts, calls, hits) = run(name);
        println!("{gets} {inserts} {calls} {hits}");
        return;
    }
    let me = std::env::current_exe().expect("the example's own path");
    println!(
        "# instructions per operation (callgrind); {}",
        machine::describe()
    );
    println!(
        "| cache | get (OLTP replay) | insert (OLTP replay, evicting) | get of a cached key | of which hit |"
    );
    println!("|---|---|---|---|---|");
    for name in ["stratacache", "quick_cache", "lru", "hashbrown"] {
        let out =
            std::env::temp_dir().join(format!("stratacache-cg-{}-{name}", std::process::id()));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(&me)
            .args(["--run", name])
            .output()
            .expect("valgrind must be installed (Debian: apt install valgrind)");
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let counts: Vec<u64> = String::from_utf8_lossy(&status.stdout)
            .split_whitespace()
            .map(|n| n.parse().expect("the run prints four counts"))
            .collect();
        let annotated = Command::new("callgrind_annotate")
            .args(["--inclusive=yes", "--threshold=100"])
            .arg(&out)
            .output()
            .expect("callgrind_annotate comes with valgrind");
        assert!(annotated.status.success(), "callgrind_annotate failed");
        let text = String::from_utf8_lossy(&annotated.stdout);
        let per = |f: &str, n: u64| {
            let total = inclusive(&text, f);
            assert!(
                total > 0,
                "no count for instructions::{f} in callgrind's output"
            );
            total as f64 / n as f64
        };
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.1} % |",
            per("get", counts[0]),
            per("insert", counts[1]),
            per("get_hit", counts[2]),
            100.0 * counts[3] as f64 / counts[2] as f64
        );
        let _ = std::fs::remove_file(&out);
    }
}
