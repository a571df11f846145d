//! [`WriteBehind`] for async code: the sync policy's queue, write steps, settlement and counters
//! ([`WriteBehindCore`]), driven by a tokio task instead of a thread.

use super::AsyncStore;
use super::core::{AsyncCore, catch_unwind};
use crate::policy::core::settle;
use crate::policy::write_behind::WriteBehindCore;
use crate::policy::write_queue::{Batch, Next};
use crate::sync::Mutex;
use crate::telemetry::Op;
use crate::{BuildError, Cache, ErrorKind, PolicyError, WriteBehindStats};
use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The flusher of an async [`WriteBehind`]: a tokio task.
#[derive(Debug)]
pub enum OnTask {}

/// Settings of an async [`WriteBehind`]: the sync builder's knobs
/// ([`crate::WriteBehindBuilder`]), with a task for flusher. Made by [`WriteBehind::builder`].
pub type WriteBehindBuilder<K, V, S> = crate::WriteBehindBuilder<K, V, S, OnTask>;

impl<K, V, S> crate::WriteBehindBuilder<K, V, S, OnTask>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    /// Checks the settings and spawns the flusher task on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// A zero `batch_size` or `queue_capacity`, or no tokio runtime to spawn the flusher on.
    pub fn build(self) -> Result<WriteBehind<K, V, S>, BuildError> {
        self.checked()?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BuildError::new("future::WriteBehind must be built inside a tokio runtime")
        })?;
        let (cache, store, options, parts) = self.into_parts();
        let core = Arc::new(AsyncCore::new(cache, store, &options));
        let shared = Arc::new(Shared {
            wb: parts.into_core(core)?,
            wake: Notify::new(),
            progress: Notify::new(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register_write_behind(
            shared.wb.core.cache.name_arc(),
            Arc::downgrade(&shared),
            |s| s.wb.stats(),
        );
        let flusher = runtime.spawn(shared.clone().run());
        Ok(WriteBehind {
            flusher: Arc::new(Flusher {
                shared: shared.clone(),
                handle: Mutex::new(Some(flusher)),
            }),
            shared,
        })
    }
}

/// Write-behind over an [`AsyncStore`] (feature `tokio`), with every guarantee of the sync
/// [`crate::WriteBehind`]: reads see the latest `put`/`delete` at once, per-key order reaches the
/// store, the queue is bounded (a full queue makes `put` wait without blocking a thread, or
/// fail), failed batches are retried with backoff and then reported with their cached copies
/// dropped, and [`flush`](Self::flush) returns once every write accepted before it was persisted
/// or reported. The flusher is a task on the runtime `build` ran in.
///
/// Dropping the last clone without [`shutdown`](Self::shutdown) or [`close`](Self::close) cannot
/// wait: it closes the queue and leaves the remaining writes to the flusher task, which finishes
/// them while the runtime lives. Await `close` on shutdown to know they are in the store.
///
/// # Examples
///
/// ```
/// use stratacache::future::{Blocking, WriteBehind};
/// use stratacache::{Cache, MemoryStore};
/// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
/// # rt.block_on(async {
/// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(MemoryStore::new())).build()?;
/// policy.put("k", 1).await?;
/// assert_eq!(policy.get(&"k").await?, Some(1)); // at once, before the store has it
/// policy.flush().await?;
/// assert_eq!(policy.store().inner().peek(&"k"), Some(1));
/// policy.shutdown().await?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
pub struct WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    shared: Arc<Shared<K, V, S>>,
    /// Shared by the clones; the last one dropped closes the queue.
    flusher: Arc<Flusher<K, V, S>>,
}

/// Clones share the cache, the queue and the flusher task: cheap, as an `Arc`. The policy
/// closes when [`close`](WriteBehind::close) is awaited on any clone, or when the last clone is
/// dropped.
impl<K, V, S> Clone for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    fn clone(&self) -> Self {
        WriteBehind {
            shared: self.shared.clone(),
            flusher: self.flusher.clone(),
        }
    }
}

