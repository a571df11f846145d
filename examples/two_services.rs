//! Two instances of a service share Redis and a SQLite database; an update in one drops the
//! stale copy from the other's in-process cache.
//!
//! Run: `cargo run --release --features sqlite,redis --example two_services`
//! (uses `$STRATACACHE_REDIS_URL`, or starts Debian's `redis-server` on a free port).
//!
//! Each instance: an in-process `Cache` (the near cache), read through `CacheAside` from a
//! `Layered` store — Redis (shared, with a TTL) in front of SQLite (the database) — whose writes
//! are announced on the `InvalidationBus`.

#[path = "../benches/support/redis_server.rs"]
mod redis_server;

use serde::{Deserialize, Serialize};
use std::error::Error;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{
    Cache, CacheAside, Invalidation, InvalidationBus, Layered, Publishing, RedisStore, SqliteStore,
    Store,
};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    name: String,
    email: String,
}

type Db = Layered<RedisStore<u64, User>, SqliteStore<u64, User>>;
type Service = CacheAside<u64, User, Publishing<Arc<Db>, u64>>;

/// One instance of the service: its own near cache and bus, the shared tiers.
fn instance(
    url: &str,
    tiers: Arc<Db>,
) -> Result<(Arc<Service>, InvalidationBus<u64>), Box<dyn Error>> {
    let cache = Cache::builder()
        .max_capacity(10_000)
        .time_to_live(Duration::from_secs(60))
        .build()?;
    let service = Arc::new(CacheAside::new(cache, Publishing::new(tiers, None)));
    let s = service.clone();
    let bus = InvalidationBus::connect(url, "users", move |inv| match inv {
        Invalidation::Key(id) => s.invalidate(&id),
        Invalidation::All => s.invalidate_all(),
    })?;
    service.store().attach(&bus);
    while !bus.is_subscribed() {
        thread::sleep(Duration::from_millis(5));
    }
    Ok((service, bus))
}

fn main() -> Result<(), Box<dyn Error>> {
    let redis = redis_server::find_or_start()?;
    let dir = std::env::temp_dir().join(format!("stratacache-two-services-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite: SqliteStore<u64, User> = SqliteStore::open(dir.join("users.db"))?;
    let front = RedisStore::open(&redis.url)?
        .with_namespace(&format!("users-{}", std::process::id()))
        .with_ttl(Duration::from_secs(3600));
    let tiers = Arc::new(Layered::new(front, sqlite));
    let alice = User {
        name: "Alice".into(),
        email: "alice@example.com".into(),
    };
    tiers.back().write(&456, &alice)?;

    let (a, _bus_a) = instance(&redis.url, tiers.clone())?;
    let (b, bus_b) = instance(&redis.url, tiers.clone())?;
    println!(
        "Redis at {}; two instances, A and B, each with its own in-process cache",
        redis.url
    );

    let t = Instant::now();
    println!(
        "A reads user 456: {:?} ({:.1?}, from SQLite, fills Redis)",
        a.get(&456)?.map(|u| u.email),
        t.elapsed()
    );
    let t = Instant::now();
    println!(
        "B reads user 456: {:?} ({:.1?}, from Redis)",
        b.get(&456)?.map(|u| u.email),
        t.elapsed()
    );
    let t = Instant::now();
    println!(
        "B reads user 456: {:?} ({:.1?}, from B's own cache)",
        b.get(&456)?.map(|u| u.email),
        t.elapsed()
    );

    let updated = User {
        name: "Alice".into(),
        email: "new.email@example.com".into(),
    };
    a.put(456, updated)?;
    println!("A updates the email: SQLite, then Redis, then an invalidation on the bus");
    let t = Instant::now();
    while b.cache().contains_key(&456) {
        thread::sleep(Duration::from_micros(50));
    }
    println!(
        "B's cached copy is gone after {:.1?} ({} invalidation received)",
        t.elapsed(),
        bus_b.received()
    );
    println!("B reads user 456: {:?}", b.get(&456)?.map(|u| u.email));
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
