//! [`WriteBehind`]: writes land in the cache and a bounded queue; a background flusher writes
//! them to the store in batches, coalescing writes to one key, retrying with backoff, and
//! reporting what still fails.

use super::core::{PolicyCore, settle};
use super::journal::{Journal, JournalSync, Journaling, Recovered};
use super::read_through::ReadThrough;
use super::write_queue::{Batch, Next, Refused, WriteQueue};
use super::{ErrorKind, PolicyError, PolicyOptions};
use crate::sync::atomic::{AtomicU64, Ordering};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Condvar, Mutex};
use crate::telemetry::Op;
use crate::{BuildError, Cache, Store, WriteOp};
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
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
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
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

/// An opened journal and the writes it holds that the store never acknowledged.
type OpenedJournal<K, V> = (Arc<dyn Journaling<K, V>>, Vec<Recovered<K, V>>);
/// Opens the journal a builder was given (made where `K` and `V` are known to encode).
type JournalOpener<K, V> =
    Box<dyn FnOnce(JournalSync) -> Result<OpenedJournal<K, V>, String> + Send>;

/// The flusher of a sync [`WriteBehind`]: a thread. (The async policy's builder,
/// `stratacache::future::WriteBehindBuilder`, is the same builder with a task for flusher.)
#[derive(Debug)]
pub enum OnThread {}

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
pub struct WriteBehindBuilder<K, V, S, D = OnThread> {
    pub(crate) cache: Cache<K, V>,
    pub(crate) store: S,
    pub(crate) settings: Settings,
    pub(crate) on_error: Option<ErrorCallback<K, V>>,
    pub(crate) options: PolicyOptions,
    journal: Option<JournalOpener<K, V>>,
    journal_sync: JournalSync,
    driver: PhantomData<fn() -> D>,
}

/// The knobs of a write-behind policy, as set on its builder.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) max_retries: u32,
    pub(crate) retry_backoff: Duration,
    pub(crate) when_full: WhenFull,
}

impl<K, V, S, D> WriteBehindBuilder<K, V, S, D> {
    /// A builder with the defaults (both front ends use it).
    pub(crate) fn with_defaults(cache: Cache<K, V>, store: S) -> Self {
        WriteBehindBuilder {
            cache,
            store,
            settings: Settings {
                batch_size: DEFAULT_BATCH_SIZE,
                flush_interval: DEFAULT_FLUSH_INTERVAL,
                queue_capacity: DEFAULT_QUEUE_CAPACITY,
                max_retries: DEFAULT_MAX_RETRIES,
                retry_backoff: DEFAULT_RETRY_BACKOFF,
                when_full: WhenFull::Block,
            },
            on_error: None,
            options: PolicyOptions::new(),
            journal: None,
            journal_sync: JournalSync::Always,
            driver: PhantomData,
        }
    }

    /// Writes per store call, at most (default [`DEFAULT_BATCH_SIZE`]; at least 1).
    pub fn batch_size(mut self, n: usize) -> Self {
        self.settings.batch_size = n;
        self
    }

