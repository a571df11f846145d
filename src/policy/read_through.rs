//! What every policy shares: the cache and the store, the read-through path with per-key single
//! flight and optional negative caching, store calls that turn panics (and, with a timeout, hangs)
//! into errors, and per-key write serialisation.

use super::PolicyError;
use super::key_locks::{KeyLock, KeyLocks};
use super::options::PolicyOptions;
use super::store_calls::{Helpers, Overdue};
use crate::sync::{Condvar, Mutex};
use crate::{Cache, Store};
use std::collections::HashMap;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

type LoadResult<V> = Result<Option<V>, PolicyError>;

/// One load from the store in progress, shared by every caller that missed on its key.
struct Load<V> {
    state: Mutex<LoadState<V>>,
    done: Condvar,
}

struct LoadState<V> {
    /// A write to the key came after this load started: its result must not fill the cache.
    stale: bool,
    result: Option<LoadResult<V>>,
}

pub(crate) struct ReadThrough<K, V, S> {
    pub(crate) cache: Cache<K, V>,
    pub(crate) store: S,
    loads: Mutex<HashMap<K, Arc<Load<V>>>>,
    /// Keys known to be absent from the store, for a short TTL.
    negative: Option<Cache<K, ()>>,
    timeout: Option<Duration>,
    /// The helper threads that timed calls run on (bounded by `max_store_threads`).
    helpers: Arc<Helpers>,
    writers: KeyLocks,
}

impl<K, V, S> ReadThrough<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    pub(crate) fn new(cache: Cache<K, V>, store: S, options: &PolicyOptions) -> Self {
        let negative = options.negative_ttl.map(|ttl| {
            Cache::builder()
                .max_capacity(options.negative_capacity.max(1))
                .time_to_live(ttl)
                .build()
                .expect("negative-cache settings are validated by PolicyOptions")
        });
        ReadThrough {
            cache,
            store,
            loads: Mutex::new(HashMap::new()),
            negative,
            timeout: options.timeout,
            helpers: Helpers::new(options.max_store_threads),
            writers: KeyLocks::new(),
        }
    }

    /// The lock that serialises writers of `key` (waits as long as it takes).
    pub(crate) fn writer(&self, key: &K) -> KeyLock {
        self.writers
            .lock(key, None)
            .expect("a wait without a deadline ends with the lock")
    }

    /// Read-through: the cache, then the negative cache, then one load per key, whose leader
    /// first asks `pending` (write-behind's unflushed writes: `Some(None)` is a pending delete)
    /// and only then the store.
    ///
    /// The load is registered before `pending` is asked: a write that lands after the question
    /// finds the load and marks it stale (so it fills nothing), and a write that landed before it
    /// is in the answer. Either way no reader that starts after a write returns what the write
    /// replaced.
    pub(crate) fn get(
        self: &Arc<Self>,
        key: &K,
        pending: impl FnOnce(&K) -> Option<Option<V>>,
    ) -> LoadResult<V> {
        if let Some(v) = self.cache.get(key) {
            return Ok(Some(v));
        }
        if self.negative.as_ref().is_some_and(|n| n.contains_key(key)) {
            return Ok(None);
        }
        let (load, leader) = {
            let mut loads = self.loads.lock();
            match loads.get(key) {
                // A load with a result is over; it is still registered only if a panicking
                // `Hash` kept its leader from removing it. Start afresh rather than serve it.
                Some(l) if l.state.lock().result.is_none() => (l.clone(), false),
                _ => {
                    let l = Arc::new(Load {
                        state: Mutex::new(LoadState {
                            stale: false,
                            result: None,
                        }),
                        done: Condvar::new(),
                    });
                    loads.insert(key.clone(), l.clone());
                    (l, true)
                }
            }
        };
        if !leader {
            let mut st = load.state.lock();
            loop {
                if let Some(r) = &st.result {
                    return r.clone();
                }
                load.done.wait(&mut st);
            }
        }
        let mut guard = Publish {
            core: self,
            key,
            load: &load,
            published: false,
        };
        if let Some(p) = pending(key) {
            // The write that queued it has put it in the cache already (or removed it).
            guard.publish(Ok(p.clone()), false);
            return Ok(p);
        }
        let k = key.clone();
        let result = self.call(move |s: &S| s.load(&k));
        guard.publish(result.clone(), true);
        result
    }

    /// A write to `key` happened: a load in progress must not fill the cache with what it read
    /// before, and later readers must not join it. Also forgets a negative entry.
    pub(crate) fn detach(&self, key: &K) {
        let load = self.loads.lock().remove(key);
        if let Some(load) = load {
            load.state.lock().stale = true;
        }
        if let Some(n) = &self.negative {
            n.remove(key);
        }
    }

    /// Drops the cached copy (and any negative entry); a load in progress will not refill it.
    pub(crate) fn invalidate(&self, key: &K) {
        self.detach(key);
        self.cache.remove(key);
    }

    /// Calls the store; a panic becomes [`ErrorKind::Panicked`](super::ErrorKind::Panicked).
    /// With a timeout, the call runs on a helper thread (at most `max_store_threads` at once) and
    /// an answer that comes too late becomes [`ErrorKind::Timeout`](super::ErrorKind::Timeout);
    /// the late answer is dropped. For reads only: writes go through [`write`](Self::write).
    pub(crate) fn call<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&S) -> Result<R, S::Error> + Send + 'static,
    ) -> Result<R, PolicyError> {
        let answer = match self.timeout {
            None => panic::catch_unwind(AssertUnwindSafe(|| f(&self.store))),
            Some(limit) => {
                let core = self.clone();
                let job = move || panic::catch_unwind(AssertUnwindSafe(|| f(&core.store)));
                self.helpers
                    .run(Instant::now() + limit, job, drop)
                    .map_err(|o| overdue(o, limit))?
            }
        };
        settle(answer)
    }

    /// One store write of `key` under the key's writer lock, then `then` with its result, still
    /// under the lock (the policy updates its cache there). Without a timeout, that is all.
    ///
    /// With a timeout, the whole of it (waiting for the writer lock, for a helper thread, and for
    /// the store) is bounded by the timeout. A write that has started and not answered in time is
    /// abandoned with [`ErrorKind::Timeout`](super::ErrorKind::Timeout), but it keeps its key's
    /// writer lock on its helper thread until the store answers, so the next write of the key
    /// waits for it (up to its own timeout) and cannot be overtaken; when the answer comes, the
    /// cached copy is dropped and loads in progress are cancelled, so the cache cannot keep a
    /// value that the late write replaced. `then` sees the timeout and runs at once.
    pub(crate) fn write(
        self: &Arc<Self>,
        key: &K,
        op: impl FnOnce(&S, &K) -> Result<(), S::Error> + Send + 'static,
        then: impl FnOnce(&Self, &Result<(), PolicyError>),
    ) -> Result<(), PolicyError> {
        let Some(limit) = self.timeout else {
            let _writer = self.writer(key);
            let r = settle(panic::catch_unwind(AssertUnwindSafe(|| {
                op(&self.store, key)
            })));
            then(self, &r);
            return r;
        };
        let deadline = Instant::now() + limit;
        let Some(writer) = self.writers.lock(key, Some(deadline)) else {
            let r = Err(PolicyError::new(
                super::ErrorKind::Timeout,
                format!("{limit:?} (an earlier write of this key was still running)"),
            ));
            then(self, &r);
            return r;
        };
        let (core, k) = (self.clone(), key.clone());
        let job = move || {
            let r = panic::catch_unwind(AssertUnwindSafe(|| op(&core.store, &k)));
            (r, writer, k, core)
        };
        let landed = |(_, writer, k, core): (_, KeyLock, K, Arc<Self>)| {
            // The abandoned write has landed (or failed): nothing cached may predate it.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| core.invalidate(&k)));
            drop(writer);
        };
        let r = match self.helpers.run(deadline, job, landed) {
            Ok((answer, writer, _, _)) => {
                let r = settle(answer);
                then(self, &r);
                drop(writer);
                return r;
            }
            Err(o) => Err(overdue(o, limit)),
        };
        then(self, &r);
        r
    }
}

