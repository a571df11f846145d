//! The seed article's scenario on PostgreSQL: the same walk-through as `user_profiles`, over the
//! service's own `users` table (columns, not blobs) through a `PgTable`.
//!
//! Run: `cargo run --release --features postgres --example user_profiles_postgres -- [CONNINFO]`
//!
//! CONNINFO is a tokio-postgres connection string (default: `$STRATACACHE_POSTGRES_URL`, else
//! `host=127.0.0.1 user=postgres`). The example creates `users` if it is absent and leaves it.

#[path = "support/article.rs"]
mod article;

use article::User;
use std::error::Error;
use stratacache::{PgTable, PostgresStore};

fn main() -> Result<(), Box<dyn Error>> {
    let conninfo = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("STRATACACHE_POSTGRES_URL").ok())
        .unwrap_or_else(|| "host=127.0.0.1 user=postgres".into());
    let users = PgTable::new(
        "SELECT user_id, name, email FROM users WHERE user_id = $1",
        "INSERT INTO users (user_id, name, email) VALUES ($1, $2, $3)
         ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email",
        "DELETE FROM users WHERE user_id = $1",
        |id: &u64, p| {
            p.push(i64::try_from(*id)?);
            Ok(())
        },
        |u: &User, p| {
            p.push(u.name.clone()).push(u.email.clone());
            Ok(())
        },
        |row| {
            let id: i64 = row.try_get(0)?;
            Ok(User {
                user_id: u64::try_from(id)?,
                name: row.try_get(1)?,
                email: row.try_get(2)?,
            })
        },
    )
    .create(
        "CREATE TABLE IF NOT EXISTS users (
             user_id BIGINT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL)",
    )
    .count("SELECT COUNT(*) FROM users");
    let db = PostgresStore::connect_with_table(&conninfo, users)?;
    article::walk_through(db, |db| Ok(db.len()?))
}
