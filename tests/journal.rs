//! Write-behind with a journal (`WriteBehindBuilder::journal`): no accepted write is lost to a
//! crash. The crash test kills a writer process with SIGKILL at random moments, 50 times, and
//! checks after each restart that the store holds every acknowledged write; the other tests
//! check recovery before the first flush, damaged journals through `build()`, and the async
//! policy on the same journal.
#![cfg(feature = "sqlite")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;
use stratacache::{Cache, JournalSync, MemoryStore, SqliteStore, Store, WriteBehind};

const KEYS: u64 = 300;
const WRITERS: u64 = 4;

/// A directory no other test or run uses, removed at the end.
struct Dir(PathBuf);
impl Dir {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("stratacache-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
    fn journal(&self) -> PathBuf {
        self.0.join("writes.journal")
    }
    fn db(&self) -> PathBuf {
        self.0.join("store.db")
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sync_of(code: &str) -> JournalSync {
    match code {
        "every" => JournalSync::Every(Duration::from_millis(5)),
        "never" => JournalSync::Never,
        _ => JournalSync::Always,
    }
}

fn policy(
    journal: &Path,
    db: &Path,
    sync: JournalSync,
) -> WriteBehind<u64, u64, SqliteStore<u64, u64>> {
    WriteBehind::builder(Cache::new(1_000), SqliteStore::open(db).unwrap())
        .journal(journal)
        .journal_sync(sync)
        .flush_interval(Duration::from_millis(2))
        .batch_size(64)
        .build()
        .unwrap()
}

/// The writer process of the crash test: recovers the journal, then writes ever larger values
/// (`round * 10^9 + n`) to every key from 4 threads, printing `ACK key value` once each `put`
/// returned, until it is killed.
#[test]
#[ignore = "the writer process of journal_survives_fifty_kills, which runs it"]
fn journal_crash_writer() {
    let var = |k: &str| std::env::var(k).expect("run by journal_survives_fifty_kills");
    let round: u64 = var("CRASH_ROUND").parse().unwrap();
    let p = Arc::new(policy(
        Path::new(&var("CRASH_JOURNAL")),
        Path::new(&var("CRASH_DB")),
        sync_of(&var("CRASH_SYNC")),
    ));
    println!("READY");
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let p = p.clone();
            thread::spawn(move || {
                for n in 1.. {
                    for k in (w..KEYS).step_by(WRITERS as usize) {
                        let v = round * 1_000_000_000 + n;
                        p.put(k, v).unwrap();
                        println!("ACK {k} {v}");
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
}

/// Crash test: 50 rounds of start, write, SIGKILL at a random moment (seeded), restart on the
/// same journal and store, flush, check. Every value a `put` acknowledged, or a newer one, must
/// be in the store, and readable before the flush.
#[test]
fn journal_survives_fifty_kills() {
    let dir = Dir::new("crash");
    let mut acked: HashMap<u64, u64> = HashMap::new();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut total_acks = 0;
    for round in 1..=50u64 {
        let sync = ["always", "every", "never"][(next() % 3) as usize];
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "journal_crash_writer",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env("CRASH_ROUND", round.to_string())
            .env("CRASH_JOURNAL", dir.journal())
            .env("CRASH_DB", dir.db())
            .env("CRASH_SYNC", sync)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, ready) = std::sync::mpsc::channel();
        let reader = {
            let (out, lines) = (child.stdout.take().unwrap(), lines.clone());
            thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if line.contains("READY") {
                        let _ = tx.send(());
                    }
                    lines.lock().unwrap().push(line);
                }
            })
        };
        ready
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("round {round}: the writer never got ready"));
        thread::sleep(Duration::from_millis(2 + next() % 60));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        let mut acks = 0;
        for line in lines.lock().unwrap().iter() {
            let mut w = line.split(' ');
            if let (Some("ACK"), Some(k), Some(v), None) = (w.next(), w.next(), w.next(), w.next())
            {
                let (k, v): (u64, u64) = (k.parse().unwrap(), v.parse().unwrap());
                let a = acked.entry(k).or_insert(0);
                *a = (*a).max(v);
                acks += 1;
            }
        }
        total_acks += acks;

        // Restart on the same journal and store: every acknowledged write is readable at once,
        // and in the store after a flush.
        let p = policy(&dir.journal(), &dir.db(), JournalSync::Always);
        for (&k, &v) in &acked {
            let got = p.get(&k).unwrap().unwrap_or(0);
            assert!(
                got >= v,
                "round {round} ({sync}): key {k} read {got} after {v} was acknowledged"
            );
        }
        p.flush().unwrap();
        drop(p);
        let db: SqliteStore<u64, u64> = SqliteStore::open(dir.db()).unwrap();
        for (&k, &v) in &acked {
            let stored = db.load(&k).unwrap().unwrap_or(0);
            assert!(
                stored >= v,
                "round {round} ({sync}): key {k} holds {stored} after {v} was acknowledged"
            );
        }
    }
    assert!(
        total_acks > 1_000,
        "the writers barely wrote: {total_acks} acknowledgements"
    );
}

/// After a crash with the store down, the journal's writes are served at once, before the
/// flusher could write any of them; the flusher then writes them when the store is back.
#[test]
fn recovered_writes_are_read_before_they_are_flushed() {
    let dir = Dir::new("recover");
    let db = Arc::new(MemoryStore::<u64, String>::new());
    db.set_down(true);
    let build = |db: &Arc<MemoryStore<u64, String>>| {
        WriteBehind::builder(Cache::new(100), db.clone())
            .journal(dir.journal())
            .max_retries(u32::MAX)
            .build()
            .unwrap()
    };
    let p = build(&db);
    p.put(1, "one".into()).unwrap();
    p.put(2, "two".into()).unwrap();
    p.delete(&2).unwrap();
    // A crash: the policy is leaked, not closed (its flusher keeps failing against the store).
    std::mem::forget(p);
    // The leaked policy still holds the journal's lock: a second one is refused, by name.
    let Err(e) = WriteBehind::builder(Cache::new(100), db.clone())
        .journal(dir.journal())
        .build()
    else {
        panic!("two policies on one journal")
    };
    assert!(e.to_string().contains("in use"), "{e}");
    // A copy of the journal stands for the file a crashed process leaves behind.
    let copy = dir.0.join("copy.journal");
    std::fs::copy(dir.journal(), &copy).unwrap();
    let store = Arc::new(MemoryStore::<u64, String>::new());
    store.set_down(true);
    let p = WriteBehind::builder(Cache::new(100), store.clone())
        .journal(&copy)
        .max_retries(u32::MAX)
        .build()
        .unwrap();
    assert_eq!(p.get(&1).unwrap().as_deref(), Some("one"));
    assert_eq!(p.get(&2).unwrap(), None, "the delete is replayed too");
    assert_eq!(p.stats().pending, 2);
    store.set_down(false);
    p.flush().unwrap();
    assert_eq!(store.peek(&1).as_deref(), Some("one"));
    assert_eq!(p.stats().pending, 0);
    drop(p);
    // Flushed and closed: nothing is replayed any more.
    let again = WriteBehind::builder(Cache::new(100), store.clone())
        .journal(&copy)
        .build()
        .unwrap();
    assert_eq!(again.stats().pending, 0);
}

/// A damaged journal fails `build()` with the file and the offset; a torn tail does not.
#[test]
fn a_damaged_journal_fails_build_with_file_and_offset() {
    let dir = Dir::new("damaged");
    let db = Arc::new(MemoryStore::<u64, u64>::new());
    db.set_down(true);
    let p = WriteBehind::builder(Cache::new(100), db.clone())
        .journal(dir.journal())
        .max_retries(u32::MAX)
        .build()
        .unwrap();
    for k in 0..10 {
        p.put(k, k).unwrap();
    }
    let journal = std::fs::read(dir.journal()).unwrap();
    std::mem::forget(p);
    let open = |bytes: &[u8], name: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        WriteBehind::builder(Cache::new(100), Arc::new(MemoryStore::<u64, u64>::new()))
            .journal(&path)
            .build()
            .map(|p| p.stats().pending)
            .map_err(|e| e.to_string())
    };
    // Torn: the last record cut short.
    assert_eq!(open(&journal[..journal.len() - 2], "torn"), Ok(9));
    // A flipped bit in the middle.
    let mut flipped = journal.clone();
    flipped[40] ^= 1;
    let err = open(&flipped, "flipped").unwrap_err();
    assert!(err.contains("flipped") && err.contains("offset"), "{err}");
    // Empty: a new journal.
    assert_eq!(open(&[], "empty"), Ok(0));
    // From a newer version.
    let mut newer = journal.clone();
    newer[8] += 1;
    let err = open(&newer, "newer").unwrap_err();
    assert!(err.contains("format version"), "{err}");
}

/// The async policy takes the same journal: what it accepted survives, and the sync policy
/// recovers it (one file format, one core).
#[test]
#[cfg(feature = "tokio")]
fn the_async_policy_journals_the_same_way() {
    use stratacache::future::{self, Blocking};
    let dir = Dir::new("async");
    let store = Arc::new(MemoryStore::<u64, u64>::new());
    store.set_down(true);
    let rt = common::runtime::rt();
    let p = rt.block_on(async {
        let p = future::WriteBehind::builder(Cache::new(100), Blocking::new(store.clone()))
            .journal(dir.journal())
            .max_retries(u32::MAX)
            .build()
            .unwrap();
        for k in 0..20 {
            p.put(k, k * 10).await.unwrap();
        }
        p
    });
    let copy = dir.0.join("copy.journal");
    std::fs::copy(dir.journal(), &copy).unwrap();
    std::mem::forget(p);
    let db = Arc::new(MemoryStore::<u64, u64>::new());
    let sync = WriteBehind::builder(Cache::new(100), db.clone())
        .journal(&copy)
        .build()
        .unwrap();
    sync.flush().unwrap();
    assert_eq!(db.len(), 20);
    assert_eq!(db.peek(&7), Some(70));
    assert_eq!(sync.get(&3).unwrap(), Some(30));
}
