//! Model tests: random operation sequences applied to the cache and to a naive reference LRU
//! (`tests/common/model.rs`), compared after every step: results, listener events with their
//! causes, `len`, `weighted_size` and the counters.

mod common;
use common::model::{Config, Op, build, compare_one_shard};
use common::strategies::config;
use parking_lot::Mutex;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stratacache::{Cache, ManualClock, RemovalCause};

fn op(keys: u8) -> impl Strategy<Value = Op> {
    let k = 0..keys;
    prop_oneof![
        6 => (k.clone(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
        2 => (k.clone(), any::<u32>(), 0u64..6).prop_map(|(k, v, t)| Op::InsertTtl(k, v, t)),
        6 => k.clone().prop_map(Op::Get),
        2 => k.clone().prop_map(Op::Peek),
        2 => k.clone().prop_map(Op::Contains),
        2 => k.clone().prop_map(Op::Remove),
        3 => (k, any::<u32>()).prop_map(|(k, v)| Op::GetOrInsert(k, v)),
        2 => (0u64..4).prop_map(Op::Advance),
        1 => Just(Op::Purge),
        1 => Just(Op::Clear),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    /// One shard: the cache is exactly the textbook LRU, event for event.
    #[test]
    fn one_shard_matches_the_model(cfg in config(), ops in prop::collection::vec(op(12), 1..200)) {
        if let Err(e) = compare_one_shard(cfg, &ops) {
            prop_assert!(false, "{}", e);
        }
    }

    /// Several shards: capacity always holds, and every value ever stored is either present or
    /// was reported to the listener exactly once.
    #[test]
    fn sharded_conserves_values(
        cfg in config(),
        shards in prop::sample::select(vec![2usize, 4, 8]),
        ops in prop::collection::vec(op(40), 1..300),
    ) {
        let cfg = Config { capacity: cfg.capacity.max(8) * 2, ..cfg };
        let real = build(cfg, shards);
        // Make every stored value unique, so that it can be traced.
        let mut next = 0u32;
        let mut stored = Vec::new();
        for op in &ops {
            let op = match *op {
                Op::Insert(k, _) => { next += 1; stored.push(next * 5); Op::Insert(k, next * 5) }
                Op::InsertTtl(k, _, t) => { next += 1; stored.push(next * 5); Op::InsertTtl(k, next * 5, t) }
                Op::GetOrInsert(k, _) => { next += 1; Op::GetOrInsert(k, next * 5) }
                ref other => other.clone(),
            };
            if let Op::GetOrInsert(k, v) = op {
                let before = real.cache.peek(&k).is_some();
                real.apply(&op);
                if !before { stored.push(v); }
            } else {
                real.apply(&op);
            }
            prop_assert!(real.cache.weighted_size() <= real.cache.capacity());
            real.cache.validate();
        }
        // Peek every key first (a peek may itself expire an entry and report it), then count.
        let present: Vec<u32> = (0..40u8).filter_map(|k| real.cache.peek(&k)).collect();
        let mut reported: HashMap<u32, usize> = HashMap::new();
        for (_, v, _) in real.events.lock().iter() {
            *reported.entry(*v).or_default() += 1;
        }
        for v in &stored {
            let reported = reported.get(v).copied().unwrap_or(0);
            let present = present.iter().filter(|p| *p == v).count();
            prop_assert_eq!(reported + present, 1, "value {} is present {} and reported {} times", v, present, reported);
        }
    }
}

#[test]
fn zero_weight_counts_as_one() {
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(3)
        .shards(1)
        .weigher(|_, _| 0)
        .build()
        .unwrap();
    for i in 0..10 {
        cache.insert(i, i);
    }
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.weighted_size(), 3);
}

#[test]
fn heavy_entry_is_rejected_and_reported() {
    let events: Arc<Mutex<Vec<(u32, u32, RemovalCause)>>> = Arc::default();
    let sink = events.clone();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .shards(1)
        .weigher(|_, v| *v)
        .eviction_listener(move |k, v, c| sink.lock().push((k, v, c)))
        .build()
        .unwrap();
    cache.insert(1, 4);
    cache.insert(2, 5);
    cache.insert(1, 11);
    assert_eq!(
        *events.lock(),
        [
            (1, 4, RemovalCause::Replaced),
            (1, 11, RemovalCause::Evicted)
        ]
    );
    assert_eq!(cache.get(&2), Some(5));
    assert_eq!(cache.weighted_size(), 5);
}

#[test]
fn builder_rejects_bad_settings() {
    let e = Cache::<u32, u32>::builder().build().unwrap_err();
    assert!(e.to_string().contains("max_capacity"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("max_capacity"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(10)
        .shards(0)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("shards"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(10)
        .time_to_idle(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("time_to_idle"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(10)
        .shards(1 << 20)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("shards"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(4)
        .shards(5)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("8 shards"), "{e}");
    let e = Cache::<u32, u32>::builder()
        .max_capacity(4)
        .time_to_live(Duration::ZERO)
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("time_to_live"), "{e}");
    let c = Cache::<u32, u32>::builder()
        .max_capacity(100)
        .shards(3)
        .build()
        .unwrap();
    assert_eq!(c.shard_count(), 4);
}

#[test]
#[should_panic(expected = "max_capacity must be at least 1")]
fn new_zero_panics_with_the_reason() {
    let _ = Cache::<u32, u32>::new(0);
}

#[test]
fn capacity_split_over_shards() {
    // 10 over 4 shards: 3, 3, 2, 2. Fill far beyond; each shard holds at most its share.
    let cache: Cache<u32, u32> = Cache::builder().max_capacity(10).shards(4).build().unwrap();
    for i in 0..1000 {
        cache.insert(i, i);
    }
    assert_eq!(cache.len(), 10);
    let mut sizes: Vec<usize> = (0..4).map(|s| cache.shard_keys_lru(s).len()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [2, 2, 3, 3]);
}

#[test]
fn ttl_is_not_extended_by_reads_and_restarts_on_replace() {
    let clock = ManualClock::new();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .time_to_live(Duration::from_secs(10))
        .clock(clock.clone())
        .build()
        .unwrap();
    cache.insert(1, 1);
    clock.advance(Duration::from_secs(9));
    assert_eq!(cache.get(&1), Some(1));
    cache.insert(2, 2);
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&1), None, "a read does not extend the TTL");
    cache.insert(2, 22);
    clock.advance(Duration::from_secs(9));
    assert_eq!(
        cache.get(&2),
        Some(22),
        "a replacing insert restarts the TTL"
    );
    clock.advance(Duration::from_secs(1));
    assert!(!cache.contains_key(&2));
    assert_eq!(cache.stats().expirations, 2);
}

#[test]
fn time_to_idle_restarts_on_every_hit_not_on_contains_key_and_the_first_limit_wins() {
    let clock = ManualClock::new();
    let events = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let sink = events.clone();
    let cache: Cache<u32, u32> = Cache::builder()
        .max_capacity(10)
        .shards(1)
        .time_to_idle(Duration::from_secs(10))
        .time_to_live(Duration::from_secs(25))
        .clock(clock.clone())
        .eviction_listener(move |k, _v, c| sink.lock().push((k, c)))
        .build()
        .unwrap();
    for k in 1..=4 {
        cache.insert(k, k);
    }
    clock.advance(Duration::from_secs(9));
    assert_eq!(cache.get(&1), Some(1), "a hit restarts 1's idle clock");
    assert_eq!(
        cache.peek(&2),
        Some(2),
        "a peek is a hit too: it restarts 2's, and leaves the LRU order alone"
    );
    assert!(
        cache.contains_key(&3),
        "contains_key reads no value: 3's goes on"
    );
    assert_eq!(
        cache.get_or_insert_with(4, || 44),
        4,
        "a get_or_insert hit restarts 4's"
    );
    clock.advance(Duration::from_secs(1));
    assert_eq!(cache.get(&3), None, "3 was not read for 10 s");
    clock.advance(Duration::from_secs(8));
    assert_eq!(cache.get(&1), Some(1));
    assert_eq!(
        cache.peek(&2),
        Some(2),
        "peeked at 9 s, so idle for 9 s only"
    );
    assert_eq!(cache.get(&4), Some(4));
    // The TTL comes first for 1 (inserted at 0, read at 18): 25 s after its insert.
    clock.advance(Duration::from_secs(7));
    assert_eq!(cache.get(&1), None, "the TTL ended first");
    assert_eq!(cache.purge_expired(), 2, "2 and 4 as well");
    assert_eq!(
        *events.lock(),
        [
            (3, RemovalCause::Expired),
            (1, RemovalCause::Expired),
            // In LRU order: the peeks left 2 where its insert put it, before 4.
            (2, RemovalCause::Expired),
            (4, RemovalCause::Expired)
        ]
    );
    assert_eq!(cache.stats().expirations, 4);
}