    /// How long a write waits at most for its batch to fill (default
    /// [`DEFAULT_FLUSH_INTERVAL`]; zero writes as soon as anything is queued).
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.settings.flush_interval = d;
        self
    }

    /// How many keys may have a pending write (default [`DEFAULT_QUEUE_CAPACITY`]; at least 1).
    /// A write stays pending until the store acknowledges it or it is reported failed; another
    /// write to a pending key takes no more room.
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.settings.queue_capacity = n;
        self
    }

    /// Retries of a failed batch before its writes are reported failed (default
    /// [`DEFAULT_MAX_RETRIES`]).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.settings.max_retries = n;
        self
    }

    /// The wait before the first retry; it doubles with each retry, up to [`MAX_BACKOFF`]
    /// (default [`DEFAULT_RETRY_BACKOFF`]).
    pub fn retry_backoff(mut self, d: Duration) -> Self {
        self.settings.retry_backoff = d;
        self
    }

    /// What `put` and `delete` do when the queue is full (default [`WhenFull::Block`]).
    pub fn when_full(mut self, w: WhenFull) -> Self {
        self.settings.when_full = w;
        self
    }

    /// Called on the flusher with each write that still failed after every retry. The write's
    /// cached copy has been dropped by then (unless a newer write to the key is pending), so the
    /// cache never serves what the store does not hold. A panic in it is caught.
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

    /// When the [`journal`](Self::journal) syncs its writes to the disk (default
    /// [`JournalSync::Always`]). Without a journal it changes nothing.
    pub fn journal_sync(mut self, sync: JournalSync) -> Self {
        self.journal_sync = sync;
        self
    }

    /// The settings, checked.
    pub(crate) fn checked(&self) -> Result<(), BuildError> {
        if self.settings.batch_size == 0 {
            return Err(BuildError::new(
                "write-behind batch_size must be at least 1",
            ));
        }
        if self.settings.queue_capacity == 0 {
            return Err(BuildError::new(
                "write-behind queue_capacity must be at least 1",
            ));
        }
        Ok(())
    }

    /// The cache, the store and the read options, for the front end to make its policy core
    /// with, and the rest, which makes the write-behind core over it ([`CoreParts::into_core`]).
    pub(crate) fn into_parts(self) -> (Cache<K, V>, S, PolicyOptions, CoreParts<K, V>) {
        let parts = CoreParts {
            settings: self.settings,
            on_error: self.on_error,
            journal: self.journal,
            journal_sync: self.journal_sync,
        };
        (self.cache, self.store, self.options, parts)
    }
}

/// What a builder knows of the write-behind core, apart from the policy core.
pub(crate) struct CoreParts<K, V> {
    settings: Settings,
    on_error: Option<ErrorCallback<K, V>>,
    journal: Option<JournalOpener<K, V>>,
    journal_sync: JournalSync,
}

impl<K, V> CoreParts<K, V>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// The core of the policy being built over `core`: its queue, settings and callback, and the
    /// journal opened, with the writes it held queued again and visible to reads (both front
    /// ends build through here).
    pub(crate) fn into_core<C>(self, core: Arc<C>) -> Result<WriteBehindCore<K, V, C>, BuildError>
    where
        C: Deref<Target = PolicyCore<K, V>>,
    {
        let opened = match self.journal {
            Some(open) => Some(open(self.journal_sync).map_err(BuildError::from_string)?),
            None => None,
        };
        let (journal, recovered) = match opened {
            Some((j, r)) => (Some(j), r),
            None => (None, Vec::new()),
        };
        let wb = WriteBehindCore::new(core, self.settings, self.on_error, journal);
        wb.recover(recovered);
        Ok(wb)
    }
}

