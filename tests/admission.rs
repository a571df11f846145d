//! TinyLFU admission and lossy promotion: not exact LRU, so checked against properties instead
//! of the model. Every answer is the last value written to its key (or nothing), nothing
//! expired is served, capacity holds, the shard validates, and every value handed to the cache
//! is either still there or was reported to the listener exactly once. Plus: a scan cannot
//! flush a hot set with TinyLFU.

mod common;

use common::model::{Config, Op, weight_of};
use parking_lot::Mutex;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use stratacache::{Admission, Cache, ManualClock, Promotion};

const KEYS: u8 = 16;

/// Applies `ops` to a one-shard cache with `admission` and `promotion`, checking the properties
/// after every step; the first violation, if any.
fn check(
    cfg: Config,
    admission: Admission,
    promotion: Promotion,
    ops: &[Op],
) -> Result<(), String> {
    let clock = ManualClock::new();
    let reported: Arc<Mutex<HashMap<u32, u32>>> = Arc::default();
    let sink = reported.clone();
    let mut b = Cache::builder()
        .max_capacity(cfg.capacity)
        .shards(1)
        .admission(admission)
        .promotion(promotion)
        .clock(clock.clone())
        .eviction_listener(move |_k: u8, v: u32, _c| *sink.lock().entry(v).or_default() += 1);
    if cfg.weighted {
        b = b.weigher(|_k, v| weight_of(*v));
    }
    if let Some(t) = cfg.ttl {
        b = b.time_to_live(Duration::from_secs(t));
    }
    if let Some(t) = cfg.tti {
        b = b.time_to_idle(Duration::from_secs(t));
    }
    let cache: Cache<u8, u32> = b.build().unwrap();
    // Values are made unique per step, so that each one can be followed.
    let handed: AtomicU32 = AtomicU32::new(0);
    let mut last: HashMap<u8, u32> = HashMap::new();
    let mut written_at: HashMap<u8, (u64, Option<u64>)> = HashMap::new();
    let mut now = 0u64;
    let mut live_values: Vec<u32> = Vec::new();
    for (step, op) in ops.iter().enumerate() {
        let v = (step as u32) * 5 + 1 + step as u32 % 5; // unique, every weight 0..=4 occurs
        let at = || format!("step {step} {op:?} of {cfg:?} {admission:?} {promotion:?}");
        let served = |k: u8, got: Option<u32>, last: &HashMap<u8, u32>| -> Result<(), String> {
            match got {
                Some(g) if last.get(&k) != Some(&g) => Err(format!(
                    "{}: served {g} for {k}, last written {:?}",
                    at(),
                    last.get(&k)
                )),
                _ => Ok(()),
            }
        };
        match *op {
            Op::Insert(k, _) => {
                cache.insert(k, v);
                handed.fetch_add(1, Ordering::Relaxed);
                live_values.push(v);
                last.insert(k, v);
                written_at.insert(k, (now, cfg.ttl));
            }
            Op::InsertTtl(k, _, t) => {
                cache.insert_with_ttl(k, v, Duration::from_secs(t));
                handed.fetch_add(1, Ordering::Relaxed);
                live_values.push(v);
                last.insert(k, v);
                written_at.insert(k, (now, Some(t)));
            }
            Op::Get(k) => served(k, cache.get(&k), &last)?,
            Op::Peek(k) => served(k, cache.peek(&k), &last)?,
            Op::Contains(k) => drop(cache.contains_key(&k)),
            Op::Remove(k) => {
                let got = cache.remove(&k);
                served(k, got, &last)?;
                if got.is_some() {
                    last.remove(&k);
                }
            }
            Op::GetOrInsert(k, _) => {
                let mut ran = false;
                let got = cache.get_or_insert_with(k, || {
                    ran = true;
                    v
                });
                if ran {
                    handed.fetch_add(1, Ordering::Relaxed);
                    live_values.push(v);
                    last.insert(k, v);
                    written_at.insert(k, (now, cfg.ttl));
                } else {
                    served(k, Some(got), &last)?;
                }
            }
            Op::Advance(d) => {
                now += d;
                clock.advance(Duration::from_secs(d));
            }
            Op::Purge => drop(cache.purge_expired()),
            Op::Clear => cache.clear(),
        }
        // Nothing past its TTL is there.
        for (&k, &(at_t, ttl)) in &written_at {
            if let Some(t) = ttl
                && now >= at_t + t
                && cache.peek(&k).is_some_and(|g| last.get(&k) == Some(&g))
            {
                return Err(format!("{}: key {k} served past its TTL", at()));
            }
        }
        cache.validate();
        if cache.weighted_size() > cfg.capacity {
            return Err(format!(
                "{}: weight {} over capacity",
                at(),
                cache.weighted_size()
            ));
        }
        // Conservation: each value handed in is cached, or was reported, exactly once.
        // (Peeking first: a peek that finds an expired entry reports it to the listener.)
        let cached: Vec<u32> = (0..KEYS).filter_map(|k| cache.peek(&k)).collect();
        let reported = reported.lock();
        for &value in &live_values {
            let n = reported.get(&value).copied().unwrap_or(0) + u32::from(cached.contains(&value));
            if n != 1 {
                return Err(format!("{}: value {value} accounted {n} times", at()));
            }
        }
    }
    Ok(())
}

fn config() -> impl Strategy<Value = Config> {
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
