//! A short fleet stampede against a real Redis (the README's table comes from
//! `examples/fleet.rs`, with the same harness, `benches/support/fleet.rs`): 4 processes (this
//! test binary run again, as `fleet_process`) of 8 threads read 10 hot keys whose TTL is 1 s,
//! over a database that takes 50 ms per load, with refresh-ahead, XFetch and fleet-wide leases
//! on. What is counted, not timed: database loads, and callers that got an error or a wrong
//! value.
#![cfg(feature = "redis")]

#[path = "../benches/support/fleet.rs"]
mod fleet;
#[path = "../benches/support/histogram.rs"]
mod histogram;

use fleet::{Config, Mode};
use std::process::Command;
use std::time::Duration;

fn url() -> String {
    std::env::var("STRATACACHE_REDIS_URL")
        .expect("STRATACACHE_REDIS_URL was set when this test was built; set it again to run it")
}

/// One process of the fleet, started by `one_load_per_hot_key_per_ttl_fleet_wide`.
#[test]
#[ignore = "a process of the fleet test, which runs it"]
fn fleet_process() {
    let c = Config::from_env().expect("run by one_load_per_hot_key_per_ttl_fleet_wide");
    fleet::run_process(&c);
}

/// With everything on, the fleet reads each hot key from the database about once per TTL
/// period (the first load of each key included), where plain read-through reads it up to once
/// per process. The bound here is loose (1.5): what it guards against is a load per process.
#[test]
#[cfg_attr(
    not(stratacache_redis),
    ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
)]
fn one_load_per_hot_key_per_ttl_fleet_wide() {
    let ns = format!("fleet-test-{}", std::process::id());
    let mut c = Config::issue(&url(), &ns, Mode::Leases);
    c.run = Duration::from_secs(4);
    let exe = std::env::current_exe().unwrap();
    let total = fleet::run_fleet(&c, || {
        let mut cmd = Command::new(&exe);
        cmd.args(["fleet_process", "--exact", "--ignored", "--nocapture"]);
        cmd
    });
    assert_eq!(total.errors, 0, "a caller got an error or a wrong value");
    assert!(
        total.reads > 1_000,
        "the fleet barely ran: {} reads",
        total.reads
    );
    let per_period = total.loads_per_key_per_period(&c);
    assert!(
        per_period <= 1.5,
        "{per_period:.2} database loads per hot key per TTL period (plain read-through: up to 4)"
    );
    assert!(total.leases_won > 0 && total.refreshes > 0);
}

/// The harness's histogram: quantiles within a ninth, and its text form round-trips.
#[test]
fn histogram_buckets_are_within_a_ninth() {
    let mut h = histogram::Histogram::default();
    for us in 1..=1000u64 {
        h.record(Duration::from_micros(us));
    }
    let p50 = h.quantile(0.5).as_nanos() as f64;
    assert!((p50 / 500_000.0 - 1.0).abs() < 0.12, "{p50}");
    let back = histogram::Histogram::decode(&h.encode());
    assert_eq!(back.quantile(0.99), h.quantile(0.99));
}
