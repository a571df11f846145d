//! Model tests: random operation sequences applied to the cache and to a naive reference LRU
//! (a `Vec` in recency order), compared after every step: results, listener events with their
//! causes, `len`, `weighted_size` and the counters.

use parking_lot::Mutex;
use proptest::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use stratacache::{Cache, CacheStats, ManualClock, RemovalCause};

type Event = (u8, u32, RemovalCause);

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u32),
    InsertTtl(u8, u32, u64),
    Get(u8),
    Peek(u8),
    Contains(u8),
    Remove(u8),
    GetOrInsert(u8, u32),
    Advance(u64),
    Purge,
    Clear,
}

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

#[derive(Clone, Copy, Debug)]
struct Config {
    capacity: u64,
    weighted: bool,
    ttl: Option<u64>,
}

fn config() -> impl Strategy<Value = Config> {
    (1u64..12, any::<bool>(), prop::option::of(1u64..6)).prop_map(|(capacity, weighted, ttl)| {
        Config {
            capacity,
            weighted,
            ttl,
        }
    })
}

/// The weigher both sides use: 0..=4, where 0 counts as 1.
fn weight_of(v: u32) -> u32 {
    v % 5
}

struct Entry {
    key: u8,
    value: u32,
    weight: u64,
    deadline: Option<u64>,
}

/// A textbook LRU: `entries[0]` is the least recently used.
struct Model {
    cfg: Config,
    now: u64,
    entries: Vec<Entry>,
    events: Vec<Event>,
    stats: CacheStats,
}

impl Model {
    fn new(cfg: Config) -> Self {
        Model {
            cfg,
            now: 0,
            entries: Vec::new(),
            events: Vec::new(),
            stats: CacheStats::default(),
        }
    }

    fn expired(&self, e: &Entry) -> bool {
        e.deadline.is_some_and(|d| self.now >= d)
    }

    fn weight(&self) -> u64 {
        self.entries.iter().map(|e| e.weight).sum()
    }

    /// The position of the live entry under `key`; an expired one is removed as `Expired`.
    fn find_live(&mut self, key: u8) -> Option<usize> {
        let i = self.entries.iter().position(|e| e.key == key)?;
        if self.expired(&self.entries[i]) {
            let e = self.entries.remove(i);
            self.stats.expirations += 1;
            self.events.push((e.key, e.value, RemovalCause::Expired));
            return None;
        }
        Some(i)
    }