impl<K, V, S, D> WriteBehindBuilder<K, V, S, D>
where
    K: serde::Serialize + serde::de::DeserializeOwned + Hash + Eq + Clone + Send + Sync + 'static,
    V: serde::Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    /// Makes every accepted write durable in a local append-only journal at `path` (a file,
    /// created if missing) before `put` or `delete` returns, so that a crash loses none of them:
    /// write-behind's speed with write-through's safety. Keys and values are encoded with serde
    /// (postcard).
    ///
    /// - **Group commit.** Concurrent writers share one write and one sync of the file: the first
    ///   to arrive writes everything buffered behind it, so durability costs about one `fsync`
    ///   per group of concurrent writers, not one per write. How often the file is synced is
    ///   [`journal_sync`](Self::journal_sync)'s choice, and it says what each choice can lose.
    /// - **Acknowledgement and compaction.** The flusher marks the writes the store took (or that
    ///   were reported failed: those are not replayed) as settled in the journal, and the file is
    ///   rewritten with the unsettled writes only once it is over 1 MiB and four times their
    ///   size, so it stays bounded by the pending writes, not by history.
    /// - **Recovery.** `build()` on an existing journal queues again every write the store never
    ///   acknowledged (each key's last), in the order they were made, and puts them in the cache
    ///   before it returns, so reads see them at once (read-your-writes survives the restart);
    ///   the flusher then writes them. They may exceed `queue_capacity` until flushed. Delivery
    ///   stays at least once: the store may see a write it already took.
    /// - **Damage.** A record cut short at the end of the file (a crash in the middle of an
    ///   append), or a tail of zeros, is cut off. Any other record that does not check out
    ///   (CRC-32 per record) makes `build()` fail with an error naming the file and the offset;
    ///   nothing is skipped silently. A journal of a newer format version, or a file that is not
    ///   a journal, is an error too. An empty file is a new journal.
    /// - One policy at a time: the file is locked while the policy lives (another `build()` on
    ///   it fails).
    ///
    /// A write the journal cannot take (an I/O error) fails with
    /// [`ErrorKind::Journal`], leaving the cache unchanged; after an I/O error the journal
    /// refuses every write until the policy is rebuilt.
    ///
    /// The file format is in the module `policy/journal.rs`; its version is
    /// [`JOURNAL_FORMAT_VERSION`](crate::JOURNAL_FORMAT_VERSION).
    ///
    /// # Examples
    ///
    /// ```
    /// use stratacache::{Cache, MemoryStore, WriteBehind};
    /// let path = std::env::temp_dir().join(format!("doc-journal-{}", std::process::id()));
    /// # let _ = std::fs::remove_file(&path);
    /// let db = std::sync::Arc::new(MemoryStore::<u32, String>::new());
    /// let policy = WriteBehind::builder(Cache::new(100), db.clone()).journal(&path).build()?;
    /// policy.put(1, "one".into())?; // durable in the journal when this returns
    /// drop(policy); // (a crash here would lose nothing: the next build replays it)
    /// assert_eq!(db.peek(&1).as_deref(), Some("one"));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn journal(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        self.journal = Some(Box::new(move |sync| {
            let (journal, recovered) = Journal::<K, V>::open(&path, sync)?;
            Ok((journal as Arc<dyn Journaling<K, V>>, recovered))
        }));
        self
    }
}

impl<K, V, S> WriteBehindBuilder<K, V, S, OnThread>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    /// Checks the settings and starts the flusher thread.
    ///
    /// # Errors
    ///
    /// A zero `batch_size` or `queue_capacity`, or a flusher thread that could not start.
    pub fn build(self) -> Result<WriteBehind<K, V, S>, BuildError> {
        self.checked()?;
        let (cache, store, options, parts) = self.into_parts();
        let core = Arc::new(ReadThrough::new(cache, store, &options));
        let shared = Arc::new(Shared {
            wb: parts.into_core(core)?,
            wake: Condvar::new(),
            progress: Condvar::new(),
        });
        #[cfg(feature = "metrics")]
        crate::telemetry::register_write_behind(
            shared.wb.core.cache.name_arc(),
            Arc::downgrade(&shared),
            |s| s.wb.stats(),
        );
        let s = shared.clone();
        let flusher = thread::Builder::new()
            .name("stratacache-write-behind".into())
            .spawn(move || s.run())
            .map_err(|e| {
                BuildError::from_string(format!("could not start the write-behind flusher: {e}"))
            })?;
        Ok(WriteBehind {
            flusher: Arc::new(Flusher {
                shared: shared.clone(),
                handle: Mutex::new(Some(flusher)),
            }),
            shared,
        })
    }
}

/// What the sync and the async write-behind policies share, whatever drives them: the policy
/// core, the queue (plain data, under a lock), the settings, the error callback and the
/// counters, and the steps of a write and of a batch's settlement. The drivers decide only how
/// to wait (a thread on condition variables, a task on notifications) and how to sleep.
pub(crate) struct WriteBehindCore<K, V, C> {
    pub(crate) core: Arc<C>,
    pub(crate) queue: Mutex<WriteQueue<K, V>>,
    pub(crate) settings: Settings,
    on_error: Option<ErrorCallback<K, V>>,
    /// With a journal, every write is made durable there before it is taken.
    journal: Option<Arc<dyn Journaling<K, V>>>,
    written: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
}

