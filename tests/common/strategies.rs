//! proptest strategies the property tests share (not used by the fuzz harness, which has no
//! proptest).
#![allow(dead_code)]

use super::model::Config;
use proptest::prelude::*;

/// A cache configuration: capacity 1 to 12, weighted or not, with or without a TTL and a
/// time-to-idle of 1 to 5 seconds.
pub fn config() -> impl Strategy<Value = Config> {
    (
        1u64..13,
        any::<bool>(),
        prop::option::of(1u64..6),
        prop::option::of(1u64..6),
    )
        .prop_map(|(capacity, weighted, ttl, tti)| Config {
            capacity,
            weighted,
            ttl,
            tti,
        })
}