    fn get(&mut self, key: u8, promote: bool) -> Option<u32> {
        match self.find_live(key) {
            Some(i) => {
                self.stats.hits += 1;
                let v = self.entries[i].value;
                if promote {
                    let e = self.entries.remove(i);
                    self.entries.push(e);
                }
                Some(v)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    fn insert(&mut self, key: u8, value: u32, ttl: Option<u64>) {
        let weight = if self.cfg.weighted {
            u64::from(weight_of(value).max(1))
        } else {
            1
        };
        let deadline = ttl.map(|t| self.now + t);
        if let Some(i) = self.entries.iter().position(|e| e.key == key) {
            let old = self.entries.remove(i);
            let cause = if self.expired(&old) {
                self.stats.expirations += 1;
                RemovalCause::Expired
            } else {
                RemovalCause::Replaced
            };
            self.events.push((old.key, old.value, cause));
        }
        if weight > self.cfg.capacity {
            self.stats.evictions += 1;
            self.events.push((key, value, RemovalCause::Evicted));
            return;
        }
        self.entries.push(Entry {
            key,
            value,
            weight,
            deadline,
        });
        self.stats.inserts += 1;
        while self.weight() > self.cfg.capacity {
            let e = self.entries.remove(0);
            let cause = if self.expired(&e) {
                self.stats.expirations += 1;
                RemovalCause::Expired
            } else {
                self.stats.evictions += 1;
                RemovalCause::Evicted
            };
            self.events.push((e.key, e.value, cause));
        }
    }

    fn remove_where(&mut self, all: bool) -> usize {
        let mut kept = Vec::new();
        let mut removed = 0;
        for e in std::mem::take(&mut self.entries) {
            if self.expired(&e) {
                self.stats.expirations += 1;
                self.events.push((e.key, e.value, RemovalCause::Expired));
                removed += 1;
            } else if all {
                self.events.push((e.key, e.value, RemovalCause::Explicit));
            } else {
                kept.push(e);
            }
        }
        self.entries = kept;
        removed
    }

    /// Applies `op`; returns what the operation returned, as a string.
    fn apply(&mut self, op: &Op) -> String {
        match *op {
            Op::Insert(k, v) => {
                self.insert(k, v, self.cfg.ttl);
                String::new()
            }
            Op::InsertTtl(k, v, t) => {
                self.insert(k, v, Some(t));
                String::new()
            }
            Op::Get(k) => format!("{:?}", self.get(k, true)),
            Op::Peek(k) => format!("{:?}", self.get(k, false)),
            Op::Contains(k) => format!("{:?}", self.find_live(k).is_some()),
            Op::Remove(k) => {
                let r = self.find_live(k).map(|i| {
                    let e = self.entries.remove(i);
                    self.events.push((e.key, e.value, RemovalCause::Explicit));
                    e.value
                });
                format!("{r:?}")
            }
            Op::GetOrInsert(k, v) => {
                let r = match self.get(k, true) {
                    Some(old) => old,
                    None => {
                        self.insert(k, v, self.cfg.ttl);
                        v
                    }
                };
                format!("{r}")
            }
            Op::Advance(d) => {
                self.now += d;
                String::new()
            }
            Op::Purge => format!("{}", self.remove_where(false)),
            Op::Clear => {
                self.remove_where(true);
                String::new()
            }
        }
    }
}

struct Real {
    cache: Cache<u8, u32>,
    clock: ManualClock,
    events: Arc<Mutex<Vec<Event>>>,
}

fn build(cfg: Config, shards: usize) -> Real {
    let clock = ManualClock::new();
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = events.clone();
    let mut b = Cache::builder()
        .max_capacity(cfg.capacity)
        .shards(shards)
        .clock(clock.clone())
        .eviction_listener(move |k, v, c| sink.lock().push((k, v, c)));
    if cfg.weighted {
        b = b.weigher(|_k: &u8, v: &u32| weight_of(*v));
    }
    if let Some(t) = cfg.ttl {
        b = b.time_to_live(Duration::from_secs(t));
    }
    Real {
        cache: b.build().unwrap(),
        clock,
        events,
    }
}

impl Real {
    fn apply(&self, op: &Op) -> String {
        let c = &self.cache;
        match *op {
            Op::Insert(k, v) => {
                c.insert(k, v);
                String::new()
            }
            Op::InsertTtl(k, v, t) => {
                c.insert_with_ttl(k, v, Duration::from_secs(t));
                String::new()
            }
            Op::Get(k) => format!("{:?}", c.get(&k)),
            Op::Peek(k) => format!("{:?}", c.peek(&k)),
            Op::Contains(k) => format!("{:?}", c.contains_key(&k)),
            Op::Remove(k) => format!("{:?}", c.remove(&k)),
            Op::GetOrInsert(k, v) => format!("{}", c.get_or_insert_with(k, || v)),
            Op::Advance(d) => {
                self.clock.advance(Duration::from_secs(d));
                String::new()
            }
            Op::Purge => format!("{}", c.purge_expired()),
            Op::Clear => {
                c.clear();
                String::new()
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 4 } else { 512 }))]

    /// One shard: the cache is exactly the textbook LRU, event for event.
    #[test]
    fn one_shard_matches_the_model(cfg in config(), ops in prop::collection::vec(op(12), 1..200)) {
        let real = build(cfg, 1);
        let mut model = Model::new(cfg);
        for (step, op) in ops.iter().enumerate() {
            let want = model.apply(op);
            let got = real.apply(op);
            prop_assert_eq!(&got, &want, "result of step {} {:?}", step, op);
            let events: Vec<Event> = std::mem::take(&mut *real.events.lock());
            prop_assert_eq!(&events, &model.events, "events of step {} {:?}", step, op);
            model.events.clear();
            prop_assert_eq!(real.cache.len(), model.entries.len(), "len after step {}", step);
            prop_assert_eq!(real.cache.weighted_size(), model.weight(), "weight after step {}", step);
            prop_assert_eq!(real.cache.stats(), model.stats, "stats after step {}", step);
            real.cache.validate();
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
