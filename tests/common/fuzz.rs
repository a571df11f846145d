#![allow(dead_code)]
//! The fuzz harnesses: `fuzz/fuzz_targets/*.rs` call them with libFuzzer's bytes, and
//! `tests/fuzz_corpus.rs` runs them on stable over the checked-in seed corpus.

use super::model::{Config, Op, build, compare_one_shard};
use super::properties::check;
use arbitrary::{Arbitrary, Unstructured};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use stratacache::{
    Admission, Cache, MemoryStore, MemoryStoreError, Promotion, Store, WriteBehind, WriteOp,
};

/// Operations per input, at most: longer inputs add little but time.
const MAX_OPS: usize = 400;

/// Reads `T`s until the bytes run out (at most [`MAX_OPS`]). arbitrary's own `Vec` ends a list
/// at the first byte that says stop, which on random bytes makes most lists a few items long.
fn ops<T: for<'a> Arbitrary<'a>>(u: &mut Unstructured<'_>) -> Vec<T> {
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match T::arbitrary(u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    ops
}

/// A one-shard cache against the model: every result, event, size and counter; `validate()`
/// after every operation. Then the same operations on 1 to 8 shards (from the input), checking
/// every invariant after every step.
pub fn cache_model(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(cfg) = Config::arbitrary(&mut u) else {
        return;
    };
    let cfg = cfg.normalized();
    let shard_bits = u.int_in_range(0..=3u32).unwrap_or(0);
    let ops: Vec<Op> = ops::<Op>(&mut u).iter().map(|o| o.normalized(12)).collect();
    if let Err(e) = compare_one_shard(cfg, &ops) {
        panic!("{e}");
    }
    // The same operations on several shards: no model, but every invariant after every step.
    let shards = 1usize << shard_bits;
    let cfg = Config {
        capacity: cfg.capacity.max(shards as u64),
        ..cfg
    };
    let real = build(cfg, shards);
    for op in &ops {
        real.apply(op);
        real.cache.validate();
        assert!(real.cache.weighted_size() <= real.cache.capacity());
    }
    // The same operations with TinyLFU admission and with lossy promotion: not the model's
    // order, but every property (values, TTL, capacity, conservation) after every step.
    for (admission, promotion) in [
        (Admission::TinyLfu, Promotion::Exact),
        (Admission::All, Promotion::Lossy),
        (Admission::TinyLfu, Promotion::Lossy),
    ] {
        if let Err(e) = check(cfg, admission, promotion, &ops) {
            panic!("{e}");
        }
    }
}

#[derive(Debug, Arbitrary)]
pub enum WbOp {
    Put(u8, u16),
    Delete(u8),
    Get(u8),
    Flush,
}

#[derive(Debug, Arbitrary)]
pub struct WbConfig {
    pub batch_size: u8,
    pub cache_capacity: u8,
    /// Store calls (by number) that fail.
    pub fail_calls: [u8; 8],
    /// Store calls (by number) that panic.
    pub panic_calls: [u8; 4],
}

/// A store that fails and panics at chosen calls.
pub struct Chaos {
    pub inner: MemoryStore<u8, u16>,
    calls: AtomicUsize,
    fail: HashSet<usize>,
    panic: HashSet<usize>,
}

impl Chaos {
    pub fn new(fail: &[u8], panic: &[u8]) -> Self {
        Chaos {
            inner: MemoryStore::new(),
            calls: AtomicUsize::new(0),
            fail: fail.iter().map(|&c| usize::from(c)).collect(),
            panic: panic.iter().map(|&c| usize::from(c)).collect(),
        }
    }

    fn strike(&self) -> Result<(), MemoryStoreError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if self.panic.contains(&n) {
            panic!("chaos store panics on call {n}");
        }
        if self.fail.contains(&n) {
            // Borrow the MemoryStore's own error type for an injected failure.
            self.inner.fail_next(1);
        }
        Ok(())
    }
}

impl Store<u8, u16> for Chaos {
    type Error = MemoryStoreError;
    fn load(&self, key: &u8) -> Result<Option<u16>, MemoryStoreError> {
        self.strike()?;
        self.inner.load(key)
    }
    fn write(&self, key: &u8, value: &u16) -> Result<(), MemoryStoreError> {
        self.strike()?;
        self.inner.write(key, value)
    }
    fn delete(&self, key: &u8) -> Result<(), MemoryStoreError> {
        self.strike()?;
        self.inner.delete(key)
    }
    fn write_batch(&self, ops: &[WriteOp<u8, u16>]) -> Result<(), MemoryStoreError> {
        self.strike()?;
        self.inner.write_batch(ops)
    }
}

/// Write-behind over a store that fails and panics at chosen calls: every read sees the latest
/// write, and after `flush` the store holds the last write of every key. At most 12 calls fail
/// or panic, and a batch is retried up to 600 times, so nothing may be reported failed.
pub fn write_behind(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(input) = WbConfig::arbitrary(&mut u) else {
        return;
    };
    let wb_ops: Vec<WbOp> = ops(&mut u);
    let store = Arc::new(Chaos::new(&input.fail_calls, &input.panic_calls));
    let cache = Cache::builder()
        .max_capacity(1 + u64::from(input.cache_capacity % 8))
        .shards(1)
        .build()
        .unwrap();
    let policy = WriteBehind::builder(cache, store.clone())
        .batch_size(1 + usize::from(input.batch_size % 8))
        .flush_interval(Duration::ZERO)
        .retry_backoff(Duration::ZERO)
        .max_retries(600)
        .build()
        .unwrap();
    let mut model: HashMap<u8, u16> = HashMap::new();
    for op in &wb_ops {
        match *op {
            WbOp::Put(k, v) => {
                let k = k % 16;
                policy.put(k, v).unwrap();
                model.insert(k, v);
            }
            WbOp::Delete(k) => {
                let k = k % 16;
                policy.delete(&k).unwrap();
                model.remove(&k);
            }
            WbOp::Get(k) => {
                let k = k % 16;
                // A read that reaches the store may fail; it never returns a stale value.
                if let Ok(v) = policy.get(&k) {
                    assert_eq!(v, model.get(&k).copied(), "read of key {k}");
                }
            }
            WbOp::Flush => policy.flush().unwrap(),
        }
    }
    policy.flush().unwrap();
    assert_eq!(policy.stats().failed, 0);
    assert_eq!(store.inner.snapshot(), model);
}
