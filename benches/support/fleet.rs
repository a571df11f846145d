//! The fleet stampede harness (issue 13), shared by `examples/fleet.rs` (the README's figures)
//! and `tests/fleet.rs` (a short run in CI): `processes` OS processes, each with `threads`
//! threads, read `keys` hot keys through an in-process cache (TTL `ttl`) over a `Layered` store:
//! Redis (shared, TTL `ttl`) in front of a database that takes 50 ms per load. Each process
//! counts its database loads and its callers' latencies; the parent adds them up.
//!
//! A process is this same binary run again (`spawn` says how), configured by environment
//! variables, printing one `FLEET ...` line.
#![allow(dead_code)]

use crate::histogram::Histogram;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, CacheAside, Layered, MemoryStore, PolicyOptions, RedisStore, Store};

/// What a run compares: each row adds one mechanism to the one before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Read-through: a miss in the process reads Redis, a miss there reads the database.
    Plain,
    /// + `refresh_after(ttl / 2)`.
    Refresh,
    /// + `early_refresh(1.0)`.
    XFetch,
    /// + fleet-wide fill leases (`Layered` waits for the lease holder's fill).
    Leases,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Plain, Mode::Refresh, Mode::XFetch, Mode::Leases];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Plain => "plain read-through",
            Mode::Refresh => "+ refresh-ahead",
            Mode::XFetch => "+ XFetch",
            Mode::Leases => "+ leases",
        }
    }

    fn code(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Refresh => "refresh",
            Mode::XFetch => "xfetch",
            Mode::Leases => "leases",
        }
    }

    fn parse(s: &str) -> Mode {
        Mode::ALL
            .into_iter()
            .find(|m| m.code() == s)
            .expect("a known mode")
    }
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub url: String,
    pub namespace: String,
    pub mode: Mode,
    pub processes: usize,
    pub threads: usize,
    pub keys: u64,
    pub ttl: Duration,
    pub run: Duration,
    pub db_latency: Duration,
    /// Each caller pauses this long between two reads.
    pub pace: Duration,
}

impl Config {
    /// The issue's setting: 4 processes of 8 threads, 10 hot keys, TTL 1 s, 10 s, 50 ms loads.
    pub fn issue(url: &str, namespace: &str, mode: Mode) -> Self {
        Config {
            url: url.into(),
            namespace: namespace.into(),
            mode,
            processes: 4,
            threads: 8,
            keys: 10,
            ttl: Duration::from_secs(1),
            run: Duration::from_secs(10),
            db_latency: Duration::from_millis(50),
            pace: Duration::from_millis(1),
        }
    }

    fn to_env(&self, cmd: &mut Command) {
        cmd.env("FLEET_URL", &self.url)
            .env("FLEET_NS", &self.namespace)
            .env("FLEET_MODE", self.mode.code())
            .env("FLEET_THREADS", self.threads.to_string())
            .env("FLEET_KEYS", self.keys.to_string())
            .env("FLEET_TTL_MS", self.ttl.as_millis().to_string())
            .env("FLEET_RUN_MS", self.run.as_millis().to_string())
            .env("FLEET_DB_MS", self.db_latency.as_millis().to_string())
            .env("FLEET_PACE_US", self.pace.as_micros().to_string());
    }

    /// The settings a process was started with, if it is a fleet process.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok();
        let num = |k: &str| var(k).and_then(|v| v.parse::<u64>().ok());
        Some(Config {
            url: var("FLEET_URL")?,
            namespace: var("FLEET_NS")?,
            mode: Mode::parse(&var("FLEET_MODE")?),
            processes: 1,
            threads: num("FLEET_THREADS")? as usize,
            keys: num("FLEET_KEYS")?,
            ttl: Duration::from_millis(num("FLEET_TTL_MS")?),
            run: Duration::from_millis(num("FLEET_RUN_MS")?),
            db_latency: Duration::from_millis(num("FLEET_DB_MS")?),
            pace: Duration::from_micros(num("FLEET_PACE_US")?),
        })
    }
}

/// What one process (or the whole fleet, added up) measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub db_loads: u64,
    pub reads: u64,
    pub errors: u64,
    pub latency: Histogram,
    pub leases_won: u64,
    pub leases_waited: u64,
    pub leases_expired: u64,
    pub refreshes: u64,
    pub stale_served: u64,
}

impl Report {
    fn line(&self) -> String {
        format!(
            "FLEET loads={} reads={} errors={} won={} waited={} expired={} refreshes={} stale={} hist={}",
            self.db_loads,
            self.reads,
            self.errors,
            self.leases_won,
            self.leases_waited,
            self.leases_expired,
            self.refreshes,
            self.stale_served,
            self.latency.encode()
        )
    }

    fn parse(line: &str) -> Option<Report> {
        let rest = &line[line.find("FLEET ")? + 6..];
        let mut r = Report::default();
        for field in rest.split(' ') {
            let (k, v) = field.split_once('=')?;
            let n = || v.parse::<u64>().unwrap_or(0);
            match k {
                "loads" => r.db_loads = n(),
                "reads" => r.reads = n(),
                "errors" => r.errors = n(),
                "won" => r.leases_won = n(),
                "waited" => r.leases_waited = n(),
                "expired" => r.leases_expired = n(),
                "refreshes" => r.refreshes = n(),
                "stale" => r.stale_served = n(),
                "hist" => r.latency = Histogram::decode(v),
                _ => {}
            }
        }
        Some(r)
    }

