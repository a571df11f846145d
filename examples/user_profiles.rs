//! The seed article's scenario in Rust: a slow user database behind an in-process cache.
//!
//! Run: `cargo run --release --features sqlite --example user_profiles`
//!
//! The database is a real SQLite file with 100 ms of artificial latency per call, standing for a
//! database across a network. The walk-through: a read that misses and pays the latency, one that
//! hits in microseconds, a TTL expiry, an update that invalidates the cached copy (cache-aside),
//! the same writes under write-through and write-behind with the time each takes, and the
//! statistics. `user_profiles_postgres` runs the same walk-through on PostgreSQL.

#[path = "support/article.rs"]
mod article;

use std::error::Error;
use stratacache::SqliteStore;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = std::env::temp_dir().join(format!("stratacache-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = SqliteStore::<u64, article::User>::open(dir.join("users.db"))?;
    article::walk_through(db, |db| Ok(db.len()?))?;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
