//! Replays cache traces on stratacache and its peers; prints hit ratio and throughput.
//!
//! Run: `cargo run --release --example replay -- [--trace FILE]... [--capacity N,N,..]
//! [--shards N,N,..] [--threads N,N,..] [--admission all,tinylfu] [--summary] [--runs N]
//! [--svg DIR] [--moka-room]`
//!
//! `--admission` picks stratacache's admission policies to replay (default both:
//! `Admission::All`, the exact LRU, and `Admission::TinyLfu`).
//!
//! `--summary` prints, instead, TinyLfu's hit ratio against the best of exact LRU, moka and
//! quick_cache for every `--trace` at every `--capacity` (default 250 to 2,000), the
//! geometric means, and how many cells are within a point of the best. `--runs N` (default 1)
//! makes TinyLfu's and the peers' figures the means of N replays, each on a new cache (for
//! TinyLfu, with a hasher of its own seed): the sketch's collisions, and so the hit ratio, depend
//! on the seed (by up to about three points on the small traces), and moka's figures move by up
//! to a point between runs. Exact LRU is the same in every run.
//!
//! `--moka-room` prints, instead, how many entries moka holds while it replays each trace at
//! each capacity (it applies writes in batches, so it holds more than its capacity between
//! them; see `MokaHeld`), and TinyLfu's hit ratio at the capacity and at moka's mean holding
//! (means of `--runs` replays, default 10).
//!
//! `--svg DIR` draws, instead of the table, one chart per trace, `DIR/<trace>.svg`: hit ratio
//! against capacity (the `--capacity` list, default 250 to 3,000) for stratacache (exact LRU
//! and TinyLfu, one shard) and the peers. The SVG is written by hand (a few lines of markup; a
//! plotting crate would need a font backend on the machine to lay out its labels).
//!
//! Traces are read from `tests/data` (or `$STRATACACHE_TRACES`) in the formats of its
//! README: ARC (`*.lis*`) or LIRS (one key a line), gzipped when named `*.gz`. The replay rule is
//! the one the published figures use: `get`, and `insert` on a miss. With several threads,
//! thread `t` replays requests `t, t + T, t + 2T, …`, so together they replay the trace once.
//! Without arguments: OLTP and gli at the capacities with published exact-LRU figures.

#[path = "../benches/support/machine.rs"]
mod machine;
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
    let mut svg: Option<std::path::PathBuf> = None;
    let (mut summary, mut moka_room) = (false, false);
    let mut runs: Option<u32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--summary" || flag == "--moka-room" {
            summary |= flag == "--summary";
            moka_room |= flag == "--moka-room";
            continue;
        }
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
            "--svg" => svg = Some(value.into()),
            "--runs" => runs = Some(value.parse().expect("--runs takes a number")),
            other => panic!("unknown flag {other}; see the doc comment of examples/replay.rs"),
        }
    }
    if traces.is_empty() {
        traces = vec!["OLTP.lis.gz".into(), "gli.trace".into()];
    }
    if summary || moka_room {
        if capacities.is_empty() {
            capacities = vec![250, 500, 1_000, 1_500, 2_000];
        }
        if moka_room {
            print_moka_room(&traces, &capacities, runs.unwrap_or(10).max(1));
        } else {
            print_summary(&traces, &capacities, runs.unwrap_or(1).max(1));
        }
        return;
    }
    if let Some(dir) = svg {
        if capacities.is_empty() {
            capacities = (1..=12).map(|i| i * 250).collect();
        }
        for name in &traces {
            let keys = trace::require(name);
            let series: Vec<(&str, &str, Vec<f64>)> = vec![
                (
                    "stratacache TinyLfu",
                    "#d62728",
                    capacities
                        .iter()
                        .map(|&c| hit_ratio(&one_shard(c, Admission::TinyLfu), &keys))
                        .collect(),
                ),
                (
                    "stratacache exact LRU",
                    "#1f77b4",
                    capacities
                        .iter()
                        .map(|&c| hit_ratio(&one_shard(c, Admission::All), &keys))
                        .collect(),
                ),
                (
                    Moka::NAME,
                    "#2ca02c",
                    capacities
                        .iter()
                        .map(|&c| hit_ratio(&Moka::with_capacity(c as usize), &keys))
                        .collect(),
                ),
                (
                    Quick::NAME,
                    "#9467bd",
                    capacities
                        .iter()
                        .map(|&c| hit_ratio(&Quick::with_capacity(c as usize), &keys))
                        .collect(),
                ),
            ];
            std::fs::create_dir_all(&dir).expect("the --svg directory can be made");
            let stem = name.trim_end_matches(".gz");
            let path = dir.join(format!("{stem}.svg"));
            std::fs::write(&path, chart(stem, &capacities, &series)).expect("the chart is written");
            println!("{}", path.display());
        }
        return;
    }
    println!("Machine: {}\n", machine::describe());
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
                row(
                    MokaHeld::NAME.into(),
                    replay(&MokaHeld::with_capacity(cap as usize), &keys, t),
                );
            }
        }
    }
}

