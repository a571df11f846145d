//! The write policies: [`CacheAside`], [`WriteThrough`] and [`WriteBehind`], each a `Cache` and
//! a `Store` with one read-through path (single flight per key, optional negative caching).

mod cache_aside;
mod error;
mod options;
mod read_through;
mod write_behind;
mod write_through;

pub use cache_aside::CacheAside;
pub use error::{ErrorKind, PolicyError};
pub use options::{DEFAULT_NEGATIVE_CAPACITY, PolicyOptions};
pub use write_behind::{
    DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_RETRIES, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF, MAX_BACKOFF, WhenFull, WriteBehind, WriteBehindBuilder,
    WriteBehindStats,
};
pub use write_through::WriteThrough;