/// A store call's answer as a policy result.
fn settle<R, E: std::error::Error + Send + Sync + 'static>(
    answer: std::thread::Result<Result<R, E>>,
) -> Result<R, PolicyError> {
    match answer {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(PolicyError::store(e)),
        Err(payload) => Err(PolicyError::panicked(&*payload)),
    }
}

/// A timed call that did not answer, as a policy error.
fn overdue(o: Overdue, limit: Duration) -> PolicyError {
    match o {
        Overdue::Late => PolicyError::timeout(limit),
        Overdue::NoHelper => PolicyError::new(
            super::ErrorKind::Timeout,
            format!("{limit:?} (every store-call thread was busy with calls still running)"),
        ),
        Overdue::Spawn(e) => PolicyError::new(
            super::ErrorKind::Store,
            format!("could not start a thread for the store call: {e}"),
        ),
    }
}

/// The leader's duty to its waiters: publish a result exactly once, even when it unwinds.
struct Publish<'a, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    core: &'a ReadThrough<K, V, S>,
    key: &'a K,
    load: &'a Arc<Load<V>>,
    published: bool,
}

impl<K, V, S> Publish<'_, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// Hands `result` to the waiters and, with `fill` and unless a write made the load stale,
    /// puts it in the cache (or the negative cache).
    fn publish(&mut self, result: LoadResult<V>, fill: bool) {
        self.published = true;
        {
            let mut st = self.load.state.lock();
            if fill && !st.stale {
                // Filling the cache under the load's own lock: a writer marks the load stale
                // under it too, so a fill either lands before the writer's cache update (which
                // then wins) or not at all.
                let filled = panic::catch_unwind(AssertUnwindSafe(|| match &result {
                    Ok(Some(v)) => self.core.cache.insert(self.key.clone(), v.clone()),
                    Ok(None) => {
                        if let Some(n) = &self.core.negative {
                            n.insert(self.key.clone(), ());
                        }
                    }
                    Err(_) => {}
                }));
                // A panicking eviction listener has had its say; the load's result stands.
                drop(filled);
            }
            st.result = Some(result);
        }
        self.load.done.notify_all();
        let mut loads = self.core.loads.lock();
        if loads
            .get(self.key)
            .is_some_and(|l| Arc::ptr_eq(l, self.load))
        {
            loads.remove(self.key);
        }
    }
}

impl<K, V, S> Drop for Publish<'_, K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn drop(&mut self) {
        if !self.published {
            self.publish(
                Err(PolicyError::new(
                    super::ErrorKind::Panicked,
                    "the loading caller unwound before the load finished",
                )),
                false,
            );
        }
    }
}
