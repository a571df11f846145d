//! Per-key single flight for `get_or_insert_with`: one caller (the leader) runs `init`, the
//! others wait on its [`Signal`] and take a clone of the value.
//!
//! The registry of flights lives inside the shard, under the shard lock, so that "is there an
//! entry, and if not, is somebody loading it" is one atomic question. Only the wait itself
//! happens outside the shard lock.

use crate::sync::{Condvar, Mutex};
use std::borrow::Borrow;
use std::sync::Arc;

/// How a flight ended.
enum State<V> {
    Pending,
    /// The leader stored this value (waiters that matched the key take a clone).
    Done(V),
    /// The leader's `init` failed or panicked: waiters retry, and one of them leads.
    Abandoned,
}

/// What a waiter learns when the flight ends.
pub(crate) enum Outcome<V> {
    Value(V),
    Retry,
}

/// The meeting point of a leader and its waiters.
pub(crate) struct Signal<V> {
    state: Mutex<State<V>>,
    ended: Condvar,
}

impl<V: Clone> Signal<V> {
    fn new() -> Arc<Self> {
        Arc::new(Signal {
            state: Mutex::new(State::Pending),
            ended: Condvar::new(),
        })
    }

    /// Ends the flight with a value (or, with `None`, abandons it) and wakes every waiter.
    pub(crate) fn end(&self, value: Option<V>) {
        let mut state = self.state.lock();
        *state = match value {
            Some(v) => State::Done(v),
            None => State::Abandoned,
        };
        drop(state);
        self.ended.notify_all();
    }

    /// Blocks until the flight ends.
    pub(crate) fn wait(&self) -> Outcome<V> {
        let mut state = self.state.lock();
        loop {
            match &*state {
                State::Pending => self.ended.wait(&mut state),
                State::Done(v) => return Outcome::Value(v.clone()),
                State::Abandoned => return Outcome::Retry,
            }
        }
    }
}

/// One flight in progress. `key` is `None` once the leader took it back to weigh the value; a
/// flight without a key matches every lookup with its hash, and those waiters retry afterwards.
struct Flight<K, V> {
    hash: u64,
    key: Option<K>,
    signal: Arc<Signal<V>>,
}

/// The flights of one shard.
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
        let signal = Signal::new();
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