impl<K, V, C> WriteBehindCore<K, V, C>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    C: Deref<Target = PolicyCore<K, V>>,
{
    pub(crate) fn new(
        core: Arc<C>,
        settings: Settings,
        on_error: Option<ErrorCallback<K, V>>,
        journal: Option<Arc<dyn Journaling<K, V>>>,
    ) -> Self {
        WriteBehindCore {
            core,
            queue: Mutex::new(WriteQueue::new(
                settings.queue_capacity,
                settings.batch_size,
                settings.flush_interval,
            )),
            settings,
            on_error,
            journal,
            written: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    /// Queues again the writes a journal held at start, and puts them in the cache.
    fn recover(&self, recovered: Vec<Recovered<K, V>>) {
        let now = Instant::now();
        for r in recovered {
            self.queue
                .lock()
                .push(r.key.clone(), r.value.clone(), now, r.jid, None);
            self.apply(r.key, r.value);
        }
    }

    /// Whether writes go through a journal (then a writer reserves its place in the queue and
    /// calls [`journal_and_take`](Self::journal_and_take)).
    pub(crate) fn journaled(&self) -> bool {
        self.journal.is_some()
    }

    /// A journaled write, after the queue reserved its place (`counted`, from
    /// [`WriteQueue::reserve`]) and with the key's writer lock held: made durable in the journal,
    /// then taken into the queue and applied to the cache. Returns whether to wake the flusher.
    /// On an error the place is given back and nothing changed; wake the flusher all the same
    /// (a closing queue may be waiting for the place).
    pub(crate) fn journal_and_take(
        &self,
        key: K,
        value: Option<V>,
        counted: bool,
        now: Instant,
    ) -> Result<bool, PolicyError> {
        let journal = self
            .journal
            .as_ref()
            .expect("a journaled policy has a journal");
        match journal.append(&key, value.as_ref()) {
            Ok(jid) => {
                let wake =
                    self.queue
                        .lock()
                        .push(key.clone(), value.clone(), now, jid, Some(counted));
                self.apply(key, value);
                Ok(wake)
            }
            Err(e) => {
                self.queue.lock().unreserve(counted);
                Err(PolicyError::new(ErrorKind::Journal, e))
            }
        }
    }

    /// Settles a batch's writes in the journal, if there is one.
    fn settle_journal(&self, batch: &Batch<K, V>) {
        if let Some(j) = &self.journal {
            let done: Vec<(K, u64)> = (batch.ops.iter().map(|op| op.key().clone()))
                .zip(batch.jids.iter().copied())
                .collect();
            j.settle(&done);
        }
    }

    /// A batch failed for good: its writes are settled in the journal (reported failed, they are
    /// not replayed). The front ends then report each one ([`report_failed`](Self::report_failed)).
    pub(crate) fn settle_failed(&self, batch: &Batch<K, V>) {
        self.settle_journal(batch);
    }

    /// The cached value or the pending write of `key`, without loading; a miss is not counted
    /// (both front ends' `get_if_present`).
    pub(crate) fn get_if_present(&self, key: &K) -> Option<V> {
        self.core
            .cache
            .get_hit_only(key)
            .or_else(|| self.pending(key).flatten())
    }

    /// The pending write of `key`, for the read path.
    pub(crate) fn pending(&self, key: &K) -> Option<Option<V>> {
        self.queue.lock().pending(key)
    }

    /// The error for a refused write, or `None` when the caller should wait for room.
    pub(crate) fn refusal(&self, r: Refused) -> Option<PolicyError> {
        match (r, self.settings.when_full) {
            (Refused::Closed, _) => Some(PolicyError::new(ErrorKind::Closed, "")),
            (Refused::Full, WhenFull::Error) => Some(PolicyError::new(
                ErrorKind::QueueFull,
                self.settings.queue_capacity.to_string(),
            )),
            (Refused::Full, WhenFull::Block) => None,
        }
    }

    /// A taken write's effect on the cache (under the key's writer lock, after the queue took
    /// it): loads in progress are cancelled, the cache holds the new value or nothing.
    pub(crate) fn apply(&self, key: K, value: Option<V>) {
        self.core.detach(&key);
        match value {
            Some(v) => self.core.cache.insert(key, v),
            None => {
                self.core.cache.remove(&key);
            }
        }
    }

    /// The store took the batch.
    pub(crate) fn acknowledge(&self, batch: &Batch<K, V>) {
        // Settled in the journal first: once the queue forgets a write, a flush may return,
        // and a restart after it must not need the write replayed (it would be harmless, but
        // the journal should not lag the queue).
        self.settle_journal(batch);
        let mut q = self.queue.lock();
        for (op, seq) in batch.ops.iter().zip(&batch.seqs) {
            q.ack(op.key(), *seq);
        }
        self.written
            .fetch_add(batch.ops.len() as u64, Ordering::Relaxed);
    }

    /// One write of a batch failed for good; the caller holds its key's writer lock, so that a
    /// newer `put` cannot slip in between the check and the invalidation. Its cached copy is
    /// dropped (unless a newer write is pending), it is counted and reported.
    pub(crate) fn report_failed(&self, op: &WriteOp<K, V>, seq: u64, err: &PolicyError) {
        let key = op.key();
        let latest = self.queue.lock().ack(key, seq);
        if latest {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| self.core.invalidate(key)));
        }
        self.failed.fetch_add(1, Ordering::Relaxed);
        if let Some(cb) = &self.on_error {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| cb(op, err)));
        }
    }

    /// A batch's retry schedule.
    pub(crate) fn retries(&self) -> Retries<'_, K, V, C> {
        Retries {
            wb: self,
            attempt: 0,
            backoff: self.settings.retry_backoff,
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> WriteBehindStats {
        WriteBehindStats {
            pending: self.queue.lock().len() as u64,
            written: self.written.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// How many writes failed for good so far (a `flush` compares before and after).
    pub(crate) fn failures(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// The result of a `flush` that saw `failed_before` failures when it began.
    pub(crate) fn flush_result(&self, failed_before: u64) -> Result<(), PolicyError> {
        let failed = self.failures() - failed_before;
        if failed > 0 {
            return Err(PolicyError::new(
                ErrorKind::WriteFailed,
                format!("{failed} writes failed while flushing"),
            ));
        }
        Ok(())
    }
}

/// The retries of one batch: capped exponential backoff, counted.
pub(crate) struct Retries<'a, K, V, C> {
    wb: &'a WriteBehindCore<K, V, C>,
    attempt: u32,
    backoff: Duration,
}

impl<K, V, C> Retries<'_, K, V, C> {
    /// How long to wait before retrying a failed attempt, or `None` when the retries are spent.
    pub(crate) fn next_wait(&mut self) -> Option<Duration> {
        if self.attempt >= self.wb.settings.max_retries {
            return None;
        }
        self.attempt += 1;
        self.wb.retried.fetch_add(1, Ordering::Relaxed);
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        Some(wait)
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
///   reported; [`shutdown`](Self::shutdown) and the drop of the last clone flush.
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
    /// Shared by the clones; the last one dropped closes the policy.
    flusher: Arc<Flusher<K, V, S>>,
}

/// Clones share the cache, the queue and the flusher: cheap, as an `Arc`. The policy closes
/// when [`close`](WriteBehind::close) is called on any clone, or when the last clone is dropped.
impl<K, V, S> Clone for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn clone(&self) -> Self {
        WriteBehind {
            shared: self.shared.clone(),
            flusher: self.flusher.clone(),
        }
    }
}

/// The flusher thread's handle, taken by the first `close`, which joins it.
struct Flusher<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    shared: Arc<Shared<K, V, S>>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl<K, V, S> Flusher<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn close(&self) -> Result<(), PolicyError> {
        let mut flusher = self.handle.lock();
        let Some(handle) = flusher.take() else {
            return Ok(());
        };
        self.shared.wb.queue.lock().close();
        self.shared.wake.notify_all();
        self.shared.progress.notify_all();
        let r = self.shared.flush();
        let _ = handle.join();
        r
    }
}

