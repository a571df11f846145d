//! Fill leases across a fleet, with a `MemoryStore` as the shared front tier (the same
//! scenarios run against Redis in `tests/redis.rs`): one database read per miss fleet-wide, a
//! crashed holder blocks only until its lease expires, an absent key gives its lease back.

mod common;

use std::time::Duration;
use stratacache::MemoryStore;

const LEASE: Duration = Duration::from_millis(200);

fn front() -> MemoryStore<u32, u64> {
    MemoryStore::new().with_fill_lease(LEASE)
}

#[test]
fn lease_protocol() {
    common::leases::lease_protocol(&front(), LEASE);
}

#[test]
fn one_database_read_per_fleet_miss() {
    common::leases::one_database_read_per_fleet_miss(front());
}

#[test]
fn a_crashed_holder_blocks_until_its_lease_expires() {
    common::leases::a_crashed_holder_blocks_until_its_lease_expires(front());
}

#[test]
fn an_absent_key_releases_its_lease() {
    common::leases::an_absent_key_releases_its_lease(front());
}
