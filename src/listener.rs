//! [`RemovalCause`], and delivery of removals to the listener after the shard lock is released.

use std::panic::{self, AssertUnwindSafe};

/// Why an entry left the cache. Passed to the eviction listener with the key and value.
///
/// The four causes are fixed, so a `match` over them needs no wildcard arm: a new way to leave
/// the cache is one of these (an idle expiry is `Expired`, an admission filter's rejection is
/// `Evicted`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovalCause {
    /// Removed to make room for another entry, or too heavy to be stored at all.
    Evicted,
    /// Its time-to-live had passed when an operation found it.
    Expired,
    /// Removed by `remove`, `clear` or a write policy's invalidation.
    Explicit,
    /// Its value was replaced by an `insert` under the same key.
    Replaced,
}

/// The eviction listener as the cache stores it.
pub(crate) type Listener<K, V> = Box<dyn Fn(K, V, RemovalCause) + Send + Sync>;

/// Removals collected under a shard lock, in the order they must be reported.
///
/// The first removal is held inline, so the common insert that evicts one entry allocates nothing.
pub(crate) struct Removals<K, V> {
    first: Option<(K, V, RemovalCause)>,
    rest: Vec<(K, V, RemovalCause)>,
}

impl<K, V> Removals<K, V> {
    #[inline]
    pub(crate) const fn new() -> Self {
        Removals {
            first: None,
            rest: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, key: K, value: V, cause: RemovalCause) {
        if self.first.is_none() {
            self.first = Some((key, value, cause));
        } else {
            self.rest.push((key, value, cause));
        }
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// Hands every removal to `listener` in order, or drops them all when there is none.
    ///
    /// Must be called with no shard lock held. A panicking listener does not stop delivery of
    /// the rest; the first panic is resumed once every removal was delivered.
    #[inline]
    pub(crate) fn deliver(self, listener: Option<&Listener<K, V>>) {
        if self.is_empty() {
            return;
        }
        match listener {
            None => drop(self),
            Some(l) => self.deliver_slow(l),
        }
    }

    #[cold]
    fn deliver_slow(self, listener: &Listener<K, V>) {
        let mut first_panic = None;
        for (k, v, cause) in self.first.into_iter().chain(self.rest) {
            let r = panic::catch_unwind(AssertUnwindSafe(|| listener(k, v, cause)));
            if let Err(p) = r {
                first_panic.get_or_insert(p);
            }
        }
        if let Some(p) = first_panic {
            panic::resume_unwind(p);
        }
    }
}
