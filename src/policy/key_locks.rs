//! Per-key writer locks that are not tied to a thread: a store write abandoned by a timeout keeps
//! its key's lock on the helper thread (or task) until the store answers, so the next write of
//! that key cannot overtake it. Threads wait for a lock on a condition variable, tasks with a
//! waker: one lock, two ways to wait.

use crate::sync::{Condvar, Mutex};
use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

/// Writers of one key are serialised on one of these locks, so that the store and the cache see
/// their writes in the same order. More stripes, fewer unrelated keys waiting on each other.
const STRIPES: usize = 256;

/// One lock: a flag and a condition variable, so that whoever holds it may be another thread
/// than the one that took it, and the wakers of the tasks waiting for it.
struct Stripe {
    held: Mutex<Held>,
    freed: Condvar,
}

#[derive(Default)]
struct Held {
    held: bool,
    tasks: Vec<Waker>,
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
                    held: Mutex::new(Held::default()),
                    freed: Condvar::new(),
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    /// Takes the writer lock of `key`, waiting for it; `None` if `deadline` passed first.
    pub(crate) fn lock<K: Hash>(&self, key: &K, deadline: Option<Instant>) -> Option<KeyLock> {
        let index = self.index(key);
        let stripe = &self.stripes[index];
        let mut st = stripe.held.lock();
        while st.held {
            match deadline {
                None => stripe.freed.wait(&mut st),
                Some(d) => {
                    if stripe.freed.wait_until(&mut st, d).timed_out() && st.held {
                        return None;
                    }
                }
            }
        }
        st.held = true;
        Some(KeyLock {
            stripes: self.stripes.clone(),
            index,
        })
    }

    /// Takes the writer lock of `key` from a task, without blocking its thread. Dropping the
    /// future before it is ready takes nothing.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn lock_async<K: Hash>(&self, key: &K) -> LockAsync {
        LockAsync {
            stripes: self.stripes.clone(),
            index: self.index(key),
        }
    }

    fn index<K: Hash>(&self, key: &K) -> usize {
        self.hasher.hash_one(key) as usize % STRIPES
    }
}

/// A task's wait for a writer lock (see [`KeyLocks::lock_async`]).
pub(crate) struct LockAsync {
    stripes: Arc<[Stripe]>,
    index: usize,
}

impl Future for LockAsync {
    type Output = KeyLock;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<KeyLock> {
        let stripe = &self.stripes[self.index];
        let mut st = stripe.held.lock();
        if st.held {
            // Every waiting task is woken at each release and polls again; a waker that is
            // here already is not added twice.
            if !st.tasks.iter().any(|w| w.will_wake(cx.waker())) {
                st.tasks.push(cx.waker().clone());
            }
            return Poll::Pending;
        }
        st.held = true;
        Poll::Ready(KeyLock {
            stripes: self.stripes.clone(),
            index: self.index,
        })
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        let stripe = &self.stripes[self.index];
        let tasks = {
            let mut st = stripe.held.lock();
            st.held = false;
            std::mem::take(&mut st.tasks)
        };
        stripe.freed.notify_one();
        for t in tasks {
            t.wake();
        }
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
        let idx = |k: u32| locks.index(&k);
        let other = (2u32..).find(|&k| idx(k) != idx(1)).unwrap();
        assert!(locks.lock(&other, Some(Instant::now())).is_some());
    }
}
