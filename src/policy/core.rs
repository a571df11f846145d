//! The part of every policy that does not touch the store, shared by the sync and the async
//! front ends: the cache, per-key single flight of loads (on the crate's one flight state
//! machine), negative caching, per-key writer locks, and the rules that keep a load from filling
//! the cache with what a write replaced.
//!
//! A front end drives a read as steps ([`PolicyCore::read_step`]): a hit, a flight to wait for
//! (blocking or awaiting), or the lead of a new load, whose [`LoadLead`] it then settles with
//! the store's answer. Only the store call and the wait differ between the front ends.

use super::key_locks::KeyLocks;
use super::options::PolicyOptions;
use super::refresh::{Refresh, RefreshStats};
use super::{ErrorKind, PolicyError};
use crate::Cache;
use crate::flight::Signal;
use crate::sync::Mutex;
use crate::telemetry::{Op, Probe, probe};
use std::collections::HashMap;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

pub(crate) type LoadResult<V> = Result<Option<V>, PolicyError>;

/// One load from the store in progress, shared by every caller that missed on its key. Its
/// extra state, under the flight's lock, is "a write to the key came after this load started",
/// in which case its result must not fill the cache.
pub(crate) type Load<V> = Signal<LoadResult<V>, bool>;

pub(crate) struct PolicyCore<K, V> {
    pub(crate) cache: Cache<K, V>,
    loads: Mutex<HashMap<K, Arc<Load<V>>>>,
    /// Keys known to be absent from the store, for a short TTL.
    negative: Option<Cache<K, ()>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) writers: KeyLocks,
    /// Refresh-ahead and early refresh, if asked for.
    refresh: Option<Refresh>,
}

/// Where a read stands after one look.
pub(crate) enum ReadStep<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The answer, from the cache or the negative cache.
    Done(Option<V>),
    /// Another caller is loading the key: wait for its outcome (and on `Retry`, look again).
    Wait(Arc<Load<V>>),
    /// This caller loads the key; its waiters wait on the lead.
    Lead(LoadLead<K, V>),
    /// A hit on a value due for a refresh: return the value, and reload the key in the
    /// background with this lead (or drop it, which abandons the reload).
    Refresh(V, LoadLead<K, V>),
}

