//! [`WriteBehind`]: writes land in the cache and a bounded queue; a background flusher writes
//! them to the store in batches, coalescing writes to one key, retrying with backoff, and
//! reporting what still fails.

use super::read_through::ReadThrough;
use super::{ErrorKind, PolicyError, PolicyOptions};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Condvar, Mutex};
use crate::{BuildError, Cache, Store, WriteOp};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Writes per store call by default: large enough to amortise a round trip or a transaction,
/// small enough that one batch does not hold the store for long.
pub const DEFAULT_BATCH_SIZE: usize = 128;
/// How long a write waits at most for its batch to fill, by default.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Pending writes (distinct keys) allowed by default before `put` blocks or fails.
pub const DEFAULT_QUEUE_CAPACITY: usize = 10_000;
/// Retries of a failed batch by default, before its writes are reported failed.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// The first retry waits this long by default; each next one twice as long, up to
/// [`MAX_BACKOFF`].
pub const DEFAULT_RETRY_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// What `put` does when `queue_capacity` writes are pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WhenFull {
    /// Wait until the flusher makes room.
    #[default]
    Block,
    /// Return [`ErrorKind::QueueFull`] at once, leaving the cache unchanged.
    Error,
}

/// Counters of a [`WriteBehind`] policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WriteBehindStats {
    /// Keys with a write not yet acknowledged by the store (or reported failed).
    pub pending: u64,
    /// Writes the store acknowledged (after coalescing: one per key per batch).
    pub written: u64,
    /// Batch retries.
    pub retried: u64,
    /// Writes reported failed after every retry.
    pub failed: u64,
}

type ErrorCallback<K, V> = Box<dyn Fn(&WriteOp<K, V>, &PolicyError) + Send + Sync>;

/// Settings of a [`WriteBehind`]; made by [`WriteBehind::builder`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stratacache::{Cache, MemoryStore, WhenFull, WriteBehind};
///
/// let policy = WriteBehind::builder(Cache::new(1_000), MemoryStore::<u32, u32>::new())
///     .batch_size(64)
///     .flush_interval(Duration::from_millis(10))
///     .queue_capacity(1_000)
///     .max_retries(3)
///     .when_full(WhenFull::Error)
///     .on_write_error(|op, err| eprintln!("lost {:?}: {err}", op.key()))
///     .build()?;
/// policy.put(1, 10)?;
/// policy.flush()?;
/// assert_eq!(policy.store().peek(&1), Some(10));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a builder does nothing until `build` is called"]
pub struct WriteBehindBuilder<K, V, S> {
    cache: Cache<K, V>,
    store: S,
    batch_size: usize,
    flush_interval: Duration,
    queue_capacity: usize,
    max_retries: u32,
    retry_backoff: Duration,
    when_full: WhenFull,
    on_error: Option<ErrorCallback<K, V>>,
    options: PolicyOptions,
}

