//! The write policies: [`CacheAside`], [`WriteThrough`] and [`WriteBehind`], each a `Cache` and
//! a `Store` with one read-through path (single flight per key, optional negative caching).

mod any_policy;
mod cache_aside;
pub(crate) mod core;
mod error;
pub(crate) mod journal;
pub(crate) mod key_locks;
pub(crate) mod mode;
mod options;
mod read_through;
mod read_through_policy;
mod refresh;
mod store_calls;
pub(crate) mod write_behind;
pub(crate) mod write_queue;
mod write_through;

pub use any_policy::Policy;
pub use cache_aside::CacheAside;
pub use error::{ErrorKind, PolicyError};
pub use journal::{JOURNAL_FORMAT_VERSION, JournalSync};
pub use mode::{Aside, Through, WriteMode};
pub use options::{DEFAULT_MAX_STORE_THREADS, DEFAULT_NEGATIVE_CAPACITY, PolicyOptions};
pub use read_through_policy::ReadThroughPolicy;
pub use refresh::RefreshStats;
pub use write_behind::{
    DEFAULT_BATCH_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_RETRIES, DEFAULT_QUEUE_CAPACITY,
    DEFAULT_RETRY_BACKOFF, MAX_BACKOFF, OnThread, WhenFull, WriteBehind, WriteBehindBuilder,
    WriteBehindStats,
};
pub use write_through::WriteThrough;
