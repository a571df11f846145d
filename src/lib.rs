//! stratacache: a bounded, concurrent, exact-LRU cache with lazy TTL expiry, for Rust services.
//!
//! See [`Cache`] for the cache itself and [`CacheBuilder`] for its settings.
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod builder;
mod cache;
mod clock;
mod flight;
#[cfg(feature = "tokio")]
pub mod future;
mod list;
mod listener;
mod policy;
mod promotions;
mod shard;
mod stats;
mod store;
mod sync;
mod telemetry;

pub use admission::{Admission, Promotion};
pub use builder::{BuildError, CacheBuilder, MAX_SHARDS, MIN_SHARD_CAPACITY, SHARDS_PER_CORE};
pub use cache::Cache;
pub use clock::{Clock, ManualClock, RealClock};
pub use hashbrown::DefaultHashBuilder;
pub use listener::RemovalCause;
pub use policy::{
    Aside, CacheAside, DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_STORE_THREADS, DEFAULT_NEGATIVE_CAPACITY, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF, ErrorKind, JOURNAL_FORMAT_VERSION, JournalSync, MAX_BACKOFF, OnThread,
    Policy, PolicyError, PolicyOptions, ReadThroughPolicy, RefreshStats, Through, WhenFull,
    WriteBehind, WriteBehindBuilder, WriteBehindStats, WriteMode, WriteThrough,
};
pub use stats::CacheStats;
#[cfg(feature = "redis")]
pub use store::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, DEFAULT_RECONCILE_INTERVAL, Invalidation,
    InvalidationBus, MAX_RECONNECT_BACKOFF, Publishing, RECONNECT_BACKOFF, RedisStore,
    RedisStoreError, ValueCodec,
};
pub use store::{
    DEFAULT_FILL_LEASE, DEFAULT_LEASE_WAIT, FillLease, Layered, LayeredError, LeaseStats, Leased,
    MemoryStore, MemoryStoreError, Store, WriteOp,
};
#[cfg(feature = "postgres")]
pub use store::{
    DEFAULT_PG_POOL_SIZE, DEFAULT_PG_TIMEOUT, PgTable, Postgres, PostgresStore, PostgresStoreError,
};
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use store::{Driver, MapError, Params, Table};
#[cfg(feature = "sqlite")]
pub use store::{Sqlite, SqliteStore, SqliteStoreError, SqliteTable};
#[cfg(feature = "metrics")]
pub use telemetry::{METRICS_INTERVAL, publish_metrics};