impl<K, V> PolicyCore<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub(crate) fn new(cache: Cache<K, V>, options: &PolicyOptions) -> Self {
        let negative = options.negative_ttl.map(|ttl| {
            Cache::builder()
                .max_capacity(options.negative_capacity.max(1))
                .time_to_live(ttl)
                .build()
                .expect("negative-cache settings are validated by PolicyOptions")
        });
        let refresh = Refresh::new(options);
        if refresh.is_some() {
            cache.keep_stamps();
        }
        PolicyCore {
            cache,
            loads: Mutex::new(HashMap::new()),
            negative,
            timeout: options.timeout,
            writers: KeyLocks::new(),
            refresh,
        }
    }

    /// The counters of refresh-ahead and early refresh (all zero without them).
    /// A new core, shared by its front end, whose refresh counters a named cache publishes
    /// (feature `metrics`).
    pub(crate) fn shared(cache: Cache<K, V>, options: &PolicyOptions) -> Arc<Self> {
        let core = Arc::new(Self::new(cache, options));
        #[cfg(feature = "metrics")]
        if core.refresh.is_some() {
            crate::telemetry::register_refresh(
                core.cache.name_arc(),
                Arc::downgrade(&core),
                Self::refresh_stats,
            );
        }
        core
    }

    /// Starts observing a store call on `key` (or a batch of `len` writes): see
    /// [`telemetry`](crate::telemetry).
    #[inline]
    pub(crate) fn probe(&self, op: Op, key: Option<&K>, len: usize) -> Probe {
        probe(
            self.cache.name_arc(),
            op,
            || key.map(|k| self.cache.hash(k)),
            len,
        )
    }

    pub(crate) fn refresh_stats(&self) -> RefreshStats {
        self.refresh
            .as_ref()
            .map(Refresh::stats)
            .unwrap_or_default()
    }

    /// A background reload has started.
    pub(crate) fn refresh_started(&self) {
        if let Some(r) = &self.refresh {
            r.started();
        }
    }

    /// A hit, and whether its value is due for a refresh.
    fn hit(&self, key: &K) -> Option<(V, bool)> {
        match &self.refresh {
            None => self.cache.get(key).map(|v| (v, false)),
            Some(r) => self.cache.get_fresh(key).map(|(v, f)| (v, r.due(f))),
        }
    }

    /// One look at `key`: the cache, the negative cache, then the registry of loads, where this
    /// caller either joins the load in progress or starts one.
    ///
    /// A front end that has pending writes (write-behind) asks them only after it got the lead:
    /// the load is registered first, so a write that lands after the question finds it and
    /// marks it stale (it then fills nothing), and a write that landed before is in the answer.
    /// Either way no reader that starts after a write returns what the write replaced.
    ///
    /// A hit on a value due for a refresh starts one reload per key: if a load of the key is
    /// already in progress, the value is simply returned.
    pub(crate) fn read_step(self: &Arc<Self>, key: &K) -> ReadStep<K, V> {
        if let Some((v, due)) = self.hit(key) {
            if let Some(lead) = due.then(|| self.lead(key, true).ok()).flatten() {
                return ReadStep::Refresh(v, lead);
            }
            return ReadStep::Done(Some(v));
        }
        if self.negative.as_ref().is_some_and(|n| n.contains_key(key)) {
            return ReadStep::Done(None);
        }
        match self.lead(key, false) {
            Ok(lead) => ReadStep::Lead(lead),
            Err(load) => ReadStep::Wait(load),
        }
    }

    /// Registers a load of `key` and returns its lead, or the load in progress.
    fn lead(self: &Arc<Self>, key: &K, refresh: bool) -> Result<LoadLead<K, V>, Arc<Load<V>>> {
        let mut loads = self.loads.lock();
        // A load that has ended is still registered only if a panicking `Hash` kept its
        // leader from removing it. Start afresh rather than serve it.
        if let Some(l) = loads.get(key).filter(|l| !l.is_ended()) {
            return Err(l.clone());
        }
        let load = Load::new(false);
        loads.insert(key.clone(), load.clone());
        drop(loads);
        Ok(LoadLead {
            core: self.clone(),
            key: key.clone(),
            load,
            ended: false,
            refresh,
            started: self.refresh.as_ref().map(|_| self.cache.clock_nanos()),
        })
    }

    /// A write to `key` happened: a load in progress must not fill the cache with what it read
    /// before, and later readers must not join it. Also forgets a negative entry.
    pub(crate) fn detach(&self, key: &K) {
        let load = self.loads.lock().remove(key);
        if let Some(load) = load {
            load.with_extra(|stale| *stale = true);
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

    /// Drops every cached copy (and every negative entry); no load in progress will fill the
    /// cache. For when this process may have missed writes of unknown keys.
    pub(crate) fn invalidate_all(&self) {
        let loads = std::mem::take(&mut *self.loads.lock());
        for load in loads.into_values() {
            load.with_extra(|stale| *stale = true);
        }
        if let Some(n) = &self.negative {
            n.clear();
        }
        self.cache.clear();
    }

    /// What a synchronous write policy does to the cache once the store answered `r` (still
    /// under the key's writer lock). The one place where cache-aside and write-through differ,
    /// for the sync and the async policies alike.
    pub(crate) fn settle_write(&self, key: &K, write: Written<V>, r: &Result<(), PolicyError>) {
        let timed_out = r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Timeout);
        match write {
            // Whatever the outcome, the store may hold something new: the next read loads it.
            Written::Aside => self.invalidate(key),
            Written::ThroughPut(value) => match r {
                Ok(()) => {
                    self.detach(key);
                    self.cache.insert(key.clone(), value);
                }
                // The store may or may not hold the value.
                Err(_) if timed_out => self.invalidate(key),
                // The store refused it: the cache is unchanged.
                Err(_) => {}
            },
            Written::ThroughDelete => {
                if r.is_ok() || timed_out {
                    self.invalidate(key);
                }
            }
        }
    }
}

