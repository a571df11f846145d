//! stratacache: a bounded, concurrent, exact-LRU cache with lazy TTL expiry, for Rust services.
//!
//! See [`Cache`] for the cache itself and [`CacheBuilder`] for its settings.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod builder;
mod cache;
mod clock;
mod flight;
mod list;
mod listener;
mod shard;
mod stats;

pub use builder::{BuildError, CacheBuilder, MAX_SHARDS, MIN_SHARD_CAPACITY, SHARDS_PER_CORE};
pub use cache::Cache;
pub use clock::{Clock, ManualClock, RealClock};
pub use hashbrown::DefaultHashBuilder;
pub use listener::RemovalCause;
pub use stats::CacheStats;