/// moka with its capacity held after every insert. moka applies writes in batches (when 64 are
/// pending, moka's `WRITE_LOG_FLUSH_POINT`, or on its housekeeping timer), so between batches it
/// can hold about 64 entries more than its capacity, where stratacache, quick_cache and `lru` never
/// hold one more: at a capacity of 250 that is up to a quarter more room. `run_pending_tasks` after
/// each insert applies the batch at once, so this row compares hit ratios at the same room (its
/// throughput is not moka's: every insert pays for the housekeeping).
struct MokaHeld(Moka);

impl Bench for MokaHeld {
    const NAME: &'static str = "moka, capacity held";
    fn with_capacity(capacity: usize) -> Self {
        MokaHeld(Moka::with_capacity(capacity))
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v);
        self.0.0.run_pending_tasks();
    }
}

/// stratacache with one shard (so exact LRU is the published exact LRU) and `admission`.
fn one_shard(capacity: u64, admission: Admission) -> Sharded {
    Sharded(
        stratacache::Cache::builder()
            .max_capacity(capacity)
            .shards(1)
            .admission(admission)
            .build()
            .expect("a valid capacity"),
    )
}

/// The hit ratio (%) of one replay of `keys` on one thread.
fn hit_ratio<C: Bench>(cache: &C, keys: &[u64]) -> f64 {
    100.0 * replay(cache, keys, 1).0 as f64 / keys.len() as f64
}

/// A peer's mean hit ratio (%) over `runs` replays, each on a new cache: moka and quick_cache
/// seed their hashers per cache, and moka's admission and housekeeping are not repeatable
/// either.
fn mean_ratio<C: Bench>(capacity: u64, keys: &[u64], runs: u32) -> f64 {
    let sum: f64 = (0..runs)
        .map(|_| hit_ratio(&C::with_capacity(capacity as usize), keys))
        .sum();
    sum / f64::from(runs)
}

/// TinyLfu on one shard, with a hasher of its own seed (std's `RandomState`: each one new
/// keys), where the default hasher is seeded once per process.
struct TinySeeded(stratacache::Cache<u64, u64, std::collections::hash_map::RandomState>);