/// The flusher task's handle, taken by the first `close`, which awaits it.
struct Flusher<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    shared: Arc<Shared<K, V, S>>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

/// The async driver's state: the shared core, and the notifications its task waits on.
struct Shared<K, V, S> {
    wb: WriteBehindCore<K, V, AsyncCore<K, V, S>>,
    /// Wakes the flusher (a permit is kept if it is busy).
    wake: Notify,
    /// Wakes writers waiting for room and `flush` waiting for its writes.
    progress: Notify,
}

/// The queue's clock: tokio's, so that a paused test clock drives the flush interval too.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<K, V, S> WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    /// A builder for a write-behind policy over `cache` and `store`.
    pub fn builder(cache: Cache<K, V>, store: S) -> WriteBehindBuilder<K, V, S> {
        WriteBehindBuilder::with_defaults(cache, store)
    }

    /// The value under `key`: the cache, then the pending writes, then one load from the store.
    ///
    /// # Errors
    ///
    /// When the store has to be asked: its error, a caught panic, or a timeout.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, MemoryStore};
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(MemoryStore::new())).build()?;
    /// policy.put(2, "two").await?;
    /// assert_eq!(policy.get(&2).await?, Some("two")); // not flushed yet, already visible
    /// assert_eq!(policy.get(&3).await?, None); // loaded: absent
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
        let wb = &self.shared.wb;
        wb.core.get(key, |k| wb.pending(k)).await
    }

    /// Writes the cache and queues the write to the store.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::QueueFull`] with `WhenFull::Error` (the cache is unchanged), or
    /// [`ErrorKind::Closed`].
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(MemoryStore::new())).build()?;
    /// policy.put(7, "ada").await?; // in the cache now, in the store after the next batch
    /// policy.flush().await?;
    /// assert_eq!(policy.store().inner().load(&7)?, Some("ada"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        self.write(key, Some(value)).await
    }

    /// Removes from the cache and queues the delete.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let db = MemoryStore::new();
    /// db.write(&7, &"ada")?;
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(db)).build()?;
    /// policy.delete(&7).await?;
    /// assert_eq!(policy.get(&7).await?, None);
    /// policy.flush().await?;
    /// assert_eq!(policy.store().inner().load(&7)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.write(key.clone(), None).await
    }

    async fn write(&self, key: K, value: Option<V>) -> Result<(), PolicyError> {
        let sh = &*self.shared;
        let wb = &sh.wb;
        loop {
            // As in the sync policy: the key's writer lock orders this write, and is never held
            // while waiting for room.
            let writer = wb.core.writers.lock_async(&key).await;
            let mut room = pin!(sh.progress.notified());
            room.as_mut().enable();
            let refused = {
                let mut q = wb.queue.lock();
                match q.admit(&key) {
                    Ok(()) if wb.journaled() => Ok(Some(q.reserve(&key))),
                    Ok(()) => {
                        if q.push(key.clone(), value.clone(), now(), 0, None) {
                            sh.wake.notify_one();
                        }
                        Ok(None)
                    }
                    Err(r) => Err(r),
                }
            };
            match refused {
                Ok(None) => {
                    wb.apply(key, value);
                    drop(writer);
                    return Ok(());
                }
                Ok(Some(counted)) => {
                    // The journal's write and sync block: they run on the blocking pool, with
                    // the writer lock, and finish there even if this future is dropped (the
                    // write is then taken, as if the caller had waited).
                    let shared = self.shared.clone();
                    let t = now();
                    let taken = tokio::task::spawn_blocking(move || {
                        let r = shared.wb.journal_and_take(key, value, counted, t);
                        drop(writer);
                        if !r.as_ref().is_ok_and(|wake| !wake) {
                            shared.wake.notify_one();
                        }
                        r
                    })
                    .await;
                    return match taken {
                        Ok(r) => r.map(drop),
                        Err(e) => Err(PolicyError::new(
                            ErrorKind::Journal,
                            format!("the journal's write did not finish: {e}"),
                        )),
                    };
                }
                Err(r) => {
                    if let Some(e) = wb.refusal(r) {
                        return Err(e);
                    }
                }
            }
            drop(writer);
            room.await;
        }
    }

    /// The cached value under `key`, without loading it. A hit counts as a `get`'s; a miss is
    /// not counted, because the `get` that usually follows it counts it: `get_if_present`,
    /// then `get` on a miss, counts each lookup once. (`cache().get()` then `get()` would
    /// count such a miss twice.)
    ///
    /// A write still pending is present, even if the cache evicted it.
    pub fn get_if_present(&self, key: &K) -> Option<V> {
        self.shared.wb.get_if_present(key)
    }

    /// Drops the cached copy only; a pending write stays pending (and visible to `get`).
    pub fn invalidate(&self, key: &K) {
        self.shared.wb.core.invalidate(key);
    }

    /// Drops every cached copy; no load in progress will refill the cache with what it read
    /// before (writes still pending stay visible to `get`). What to do on
    /// `Invalidation::All` (feature `redis`).
    pub fn invalidate_all(&self) {
        self.shared.wb.core.invalidate_all();
    }

    /// Waits until every write accepted before this call was persisted or reported failed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WriteFailed`] if writes failed for good while it waited.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::time::Duration;
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(MemoryStore::new()))
    ///     .flush_interval(Duration::from_secs(3600))
    ///     .build()?;
    /// policy.put(1, 10).await?;
    /// policy.flush().await?; // in the store when it returns
    /// assert_eq!(policy.store().inner().load(&1)?, Some(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn flush(&self) -> Result<(), PolicyError> {
        self.shared.flush().await
    }

    /// Closes the policy (as [`close`](Self::close)) and drops it.
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use std::sync::Arc;
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, MemoryStore, Store};
    /// let db = Arc::new(MemoryStore::new());
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(Arc::clone(&db))).build()?;
    /// policy.put(1, 10).await?;
    /// policy.shutdown().await?; // flushes, then stops the flusher task
    /// assert_eq!(db.load(&1)?, Some(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn shutdown(self) -> Result<(), PolicyError> {
        self.close().await
    }

    /// Stops accepting writes, waits until every write accepted before was persisted or
    /// reported failed, and waits for the flusher task to end. Takes `&self`, so that a policy
    /// shared behind an `Arc` can be closed on a shutdown signal. Afterwards `put` and `delete`
    /// fail with [`ErrorKind::Closed`]; `get` still reads through. Closing again returns at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WriteFailed`] if writes failed for good while it waited.
    ///
    /// # Examples
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use stratacache::future::{Blocking, WriteBehind};
    /// use stratacache::{Cache, ErrorKind, MemoryStore};
    /// let policy = WriteBehind::builder(Cache::new(100), Blocking::new(MemoryStore::new())).build()?;
    /// let handler = policy.clone(); // clones share the queue
    /// policy.put(1, 10).await?;
    /// policy.close().await?; // flushes; every clone is closed
    /// assert_eq!(handler.put(2, 20).await.unwrap_err().kind(), ErrorKind::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn close(&self) -> Result<(), PolicyError> {
        let Some(handle) = self.flusher.handle.lock().take() else {
            return Ok(());
        };
        self.shared.wb.queue.lock().close();
        self.shared.wake.notify_one();
        self.shared.progress.notify_waiters();
        let r = self.shared.flush().await;
        let _ = handle.await;
        r
    }

    /// The counters.
    pub fn stats(&self) -> WriteBehindStats {
        self.shared.wb.stats()
    }

    /// The counters of refresh-ahead and early refresh ([`PolicyOptions::refresh_after`](crate::PolicyOptions::refresh_after)).
    pub fn refresh_stats(&self) -> crate::RefreshStats {
        self.shared.wb.core.refresh_stats()
    }

    /// The cache.
    pub fn cache(&self) -> &Cache<K, V> {
        &self.shared.wb.core.cache
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.shared.wb.core.store
    }
}

