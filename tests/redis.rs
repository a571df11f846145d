//! The shared tier against a real Redis server: `RedisStore`, the layered store, and the
//! invalidation bus between two caches in one process and between two processes; faults with a
//! server the test starts and kills itself.
//!
//! Tests that need Redis read `STRATACACHE_REDIS_URL` (`.ci/run` starts a server and sets it).
//! Without it they show as ignored, with the reason, in the summary (`build.rs` sets the cfg
//! `stratacache_redis` when the variable is set), and under `CI=true` the check
//! `redis_is_configured_under_ci` fails: a test that did not run never passes.
#![cfg(feature = "redis")]

mod common;

use common::gate::Gated;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{
    Cache, CacheAside, ErrorKind, Invalidation, InvalidationBus, Layered, MemoryStore, Publishing,
    RedisStore, Store, ValueCodec, WriteBehind, WriteOp, WriteThrough,
};

/// The server the tests use; they are compiled as ignored when it is not set.
fn url() -> String {
    std::env::var("STRATACACHE_REDIS_URL")
        .expect("STRATACACHE_REDIS_URL was set when this test was built; set it again to run it")
}

/// Under CI a Redis server must be there: its tests must not show up as merely ignored.
#[test]
fn redis_is_configured_under_ci() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            std::env::var("STRATACACHE_REDIS_URL").is_ok_and(|u| !u.is_empty()),
            "CI=true but STRATACACHE_REDIS_URL is not set: the Redis tests would not run"
        );
        let built_with_redis = cfg!(stratacache_redis);
        assert!(
            built_with_redis,
            "CI=true but the Redis tests were built without STRATACACHE_REDIS_URL"
        );
    }
}