impl<K, V, S> Drop for Flusher<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
{
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// The sync driver's state: the shared core, and the condition variables its thread waits on.
struct Shared<K, V, S> {
    wb: WriteBehindCore<K, V, ReadThrough<K, V, S>>,
    /// Wakes the flusher.
    wake: Condvar,
    /// Wakes writers waiting for room and `flush` waiting for its writes.
    progress: Condvar,
}

impl<K, V, S> WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
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
    /// use stratacache::{Cache, MemoryStore, Store, WriteBehind};
    /// let db = MemoryStore::new();
    /// db.write(&1, &"one")?;
    /// let policy = WriteBehind::builder(Cache::new(100), db).build()?;
    /// assert_eq!(policy.get(&1)?, Some("one")); // loaded from the store
    /// policy.put(2, "two")?;
    /// assert_eq!(policy.get(&2)?, Some("two")); // not flushed yet, already visible
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, key: &K) -> Result<Option<V>, PolicyError> {
        let wb = &self.shared.wb;
        wb.core.get(key, |k| wb.pending(k))
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
    /// use stratacache::{Cache, MemoryStore, Store, WriteBehind};
    /// let policy = WriteBehind::builder(Cache::new(100), MemoryStore::new()).build()?;
    /// policy.put(7, "ada")?; // in the cache now, in the store after the next batch
    /// policy.flush()?;
    /// assert_eq!(policy.store().load(&7)?, Some("ada"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn put(&self, key: K, value: V) -> Result<(), PolicyError> {
        self.write(key, Some(value))
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
    /// use stratacache::{Cache, MemoryStore, Store, WriteBehind};
    /// let db = MemoryStore::new();
    /// db.write(&7, &"ada")?;
    /// let policy = WriteBehind::builder(Cache::new(100), db).build()?;
    /// policy.delete(&7)?;
    /// assert_eq!(policy.get(&7)?, None); // at once, before the store has heard of it
    /// policy.flush()?;
    /// assert_eq!(policy.store().load(&7)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn delete(&self, key: &K) -> Result<(), PolicyError> {
        self.write(key.clone(), None)
    }

    fn write(&self, key: K, value: Option<V>) -> Result<(), PolicyError> {
        let sh = &*self.shared;
        let wb = &sh.wb;
        // The key's writer lock orders this write against other writes of the key and against
        // the flusher's failure handling. It is never held while waiting for room: the flusher
        // may need it to report a failed batch, which is what makes room.
        let mut writer = wb.core.writer(&key);
        let mut q = wb.queue.lock();
        while let Err(refused) = q.admit(&key) {
            if let Some(e) = wb.refusal(refused) {
                return Err(e);
            }
            drop(writer);
            sh.progress.wait(&mut q);
            drop(q);
            writer = wb.core.writer(&key);
            q = wb.queue.lock();
        }
        if wb.journaled() {
            // Durable first, outside the queue's lock (other writers group-commit meanwhile),
            // in the place reserved for it; visible only once durable.
            let counted = q.reserve(&key);
            drop(q);
            let taken = wb.journal_and_take(key, value, counted, Instant::now());
            if taken.as_ref().is_ok_and(|wake| !wake) {
                return Ok(());
            }
            sh.wake.notify_one();
            return taken.map(drop);
        }
        if q.push(key.clone(), value.clone(), Instant::now(), 0, None) {
            sh.wake.notify_one();
        }
        drop(q);
        wb.apply(key, value);
        drop(writer);
        Ok(())
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
    /// use std::time::Duration;
    /// use stratacache::{Cache, MemoryStore, Store, WriteBehind};
    /// let policy = WriteBehind::builder(Cache::new(100), MemoryStore::new())
    ///     .flush_interval(Duration::from_secs(3600))
    ///     .build()?;
    /// policy.put(1, 10)?;
    /// policy.put(2, 20)?;
    /// policy.flush()?; // both are in the store when it returns
    /// assert_eq!(policy.store().load(&2)?, Some(20));
    /// assert_eq!(policy.stats().pending, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<(), PolicyError> {
        self.shared.flush()
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
    /// use stratacache::{Cache, MemoryStore, Store, WriteBehind};
    /// use std::sync::Arc;
    /// let db = Arc::new(MemoryStore::new());
    /// let policy = WriteBehind::builder(Cache::new(100), Arc::clone(&db)).build()?;
    /// policy.put(1, 10)?;
    /// policy.shutdown()?; // flushes, then stops the flusher
    /// assert_eq!(db.load(&1)?, Some(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
        self.flusher.close()
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

impl<K, V, S> fmt::Debug for WriteBehind<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Store<K, V> + 'static,
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
    S: Store<K, V> + 'static,
{
    fn flush(&self) -> Result<(), PolicyError> {
        let wb = &self.wb;
        let failed_before = wb.failures();
        let mut q = wb.queue.lock();
        let target = q.start_flush();
        self.wake.notify_one();
        while !q.flushed(target) {
            if q.is_flusher_gone() {
                q.end_flush();
                return Err(PolicyError::new(ErrorKind::Closed, ""));
            }
            self.progress.wait(&mut q);
        }
        q.end_flush();
        drop(q);
        wb.flush_result(failed_before)
    }

    /// The flusher thread. Every call into user code is caught; should it unwind all the same
    /// (a key whose `Hash` panics), the queue is closed so that callers get an error instead of
    /// waiting forever.
    fn run(&self) {
        struct Exit<'a, K, V, S>(&'a Shared<K, V, S>);
        impl<K, V, S> Drop for Exit<'_, K, V, S> {
            fn drop(&mut self) {
                self.0.wb.queue.lock().flusher_gone();
                self.0.progress.notify_all();
            }
        }
        let _exit = Exit(self);
        let wb = &self.wb;
        let mut q = wb.queue.lock();
        loop {
            match q.next(Instant::now()) {
                Next::Exit => return,
                Next::Idle => {
                    self.wake.wait(&mut q);
                }
                Next::WaitUntil(t) => {
                    self.wake.wait_until(&mut q, t);
                }
                Next::Write => {
                    let batch = q.take_batch();
                    drop(q);
                    self.write_batch(batch);
                    q = wb.queue.lock();
                    self.progress.notify_all();
                }
            }
        }
    }

    /// Writes a batch with retries, then acknowledges it or reports its writes failed.
    fn write_batch(&self, batch: Batch<K, V>) {
        let wb = &self.wb;
        let mut retries = wb.retries();
        let result = loop {
            let probe = wb.core.probe(Op::Batch, None, batch.ops.len());
            let r = panic::catch_unwind(AssertUnwindSafe(|| {
                probe
                    .scope()
                    .in_scope(|| wb.core.store.write_batch(&batch.ops))
            }));
            let r = settle(r);
            probe.end(&r, |_| None);
            match r {
                Ok(()) => break Ok(()),
                Err(e) => match retries.next_wait() {
                    Some(wait) => thread::sleep(wait),
                    None => break Err(e),
                },
            }
        };
        match result {
            Ok(()) => wb.acknowledge(&batch),
            Err(err) => {
                wb.settle_failed(&batch);
                for (op, seq) in batch.ops.iter().zip(batch.seqs.iter().copied()) {
                    let _writer = wb.core.writer(op.key());
                    wb.report_failed(op, seq, &err);
                }
            }
        }
    }
}