impl<K, V, S> Drop for Flusher<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    /// The last clone is gone. Cannot wait: closes the queue and leaves what is pending to the
    /// flusher task.
    fn drop(&mut self) {
        self.shared.wb.queue.lock().close();
        self.shared.wake.notify_one();
        self.shared.progress.notify_waiters();
    }
}

impl<K, V, S> fmt::Debug for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBehind")
            .field("cache", &self.shared.wb.core.cache)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl<K, V, S> Shared<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: AsyncStore<K, V>,
{
    async fn flush(&self) -> Result<(), PolicyError> {
        /// Unregisters the flush however its future ends (it may be dropped).
        struct Waiting<'a, K, V, S>(&'a Shared<K, V, S>);
        impl<K, V, S> Drop for Waiting<'_, K, V, S> {
            fn drop(&mut self) {
                self.0.wb.queue.lock().end_flush();
            }
        }
        let wb = &self.wb;
        let failed_before = wb.failures();
        let target = wb.queue.lock().start_flush();
        let _waiting = Waiting(self);
        self.wake.notify_one();
        loop {
            let mut progress = pin!(self.progress.notified());
            progress.as_mut().enable();
            {
                let q = wb.queue.lock();
                if q.flushed(target) {
                    break;
                }
                if q.is_flusher_gone() {
                    return Err(PolicyError::new(ErrorKind::Closed, ""));
                }
            }
            progress.await;
        }
        wb.flush_result(failed_before)
    }

    /// The flusher task. Should it end early (a key whose `Hash` panics, or the runtime shutting
    /// down), the queue is closed so that callers get an error instead of waiting forever.
    async fn run(self: Arc<Self>) {
        struct Exit<K, V, S>(Arc<Shared<K, V, S>>);
        impl<K, V, S> Drop for Exit<K, V, S> {
            fn drop(&mut self) {
                self.0.wb.queue.lock().flusher_gone();
                self.0.progress.notify_waiters();
            }
        }
        let exit = Exit(self);
        let this = &*exit.0;
        loop {
            let next = this.wb.queue.lock().next(now());
            match next {
                Next::Exit => return,
                Next::Idle => this.wake.notified().await,
                Next::WaitUntil(t) => {
                    let _ =
                        tokio::time::timeout_at(Instant::from_std(t), this.wake.notified()).await;
                }
                Next::Write => {
                    let batch = this.wb.queue.lock().take_batch();
                    this.write_batch(batch).await;
                    this.progress.notify_waiters();
                }
            }
        }
    }

    /// Writes a batch with retries, then acknowledges it or reports its writes failed.
    async fn write_batch(&self, batch: Batch<K, V>) {
        let wb = &self.wb;
        let mut retries = wb.retries();
        let result = loop {
            let probe = wb.core.probe(Op::Batch, None, batch.ops.len());
            let r = settle(
                catch_unwind(
                    probe
                        .scope()
                        .instrument(wb.core.store.write_batch(&batch.ops)),
                )
                .await,
            );
            probe.end(&r, |_| None);
            match r {
                Ok(()) => break Ok(()),
                Err(e) => match retries.next_wait() {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => break Err(e),
                },
            }
        };
        match result {
            Ok(()) => wb.acknowledge(&batch),
            Err(err) => {
                wb.settle_failed(&batch);
                for (op, seq) in batch.ops.iter().zip(batch.seqs.iter().copied()) {
                    let _writer = wb.core.writers.lock_async(op.key()).await;
                    wb.report_failed(op, seq, &err);
                }
            }
        }
    }
}
