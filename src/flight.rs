//! Single flight: one caller (the leader) does the work for a key, the others wait on its
//! [`Signal`] and take a clone of its outcome. One state machine serves the cache's
//! `get_or_insert_with` and the policies' read-through, sync and async alike: a waiter is a
//! parked thread (on the signal's condition variable) or a task (its `Waker`); only how to wait
//! differs.
//!
//! Rules, for every user: the leader ends the flight with an outcome, or abandons it (its work
//! failed in a way waiters must not inherit: the cache's `init` erred or panicked, or the leader
//! unwound or its future was dropped); waiters of an abandoned flight retry, and one of them
//! leads. A waiter that goes away (a dropped future) takes its waker with it.
//!
//! The registry of the cache's flights lives inside the shard, under the shard lock, so that "is
//! there an entry, and if not, is somebody loading it" is one atomic question. Only the wait
//! itself happens outside the shard lock.

use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::{Condvar, Mutex};
use std::borrow::Borrow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// How a flight ended.
enum State<T> {
    Pending,
    /// The leader's outcome (waiters that matched the key take a clone).
    Done(T),
    /// Waiters retry, and one of them leads.
    Abandoned,
}

/// What a waiter learns when the flight ends.
pub(crate) enum Outcome<T> {
    Value(T),
    Retry,
}

struct Inner<T, X> {
    state: State<T>,
    /// State of the flight's owner kept under the same lock (the policies' "a write made this
    /// load stale" mark).
    extra: X,
    /// The wakers of waiting tasks, by slot; a dropped waiter empties its slot.
    wakers: Vec<Option<Waker>>,
}

/// The meeting point of a leader and its waiters.
pub(crate) struct Signal<T, X = ()> {
    inner: Mutex<Inner<T, X>>,
    ended: Condvar,
    /// Set once the flight has ended, for [`is_ended`](Signal::is_ended), which takes no lock
    /// (it is asked under the policies' registry lock).
    over: AtomicBool,
}

impl<T: Clone, X> Signal<T, X> {
    pub(crate) fn new(extra: X) -> Arc<Self> {
        Arc::new(Signal {
            inner: Mutex::new(Inner {
                state: State::Pending,
                extra,
                wakers: Vec::new(),
            }),
            ended: Condvar::new(),
            over: AtomicBool::new(false),
        })
    }

    /// Ends the flight with a value (or, with `None`, abandons it) and wakes every waiter.
    pub(crate) fn end(&self, value: Option<T>) {
        self.end_with(|_| value);
    }

    /// Ends the flight with what `f` decides, `f` running under the flight's lock with the
    /// owner's state, then wakes every waiter (threads and tasks) after the lock is released.
    /// Ending an ended flight changes nothing.
    pub(crate) fn end_with(&self, f: impl FnOnce(&mut X) -> Option<T>) {
        let mut inner = self.inner.lock();
        if !matches!(inner.state, State::Pending) {
            return;
        }
        let value = f(&mut inner.extra);
        inner.state = match value {
            Some(v) => State::Done(v),
            None => State::Abandoned,
        };
        let wakers = std::mem::take(&mut inner.wakers);
        self.over.store(true, Ordering::Release);
        drop(inner);
        self.ended.notify_all();
        for w in wakers.into_iter().flatten() {
            w.wake();
        }
    }

    /// Runs `f` on the owner's state under the flight's lock.
    pub(crate) fn with_extra<R>(&self, f: impl FnOnce(&mut X) -> R) -> R {
        f(&mut self.inner.lock().extra)
    }

    /// Whether the flight has ended; takes no lock.
    pub(crate) fn is_ended(&self) -> bool {
        self.over.load(Ordering::Acquire)
    }

    /// Blocks the thread until the flight ends.
    pub(crate) fn wait(&self) -> Outcome<T> {
        let mut inner = self.inner.lock();
        loop {
            match &inner.state {
                State::Pending => self.ended.wait(&mut inner),
                State::Done(v) => return Outcome::Value(v.clone()),
                State::Abandoned => return Outcome::Retry,
            }
        }
    }

