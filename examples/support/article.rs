//! The seed article's walk-through, over any store of users: shared by `user_profiles`
//! (SQLite) and `user_profiles_postgres` (PostgreSQL, the user's own `users` table).

use serde::{Deserialize, Serialize};
use std::error::Error;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, CacheAside, Store, WriteBehind, WriteOp, WriteThrough};

pub const DB_LATENCY: Duration = Duration::from_millis(100);
const TTL: Duration = Duration::from_secs(1);
const WRITES: u64 = 10;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub user_id: u64,
    pub name: String,
    pub email: String,
}

pub fn user(id: u64) -> User {
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

/// The walk-through over `db`, any store of users, which it slows down by [`DB_LATENCY`] per
/// call; `rows` counts the rows of the database at the end.
pub fn walk_through<S>(
    db: S,
    rows: impl FnOnce(&S) -> Result<u64, Box<dyn Error>>,
) -> Result<(), Box<dyn Error>>
where
    S: Store<u64, User> + 'static,
{
    let db = Arc::new(Slow(db));
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
    println!("  rows in the database: {}", rows(&db.0)?);
    Ok(())
}

/// A store `DB_LATENCY` away: every call sleeps that long first (a batch sleeps once), standing
/// for a database across a network.
struct Slow<S>(S);

impl<S: Store<u64, User>> Store<u64, User> for Slow<S> {
    type Error = S::Error;
    fn load(&self, key: &u64) -> Result<Option<User>, S::Error> {
        thread::sleep(DB_LATENCY);
        self.0.load(key)
    }
    fn write(&self, key: &u64, value: &User) -> Result<(), S::Error> {
        thread::sleep(DB_LATENCY);
        self.0.write(key, value)
    }
    fn delete(&self, key: &u64) -> Result<(), S::Error> {
        thread::sleep(DB_LATENCY);
        self.0.delete(key)
    }
    fn write_batch(&self, ops: &[WriteOp<u64, User>]) -> Result<(), S::Error> {
        thread::sleep(DB_LATENCY);
        self.0.write_batch(ops)
    }
}
