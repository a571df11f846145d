//! Stampedes and staleness across a fleet (issue 13): the README's two tables.
//!
//! Run: `cargo run --release --features redis --example fleet`
//! (uses `$STRATACACHE_REDIS_URL`, or starts Debian's `redis-server` on a free port).
//! Options: `--seconds N` (each fleet run, default 10), `--staleness-seconds N` (default 10).
//!
//! 1. **Fleet stampede.** 4 processes of 8 threads read 10 hot keys (TTL 1 s, in the process and
//!    in Redis) for 10 s over a database that takes 50 ms per load, four times: plain
//!    read-through, then adding refresh-ahead, XFetch and fleet-wide leases one after the
//!    other. Printed: database loads per hot key per TTL period (fleet-wide), and the callers'
//!    latency, against the latency of a read that Redis answers.
//! 2. **Staleness with lost invalidations.** Service A writes 100 keys about 1,000 times a second;
//!    service B reads them through its own cache (TTL 60 s) while its bus drops 1 % of the
//!    messages. Printed: the worst staleness B served, against the documented bound.

#[path = "../benches/support/fleet.rs"]
mod fleet;
#[path = "../benches/support/histogram.rs"]
mod histogram;
#[path = "../benches/support/machine.rs"]
mod machine;
#[path = "../benches/support/redis_server.rs"]
mod redis_server;

use fleet::{Config, Mode};
use histogram::Histogram;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::error::Error;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{
    Cache, CacheAside, DEFAULT_RECONCILE_INTERVAL, Invalidation, InvalidationBus, MemoryStore,
    Publishing,
};

fn arg(name: &str) -> Option<u64> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn ms(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    if let Some(c) = Config::from_env() {
        fleet::run_process(&c);
        return Ok(());
    }
    let redis = redis_server::find_or_start()?;
    let run = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
    let seconds = arg("--seconds").unwrap_or(10);

    println!("Machine: {}\n", machine::describe());
    let hit = fleet::redis_hit_latency(&redis.url, &format!("fleet-hit-{run}"), 20_000);
    println!(
        "A read that Redis answers (GET on loopback, one at a time): p50 {}, p99 {}\n",
        ms(hit.quantile(0.5)),
        ms(hit.quantile(0.99))
    );
    println!(
        "Fleet stampede: 4 processes x 8 threads, 10 hot keys, TTL 1 s, {seconds} s, 50 ms loads"
    );
    println!(
        "| configuration | DB loads per hot key per TTL period | caller p50 | caller p99 | p99 / Redis-read p50 | caller p99.9 | slowest caller | leases won / waited / not waited for |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for mode in Mode::ALL {
        let mut c = Config::issue(&redis.url, &format!("fleet-{run}-{mode:?}"), mode);
        c.run = Duration::from_secs(seconds);
        let exe = std::env::current_exe()?;
        let total = fleet::run_fleet(&c, || Command::new(&exe));
        assert_eq!(total.errors, 0, "a caller got an error or a wrong value");
        let p99 = total.latency.quantile(0.99);
        println!(
            "| {} | {:.2} | {} | {} | {:.2}x | {} | {} | {} / {} / {} |",
            mode.name(),
            total.loads_per_key_per_period(&c),
            ms(total.latency.quantile(0.5)),
            ms(p99),
            p99.as_secs_f64() / hit.quantile(0.5).as_secs_f64(),
            ms(total.latency.quantile(0.999)),
            ms(total.latency.max()),
            total.leases_won,
            total.leases_waited,
            total.leases_expired,
        );
    }
    println!();
    staleness(&redis.url, &format!("fleet-stale-{run}"))?;
    Ok(())
}

/// Each key's history: its current value, and when each older value was replaced.
#[derive(Default)]
struct Truth {
    current: HashMap<u64, u64>,
    replaced: HashMap<(u64, u64), Instant>,
}

fn staleness(url: &str, ns: &str) -> Result<(), Box<dyn Error>> {
    let seconds = arg("--staleness-seconds").unwrap_or(10);
    let db = Arc::new(MemoryStore::<u64, u64>::new());
    let a = Arc::new(CacheAside::new(
        Cache::new(1_000),
        Publishing::new(db.clone(), None),
    ));
    let bus_a = InvalidationBus::connect(url, ns, |_: Invalidation<u64>| {})?;
    a.store().attach(&bus_a);
    let cache = Cache::builder()
        .max_capacity(1_000)
        .time_to_live(Duration::from_secs(60))
        .build()?;
    let b = Arc::new(CacheAside::new(cache, db.clone()));
    let b2 = b.clone();
    let bus_b = InvalidationBus::connect(url, ns, move |inv| match inv {
        Invalidation::Key(k) => b2.invalidate(&k),
        Invalidation::All => b2.invalidate_all(),
    })?;
    while !(bus_a.is_subscribed() && bus_b.is_subscribed()) {
        thread::sleep(Duration::from_millis(5));
    }
    bus_b.lose_one_in(100);
    let truth = Arc::new(Mutex::new(Truth::default()));
    for k in 0..100u64 {
        a.put(k, 0)?;
        truth.lock().current.insert(k, 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (a, truth, stop) = (a.clone(), truth.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let k = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 57; // 0..128
                let k = k % 100;
                let old = truth.lock().current[&k];
                a.put(k, n).unwrap();
                let mut t = truth.lock();
                t.current.insert(k, n);
                t.replaced.insert((k, old), Instant::now());
                drop(t);
                thread::sleep(Duration::from_millis(1));
            }
            n
        })
    };
    let readers: Vec<_> = (0..2u64)
        .map(|r| {
            let (b, truth, stop) = (b.clone(), truth.clone(), stop.clone());
            thread::spawn(move || {
                let mut worst = Duration::ZERO;
                let mut stale_reads = 0u64;
                let mut hist = Histogram::default();
                let mut x = 0x2545_f491_4f6c_dd1du64 + r;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % 100;
                    let asked = Instant::now();
                    let v = b.get(&k).unwrap().unwrap();
                    // Stale: replaced before this read began.
                    if let Some(&at) = truth.lock().replaced.get(&(k, v))
                        && at < asked
                    {
                        let age = asked - at;
                        worst = worst.max(age);
                        stale_reads += 1;
                        hist.record(age);
                    }
                }
                (worst, stale_reads, hist)
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().unwrap();
    let (mut worst, mut stale, mut hist) = (Duration::ZERO, 0, Histogram::default());
    for r in readers {
        let (w, s, h) = r.join().unwrap();
        worst = worst.max(w);
        stale += s;
        hist.merge(&h);
    }
    let bound = 2 * DEFAULT_RECONCILE_INTERVAL;
    println!(
        "Staleness with lost invalidations: {writes} writes in {seconds} s, 1 % of B's bus messages dropped, B's local TTL 60 s"
    );
    println!(
        "| losses detected | stale reads | p99 staleness of a stale read | worst staleness | documented bound |"
    );
    println!("|---|---|---|---|---|");
    println!(
        "| {} | {stale} | {} | {} | next message of the publisher, at most {} (2 reconciliation intervals) |",
        bus_b.lost(),
        ms(hist.quantile(0.99)),
        ms(worst),
        ms(bound),
    );
    Ok(())
}