impl Bench for TinySeeded {
    const NAME: &'static str = "TinyLfu, own seed";
    fn with_capacity(capacity: usize) -> Self {
        TinySeeded(
            stratacache::Cache::builder()
                .max_capacity(capacity as u64)
                .shards(1)
                .admission(Admission::TinyLfu)
                .hasher(std::collections::hash_map::RandomState::new())
                .build()
                .expect("a valid capacity"),
        )
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}

/// TinyLfu's hit ratio (%) on one shard: one replay on the default hasher, or the mean of
/// `runs` replays, each with a hasher of its own seed.
fn tiny_lfu_ratio(capacity: u64, keys: &[u64], runs: u32) -> f64 {
    if runs == 1 {
        hit_ratio(&one_shard(capacity, Admission::TinyLfu), keys)
    } else {
        mean_ratio::<TinySeeded>(capacity, keys, runs)
    }
}

/// `--summary`: TinyLfu's hit ratio against the best of exact LRU, moka and quick_cache at every
/// trace and capacity (one thread, one shard for stratacache), and the geometric means. The
/// difference is also given against moka with its capacity held (see [`MokaHeld`]).
fn print_summary(traces: &[String], capacities: &[u64], runs: u32) {
    println!("Machine: {}\n", machine::describe());
    if runs > 1 {
        println!(
            "TinyLfu, moka and quick_cache: the mean of {runs} replays each, on new caches \
             (TinyLfu's each with a hasher of its own seed).\n"
        );
    }
    println!(
        "| trace | capacity | exact LRU | **TinyLfu** | moka | moka, capacity held | quick_cache \
         | TinyLfu − best other | − best, moka held |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // Per column: the sum of the logarithms, for the geometric means.
    let mut logs = [0.0f64; 5];
    let (mut cells, mut within, mut within_held) = (0, 0, 0);
    for name in traces {
        let keys = trace::require(name);
        for &cap in capacities {
            let r = [
                hit_ratio(&one_shard(cap, Admission::All), &keys),
                tiny_lfu_ratio(cap, &keys, runs),
                mean_ratio::<Moka>(cap, &keys, runs),
                mean_ratio::<MokaHeld>(cap, &keys, runs),
                mean_ratio::<Quick>(cap, &keys, runs),
            ];
            let [exact, tiny, moka, held, quick] = r;
            let best = exact.max(moka).max(quick);
            let best_held = exact.max(held).max(quick);
            println!(
                "| {name} | {cap} | {exact:.1} % | **{tiny:.1} %** | {moka:.1} % | {held:.1} % \
                 | {quick:.1} % | {:+.1} | {:+.1} |",
                tiny - best,
                tiny - best_held
            );
            for (l, v) in logs.iter_mut().zip(r) {
                // A ratio of 0 (exact LRU on a loop larger than the cache) counts as 0.01 %.
                *l += v.max(0.01).ln();
            }
            cells += 1;
            within += usize::from(tiny >= best - 1.0);
            within_held += usize::from(tiny >= best_held - 1.0);
        }
    }
    let n = f64::from(cells.max(1));
    let g = logs.map(|l| (l / n).exp());
    println!(
        "| geometric mean | | {:.1} % | **{:.1} %** | {:.1} % | {:.1} % | {:.1} % | | |",
        g[0], g[1], g[2], g[3], g[4]
    );
    println!(
        "\nTinyLfu within a point of the best other in {within} of {cells} cells \
         ({within_held} with moka's capacity held); geometric mean ahead of exact LRU, moka and \
         quick_cache: {}",
        if g[1] > g[0].max(g[2]).max(g[4]) {
            "yes"
        } else {
            "no"
        }
    );
}

/// `--moka-room`: the entries moka holds while it replays, sampled every 97 requests after the
/// first tenth of the trace (its `iter`, which sees every entry in its map, admitted or still
/// pending), and TinyLfu's hit ratio at the capacity and at moka's mean holding.
fn print_moka_room(traces: &[String], capacities: &[u64], runs: u32) {
    println!("Machine: {}\n", machine::describe());
    println!("Means of {runs} replays each, on new caches.\n");
    println!(
        "| trace | capacity | moka | moka's entries: mean | max | TinyLfu | TinyLfu at moka's \
         mean |"
    );
    println!("|---|---|---|---|---|---|---|");
    for name in traces {
        let keys = trace::require(name);
        for &cap in capacities {
            let (mut ratio, mut held, mut max) = (0.0, 0.0, 0);
            for _ in 0..runs {
                let moka = Moka::with_capacity(cap as usize);
                let (mut hits, mut sum, mut samples) = (0u64, 0usize, 0usize);
                for (i, &k) in keys.iter().enumerate() {
                    hits += u64::from(moka.get_or_insert(k));
                    if i % 97 == 0 && i >= keys.len() / 10 {
                        let n = moka.0.iter().count();
                        sum += n;
                        samples += 1;
                        max = max.max(n);
                    }
                }
                ratio += 100.0 * hits as f64 / keys.len() as f64;
                held += sum as f64 / samples.max(1) as f64;
            }
            let (ratio, held) = (ratio / f64::from(runs), held / f64::from(runs));
            println!(
                "| {name} | {cap} | {ratio:.1} % | {held:.1} | {max} | {:.1} % | {:.1} % |",
                mean_ratio::<TinySeeded>(cap, &keys, runs),
                mean_ratio::<TinySeeded>(held.round() as u64, &keys, runs),
            );
        }
    }
}

/// A line chart of hit ratio (%) against capacity, as SVG markup.
fn chart(title: &str, caps: &[u64], series: &[(&str, &str, Vec<f64>)]) -> String {
    let (w, h, left, right, top, bottom) = (640.0, 400.0, 60.0, 190.0, 40.0, 50.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let max_cap = *caps.iter().max().unwrap_or(&1) as f64;
    let x = |c: u64| left + pw * c as f64 / max_cap;
    let y = |r: f64| top + ph * (1.0 - r / 100.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{title}: hit ratio against capacity</text>\n",
        left + pw / 2.0
    );
    for pct in (0..=100).step_by(20) {
        let yy = y(f64::from(pct));
        s += &format!(
            "<line x1=\"{left}\" y1=\"{yy}\" x2=\"{}\" y2=\"{yy}\" stroke=\"#ddd\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{pct} %</text>\n",
            left + pw,
            left - 6.0,
            yy + 4.0
        );
    }
    for &c in caps.iter().step_by((caps.len() / 6).max(1)) {
        s += &format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{c}</text>\n",
            x(c),
            top + ph + 18.0
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">capacity (entries)</text>\n",
        left + pw / 2.0,
        h - 10.0
    );
    for (i, (name, color, ratios)) in series.iter().enumerate() {
        let points: Vec<String> = caps
            .iter()
            .zip(ratios)
            .map(|(&c, &r)| format!("{:.1},{:.1}", x(c), y(r)))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>\n",
            points.join(" ")
        );
        let ly = top + 20.0 * i as f64 + 10.0;
        s += &format!(
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\"/>\n\
             <text x=\"{}\" y=\"{}\">{name}</text>\n",
            left + pw + 10.0,
            left + pw + 30.0,
            left + pw + 36.0,
            ly + 4.0
        );
    }
    s + "</svg>\n"
}