    /// A future that is ready when the flight ends; it blocks no thread.
    pub(crate) fn wait_async(self: Arc<Self>) -> Wait<T, X> {
        Wait {
            signal: self,
            slot: None,
        }
    }
}

/// A task waiting for a flight (see [`Signal::wait_async`]). Dropping it unregisters its waker.
pub(crate) struct Wait<T, X> {
    signal: Arc<Signal<T, X>>,
    slot: Option<usize>,
}

impl<T: Clone, X> Future for Wait<T, X> {
    type Output = Outcome<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome<T>> {
        let this = self.get_mut();
        let mut inner = this.signal.inner.lock();
        match &inner.state {
            State::Done(v) => return Poll::Ready(Outcome::Value(v.clone())),
            State::Abandoned => return Poll::Ready(Outcome::Retry),
            State::Pending => {}
        }
        let waker = Some(cx.waker().clone());
        match this.slot {
            Some(i) => inner.wakers[i] = waker,
            None => {
                this.slot = Some(inner.wakers.len());
                inner.wakers.push(waker);
            }
        }
        Poll::Pending
    }
}

impl<T, X> Drop for Wait<T, X> {
    fn drop(&mut self) {
        if let Some(i) = self.slot {
            let mut inner = self.signal.inner.lock();
            // Emptied already if the flight ended.
            if let Some(w) = inner.wakers.get_mut(i) {
                *w = None;
            }
        }
    }
}

/// One flight of the cache in progress. `key` is `None` once the leader took it back to weigh
/// the value; a flight without a key matches every lookup with its hash, and those waiters retry
/// afterwards.
struct Flight<K, V> {
    hash: u64,
    key: Option<K>,
    signal: Arc<Signal<V>>,
}

/// The flights of one shard of the cache.
pub(crate) struct Flights<K, V> {
    list: Vec<Flight<K, V>>,
}

/// What a lookup in the registry found.
pub(crate) enum Found<V> {
    /// The flight for this very key: its value is ours.
    Same(Arc<Signal<V>>),
    /// A flight whose key is out being weighed and whose hash is ours: wait, then look again.
    Maybe(Arc<Signal<V>>),
}

impl<K, V> Flights<K, V> {
    pub(crate) const fn new() -> Self {
        Flights { list: Vec::new() }
    }
}

impl<K, V: Clone> Flights<K, V> {
    /// The flight for `key`, if one is in progress.
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<Found<V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.list.iter().find_map(|f| match &f.key {
            _ if f.hash != hash => None,
            Some(k) if k.borrow() == key => Some(Found::Same(f.signal.clone())),
            Some(_) => None,
            None => Some(Found::Maybe(f.signal.clone())),
        })
    }

    /// Registers a flight for `key` (which no flight has) and returns its signal.
    pub(crate) fn start(&mut self, hash: u64, key: K) -> Arc<Signal<V>> {
        let signal = Signal::new(());
        self.list.push(Flight {
            hash,
            key: Some(key),
            signal: signal.clone(),
        });
        signal
    }

    fn position(&self, signal: &Arc<Signal<V>>) -> Option<usize> {
        self.list
            .iter()
            .position(|f| Arc::ptr_eq(&f.signal, signal))
    }

    /// Takes the key out of the flight, which stays registered.
    pub(crate) fn take_key(&mut self, signal: &Arc<Signal<V>>) -> Option<K> {
        let i = self.position(signal)?;
        self.list[i].key.take()
    }

    /// Unregisters the flight (if it still is) and returns its key, if it still holds it.
    pub(crate) fn finish(&mut self, signal: &Arc<Signal<V>>) -> Option<K> {
        let i = self.position(signal)?;
        self.list.swap_remove(i).key
    }
}
