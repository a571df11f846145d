//! What every policy shares: the cache and the store, the read-through path with per-key single
//! flight and optional negative caching, store calls that turn panics (and, with a timeout, hangs)
//! into errors, and per-key write serialisation.

use super::PolicyError;
use super::options::PolicyOptions;
use crate::sync::{Condvar, Mutex, MutexGuard, thread};
use crate::{Cache, Store};
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Writers of one key are serialised on one of these locks, so that the store and the cache see
/// their writes in the same order. More stripes, fewer unrelated keys waiting on each other.
const WRITE_STRIPES: usize = 256;

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
    stripes: Box<[Mutex<()>]>,
    stripe_hasher: RandomState,
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
            stripes: (0..WRITE_STRIPES).map(|_| Mutex::new(())).collect(),
            stripe_hasher: RandomState::new(),
        }
    }

    /// The lock that serialises writers of `key`.
    pub(crate) fn stripe(&self, key: &K) -> MutexGuard<'_, ()> {
        let h = self.stripe_hasher.hash_one(key) as usize;
        self.stripes[h % WRITE_STRIPES].lock()
    }

    /// Read-through: the cache, then `pending` (write-behind's unflushed writes: `Some(None)` is
    /// a pending delete), then the negative cache, then one load per key from the store.
    pub(crate) fn get(
        self: &Arc<Self>,
        key: &K,
        pending: impl FnOnce(&K) -> Option<Option<V>>,
    ) -> LoadResult<V> {
        if let Some(v) = self.cache.get(key) {
            return Ok(Some(v));
        }
        if let Some(p) = pending(key) {
            return Ok(p);
        }
        if self.negative.as_ref().is_some_and(|n| n.contains_key(key)) {
            return Ok(None);
        }
        let (load, leader) = {
            let mut loads = self.loads.lock();
            match loads.get(key) {
                Some(l) => (l.clone(), false),
                None => {
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
        let k = key.clone();
        let result = self.call(move |s: &S| s.load(&k));
        guard.publish(result.clone());
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

    /// Calls the store; a panic becomes [`ErrorKind::Panicked`](super::ErrorKind::Panicked). With
    /// a timeout, the call runs on a helper thread and an answer that comes too late becomes
    /// [`ErrorKind::Timeout`](super::ErrorKind::Timeout) (the late answer is dropped).
    pub(crate) fn call<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&S) -> Result<R, S::Error> + Send + 'static,
    ) -> Result<R, PolicyError> {
        let answer = match self.timeout {
            None => panic::catch_unwind(AssertUnwindSafe(|| f(&self.store))),
            Some(limit) => {
                let core = self.clone();
                let (tx, rx) = mpsc::sync_channel(1);
                let spawned = thread::Builder::new()
                    .name("stratacache-store-call".into())
                    .spawn(move || {
                        let r = panic::catch_unwind(AssertUnwindSafe(|| f(&core.store)));
                        let _ = tx.send(r);
                    });
                if let Err(e) = spawned {
                    return Err(PolicyError::new(
                        super::ErrorKind::Store,
                        format!("could not start a thread for the store call: {e}"),
                    ));
                }
                match rx.recv_timeout(limit) {
                    Ok(answer) => answer,
                    Err(_) => return Err(PolicyError::timeout(limit)),
                }
            }
        };
        match answer {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(PolicyError::store(e)),
            Err(payload) => Err(PolicyError::panicked(&*payload)),
        }
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
    fn publish(&mut self, result: LoadResult<V>) {
        self.published = true;
        {
            let mut st = self.load.state.lock();
            if !st.stale {
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
            self.publish(Err(PolicyError::new(
                super::ErrorKind::Panicked,
                "the loading caller unwound before the load finished",
            )));
        }
    }
}