/// Which synchronous write the store answered (see [`PolicyCore::settle_write`]).
pub(crate) enum Written<V> {
    /// A cache-aside `put` or `delete`.
    Aside,
    /// A write-through `put` of this value.
    ThroughPut(V),
    /// A write-through `delete`.
    ThroughDelete,
}

/// The leader of a load. It ends the load exactly once: with [`publish`](Self::publish), or,
/// dropped without it (the leader unwound, or its future was dropped), by abandoning it, so
/// that a waiter leads instead and nobody inherits the failure.
pub(crate) struct LoadLead<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    core: Arc<PolicyCore<K, V>>,
    key: K,
    load: Arc<Load<V>>,
    ended: bool,
    /// A background reload of a cached value (which an absent answer drops, and a failure
    /// keeps).
    refresh: bool,
    /// When the load started, on the cache's clock, if the cache keeps load times.
    started: Option<u64>,
}

impl<K, V> LoadLead<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// Hands `result` to the waiters (a store error is theirs too: they share the store) and,
    /// with `fill` and unless a write made the load stale, puts it in the cache (or the negative
    /// cache). A refresh that found the key gone drops the cached copy; one that failed keeps it
    /// and is counted.
    pub(crate) fn publish(mut self, result: LoadResult<V>, fill: bool) {
        let core = &*self.core;
        let key = &self.key;
        if let (true, Err(_), Some(r)) = (self.refresh, &result, &core.refresh) {
            r.failed();
        }
        let (refresh, started) = (self.refresh, self.started);
        self.load.end_with(|stale| {
            if let (true, true, Some(r)) = (refresh, *stale, &core.refresh) {
                r.superseded();
            }
            if fill && !*stale {
                // Filling the cache under the load's own lock: a writer marks the load stale
                // under it too, so a fill either lands before the writer's cache update (which
                // then wins) or not at all.
                let filled = panic::catch_unwind(AssertUnwindSafe(|| match &result {
                    Ok(Some(v)) => match started {
                        Some(t) => {
                            let delta = core.cache.clock_nanos().saturating_sub(t);
                            core.cache.insert_loaded(key.clone(), v.clone(), delta);
                        }
                        None => core.cache.insert(key.clone(), v.clone()),
                    },
                    Ok(None) => {
                        if refresh {
                            core.cache.remove(key);
                        }
                        if let Some(n) = &core.negative {
                            n.insert(key.clone(), ());
                        }
                    }
                    Err(_) => {}
                }));
                // A panicking eviction listener has had its say; the load's result stands.
                drop(filled);
            }
            Some(result)
        });
        self.ended = true;
        self.unregister();
    }

    fn unregister(&self) {
        let mut loads = self.core.loads.lock();
        if loads
            .get(&self.key)
            .is_some_and(|l| Arc::ptr_eq(l, &self.load))
        {
            loads.remove(&self.key);
        }
    }
}

impl<K, V> Drop for LoadLead<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn drop(&mut self) {
        if !self.ended {
            self.load.end(None);
            self.unregister();
        }
    }
}

/// A store call's answer (caught panics included) as a policy result: the one translation,
/// for every front end and every call.
pub(crate) fn settle<R, E: std::error::Error + Send + Sync + 'static>(
    answer: std::thread::Result<Result<R, E>>,
) -> Result<R, PolicyError> {
    match answer {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(PolicyError::store(e)),
        Err(payload) => Err(PolicyError::panicked(&*payload)),
    }
}
