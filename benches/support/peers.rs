//! The caches we compare against, behind one small trait, and the seeded key streams the
//! benchmarks share (used by `benches/cache.rs` and `examples/compare.rs`).
#![allow(dead_code)]

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};
use std::num::NonZeroUsize;

/// What every cache under test can do. `Sync`, so that one instance serves several threads.
pub trait Bench: Sync {
    const NAME: &'static str;
    /// A cache of `capacity` entries of weight 1.
    fn with_capacity(capacity: usize) -> Self;
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
    /// `get`, and `insert` on a miss; true on a hit (the trace replay rule).
    #[inline]
    fn get_or_insert(&self, k: u64) -> bool {
        if self.get(k).is_some() {
            true
        } else {
            self.insert(k, k);
            false
        }
    }
}

/// A stratacache configuration under test: its name and how its cache is built.
macro_rules! strata {
    ($(#[$doc:meta])* $name:ident, $label:literal, |$cap:ident| $build:expr) => {
        $(#[$doc])*
        pub struct $name(pub stratacache::Cache<u64, u64>);
        impl Bench for $name {
            const NAME: &'static str = $label;
            fn with_capacity($cap: usize) -> Self {
                $name($build)
            }
            #[inline]
            fn get(&self, k: u64) -> Option<u64> {
                self.0.get(&k)
            }
            #[inline]
            fn insert(&self, k: u64, v: u64) {
                self.0.insert(k, v)
            }
        }
    };
}

strata!(
    /// stratacache with its defaults.
    Strata,
    "stratacache",
    |capacity| stratacache::Cache::new(capacity as u64)
);

strata!(
    /// stratacache with `Promotion::Lossy`: hits past a full promotion buffer are dropped.
    StrataLossy,
    "stratacache Lossy",
    |capacity| stratacache::Cache::builder()
        .max_capacity(capacity as u64)
        .promotion(stratacache::Promotion::Lossy)
        .build()
        .unwrap()
);

strata!(
    /// stratacache with one shard: one exact global LRU.
    StrataOne,
    "stratacache shards(1)",
    |capacity| stratacache::Cache::builder()
        .max_capacity(capacity as u64)
        .shards(1)
        .build()
        .unwrap()
);

pub struct Quick(pub quick_cache::sync::Cache<u64, u64>);
impl Bench for Quick {
    const NAME: &'static str = "quick_cache";
    fn with_capacity(capacity: usize) -> Self {
        Quick(quick_cache::sync::Cache::new(capacity))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}

pub struct Moka(pub moka::sync::Cache<u64, u64>);
impl Bench for Moka {
    const NAME: &'static str = "moka";
    fn with_capacity(capacity: usize) -> Self {
        Moka(moka::sync::Cache::new(capacity as u64))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.get(&k)
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.insert(k, v)
    }
}

pub struct Lru(pub parking_lot::Mutex<lru::LruCache<u64, u64, hashbrown::DefaultHashBuilder>>);
impl Bench for Lru {
    const NAME: &'static str = "Mutex<lru>";
    fn with_capacity(capacity: usize) -> Self {
        let cap = NonZeroUsize::new(capacity).unwrap();
        Lru(parking_lot::Mutex::new(lru::LruCache::with_hasher(
            cap,
            hashbrown::DefaultHashBuilder::default(),
        )))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.lock().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.lock().put(k, v);
    }
}

/// A plain `RwLock<HashMap>` that never evicts: the practical ceiling, not a cache.
pub struct Plain(pub parking_lot::RwLock<hashbrown::HashMap<u64, u64>>);
impl Bench for Plain {
    const NAME: &'static str = "RwLock<hashbrown> (no eviction)";
    fn with_capacity(capacity: usize) -> Self {
        Plain(parking_lot::RwLock::new(
            hashbrown::HashMap::with_capacity_and_hasher(
                capacity,
                hashbrown::DefaultHashBuilder::default(),
            ),
        ))
    }
    #[inline]
    fn get(&self, k: u64) -> Option<u64> {
        self.0.read().get(&k).copied()
    }
    #[inline]
    fn insert(&self, k: u64, v: u64) {
        self.0.write().insert(k, v);
    }
}

/// `n` keys drawn from Zipf(`s`) over `1..=universe`, scrambled so that hot keys are not small
/// numbers next to each other.
pub fn zipf_keys(n: usize, universe: u64, s: f64, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    let z = Zipf::new(universe as f64, s).unwrap();
    // Multiplying by an odd constant is a bijection on u64: distinct ranks stay distinct keys.
    (0..n)
        .map(|_| (z.sample(&mut rng) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect()
}

/// `n` keys drawn uniformly from `0..range`.
pub fn uniform_keys(n: usize, range: u64, seed: u64) -> Vec<u64> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(0..range)).collect()
}