    fn add(&mut self, o: &Report) {
        self.db_loads += o.db_loads;
        self.reads += o.reads;
        self.errors += o.errors;
        self.leases_won += o.leases_won;
        self.leases_waited += o.leases_waited;
        self.leases_expired += o.leases_expired;
        self.refreshes += o.refreshes;
        self.stale_served += o.stale_served;
        self.latency.merge(&o.latency);
    }

    /// Database loads per hot key per TTL period, fleet-wide.
    pub fn loads_per_key_per_period(&self, c: &Config) -> f64 {
        let periods = c.run.as_secs_f64() / c.ttl.as_secs_f64();
        self.db_loads as f64 / c.keys as f64 / periods
    }
}

type Tiers = Layered<RedisStore<u64, u64>, Arc<MemoryStore<u64, u64>>>;

/// One fleet process: runs `c` and prints its `FLEET` line.
pub fn run_process(c: &Config) {
    let db = Arc::new(MemoryStore::new());
    for k in 0..c.keys {
        db.write(&k, &k).unwrap();
    }
    db.set_latency(c.db_latency);
    let front = RedisStore::open(&c.url)
        .unwrap()
        .with_namespace(&c.namespace)
        .with_ttl(c.ttl)
        .with_fill_lease(Duration::from_secs(2));
    let mut tiers: Tiers = Layered::new(front, db.clone());
    if c.mode == Mode::Plain || c.mode == Mode::Refresh || c.mode == Mode::XFetch {
        tiers = tiers.with_lease_wait(Duration::ZERO);
    }
    let mut options = PolicyOptions::new();
    if c.mode != Mode::Plain {
        options = options.refresh_after(c.ttl / 2);
    }
    if c.mode == Mode::XFetch || c.mode == Mode::Leases {
        options = options.early_refresh(1.0);
    }
    let cache = Cache::builder()
        .max_capacity(1_000)
        .time_to_live(c.ttl)
        .build()
        .unwrap();
    let policy = Arc::new(CacheAside::with_options(cache, tiers, options));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicU64::new(0));
    let callers: Vec<_> = (0..c.threads)
        .map(|t| {
            let (p, stop, errors, c) = (policy.clone(), stop.clone(), errors.clone(), c.clone());
            thread::spawn(move || {
                let mut hist = Histogram::default();
                let mut x =
                    0x9e37_79b9_7f4a_7c15u64 ^ (t as u64 + 1) ^ u64::from(std::process::id());
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let k = x % c.keys;
                    let start = Instant::now();
                    match p.get(&k) {
                        Ok(Some(v)) if v == k => {}
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    hist.record(start.elapsed());
                    reads += 1;
                    thread::sleep(c.pace);
                }
                (hist, reads)
            })
        })
        .collect();
    thread::sleep(c.run);
    stop.store(true, Ordering::Relaxed);
    let mut report = Report::default();
    for h in callers {
        let (hist, reads) = h.join().unwrap();
        report.latency.merge(&hist);
        report.reads += reads;
    }
    let leases = policy.store().lease_stats();
    let refresh = policy.refresh_stats();
    report.db_loads = db.loads();
    report.errors = errors.load(Ordering::Relaxed);
    report.leases_won = leases.won;
    report.leases_waited = leases.waited;
    report.leases_expired = leases.expired;
    report.refreshes = refresh.refreshes_started;
    report.stale_served = refresh.stale_served;
    println!("{}", report.line());
}

/// Runs `c.processes` processes at once (each made by `spawn`, which must run
/// [`run_process`] with the environment it is given) and adds up what they measured.
pub fn run_fleet(c: &Config, spawn: impl Fn() -> Command) -> Report {
    let children: Vec<_> = (0..c.processes)
        .map(|_| {
            let mut cmd = spawn();
            c.to_env(&mut cmd);
            cmd.stdout(Stdio::piped())
                .spawn()
                .expect("a fleet process starts")
        })
        .collect();
    let mut total = Report::default();
    for mut child in children {
        let out = BufReader::new(child.stdout.take().unwrap());
        // Read to the end: a closed pipe would fail the process's later output.
        let reports: Vec<Report> = out
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| Report::parse(&l))
            .collect();
        let report = reports.first().expect("a fleet process reports");
        assert!(child.wait().unwrap().success(), "a fleet process failed");
        total.add(report);
    }
    total
}

/// The latency of a read that Redis answers (a hit in the shared tier, no in-process cache):
/// `n` `GET`s of one present key, one at a time.
pub fn redis_hit_latency(url: &str, namespace: &str, n: usize) -> Histogram {
    let store: RedisStore<u64, u64> = RedisStore::open(url).unwrap().with_namespace(namespace);
    store.write(&0, &0).unwrap();
    let mut h = Histogram::default();
    for _ in 0..n {
        let start = Instant::now();
        assert_eq!(store.load(&0).unwrap(), Some(0));
        h.record(start.elapsed());
    }
    h
}