/// A namespace no other test or run shares.
fn namespace(test: &str) -> String {
    format!(
        "test-{}-{test}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    )
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A policy whose writes are announced on a bus that invalidates its own cache's peers.
type Coherent = CacheAside<u64, String, Publishing<Arc<RedisStore<u64, String>>, u64>>;

fn coherent(
    url: &str,
    ns: &str,
    db: Arc<RedisStore<u64, String>>,
) -> (Arc<Coherent>, InvalidationBus<u64>) {
    let policy = Arc::new(CacheAside::new(
        Cache::new(1_000),
        Publishing::new(db, None),
    ));
    let p = policy.clone();
    let bus = InvalidationBus::connect(url, ns, move |inv| match inv {
        Invalidation::Key(k) => p.invalidate(&k),
        Invalidation::All => p.invalidate_all(),
    })
    .unwrap();
    policy.store().attach(&bus);
    assert!(
        eventually(Duration::from_secs(5), || bus.is_subscribed()),
        "bus never subscribed"
    );
    (policy, bus)
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn store_round_trip_namespaces_and_ttl() {
    let url = url();
    let ns = namespace("store");
    let store: RedisStore<String, Vec<u32>> = RedisStore::open(&url).unwrap().with_namespace(&ns);
    let other: RedisStore<String, Vec<u32>> = RedisStore::open(&url)
        .unwrap()
        .with_namespace(&format!("{ns}-other"));
    store.ping().unwrap();
    assert_eq!(store.load(&"a".into()).unwrap(), None);
    store.write(&"a".into(), &vec![1, 2, 3]).unwrap();
    assert_eq!(store.load(&"a".into()).unwrap(), Some(vec![1, 2, 3]));
    assert_eq!(
        other.load(&"a".into()).unwrap(),
        None,
        "namespaces do not meet"
    );
    store
        .write_batch(&[
            WriteOp::Put("b".into(), vec![4]),
            WriteOp::Delete("a".into()),
            WriteOp::Put("b".into(), vec![5]),
        ])
        .unwrap();
    assert_eq!(store.load(&"a".into()).unwrap(), None);
    assert_eq!(store.load(&"b".into()).unwrap(), Some(vec![5]));
    store.delete(&"b".into()).unwrap();
    assert_eq!(store.load(&"b".into()).unwrap(), None);

    // A Redis-side TTL: the key carries an expiry.
    let ttl: RedisStore<u8, u8> = RedisStore::open(&url)
        .unwrap()
        .with_namespace(&ns)
        .with_ttl(Duration::from_secs(60));
    ttl.write(&1, &1).unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let raw = format!("{ns}:1"); // a key with a text form is named by it
    let secs: i64 = redis::cmd("TTL").arg(raw).query(&mut con).unwrap();
    assert!((1..=60).contains(&secs), "TTL {secs}");
    // SET NX: a fill does not overwrite.
    ttl.write_if_absent(&1, &2).unwrap();
    assert_eq!(ttl.load(&1).unwrap(), Some(1));
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn keys_are_readable_text_and_values_can_be_json() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct User {
        name: String,
        email: String,
    }
    let url = url();
    let ns = namespace("readable");
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut con = client.get_connection().unwrap();
    let alice = User {
        name: "Alice".into(),
        email: "alice@example.com".into(),
    };

    // What another service (or redis-cli) sees: `users:9` holding JSON.
    let users: RedisStore<u64, User> = RedisStore::open(&url)
        .unwrap()
        .with_namespace(&ns)
        .with_codec(ValueCodec::Json);
    users.write(&9, &alice).unwrap();
    let raw: String = redis::cmd("GET")
        .arg(format!("{ns}:9"))
        .query(&mut con)
        .unwrap();
    assert_eq!(raw, r#"{"name":"Alice","email":"alice@example.com"}"#);
    // ...and what it writes there, the store reads.
    let _: () = redis::cmd("SET")
        .arg(format!("{ns}:10"))
        .arg(r#"{"name":"Bob","email":"bob@example.com"}"#)
        .query(&mut con)
        .unwrap();
    assert_eq!(users.load(&10).unwrap().unwrap().name, "Bob");
    // String keys render as themselves, colons and all.
    let by_name: RedisStore<String, u32> = RedisStore::open(&url)
        .unwrap()
        .with_namespace(&ns)
        .with_codec(ValueCodec::Json);
    by_name.write(&"a:b".into(), &7).unwrap();
    let raw: String = redis::cmd("GET")
        .arg(format!("{ns}:a:b"))
        .query(&mut con)
        .unwrap();
    assert_eq!(raw, "7");
    // A key type without a text form (a tuple) still round-trips, under its binary name.
    let pairs: RedisStore<(u32, u32), u32> = RedisStore::open(&url).unwrap().with_namespace(&ns);
    pairs.write(&(1, 2), &3).unwrap();
    assert_eq!(pairs.load(&(1, 2)).unwrap(), Some(3));
    assert_eq!(pairs.load(&(2, 1)).unwrap(), None);
    // A value the other codec wrote is an error, not a wrong value.
    let postcard: RedisStore<u64, User> = RedisStore::open(&url).unwrap().with_namespace(&ns);
    let e = postcard.load(&9).unwrap_err();
    assert!(!e.is_unavailable(), "{e}");
    assert!(e.to_string().contains("encoding"), "{e}");
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn layered_store_fills_redis_and_writes_through_both() {
    let url = url();
    let ns = namespace("layered");
    let db = Arc::new(MemoryStore::<u64, String>::new());
    db.write(&1, &"from db".into()).unwrap();
    let redis: RedisStore<u64, String> = RedisStore::open(&url).unwrap().with_namespace(&ns);
    let tiers = Layered::new(redis, db.clone());
    assert_eq!(tiers.load(&1).unwrap(), Some("from db".into()));
    assert_eq!(
        tiers.front().load(&1).unwrap(),
        Some("from db".into()),
        "filled"
    );
    db.write(&1, &"db changed behind our back".into()).unwrap();
    assert_eq!(
        tiers.load(&1).unwrap(),
        Some("from db".into()),
        "served by redis"
    );
    tiers.write(&1, &"new".into()).unwrap();
    assert_eq!(tiers.front().load(&1).unwrap(), Some("new".into()));
    assert_eq!(db.peek(&1), Some("new".into()));
    tiers.delete(&1).unwrap();
    assert_eq!(tiers.front().load(&1).unwrap(), None);
    // Every policy works over it.
    let policy = WriteThrough::new(Cache::new(10), tiers);
    policy.put(2, "two".into()).unwrap();
    assert_eq!(policy.get(&2).unwrap(), Some("two".into()));
    assert_eq!(db.peek(&2), Some("two".into()));
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn two_caches_in_one_process_stay_coherent_under_load() {
    let url = url();
    let ns = namespace("coherent");
    let db = Arc::new(
        RedisStore::<u64, String>::open(&url)
            .unwrap()
            .with_namespace(&ns),
    );
    let (a, bus_a) = coherent(&url, &ns, db.clone());
    let (b, bus_b) = coherent(&url, &ns, db.clone());
    a.put(1, "0".into()).unwrap();
    // Let A's announcement of that write reach B first, so that it does not drop B's copy.
    assert!(eventually(Duration::from_secs(5), || bus_b.received() == 1));
    assert_eq!(b.get(&1).unwrap().as_deref(), Some("0"));
    assert!(b.cache().contains_key(&1));

    // Background load: A writes other keys, B reads them.
    let stop = Arc::new(AtomicBool::new(false));
    let noise: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let stop = stop.clone();
            thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    if i == 0 {
                        p.put(100 + n % 50, n.to_string()).unwrap();
                    } else {
                        p.get(&(100 + n % 50)).unwrap();
                    }
                }
            })
        })
        .collect();

    // A reader in B never sees the value go backwards, and sees the last write once its
    // invalidation has arrived.
    let reader = {
        let (b, stop) = (b.clone(), stop.clone());
        thread::spawn(move || {
            let mut last = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v: u64 = b.get(&1).unwrap().unwrap().parse().unwrap();
                assert!(v >= last, "B read {v} after {last}");
                last = v;
            }
        })
    };
    for i in 1..=200u64 {
        a.put(1, i.to_string()).unwrap();
    }
    // (Until the last invalidation arrives, B may still serve, or even load, 199.)
    assert!(
        eventually(Duration::from_secs(10), || b.get(&1).unwrap().as_deref()
            == Some("200")),
        "B kept a stale copy"
    );
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    for n in noise {
        n.join().unwrap();
    }
    assert!(bus_b.received() > 0);
    assert_eq!(bus_a.resets() + bus_b.resets(), 0);
}

/// Two services on one Redis database and namespace, each with its cache and bus.
fn two_services(
    test: &str,
) -> (
    Arc<Coherent>,
    InvalidationBus<u64>,
    Arc<Coherent>,
    InvalidationBus<u64>,
) {
    let url = url();
    let ns = namespace(test);
    let db = Arc::new(
        RedisStore::<u64, String>::open(&url)
            .unwrap()
            .with_namespace(&ns),
    );
    let (a, bus_a) = coherent(&url, &ns, db.clone());
    let (b, bus_b) = coherent(&url, &ns, db);
    (a, bus_a, b, bus_b)
}

/// Lost invalidations are found by the gap in the publisher's numbers: B drops about every
/// other message A sends, yet ends with A's last value, and counts the losses.
#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn lost_invalidations_are_found_by_gaps() {
    let (a, _bus_a, b, bus_b) = two_services("gaps");
    // Reconciliation would find the losses too, later: keep it out of this test's way.
    let bus_b = bus_b.with_reconcile_interval(Duration::from_secs(3600));
    bus_b.lose_one_in(2);
    for k in 0..20u64 {
        a.put(k, "old".into()).unwrap();
    }
    for k in 0..20u64 {
        b.get(&k).unwrap();
    }
    for k in 0..20u64 {
        a.put(k, "new".into()).unwrap();
    }
    a.put(99, "last".into()).unwrap(); // a message after the last loss shows the gap
    assert!(
        eventually(Duration::from_secs(10), || {
            (0..20u64).all(|k| b.get(&k).unwrap().as_deref() == Some("new"))
        }),
        "B kept a value whose invalidation was lost"
    );
    assert!(bus_b.lost() > 0, "no loss detected");
}

