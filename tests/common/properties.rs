//! The properties every cache keeps, whatever its admission and promotion: for caches that are
//! not the exact LRU of the model (`Admission::TinyLfu`, `Promotion::Lossy`). Used by
//! `tests/admission.rs` (proptest) and by the fuzz harness (`tests/common/fuzz.rs`).
#![allow(dead_code)]

use super::model::{Config, Op, weight_of};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use stratacache::{Admission, Cache, ManualClock, Promotion};

/// Keys the operations use.
pub const KEYS: u8 = 16;

/// Applies `ops` to a one-shard cache with `admission` and `promotion`, checking the properties
/// after every step; the first violation, if any.
pub fn check(
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
