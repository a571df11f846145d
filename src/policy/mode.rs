//! What a read-through policy's writes do to the cache: [`Aside`] or [`Through`], the one
//! difference between cache-aside and write-through, for the sync and the async policies alike.

use super::core::Written;

mod sealed {
    pub trait Sealed {}
}

/// What a read-through policy's writes do to the cache: [`Aside`] or [`Through`].
pub trait WriteMode: sealed::Sealed + Send + Sync + 'static {
    /// The policy's name, for `Debug`.
    const NAME: &'static str;
    /// Whether a successful write puts the value in the cache (write-through) rather than
    /// dropping the cached copy (cache-aside).
    const THROUGH: bool;
}

/// Cache-aside: a write goes to the store, then drops the cached copy.
#[derive(Debug)]
pub enum Aside {}
/// Write-through: a write goes to the store, then to the cache.
#[derive(Debug)]
pub enum Through {}

impl sealed::Sealed for Aside {}
impl sealed::Sealed for Through {}
impl WriteMode for Aside {
    const NAME: &'static str = "CacheAside";
    const THROUGH: bool = false;
}
impl WriteMode for Through {
    const NAME: &'static str = "WriteThrough";
    const THROUGH: bool = true;
}

/// What a `put` of `value` does to the cache under mode `M`.
pub(crate) fn put<M: WriteMode, V>(value: V) -> Written<V> {
    if M::THROUGH {
        Written::ThroughPut(value)
    } else {
        Written::Aside
    }
}

/// What a `delete` does to the cache under mode `M`.
pub(crate) fn delete<M: WriteMode, V>() -> Written<V> {
    if M::THROUGH {
        Written::ThroughDelete
    } else {
        Written::Aside
    }
}
