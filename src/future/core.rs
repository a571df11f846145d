//! The async front end of the policy core: the same [`PolicyCore`] as the sync policies (single
//! flight, negative cache, stale marks, key locks, what a write does to the cache), with waits
//! that are awaits, store calls that are futures, and timeouts on the runtime's timer.

use super::AsyncStore;
use crate::Cache;
use crate::WriteOp;
use crate::flight::Outcome;
use crate::policy::core::{LoadResult, PolicyCore, ReadStep, Written, settle};
use crate::policy::key_locks::KeyLock;
use crate::policy::{ErrorKind, PolicyError, PolicyOptions};
use crate::telemetry::Op;
use std::future::{Future, poll_fn};
use std::hash::Hash;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use tokio::time::Instant;

/// An async policy's shared state: the [`PolicyCore`] (which it derefs to) and the store.
pub(crate) struct AsyncCore<K, V, S> {
    core: Arc<PolicyCore<K, V>>,
    pub(crate) store: S,
}

impl<K, V, S> Deref for AsyncCore<K, V, S> {
    type Target = PolicyCore<K, V>;
    fn deref(&self) -> &PolicyCore<K, V> {
        &self.core
    }
}

/// Awaits `f`, turning a panic inside it into an `Err` with the payload.
pub(crate) async fn catch_unwind<F: Future>(f: F) -> std::thread::Result<F::Output> {
    let mut f = pin!(f);
    poll_fn(
        move |cx| match panic::catch_unwind(AssertUnwindSafe(|| f.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

/// A write's answer on its way back to its caller, with the key's writer lock. If the caller is
/// gone when the write lands (it timed out, or its future was dropped), dropping this drops the
/// cached copy and cancels loads in progress before the lock is released, so nothing cached
/// predates the write.
struct Landing<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    answer: Option<std::thread::Result<Result<(), S::Error>>>,
    core: Arc<AsyncCore<K, V, S>>,
    key: K,
    lock: Option<KeyLock>,
}

impl<K, V, S> Drop for Landing<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take() {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.core.invalidate(&self.key)));
            drop(lock);
        }
    }
}

impl<K, V, S> AsyncCore<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    pub(crate) fn new(cache: Cache<K, V>, store: S, options: &PolicyOptions) -> Self {
        AsyncCore {
            core: PolicyCore::shared(cache, options),
            store,
        }
    }

    /// Read-through, as the sync policies do it: one look ([`PolicyCore::read_step`]); a waiter
    /// awaits the load in progress, a leader asks `pending` (write-behind's unflushed writes)
    /// and then the store. A leader whose future is dropped abandons its load, and a waiter
    /// leads instead. A value due for a refresh is returned at once and reloaded by a task of
    /// its own (dropped with the runtime: the reload is then abandoned).
    pub(crate) async fn get(
        self: &Arc<Self>,
        key: &K,
        pending: impl Fn(&K) -> Option<Option<V>>,
    ) -> LoadResult<V> {
        loop {
            let load = match self.core.read_step(key) {
                ReadStep::Done(v) => return Ok(v),
                ReadStep::Refresh(v, lead) => {
                    if let Some(p) = pending(key) {
                        lead.publish(Ok(p.clone()), false);
                        return Ok(p);
                    }
                    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                        let (policy, k) = (self.clone(), key.clone());
                        runtime.spawn(async move {
                            let result = policy.load(&k).await;
                            lead.publish(result, true);
                        });
                        self.refresh_started();
                    }
                    return Ok(Some(v));
                }
                ReadStep::Wait(load) => load,
                ReadStep::Lead(lead) => {
                    if let Some(p) = pending(key) {
                        lead.publish(Ok(p.clone()), false);
                        return Ok(p);
                    }
                    let result = self.load(key).await;
                    lead.publish(result.clone(), true);
                    return result;
                }
            };
            match load.wait_async().await {
                Outcome::Value(r) => return r,
                Outcome::Retry => {}
            }
        }
    }

    /// One load from the store; a panic becomes an error, and with a timeout a late answer is
    /// dropped (its future with it) on the runtime's timer.
    async fn load(&self, key: &K) -> LoadResult<V> {
        let probe = self.probe(Op::Load, Some(key), 1);
        let call = catch_unwind(probe.scope().instrument(self.store.load(key)));
        let result = match self.timeout {
            None => settle(call.await),
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(answer) => settle(answer),
                Err(_) => Err(PolicyError::timeout(limit)),
            },
        };
        probe.end(&result, |v| Some(v.is_some()));
        result
    }

    /// One store write under the key's writer lock, then the cache's part of `write`
    /// ([`PolicyCore::settle_write`]), as the sync policies do it. The store call runs as a task
    /// of its own that holds the writer lock until the store answers: if this caller times out
    /// or its future is dropped, the write is still ordered before the next write of the key,
    /// and when it lands it drops the cached copy. Needs a tokio runtime.
    pub(crate) async fn write(
        self: &Arc<Self>,
        op: WriteOp<K, V>,
        write: Written<V>,
    ) -> Result<(), PolicyError> {
        let key = op.key().clone();
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let lock = match deadline {
            None => self.writers.lock_async(&key).await,
            Some(d) => match tokio::time::timeout_at(d, self.writers.lock_async(&key)).await {
                Ok(lock) => lock,
                Err(_) => {
                    let limit = self.timeout.unwrap_or_default();
                    let r = Err(PolicyError::new(
                        ErrorKind::Timeout,
                        format!("{limit:?} (an earlier write of this key was still running)"),
                    ));
                    self.settle_write(&key, write, &r);
                    return r;
                }
            },
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let core = self.clone();
        let landing_key = key.clone();
        let kind = match op {
            WriteOp::Put(..) => Op::Write,
            WriteOp::Delete(_) => Op::Delete,
        };
        let probe = self.probe(kind, Some(&key), 1);
        let scope = probe.scope();
        tokio::spawn(async move {
            let answer = catch_unwind(scope.instrument(async {
                match &op {
                    WriteOp::Put(k, v) => core.store.write(k, v).await,
                    WriteOp::Delete(k) => core.store.delete(k).await,
                }
            }))
            .await;
            // If the caller is gone, the landing comes back here and its drop does the rest.
            let _ = tx.send(Landing {
                answer: Some(answer),
                core,
                key: landing_key,
                lock: Some(lock),
            });
        });
        let landed = match deadline {
            None => rx.await.ok(),
            Some(d) => tokio::time::timeout_at(d, rx)
                .await
                .ok()
                .and_then(Result::ok),
        };
        let (r, lock) = match landed {
            Some(mut landing) => (
                settle(landing.answer.take().expect("a landing carries its answer")),
                landing.lock.take(),
            ),
            None => (
                Err(match self.timeout {
                    Some(limit) => PolicyError::timeout(limit),
                    None => PolicyError::new(
                        ErrorKind::Closed,
                        "the runtime shut down during the write",
                    ),
                }),
                None,
            ),
        };
        probe.end(&r, |_| None);
        self.settle_write(&key, write, &r);
        drop(lock);
        r
    }
}
