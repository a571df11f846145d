//! The reference model of the cache: a textbook LRU (a `Vec` in recency order) with the exact
//! semantics of DESIGN.md, and a harness that applies the same operations to it and to a
//! one-shard cache and compares every result, listener event, size and counter. Used by the
//! proptest model test and by the fuzz targets (`fuzz/`), which include this file.
#![allow(dead_code)]

use arbitrary::Arbitrary;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use stratacache::{Cache, CacheStats, ManualClock, RemovalCause};

pub type Event = (u8, u32, RemovalCause);

#[derive(Clone, Debug, Arbitrary)]
pub enum Op {
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

#[derive(Clone, Copy, Debug, Arbitrary)]
pub struct Config {
    pub capacity: u64,
    pub weighted: bool,
    pub ttl: Option<u64>,
    /// Time-to-idle, in seconds of the manual clock.
    pub tti: Option<u64>,
}

/// The weigher both sides use: 0..=4, where 0 counts as 1.
pub fn weight_of(v: u32) -> u32 {
    v % 5
}

pub struct Entry {
    key: u8,
    value: u32,
    weight: u64,
    deadline: Option<u64>,
    /// When it was last read by a promoting hit, or written.
    accessed: u64,
}

/// A textbook LRU: `entries[0]` is the least recently used.
pub struct Model {
    cfg: Config,
    now: u64,
    pub entries: Vec<Entry>,
    pub events: Vec<Event>,
    pub stats: CacheStats,
}

impl Model {
    pub fn new(cfg: Config) -> Self {
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
            || self.cfg.tti.is_some_and(|t| self.now >= e.accessed + t)
    }

    pub fn weight(&self) -> u64 {
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
                // Every hit restarts the idle clock; only `get` moves the entry.
                self.entries[i].accessed = self.now;
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
            accessed: self.now,
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
    pub fn apply(&mut self, op: &Op) -> String {
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

pub struct Real {
    pub cache: Cache<u8, u32>,
    pub clock: ManualClock,
    pub events: Arc<Mutex<Vec<Event>>>,
}

pub fn build(cfg: Config, shards: usize) -> Real {
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
    if let Some(t) = cfg.tti {
        b = b.time_to_idle(Duration::from_secs(t));
    }
    Real {
        cache: b.build().unwrap(),
        clock,
        events,
    }
}

impl Real {
    pub fn apply(&self, op: &Op) -> String {
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

impl Config {
    /// The same configuration with every field in the range the harness uses.
    pub fn normalized(self) -> Config {
        Config {
            capacity: 1 + self.capacity % 12,
            weighted: self.weighted,
            ttl: self.ttl.map(|t| 1 + t % 6),
            tti: self.tti.map(|t| 1 + t % 6),
        }
    }
}

impl Op {
    /// The same operation on at most `keys` keys, with small TTLs and clock steps.
    pub fn normalized(&self, keys: u8) -> Op {
        let k = |k: u8| k % keys;
        match *self {
            Op::Insert(key, v) => Op::Insert(k(key), v),
            Op::InsertTtl(key, v, t) => Op::InsertTtl(k(key), v, t % 6),
            Op::Get(key) => Op::Get(k(key)),
            Op::Peek(key) => Op::Peek(k(key)),
            Op::Contains(key) => Op::Contains(k(key)),
            Op::Remove(key) => Op::Remove(k(key)),
            Op::GetOrInsert(key, v) => Op::GetOrInsert(k(key), v),
            Op::Advance(d) => Op::Advance(d % 4),
            Op::Purge => Op::Purge,
            Op::Clear => Op::Clear,
        }
    }
}

/// Applies `ops` to a one-shard cache and to the model; the first difference, if any.
pub fn compare_one_shard(cfg: Config, ops: &[Op]) -> Result<(), String> {
    let real = build(cfg, 1);
    let mut model = Model::new(cfg);
    for (step, op) in ops.iter().enumerate() {
        let want = model.apply(op);
        let got = real.apply(op);
        let at = || format!("step {step} {op:?} of {cfg:?}");
        if got != want {
            return Err(format!("{}: returned {got:?}, the model {want:?}", at()));
        }
        let events: Vec<Event> = std::mem::take(&mut *real.events.lock());
        if events != model.events {
            return Err(format!(
                "{}: events {events:?}, the model {:?}",
                at(),
                model.events
            ));
        }
        model.events.clear();
        if real.cache.len() != model.entries.len() || real.cache.weighted_size() != model.weight() {
            return Err(format!("{}: len or weight differ", at()));
        }
        if real.cache.stats() != model.stats {
            return Err(format!(
                "{}: stats {:?}, the model {:?}",
                at(),
                real.cache.stats(),
                model.stats
            ));
        }
        real.cache.validate();
    }
    Ok(())
}
