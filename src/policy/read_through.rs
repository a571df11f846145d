//! The sync front end of the policy core: the read-through path with blocking waits, and store
//! calls that turn panics (and, with a timeout, hangs) into errors, writes serialised per key.

use super::PolicyError;
use super::core::{LoadResult, PolicyCore, ReadStep, Written, settle};
use super::key_locks::KeyLock;
use super::options::PolicyOptions;
use super::store_calls::{Helpers, Overdue};
use crate::flight::Outcome;
use crate::telemetry::Op;
use crate::{Cache, Store};
use std::hash::Hash;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A policy over a sync [`Store`]: the shared [`PolicyCore`] (which it derefs to), the store,
/// and the helper threads that store calls with a timeout run on.
pub(crate) struct ReadThrough<K, V, S> {
    core: Arc<PolicyCore<K, V>>,
    pub(crate) store: S,
    /// The helper threads that timed calls run on (bounded by `max_store_threads`).
    helpers: Arc<Helpers>,
    /// The threads that background reloads run on (bounded by `max_store_threads` too).
    refreshers: Arc<Helpers>,
}

impl<K, V, S> Deref for ReadThrough<K, V, S> {
    type Target = PolicyCore<K, V>;
    fn deref(&self) -> &PolicyCore<K, V> {
        &self.core
    }
}

impl<K, V, S> ReadThrough<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    pub(crate) fn new(cache: Cache<K, V>, store: S, options: &PolicyOptions) -> Self {
        ReadThrough {
            core: PolicyCore::shared(cache, options),
            store,
            helpers: Helpers::new(options.max_store_threads),
            refreshers: Helpers::new(options.max_store_threads),
        }
    }

    /// The lock that serialises writers of `key` (waits as long as it takes).
    pub(crate) fn writer(&self, key: &K) -> KeyLock {
        self.writers
            .lock(key, None)
            .expect("a wait without a deadline ends with the lock")
    }

    /// Read-through: one look ([`PolicyCore::read_step`]); a waiter blocks on the load in
    /// progress, a leader asks `pending` (write-behind's unflushed writes: `Some(None)` is a
    /// pending delete) and then the store. A value due for a refresh is returned at once and
    /// reloaded on a helper thread, if one is free (if not, the next hit tries again).
    pub(crate) fn get(
        self: &Arc<Self>,
        key: &K,
        pending: impl Fn(&K) -> Option<Option<V>>,
    ) -> LoadResult<V> {
        loop {
            match self.core.read_step(key) {
                ReadStep::Done(v) => return Ok(v),
                ReadStep::Refresh(v, lead) => {
                    if let Some(p) = pending(key) {
                        // An unflushed write is newer than anything the store holds.
                        lead.publish(Ok(p.clone()), false);
                        return Ok(p);
                    }
                    let (policy, k) = (self.clone(), key.clone());
                    let reload = move || {
                        let result = policy.load(k);
                        lead.publish(result, true);
                    };
                    // If no thread is free, the lead is dropped with the job: abandoned.
                    if self.refreshers.try_spawn(reload) {
                        self.refresh_started();
                    }
                    return Ok(Some(v));
                }
                ReadStep::Wait(load) => match load.wait() {
                    Outcome::Value(r) => return r,
                    Outcome::Retry => continue,
                },
                ReadStep::Lead(lead) => {
                    if let Some(p) = pending(key) {
                        // The write that queued it has put it in the cache already (or
                        // removed it).
                        lead.publish(Ok(p.clone()), false);
                        return Ok(p);
                    }
                    let result = self.load(key.clone());
                    lead.publish(result.clone(), true);
                    return result;
                }
            }
        }
    }

    /// Loads `key` from the store (through [`call`](Self::call)), observed.
    fn load(self: &Arc<Self>, key: K) -> LoadResult<V> {
        let probe = self.probe(Op::Load, Some(&key), 1);
        let scope = probe.scope();
        let result = self.call(move |s: &S| scope.in_scope(|| s.load(&key)));
        probe.end(&result, |v| Some(v.is_some()));
        result
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

    /// One store write of `key` under the key's writer lock, then the cache's part of `write`
    /// ([`PolicyCore::settle_write`]), still under the lock. Without a timeout, that is all.
    ///
    /// With a timeout, the whole of it (waiting for the writer lock, for a helper thread, and for
    /// the store) is bounded by the timeout. A write that has started and not answered in time is
    /// abandoned with [`ErrorKind::Timeout`](super::ErrorKind::Timeout), but it keeps its key's
    /// writer lock on its helper thread until the store answers, so the next write of the key
    /// waits for it (up to its own timeout) and cannot be overtaken; when the answer comes, the
    /// cached copy is dropped and loads in progress are cancelled, so the cache cannot keep a
    /// value that the late write replaced. The cache's part sees the timeout and runs at once.
    pub(crate) fn write(
        self: &Arc<Self>,
        key: &K,
        kind: Op,
        op: impl FnOnce(&S, &K) -> Result<(), S::Error> + Send + 'static,
        write: Written<V>,
    ) -> Result<(), PolicyError> {
        let probe = self.probe(kind, Some(key), 1);
        let scope = probe.scope();
        let op = move |s: &S, k: &K| scope.in_scope(|| op(s, k));
        let then = |core: &Self, r: &Result<(), PolicyError>| {
            probe.end(r, |_| None);
            core.settle_write(key, write, r);
        };
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
