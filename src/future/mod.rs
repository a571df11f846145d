//! The async API (feature `tokio`): the same cache, single flight and policy core as the sync
//! API, with waits that are awaits. A waiting caller is a task woken by the leader, never a
//! blocked thread, and timeouts run on the runtime's timer.
//!
//! - [`AsyncStore`]: the database behind an async policy; [`Blocking`] makes any sync
//!   [`Store`](crate::Store) one, running its calls on tokio's blocking pool.
//! - [`CacheAside`] and [`WriteThrough`]: the sync policies' guarantees, `async fn get`, `put`
//!   and `delete`.
//! - [`WriteBehind`]: the sync policy's queue and guarantees, flushed by a task.
//! - [`AsyncPolicy`]: what the three share, as a dyn-compatible trait.
//! - `RedisStore` (with feature `redis`): the sync store's keys and fill leases on redis-rs's
//!   multiplexed async connection.
//! - `PostgresStore` (with feature `postgres`): the sync store's tables and pool, awaited.
//!
//! [`Cache::get_or_insert_with_async`](crate::Cache::get_or_insert_with_async) needs no feature
//! and no runtime.

mod any_policy;
mod core;
mod policy;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
mod store;
mod write_behind;

pub use any_policy::{AsyncPolicy, BoxFuture};
pub use policy::{CacheAside, ReadThroughPolicy, WriteThrough};
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use store::{AsyncStore, Blocking, BlockingError};
pub use write_behind::{OnTask, WriteBehind, WriteBehindBuilder};
