//! The write-durability benchmark (issue 14), shared by `examples/durability.rs` (the README's
//! table) and `benches/journal.rs` (criterion): `threads` writers each make `puts` puts of
//! distinct keys through one policy over SQLite on a file, and the time until every put has
//! returned is measured, with each put's latency.
#![allow(dead_code)]

use crate::histogram::Histogram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, JournalSync, SqliteStore, WriteBehind, WriteThrough};

/// What a put goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// Write-through over `SqliteStore` as it ships (WAL, `synchronous = NORMAL`: a commit
    /// survives a process crash, not a power cut).
    Through,
    /// Write-through with every commit synced (`with_full_sync`): survives a power cut.
    ThroughFull,
    /// Write-behind, no journal: a crash loses what is queued.
    Behind,
    /// Write-behind with a journal, under each sync choice.
    Journal(JournalSync),
}

impl Setup {
    pub const ALL: [Setup; 6] = [
        Setup::Through,
        Setup::ThroughFull,
        Setup::Behind,
        Setup::Journal(JournalSync::Always),
        Setup::Journal(JournalSync::Every(Duration::from_secs(1))),
        Setup::Journal(JournalSync::Never),
    ];

    pub fn name(self) -> &'static str {
        match self {
            Setup::Through => "write-through (SQLite NORMAL)",
            Setup::ThroughFull => "write-through (SQLite FULL: every commit synced)",
            Setup::Behind => "write-behind, no journal",
            Setup::Journal(JournalSync::Always) => "write-behind + journal, `Always`",
            Setup::Journal(JournalSync::Every(_)) => "write-behind + journal, `Every(1 s)`",
            Setup::Journal(_) => "write-behind + journal, `Never`",
        }
    }

    /// What a crash of the process / a power cut can lose after `put` returned.
    pub fn loses(self) -> (&'static str, &'static str) {
        match self {
            Setup::Through => ("nothing", "the last commits"),
            Setup::ThroughFull => ("nothing", "nothing"),
            Setup::Behind => ("every queued write", "every queued write"),
            Setup::Journal(JournalSync::Always) => ("nothing", "nothing"),
            Setup::Journal(JournalSync::Every(_)) => ("nothing", "up to 1 s of writes"),
            Setup::Journal(_) => ("nothing", "what the OS had not written"),
        }
    }
}

/// A fresh directory for one run, removed afterwards.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!(
            "stratacache-durability-{}-{tag}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One put's value: a small row.
fn row(k: u64) -> String {
    format!("user {k}: name, email and a few more fields of a typical row")
}

trait Put: Send + Sync {
    fn put(&self, k: u64, v: String);
}

impl Put for WriteThrough<u64, String, SqliteStore<u64, String>> {
    fn put(&self, k: u64, v: String) {
        WriteThrough::put(self, k, v).unwrap();
    }
}

impl Put for WriteBehind<u64, String, SqliteStore<u64, String>> {
    fn put(&self, k: u64, v: String) {
        WriteBehind::put(self, k, v).unwrap();
    }
}

fn policy(setup: Setup, dir: &Path) -> Arc<dyn Put> {
    let db = SqliteStore::open(dir.join("db.sqlite")).unwrap();
    let cache = Cache::new(1_000_000);
    match setup {
        Setup::Through => Arc::new(WriteThrough::new(cache, db)),
        Setup::ThroughFull => Arc::new(WriteThrough::new(cache, db.with_full_sync().unwrap())),
        Setup::Behind => Arc::new(WriteBehind::builder(cache, db).build().unwrap()),
        Setup::Journal(sync) => Arc::new(
            WriteBehind::builder(cache, db)
                .journal(dir.join("writes.journal"))
                .journal_sync(sync)
                .build()
                .unwrap(),
        ),
    }
}

/// `threads` writers, `puts` puts each: the time until all returned, and their latencies.
/// (Write-behind's flush afterwards is not timed: the puts' callers do not wait for it.)
pub fn run(setup: Setup, threads: usize, puts: u64) -> (Duration, Histogram) {
    let dir = Scratch::new("run");
    let p = policy(setup, &dir.0);
    let start = Arc::new(Barrier::new(threads + 1));
    let writers: Vec<_> = (0..threads as u64)
        .map(|t| {
            let (p, start) = (p.clone(), start.clone());
            thread::spawn(move || {
                let mut h = Histogram::default();
                start.wait();
                for i in 0..puts {
                    let k = t * puts + i;
                    let v = row(k);
                    let at = Instant::now();
                    p.put(k, v);
                    h.record(at.elapsed());
                }
                h
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    let mut all = Histogram::default();
    for w in writers {
        all.merge(&w.join().unwrap());
    }
    let took = began.elapsed();
    drop(p); // write-behind flushes here
    (took, all)
}