impl<K, V, S> WriteBehindBuilder<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// Writes per store call, at most (default [`DEFAULT_BATCH_SIZE`]; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// How long a write waits at most for its batch to fill (default
    /// [`DEFAULT_FLUSH_INTERVAL`]; zero writes as soon as anything is queued).
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// How many keys may have a pending write (default [`DEFAULT_QUEUE_CAPACITY`]; at least 1).
    /// A write stays pending until the store acknowledges it or it is reported failed; another
    /// write to a pending key takes no more room.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n;
        self
    }

    /// Retries of a failed batch before its writes are reported failed (default
    /// [`DEFAULT_MAX_RETRIES`]).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The wait before the first retry; it doubles with each retry, up to [`MAX_BACKOFF`]
    /// (default [`DEFAULT_RETRY_BACKOFF`]).
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.retry_backoff = d;
        self
    }

    /// What `put` and `delete` do when the queue is full (default [`WhenFull::Block`]).
    pub fn when_full(mut self, w: WhenFull) -> Self {
        self.when_full = w;
        self
    }

    /// Called on the flusher thread with each write that still failed after every retry. The
    /// write's cached copy has been dropped by then (unless a newer write to the key is
    /// pending), so the cache never serves what the store does not hold. A panic in it is
    /// caught.
    pub fn on_write_error(
        mut self,
        f: impl Fn(&WriteOp<K, V>, &PolicyError) + Send + Sync + 'static,
    ) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }

    /// Read-path settings: negative caching, and a timeout for loads.
    pub fn options(mut self, options: PolicyOptions) -> Self {
        self.options = options;
        self
    }

    /// Checks the settings and starts the flusher thread.
    ///
    /// # Errors
    ///
    /// A zero `batch_size` or `queue_capacity`, or a flusher thread that could not start.
    pub fn build(self) -> Result<WriteBehind<K, V, S>, BuildError> {
        if self.batch_size == 0 {
            return Err(BuildError::new(
                "write-behind batch_size must be at least 1",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(BuildError::new(
                "write-behind queue_capacity must be at least 1",
            ));
        }
        let shared = Arc::new(Shared {
            core: Arc::new(ReadThrough::new(self.cache, self.store, &self.options)),
            queue: Mutex::new(Queue {
                entries: HashMap::new(),
                order: VecDeque::new(),
                next_seq: 1,
                closed: false,
                flusher_gone: false,
                flush_waiters: 0,
            }),
            wake: Condvar::new(),
            progress: Condvar::new(),
            batch_size: self.batch_size,
            flush_interval: self.flush_interval,
            queue_capacity: self.queue_capacity,
            max_retries: self.max_retries,
            retry_backoff: self.retry_backoff,
            when_full: self.when_full,
            on_error: self.on_error,
            written: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let s = shared.clone();
        let flusher = thread::Builder::new()
            .name("stratacache-write-behind".into())
            .spawn(move || s.run())
            .map_err(|e| {
                BuildError::from_string(format!("could not start the write-behind flusher: {e}"))
            })?;
        Ok(WriteBehind {
            shared,
            flusher: Mutex::new(Some(flusher)),
        })
    }
}

/// Write-behind: `put` and `delete` update the cache and queue the write; a background thread
/// writes batches to the store.
///
/// Guarantees:
/// - reads see the latest `put`/`delete` at once, even when the cache evicted that entry before
///   it was flushed;
/// - per key, the store sees writes in `put` order (writes queued while an earlier one waits are
///   coalesced into the last);
/// - the queue is bounded (`queue_capacity`), and a full queue blocks or errors (`when_full`);
/// - a failed batch is retried with capped exponential backoff (`max_retries`); a write that
///   still fails is reported to the `on_write_error` callback, counted, and its cached copy
///   dropped, so the cache never serves what the store does not hold;
/// - [`flush`](Self::flush) returns once every write accepted before it was persisted or
///   reported; [`shutdown`](Self::shutdown) and `Drop` flush.
///
/// Delivery is at least once: after a retry the store may see a write twice.
///
/// Consistency: once `put` or `delete` returns `Ok`, no later `get` on any thread returns an
/// older value, before or after the write is flushed (a read that misses the cache registers its
/// load before it looks at the pending writes, so a write racing it either is among them or
/// marks the load stale); and once [`flush`](Self::flush) has returned, the cache holds nothing
/// the store does not.
///
/// Shutdown: [`close`](Self::close) takes `&self`, so a policy shared behind an `Arc` can be
/// flushed and closed on a shutdown signal; see `examples/graceful_shutdown.rs`.
///
/// # Examples
///
/// ```
/// use stratacache::{Cache, MemoryStore, WriteBehind};
/// let policy = WriteBehind::builder(Cache::new(100), MemoryStore::new()).build()?;
/// policy.put("k", 1)?;
/// assert_eq!(policy.get(&"k")?, Some(1)); // at once, before the store has it
/// policy.flush()?;
/// assert_eq!(policy.store().peek(&"k"), Some(1));
/// assert_eq!(policy.stats().written, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    shared: Arc<Shared<K, V, S>>,
    /// Taken by the first `close`, which joins it.
    flusher: Mutex<Option<JoinHandle<()>>>,
}

struct Shared<K, V, S> {
    core: Arc<ReadThrough<K, V, S>>,
    queue: Mutex<Queue<K, V>>,
    /// Wakes the flusher.
    wake: Condvar,
    /// Wakes writers waiting for room and `flush` waiting for its writes.
    progress: Condvar,
    batch_size: usize,
    flush_interval: Duration,
    queue_capacity: usize,
    max_retries: u32,
    retry_backoff: Duration,
    when_full: WhenFull,
    on_error: Option<ErrorCallback<K, V>>,
    written: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

struct Queue<K, V> {
    /// The latest write of every pending key.
    entries: HashMap<K, Pending<V>>,
    /// Keys waiting for the flusher, oldest first, with the time they were queued.
    order: VecDeque<(K, Instant)>,
    next_seq: u64,
    closed: bool,
    /// The flusher thread has exited: nothing pending will be written any more.
    flusher_gone: bool,
    flush_waiters: usize,
}

struct Pending<V> {
    /// `None` is a delete.
    value: Option<V>,
    /// The sequence number of the latest write folded in.
    seq: u64,
    /// Whether the key is in `order` (false while its write is with the store).
    queued: bool,
    /// No write of this key with a smaller sequence number is unpersisted (`flush` waits on it).
    oldest: u64,
}

impl<K, V, S> WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// A builder for a write-behind policy over `cache` and `store`.
    pub fn builder(cache: Cache<K, V>, store: S) -> WriteBehindBuilder<K, V, S> {
        WriteBehindBuilder {
            cache,
            store,
            batch_size: DEFAULT_BATCH_SIZE,
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_backoff: DEFAULT_RETRY_BACKOFF,
            when_full: WhenFull::Block,
            on_error: None,
            options: PolicyOptions::new(),
        }
    }

    /// The value under `key`: the cache, then the pending writes, then one load from the store.
    ///
    /// # Errors
    ///
    /// When the store has to be asked: its error, a caught panic, or a timeout.
    pub fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
        self.shared.core.get(key, |k| {
            let q = self.shared.queue.lock();
            q.entries.get(k).map(|p| p.value.clone())
        })
    }

    /// Writes the cache and queues the write to the store.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::QueueFull`] with `WhenFull::Error` (the cache is unchanged), or
    /// [`ErrorKind::Closed`].
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        self.write(key, Some(value))
    }

    /// Removes from the cache and queues the delete.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.write(key.clone(), None)
    }

    fn write(&self, key: K, value: Option<V>) -> Result<(), PolicyError> {
        let sh = &*self.shared;
        // The key's writer lock orders this write against other writes of the key and against
        // the flusher's failure handling. It is never held while waiting for room: the flusher
        // may need it to report a failed batch, which is what makes room.
        let mut writer = sh.core.writer(&key);
        {
            let mut q = sh.queue.lock();
            loop {
                if q.closed {
                    return Err(PolicyError::new(ErrorKind::Closed, ""));
                }
                if q.entries.len() < sh.queue_capacity || q.entries.contains_key(&key) {
                    break;
                }
                match sh.when_full {
                    WhenFull::Error => {
                        return Err(PolicyError::new(
                            ErrorKind::QueueFull,
                            sh.queue_capacity.to_string(),
                        ));
                    }
                    WhenFull::Block => {
                        drop(writer);
                        sh.progress.wait(&mut q);
                        drop(q);
                        writer = sh.core.writer(&key);
                        q = sh.queue.lock();
                    }
                }
            }
            let seq = q.next_seq;
            q.next_seq += 1;
            let was_empty = q.order.is_empty();
            let enqueue = match q.entries.get_mut(&key) {
                Some(p) => {
                    p.value = value.clone();
                    p.seq = seq;
                    !std::mem::replace(&mut p.queued, true)
                }
                None => {
                    q.entries.insert(
                        key.clone(),
                        Pending {
                            value: value.clone(),
                            seq,
                            queued: true,
                            oldest: seq,
                        },
                    );
                    true
                }
            };
            if enqueue {
                q.order.push_back((key.clone(), Instant::now()));
            }
            if was_empty || q.order.len() == sh.batch_size {
                sh.wake.notify_one();
            }
        }
        sh.core.detach(&key);
        match value {
            Some(v) => sh.core.cache.insert(key, v),
            None => {
                sh.core.cache.remove(&key);
            }
        }
        Ok(())
    }

    /// Drops the cached copy only; a pending write stays pending (and visible to `get`).
    pub fn invalidate(&self, key: &K) {
        self.shared.core.invalidate(key);
    }

    /// Waits until every write accepted before this call was persisted or reported failed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WriteFailed`] if writes failed for good while it waited.
    pub fn flush(&self) -> Result<(), PolicyError> {
        self.shared.flush()
    }

    /// Closes the policy (as [`close`](Self::close)) and drops it.
    ///
    /// # Errors
    ///
    /// As [`close`](Self::close).
    pub fn shutdown(self) -> Result<(), PolicyError> {
        self.close()
    }

    /// Stops accepting writes, waits until every write accepted before was persisted or
    /// reported failed, and stops the flusher. Takes `&self`, so that a policy shared behind an
    /// `Arc` can be closed on a shutdown signal before the process exits. Afterwards `put` and
    /// `delete` fail with [`ErrorKind::Closed`] (a writer blocked on a full queue too), while
    /// `get` still reads through. Closing again returns at once.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WriteFailed`] if writes failed for good while it waited.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use stratacache::{Cache, ErrorKind, MemoryStore, WriteBehind};
    /// let policy = Arc::new(WriteBehind::builder(Cache::new(100), MemoryStore::new()).build()?);
    /// let worker = policy.clone(); // shared with request handlers
    /// worker.put(1, "one")?;
    /// policy.close()?; // on SIGTERM: the write is in the store before the process ends
    /// assert_eq!(policy.store().peek(&1), Some("one"));
    /// assert_eq!(worker.put(2, "two").unwrap_err().kind(), ErrorKind::Closed);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(&self) -> Result<(), PolicyError> {
        let mut flusher = self.flusher.lock();
        let Some(handle) = flusher.take() else {
            return Ok(());
        };
        self.shared.queue.lock().closed = true;
        self.shared.wake.notify_all();
        self.shared.progress.notify_all();
        let r = self.shared.flush();
        let _ = handle.join();
        r
    }

    /// The counters.
    pub fn stats(&self) -> WriteBehindStats {
        let sh = &*self.shared;
        WriteBehindStats {
            pending: sh.queue.lock().entries.len() as u64,
            written: sh.written.load(Ordering::Relaxed),
            retried: sh.retried.load(Ordering::Relaxed),
            failed: sh.failed.load(Ordering::Relaxed),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &Cache<K, V> {
        &self.shared.core.cache
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.shared.core.store
    }
}

impl<K, V, S> Drop for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl<K, V, S> fmt::Debug for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteBehind")
            .field("cache", &self.shared.core.cache)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// One batch on its way to the store.
struct Batch<K, V> {
    ops: Vec<WriteOp<K, V>>,
    seqs: Vec<u64>,
}

impl<K, V, S> Shared<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn flush(&self) -> Result<(), PolicyError> {
        let failed_before = self.failed.load(Ordering::Acquire);
        let mut q = self.queue.lock();
        let target = q.next_seq - 1;
        q.flush_waiters += 1;
        self.wake.notify_one();
        while q.entries.values().any(|p| p.oldest <= target) {
            if q.flusher_gone {
                q.flush_waiters -= 1;
                return Err(PolicyError::new(ErrorKind::Closed, ""));
            }
            self.progress.wait(&mut q);
        }
        q.flush_waiters -= 1;
        drop(q);
        let failed = self.failed.load(Ordering::Acquire) - failed_before;
        if failed > 0 {
            return Err(PolicyError::new(
                ErrorKind::WriteFailed,
                format!("{failed} writes failed while flushing"),
            ));
        }
        Ok(())
    }

    /// The flusher thread. Every call into user code is caught; should it unwind all the same
    /// (a key whose `Hash` panics), the queue is closed so that callers get an error instead of
    /// waiting forever.
    fn run(&self) {
        struct Exit<'a, K, V, S>(&'a Shared<K, V, S>);
        impl<K, V, S> Drop for Exit<'_, K, V, S> {
            fn drop(&mut self) {
                let mut q = self.0.queue.lock();
                q.closed = true;
                q.flusher_gone = true;
                drop(q);
                self.0.progress.notify_all();
            }
        }
        let _exit = Exit(self);
        let mut q = self.queue.lock();
        loop {
            let Some(&(_, queued_at)) = q.order.front() else {
                if q.closed {
                    return;
                }
                self.wake.wait(&mut q);
                continue;
            };
            let due = q.order.len() >= self.batch_size
                || q.closed
                || q.flush_waiters > 0
                || queued_at.elapsed() >= self.flush_interval;
            if !due {
                self.wake
                    .wait_until(&mut q, queued_at + self.flush_interval);
                continue;
            }
            let batch = self.take_batch(&mut q);
            drop(q);
            let result = self.write_with_retries(&batch);
            self.settle(batch, result);
            q = self.queue.lock();
            self.progress.notify_all();
        }
    }

    fn take_batch(&self, q: &mut Queue<K, V>) -> Batch<K, V> {
        let n = q.order.len().min(self.batch_size);
        let mut batch = Batch {
            ops: Vec::with_capacity(n),
            seqs: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let Some((key, _)) = q.order.pop_front() else {
                break;
            };
            let Some(p) = q.entries.get_mut(&key) else {
                continue;
            };
            p.queued = false;
            batch.seqs.push(p.seq);
            batch.ops.push(match &p.value {
                Some(v) => WriteOp::Put(key, v.clone()),
                None => WriteOp::Delete(key),
            });
        }
        batch
    }

    fn write_with_retries(&self, batch: &Batch<K, V>) -> Result<(), PolicyError> {
        let mut backoff = self.retry_backoff;
        let mut attempt = 0;
        loop {
            let r =
                panic::catch_unwind(AssertUnwindSafe(|| self.core.store.write_batch(&batch.ops)));
            let err = match r {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => PolicyError::store(e),
                Err(p) => PolicyError::panicked(&*p),
            };
            if attempt >= self.max_retries {
                return Err(err);
            }
            attempt += 1;
            self.retried.fetch_add(1, Ordering::Relaxed);
            thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Acknowledges a written batch, or reports its writes failed and drops their cached copies.
    fn settle(&self, batch: Batch<K, V>, result: Result<(), PolicyError>) {
        match result {
            Ok(()) => {
                let mut q = self.queue.lock();
                for (op, seq) in batch.ops.iter().zip(&batch.seqs) {
                    ack(&mut q, op.key(), *seq);
                }
                self.written
                    .fetch_add(batch.ops.len() as u64, Ordering::Relaxed);
            }
            Err(err) => {
                for (op, seq) in batch.ops.iter().zip(batch.seqs) {
                    let key = op.key();
                    {
                        // Under the key's writer lock, so that a newer `put` cannot slip in
                        // between the check and the invalidation.
                        let _writer = self.core.writer(key);
                        let latest = ack(&mut self.queue.lock(), key, seq);
                        if latest {
                            let _ =
                                panic::catch_unwind(AssertUnwindSafe(|| self.core.invalidate(key)));
                        }
                    }
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    if let Some(cb) = &self.on_error {
                        let _ = panic::catch_unwind(AssertUnwindSafe(|| cb(op, &err)));
                    }
                }
            }
        }
    }
}

/// The write `seq` of `key` is done with: forget the key if nothing newer is pending (and say
/// so), else move its flush mark past `seq`.
fn ack<K: Hash + Eq, V>(q: &mut Queue<K, V>, key: &K, seq: u64) -> bool {
    match q.entries.get_mut(key) {
        Some(p) if p.seq == seq => {
            q.entries.remove(key);
            true
        }
        Some(p) => {
            p.oldest = seq + 1;
            false
        }
        None => false,
    }
}