/// A lost last message shows no gap (nothing follows it): reconciliation finds it. B loses
/// every message; its copy goes within two reconciliation intervals.
#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn a_lost_last_invalidation_is_found_by_reconciliation() {
    let (a, _bus_a, b, bus_b) = two_services("reconcile");
    let bus_b = bus_b.with_reconcile_interval(Duration::from_millis(50));
    bus_b.lose_one_in(1);
    a.put(1, "old".into()).unwrap();
    assert_eq!(b.get(&1).unwrap().as_deref(), Some("old"));
    a.put(1, "new".into()).unwrap();
    assert!(
        eventually(Duration::from_secs(10), || b.get(&1).unwrap().as_deref()
            == Some("new")),
        "reconciliation never noticed the lost invalidation"
    );
    assert!(bus_b.lost() > 0);
    assert_eq!(bus_b.received(), 0, "every message was lost");
}

/// Issue 11, violation 4: a load misses Redis, reads "old" from the database and stalls; a
/// `delete` (or `write`) goes through both tiers; the stalled fill must then not put "old" back
/// into Redis, where every process would read it.
fn redis_fill_racing(ns: &str, write: impl FnOnce(&Layered<RedisStore<u32, u64>, Arc<Gated>>)) {
    let front: RedisStore<u32, u64> = RedisStore::open(&url()).unwrap().with_namespace(ns);
    let tiers = common::gate::fill_racing(front, write);
    assert_eq!(
        tiers.front().load(&1).unwrap(),
        tiers.back().inner.peek(&1),
        "Redis holds what the stalled fill read, not what the database holds"
    );
    // Without a race, a miss fills Redis.
    tiers.back().inner.write(&2, &20).unwrap();
    assert_eq!(tiers.load(&2).unwrap(), Some(20));
    assert_eq!(tiers.front().load(&2).unwrap(), Some(20));
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn layered_redis_fill_does_not_resurrect_a_deleted_value() {
    redis_fill_racing(&namespace("fill-delete"), |t| t.delete(&1).unwrap());
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn layered_redis_fill_does_not_overwrite_a_newer_write() {
    redis_fill_racing(&namespace("fill-write"), |t| t.write(&1, &2).unwrap());
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn redis_fill_leases_follow_the_protocol() {
    let lasts = Duration::from_millis(300);
    let store: RedisStore<u32, u64> = RedisStore::open(&url())
        .unwrap()
        .with_namespace(&namespace("leases"))
        .with_fill_lease(lasts);
    common::leases::lease_protocol(&store, lasts);
}

/// A front on Redis with short leases, for the fleet scenarios.
fn lease_front(test: &str) -> RedisStore<u32, u64> {
    RedisStore::open(&url())
        .unwrap()
        .with_namespace(&namespace(test))
        .with_fill_lease(Duration::from_millis(200))
}

/// The fleet lease scenarios of `tests/common/leases.rs`, on a Redis front.
macro_rules! redis_lease_scenarios {
    ($($name:ident),*) => {
        $(
            #[test]
            #[cfg_attr(
                not(stratacache_redis),
                ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
            )]
            fn $name() {
                common::leases::$name(lease_front(stringify!($name)));
            }
        )*
    };
}

redis_lease_scenarios!(
    one_database_read_per_fleet_miss,
    a_crashed_holder_blocks_until_its_lease_expires,
    an_absent_key_releases_its_lease
);

/// Issue 11, violation 6: an idle, healthy bus must stay subscribed. It pings after 1 s of
/// quiet; in RESP2 subscribed mode Redis answers `["pong", ""]`, which once read as a dead
/// connection and reset the bus (and cleared the cache) about every 1.2 s.
#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn idle_bus_stays_subscribed_and_sends_all_once() {
    let alls = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let a = alls.clone();
    let bus: InvalidationBus<u64> =
        InvalidationBus::connect(&url(), &namespace("idle-bus"), move |inv| {
            if matches!(inv, Invalidation::All) {
                a.fetch_add(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || bus.is_subscribed()));
    // Three ping rounds of quiet (the bus pings after 1 s without a message).
    thread::sleep(Duration::from_millis(3_500));
    assert!(bus.is_subscribed());
    assert_eq!(bus.resets(), 0, "an idle, healthy bus reset itself");
    assert_eq!(alls.load(Ordering::SeqCst), 1, "one All, at subscription");
}

/// The second process of `two_processes_share_invalidations`: caches key 1, says so, and waits
/// for its copy to be dropped. The parent runs it (with `--ignored`) and sets
/// `STRATACACHE_PEER_NS`; on its own it has nothing to do.
#[test]
#[ignore = "the second process of two_processes_share_invalidations, which runs it"]
fn peer_process() {
    let ns =
        std::env::var("STRATACACHE_PEER_NS").expect("run by two_processes_share_invalidations");
    let url = url();
    let db = Arc::new(
        RedisStore::<u64, String>::open(&url)
            .unwrap()
            .with_namespace(&ns),
    );
    let (policy, _bus) = coherent(&url, &ns, db);
    let v = policy.get(&1).unwrap();
    println!("PEER ready {v:?}");
    let gone = eventually(Duration::from_secs(10), || !policy.cache().contains_key(&1));
    println!("PEER gone={gone} {:?}", policy.get(&1).unwrap());
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn two_processes_share_invalidations() {
    let url = url();
    let ns = namespace("processes");
    let db = Arc::new(
        RedisStore::<u64, String>::open(&url)
            .unwrap()
            .with_namespace(&ns),
    );
    let (policy, _bus) = coherent(&url, &ns, db);
    policy.put(1, "old".into()).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "peer_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("STRATACACHE_PEER_NS", &ns)
        .env("STRATACACHE_REDIS_URL", &url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_peer_line = || {
        lines
            .by_ref()
            .map(|l| l.unwrap())
            // libtest may print its own words before ours on the same line.
            .find_map(|l| l.find("PEER ").map(|i| l[i..].to_string()))
            .expect("the peer process ended early")
    };
    assert_eq!(next_peer_line(), "PEER ready Some(\"old\")");
    // A concurrent write load on other keys while the invalidation travels.
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (p, stop) = (policy.clone(), stop.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                p.put(1_000 + n % 100, n.to_string()).unwrap();
            }
        })
    };
    policy.put(1, "new".into()).unwrap();
    assert_eq!(next_peer_line(), "PEER gone=true Some(\"new\")");
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(child.wait().unwrap().success());
}

/// A redis-server of the test's own, on a free loopback port.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(port: Option<u16>) -> Server {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn();
        let child = child.unwrap_or_else(|e| {
            panic!(
                "redis-server not found (the Redis tests need it on PATH; .ci/run installs it): {e}"
            )
        });
        let s = Server { child, port };
        let probe: RedisStore<u8, u8> = RedisStore::open(&s.url()).unwrap();
        assert!(
            eventually(Duration::from_secs(10), || probe.ping().is_ok()),
            "redis-server did not start"
        );
        s
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn faults_fail_promptly_clear_local_caches_and_recover() {
    let server = Server::start(None);
    let (url, port) = (server.url(), server.port);
    let ns = namespace("faults");
    let db = Arc::new(
        RedisStore::<u64, String>::open(&url)
            .unwrap()
            .with_namespace(&ns)
            .with_timeouts(Duration::from_millis(300), Duration::from_millis(300)),
    );
    let (policy, bus) = coherent(&url, &ns, db.clone());
    policy.put(1, "one".into()).unwrap();
    assert_eq!(policy.get(&1).unwrap().as_deref(), Some("one"));
    assert!(policy.cache().contains_key(&1));

    // Write-behind over the same server, with room to retry across the outage.
    let wb_store: RedisStore<u64, String> = RedisStore::open(&url)
        .unwrap()
        .with_namespace(&format!("{ns}-wb"))
        .with_timeouts(Duration::from_millis(300), Duration::from_millis(300));
    let wb = WriteBehind::builder(Cache::new(100), wb_store)
        .max_retries(1_000)
        .retry_backoff(Duration::from_millis(20))
        .flush_interval(Duration::from_millis(5))
        .build()
        .unwrap();
    wb.put(1, "before".into()).unwrap();
    wb.flush().unwrap();

    drop(server); // the server dies
    assert!(
        eventually(Duration::from_secs(10), || bus.resets() > 0),
        "the bus did not notice"
    );
    assert!(
        !policy.cache().contains_key(&1),
        "the local cache was not cleared"
    );
    // Operations fail promptly, with a clear error.
    let start = Instant::now();
    let e = policy.get(&1).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(e.kind(), ErrorKind::Store);
    assert!(e.to_string().contains("redis"), "{e}");
    // Writes accepted by write-behind during the outage are kept.
    for i in 0..20u64 {
        wb.put(100 + i, format!("during {i}")).unwrap();
    }

    let server = Server::start(Some(port));
    assert!(
        eventually(Duration::from_secs(10), || bus.is_subscribed()),
        "the bus did not resubscribe"
    );
    assert!(eventually(Duration::from_secs(10), || policy
        .put(1, "back".into())
        .is_ok()));
    assert_eq!(policy.get(&1).unwrap().as_deref(), Some("back"));
    wb.flush().unwrap();
    let check: RedisStore<u64, String> = RedisStore::open(&server.url())
        .unwrap()
        .with_namespace(&format!("{ns}-wb"));
    let got: HashMap<u64, String> = (0..20u64)
        .map(|i| (100 + i, check.load(&(100 + i)).unwrap().unwrap()))
        .collect();
    for i in 0..20u64 {
        assert_eq!(got[&(100 + i)], format!("during {i}"));
    }
    assert_eq!(wb.stats().failed, 0);
}

/// The async store (features `tokio` and `redis`) speaks the sync store's format: what one
/// writes the other reads, fill leases included; an async policy runs over it, and its writes
/// reach another process's cache through the bus.
#[cfg(feature = "tokio")]
#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn async_store_shares_the_format_and_the_bus() {
    use stratacache::future::{self, AsyncStore};
    let ns = namespace("async");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store: future::RedisStore<u64, String> = future::RedisStore::connect(&url())
            .await
            .unwrap()
            .with_namespace(&ns);
        let sync: RedisStore<u64, String> = RedisStore::open(&url()).unwrap().with_namespace(&ns);
        store.write(&1, &"one".into()).await.unwrap();
        assert_eq!(sync.load(&1).unwrap(), Some("one".into()));
        sync.write(&2, &"two".into()).unwrap();
        assert_eq!(store.load(&2).await.unwrap(), Some("two".into()));
        store
            .write_batch(&[WriteOp::Put(3, "three".into()), WriteOp::Delete(1)])
            .await
            .unwrap();
        assert_eq!(sync.load(&1).unwrap(), None);
        // Leases: a write between the miss and the fill voids the fill.
        let stratacache::Leased::Miss(Some(lease)) = store.load_or_lease(&4).await.unwrap() else {
            panic!("a miss gets a lease")
        };
        sync.write(&4, &"newer".into()).unwrap();
        assert!(!store.fill(&4, &"older".into(), lease).await.unwrap());
        assert_eq!(store.load(&4).await.unwrap(), Some("newer".into()));
        // One lease at a time, across the two clients; a release gives it back.
        let stratacache::Leased::Miss(Some(lease)) = store.load_or_lease(&5).await.unwrap() else {
            panic!("a miss gets a lease")
        };
        assert_eq!(sync.load_or_lease(&5).unwrap(), stratacache::Leased::Held);
        store.release(&5, lease).await.unwrap();
        assert!(matches!(
            sync.load_or_lease(&5).unwrap(),
            stratacache::Leased::Miss(Some(_))
        ));

        // Two async services sharing the store, coherent through the bus.
        let db = Arc::new(store);
        let make = |db: Arc<future::RedisStore<u64, String>>| {
            let policy = future::CacheAside::new(Cache::new(100), Publishing::new(db, None));
            let p = policy.clone();
            let bus = InvalidationBus::connect(&url(), &ns, move |inv| match inv {
                Invalidation::Key(k) => p.invalidate(&k),
                Invalidation::All => p.invalidate_all(),
            })
            .unwrap();
            policy.store().attach(&bus);
            (policy, bus)
        };
        let (a, bus_a) = make(db.clone());
        let (b, bus_b) = make(db);
        assert!(eventually(Duration::from_secs(10), || bus_a
            .is_subscribed()
            && bus_b.is_subscribed()));
        assert_eq!(b.get(&3).await.unwrap(), Some("three".into()));
        a.put(3, "tres".into()).await.unwrap();
        assert!(eventually(Duration::from_secs(10), || !b
            .cache()
            .contains_key(&3)));
        assert_eq!(b.get(&3).await.unwrap(), Some("tres".into()));
    });
}
