//! The sync write policies over stores that are slow, failing, panicking or gated: the scenarios
//! shared with the async policies (`tests/common/scenarios.rs`), and what only the sync ones do.

mod common;

use common::scenarios::{Behind, Face, Policy, Recorder, WbConfig};
use std::sync::Arc;
use std::time::Duration;
use stratacache::{
    BuildError, Cache, CacheAside, MemoryStore, PolicyError, PolicyOptions, WriteBehind,
    WriteBehindStats, WriteThrough,
};

/// The sync front end of the shared scenarios.
struct SyncFace;

impl Policy for CacheAside<u32, u64, Arc<Recorder>> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        CacheAside::get(self, k)
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        CacheAside::put(self, k, v)
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        CacheAside::delete(self, k)
    }
    fn cache(&self) -> &Cache<u32, u64> {
        CacheAside::cache(self)
    }
}

impl Policy for WriteThrough<u32, u64, Arc<Recorder>> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        WriteThrough::get(self, k)
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        WriteThrough::put(self, k, v)
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        WriteThrough::delete(self, k)
    }
    fn cache(&self) -> &Cache<u32, u64> {
        WriteThrough::cache(self)
    }
}

impl Face for SyncFace {
    type Aside = CacheAside<u32, u64, Arc<Recorder>>;
    type Through = WriteThrough<u32, u64, Arc<Recorder>>;
    type Behind = WriteBehind<u32, u64, Arc<Recorder>>;
    fn cache_aside(store: Arc<Recorder>, options: PolicyOptions) -> Self::Aside {
        CacheAside::with_options(Cache::new(100), store, options)
    }
    fn write_through(store: Arc<Recorder>, options: PolicyOptions) -> Self::Through {
        WriteThrough::with_options(Cache::new(100), store, options)
    }
    fn write_behind(store: Arc<Recorder>, config: WbConfig) -> Result<Self::Behind, BuildError> {
        config
            .apply(WriteBehind::builder(config.cache(), store))
            .build()
    }
}

policy_scenarios!(SyncFace);

impl Policy for WriteBehind<u32, u64, Arc<Recorder>> {
    fn get(&self, k: &u32) -> Result<Option<u64>, PolicyError> {
        WriteBehind::get(self, k)
    }
    fn put(&self, k: u32, v: u64) -> Result<(), PolicyError> {
        WriteBehind::put(self, k, v)
    }
    fn delete(&self, k: &u32) -> Result<(), PolicyError> {
        WriteBehind::delete(self, k)
    }
    fn cache(&self) -> &Cache<u32, u64> {
        WriteBehind::cache(self)
    }
}

impl Behind for WriteBehind<u32, u64, Arc<Recorder>> {
    fn flush(&self) -> Result<(), PolicyError> {
        WriteBehind::flush(self)
    }
    fn close(&self) -> Result<(), PolicyError> {
        WriteBehind::close(self)
    }
    fn stats(&self) -> WriteBehindStats {
        WriteBehind::stats(self)
    }
}

/// Drop cannot fail and, in a sync policy, waits: it flushes.
#[test]
fn write_behind_drop_flushes() {
    let store = Arc::new(MemoryStore::<u32, u64>::new());
    let policy = WriteBehind::builder(Cache::new(10), store.clone())
        .flush_interval(Duration::from_secs(3600))
        .build()
        .unwrap();
    for k in 0..100 {
        policy.put(k, u64::from(k)).unwrap();
    }
    drop(policy);
    assert_eq!(store.len(), 100);
    assert_eq!(store.peek(&99), Some(99));
}
