//! Per-key writer locks that are not tied to a thread: a store write abandoned by a timeout keeps
//! its key's lock on the helper thread until the store answers, so the next write of that key
//! cannot overtake it.

use crate::sync::{Condvar, Mutex};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::time::Instant;

/// Writers of one key are serialised on one of these locks, so that the store and the cache see
/// their writes in the same order. More stripes, fewer unrelated keys waiting on each other.
const STRIPES: usize = 256;

/// One lock: a flag and a condition variable, so that whoever holds it may be another thread
/// than the one that took it.
struct Stripe {
    held: Mutex<bool>,
    freed: Condvar,
}

/// The writer locks of one policy, one per stripe of keys.
pub(crate) struct KeyLocks {
    stripes: Arc<[Stripe]>,
    hasher: RandomState,
}

/// A held writer lock; dropping it (on any thread) lets the next writer of the stripe in.
#[must_use = "the lock is released when this is dropped"]
pub(crate) struct KeyLock {
    stripes: Arc<[Stripe]>,
    index: usize,
}

impl KeyLocks {
    pub(crate) fn new() -> Self {
        KeyLocks {
            stripes: (0..STRIPES)
                .map(|_| Stripe {
                    held: Mutex::new(false),
                    freed: Condvar::new(),
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// Takes the writer lock of `key`, waiting for it; `None` if `deadline` passed first.
    pub(crate) fn lock<K: Hash>(&self, key: &K, deadline: Option<Instant>) -> Option<KeyLock> {
        let index = self.hasher.hash_one(key) as usize % STRIPES;
        let stripe = &self.stripes[index];
        let mut held = stripe.held.lock();
        while *held {
            match deadline {
                None => stripe.freed.wait(&mut held),
                Some(d) => {
                    if stripe.freed.wait_until(&mut held, d).timed_out() && *held {
                        return None;
                    }
                }
            }
        }
        *held = true;
        Some(KeyLock {
            stripes: self.stripes.clone(),
            index,
        })
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let stripe = &self.stripes[self.index];
        *stripe.held.lock() = false;
        stripe.freed.notify_one();
    }
}

#[cfg(all(test, not(feature = "shuttle")))]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_lock_moves_to_another_thread_and_is_released_there() {
        let locks = KeyLocks::new();
        let held = locks.lock(&1u32, None).unwrap();
        // Held: another taker with a deadline gives up.
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(locks.lock(&1u32, Some(soon)).is_none());
        std::thread::spawn(move || drop(held)).join().unwrap();
        assert!(locks.lock(&1u32, Some(Instant::now())).is_some());
    }

    #[test]
    fn keys_on_other_stripes_do_not_wait() {
        let locks = KeyLocks::new();
        let _a = locks.lock(&1u32, None).unwrap();
        let idx = |k: u32| locks.hasher.hash_one(k) as usize % STRIPES;
        let other = (2u32..).find(|&k| idx(k) != idx(1)).unwrap();
        assert!(locks.lock(&other, Some(Instant::now())).is_some());
    }
}
