//! An in-process cache for Rust services, and the policies that keep it consistent with the
//! database behind it.
//!
//! stratacache is a bounded, concurrent cache ([`Cache`]: exact LRU by default, lazy
//! time-to-live and time-to-idle, weights, an eviction listener) and three policies that put it
//! in front of a database ([`Store`]): cache-aside, write-through and write-behind, each with
//! single-flight loads, so that a thousand concurrent misses of one key make one database read.
//! With Redis as a shared tier, an invalidation bus keeps the in-process copies of a fleet
//! coherent.
//!
//! # Quick start
//!
//! A cache on its own:
//!
//! ```
//! use std::time::Duration;
//! use stratacache::Cache;
//!
//! let cache: Cache<u64, String> = Cache::builder()
//!     .max_capacity(10_000)                     // entries (or total weight, with a weigher)
//!     .time_to_live(Duration::from_secs(300))  // checked on access
//!     .build()?;
//! cache.insert(1, "alice".to_string());
//! assert_eq!(cache.get(&1).as_deref(), Some("alice"));
//! // On a miss one caller per key runs the loader; the others wait for its value.
//! assert_eq!(cache.get_or_insert_with(2, || "bob".to_string()), "bob");
//! # Ok::<(), stratacache::BuildError>(())
//! ```
//!
//! A cache in front of a database: the policy loads what the cache misses and keeps the two
//! consistent on writes. Here the database is a [`MemoryStore`]; a service uses
//! `SqliteStore`, `PostgresStore`, `RedisStore` or its own [`Store`].
//!
//! ```
//! use stratacache::{Cache, CacheAside, MemoryStore, Store};
//!
//! let db = MemoryStore::new();
//! db.write(&7, &"ada".to_string())?;
//! let users = CacheAside::new(Cache::new(10_000), db);
//! assert_eq!(users.get(&7)?.as_deref(), Some("ada")); // loaded once, then cached
//! users.put(7, "ada lovelace".to_string())?;          // the database, then drop the copy
//! assert_eq!(users.get(&7)?.as_deref(), Some("ada lovelace"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Choosing a policy
//!
//! | policy | `put` | a read after `put` | on a store error |
//! |---|---|---|---|
//! | [`CacheAside`] | writes the store, drops the cached copy | loads the new value | the copy is dropped anyway |
//! | [`WriteThrough`] | writes the store, then the cache | hits | the cache is unchanged, the error returned |
//! | [`WriteBehind`] | writes the cache, queues the write | hits, before the store has it | retried with backoff, then reported to a callback |
//!
//! - Cache-aside is the safe default: the cache never holds a value the store refused.
//! - Write-through suits read-after-write workloads (a profile page after an edit).
//! - Write-behind takes writes at memory speed and batches them, for write-heavy data that can
//!   be a moment behind in the database. Its queue is bounded (block or refuse when full), and
//!   [`WriteBehindBuilder::journal`] makes accepted writes survive a crash.
//! - [`PolicyOptions`] adds negative caching, a timeout for store calls, refresh-ahead and
//!   probabilistic early refresh (so that hot keys never expire under load).
//! - The three share the [`Policy`] trait, for a service that picks one from configuration.
//!
//! # Sync or async
//!
//! The policies at the crate root block the calling thread on the store. In async code use
//! the twins in `stratacache::future` (feature `tokio`): the same cache, the same single flight and the
//! same guarantees, with waits that are awaits and timeouts on the runtime's timer. A sync
//! store becomes an async one with `future::Blocking`, which runs its calls on tokio's
//! blocking pool. Plain cache calls ([`Cache::get`], [`Cache::insert`]) never wait on I/O and
//! are fine anywhere; [`Cache::get_or_insert_with_async`] needs no runtime at all.
//!
//! # Sizing
//!
//! - **Capacity** is a number of entries, or a total weight with
//!   [`CacheBuilder::weigher`]. A `u64 -> u64` entry takes 42.5 bytes in all (the README's
//!   memory table), 16 of them the key and the value.
//! - **Expiry**: [`CacheBuilder::time_to_live`] bounds how stale a value may get;
//!   [`CacheBuilder::time_to_idle`] drops what nobody reads.
//! - **Hit ratio**: exact LRU is the default. [`Admission::TinyLfu`] keeps frequently used
//!   entries when scans and one-off keys would flush them (the README's hit-ratio curves show
//!   when it pays).
//! - **Read throughput**: [`Promotion::Lossy`] lets hits skip the LRU bookkeeping under
//!   contention.
//! - **Shards**: the default (16 per core, at least 1,024 entries each) suits most services;
//!   [`CacheBuilder::shards`]`(1)` gives one exact LRU.
//!
//! # The shared tier
//!
//! With feature `redis`, several processes share a Redis tier:
//!
//! - `RedisStore` is a [`Store`] on Redis. Its keys are readable text (`users:9`), and its
//!   values postcard or JSON (`ValueCodec`).
//! - [`Layered`] puts Redis in front of the database. Its fill leases make one database read
//!   per missing key, fleet-wide.
//! - `InvalidationBus` drops every other process's in-process copy of a key that one process
//!   wrote, and detects lost messages.
//!
//! # Stores
//!
//! | store | feature | notes |
//! |---|---|---|
//! | [`MemoryStore`] | none | a map with injectable latency and failures, for tests |
//! | `SqliteStore` | `sqlite` | its own key-value table, or the user's table through a `SqliteTable` |
//! | `PostgresStore`, `future::PostgresStore` | `postgres` | the same, on PostgreSQL (`PgTable`), pooled, one transaction per batch |
//! | `RedisStore`, `future::RedisStore` | `redis` | a shared tier with TTLs and fill leases |
//! | your own | none | implement [`Store`] (four methods) or `future::AsyncStore` |
//!
//! # Feature flags
//!
//! | feature | adds |
//! |---|---|
//! | `sqlite` | `SqliteStore`, `SqliteTable` (SQLite compiled in: nothing to install) |
//! | `postgres` | `PostgresStore`, `PgTable`, `future::PostgresStore` (tokio-postgres; turns on `tokio`) |
//! | `redis` | `RedisStore`, `Layered` over Redis, `InvalidationBus`, `ValueCodec` |
//! | `tokio` | the `future` module: async policies, `AsyncStore`, `Blocking` |
//! | `metrics` | counters and store-call latencies through the `metrics` facade (`publish_metrics`) |
//! | `tracing` | a `tracing` span around every store call a policy makes |
//! | `serde` | `Serialize` for the counters ([`CacheStats`], [`WriteBehindStats`], …) |
//!
//! # Guarantees
//!
//! Each type's documentation states its guarantees, and the tests check them. For example,
//! [`Cache`] has exact LRU order per shard and no user code under a lock; the policies promise
//! that once `put` returns no read returns an older value. The README has the figures and the
//! commands that measure them.
#![cfg_attr(docsrs, feature(doc_cfg))]
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
pub use store::KeyFormat;
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

/// The README's code, compiled and run as doc tests (the README is the project's page; the
/// user guide is above).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
