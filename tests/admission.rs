//! TinyLFU admission and lossy promotion: not exact LRU, so checked against properties instead
//! of the model. Every answer is the last value written to its key (or nothing), nothing
//! expired is served, capacity holds, the shard validates, and every value handed to the cache
//! is either still there or was reported to the listener exactly once. Plus: a scan cannot
//! flush a hot set with TinyLFU.

mod common;

use common::model::{Config, Op};
use common::properties::{KEYS, check};
use common::strategies::config;
use proptest::prelude::*;
use stratacache::{Admission, Cache, Promotion};

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..KEYS, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        1 => (0..KEYS, any::<u32>(), 0u64..6).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        6 => (0..KEYS).prop_map(Op::Get),
        1 => (0..KEYS).prop_map(Op::Peek),
        1 => (0..KEYS).prop_map(Op::Contains),
        1 => (0..KEYS).prop_map(Op::Remove),
        3 => (0..KEYS, any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
        1 => (0u64..4).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tiny_lfu_keeps_every_property(cfg in config(), ops in prop::collection::vec(op(), 1..200)) {
        check(cfg, Admission::TinyLfu, Promotion::Exact, &ops).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn lossy_promotion_keeps_every_property(
        cfg in config(),
        ops in prop::collection::vec(op(), 1..200),
        tiny in any::<bool>(),
    ) {
        let admission = if tiny { Admission::TinyLfu } else { Admission::All };
        check(cfg, admission, Promotion::Lossy, &ops).map_err(TestCaseError::fail)?;
    }
}

/// The harness can fail: an exact LRU on the same checks passes (it is the model's cache), so
/// the checks are about the cache, not the admission policy.
#[test]
fn exact_lru_keeps_every_property_too() {
    let cfg = Config {
        capacity: 4,
        weighted: true,
        ttl: Some(3),
        tti: None,
    };
    let ops: Vec<Op> = (0..300u32)
        .map(|i| match i % 7 {
            0 | 3 => Op::Insert((i % 11) as u8, i),
            1 => Op::Get((i % 5) as u8),
            2 => Op::GetOrInsert((i % 13) as u8, i),
            4 => Op::Advance(u64::from(i % 2)),
            5 => Op::Remove((i % 3) as u8),
            _ => Op::Peek((i % 9) as u8),
        })
        .collect();
    check(cfg, Admission::All, Promotion::Exact, &ops).unwrap();
}

/// A hot set read again and again survives scans of keys read once, which flush an exact LRU.
#[test]
fn a_scan_cannot_flush_a_hot_set() {
    let run = |admission| {
        let cache: Cache<u32, u32> = Cache::builder()
            .max_capacity(1_000)
            .shards(1)
            .admission(admission)
            .build()
            .unwrap();
        for round in 0..20u32 {
            for k in 0..500 {
                cache.get_or_insert_with(k, || k);
            }
            let scan = 1_000_000 * (round + 1);
            for k in scan..scan + 5_000 {
                cache.get_or_insert_with(k, || k);
            }
        }
        (0..500).filter(|k| cache.contains_key(k)).count()
    };
    assert_eq!(run(Admission::All), 0, "the scan flushes an exact LRU");
    let kept = run(Admission::TinyLfu);
    assert!(kept >= 490, "TinyLFU kept only {kept} of the 500 hot keys");
}
