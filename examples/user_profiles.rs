//! The seed article's scenario in Rust: a slow user database behind an in-process cache.
//!
//! Run: `cargo run --release --features sqlite --example user_profiles`
//!
//! The database is a real SQLite file with 100 ms of artificial latency per call, standing for a
//! database across a network. The walk-through: a read that misses and pays the latency, one that
//! hits in microseconds, a TTL expiry, an update that invalidates the cached copy (cache-aside),
//! the same writes under write-through and write-behind with the time each takes, and the
//! statistics.

use serde::{Deserialize, Serialize};
use std::error::Error;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, CacheAside, SqliteStore, Store, WriteBehind, WriteThrough};

const DB_LATENCY: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_secs(1);
const WRITES: u64 = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    user_id: u64,
    name: String,
    email: String,
}

fn user(id: u64) -> User {
    User {
        user_id: id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

/// Runs `f`, printing how long it took.
fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    println!("  {what:<52} {:>10.3?}", start.elapsed());
    r
}

fn users_cache() -> Result<Cache<u64, User>, stratacache::BuildError> {
    Cache::builder()
        .max_capacity(10_000)
        .time_to_live(TTL)
        .build()
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile_dir()?;
    let db =
        Arc::new(SqliteStore::<u64, User>::open(dir.join("users.db"))?.with_latency(DB_LATENCY));
    for id in [123, 456] {
        db.write(&id, &user(id))?;
    }

    println!("Without caching (every read goes to the database):");
    timed("load user 123", || db.load(&123))?;
    timed("load user 123 again", || db.load(&123))?;

    println!("\nCache-aside with a TTL of {TTL:?}:");
    let users = CacheAside::new(users_cache()?, db.clone());
    let u = timed("get user 456 (miss: loads from the database)", || {
        users.get(&456)
    })?;
    println!("    -> {u:?}");
    timed("get user 456 (hit)", || users.get(&456))?;
    thread::sleep(TTL + Duration::from_millis(50));
    timed("get user 456 after the TTL (miss again)", || {
        users.get(&456)
    })?;
    timed("get user 456 (hit)", || users.get(&456))?;

    println!("\nAn update invalidates the cached copy:");
    let mut changed = user(456);
    changed.email = "new.email@example.com".into();
    timed("put user 456 (writes the database, drops the copy)", || {
        users.put(456, changed.clone())
    })?;
    let u = timed("get user 456 (miss: loads the new email)", || {
        users.get(&456)
    })?;
    println!("    -> {}", u.as_ref().map_or("?", |u| u.email.as_str()));
    assert_eq!(u, Some(changed));
    let s = users.cache().stats();
    println!(
        "  cache-aside stats: {} hits, {} misses, hit ratio {:.2}",
        s.hits,
        s.misses,
        s.hit_ratio()
    );

    println!("\nWrite-through: {WRITES} writes, each to the database and then the cache:");
    let wt = WriteThrough::new(users_cache()?, db.clone());
    timed(&format!("{WRITES} puts"), || {
        (1000..1000 + WRITES).try_for_each(|id| wt.put(id, user(id)))
    })?;
    timed("get user 1005 (hit: the write cached it)", || wt.get(&1005))?;

    println!("\nWrite-behind: {WRITES} writes into the cache, flushed to the database in a batch:");
    let wb = WriteBehind::builder(users_cache()?, db.clone())
        .flush_interval(Duration::from_millis(20))
        .build()?;
    timed(&format!("{WRITES} puts"), || {
        (2000..2000 + WRITES).try_for_each(|id| wb.put(id, user(id)))
    })?;
    timed("get user 2005 (before it reached the database)", || {
        wb.get(&2005)
    })?;
    timed("flush (one batch, one transaction)", || wb.flush())?;
    let s = wb.stats();
    println!(
        "  write-behind stats: {} written, {} pending, {} retried, {} failed",
        s.written, s.pending, s.retried, s.failed
    );
    wb.shutdown()?;
    println!("  rows in the database: {}", db.len()?);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A fresh directory for the example's database.
fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("stratacache-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
