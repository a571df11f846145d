//! Time for TTL checks: the [`Clock`] trait, the [`RealClock`] and the [`ManualClock`] for tests.

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time for TTL checks.
///
/// The cache reads the clock only when an entry it touches has a deadline, so a cache that never
/// sets a TTL never reads it. `now` may be called while a shard lock is held: it must be cheap,
/// must not block and must not call back into the cache.
///
/// # Examples
///
/// ```
/// use std::time::Instant;
/// use stratacache::Clock;
///
/// struct Wall;
/// impl Clock for Wall {
///     fn now(&self) -> Instant {
///         Instant::now()
///     }
/// }
/// assert!(Wall.now() <= Instant::now());
/// ```
pub trait Clock: Send + Sync {
    /// The current instant. Must never go backwards.
    fn now(&self) -> Instant;
}

/// The real monotonic clock ([`Instant::now`]); the default clock of every cache.
///
/// # Examples
///
/// ```
/// use stratacache::{Clock, RealClock};
/// let a = RealClock.now();
/// assert!(RealClock.now() >= a);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RealClock;

impl Clock for RealClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: TTL tests advance it instead of sleeping.
///
/// Clones share one time, so a test keeps a clone and hands another to the cache.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stratacache::{Cache, ManualClock};
///
/// let clock = ManualClock::new();
/// let cache: Cache<u32, u32> = Cache::builder()
///     .max_capacity(10)
///     .time_to_live(Duration::from_secs(60))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
/// cache.insert(1, 10);
/// clock.advance(Duration::from_secs(59));
/// assert_eq!(cache.get(&1), Some(10));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get(&1), None);
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    start: Instant,
    offset_nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at the present instant; it moves only through [`advance`](Self::advance).
    #[must_use]
    pub fn new() -> Self {
        ManualClock {
            start: Instant::now(),
            offset_nanos: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Moves this clock, and every clone of it, forward by `by`.
    ///
    /// The offset saturates at `u64::MAX` nanoseconds (about 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        let mut cur = self.offset_nanos.load(Ordering::Relaxed);
        loop {
            let next = cur.saturating_add(by);
            match self.offset_nanos.compare_exchange_weak(
                cur,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }

    /// How far this clock has been advanced since it was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::Acquire))
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.elapsed()
    }
}

/// Deadlines are nanoseconds since the cache's origin; this one means "never".
pub(crate) const NEVER: u64 = u64::MAX;

/// A cache's clock and the instant its times count from.
pub(crate) struct TimeSource {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) origin: Instant,
}

impl TimeSource {
    pub(crate) fn new(clock: Arc<dyn Clock>) -> Self {
        let origin = clock.now();
        TimeSource { clock, origin }
    }
}

/// The time of one operation, read from the clock at most once and only if needed. Two words
/// to build (most operations never read it: no TTL, no time-to-idle).
pub(crate) struct Now<'a> {
    source: &'a TimeSource,
    /// [`NEVER`] until read (a reading is never `NEVER`).
    nanos: Cell<u64>,
}

impl<'a> Now<'a> {
    #[inline]
    pub(crate) fn new(source: &'a TimeSource) -> Self {
        Now {
            source,
            nanos: Cell::new(NEVER),
        }
    }

    /// Nanoseconds since the origin.
    #[inline]
    pub(crate) fn get(&self) -> u64 {
        let n = self.nanos.get();
        if n != NEVER {
            return n;
        }
        let n = self.read();
        self.nanos.set(n);
        n
    }

    #[cold]
    fn read(&self) -> u64 {
        let d = self
            .source
            .clock
            .now()
            .saturating_duration_since(self.source.origin);
        // Never NEVER, so that `deadline <= now` is false for NEVER (and NEVER can mark "unread").
        u64::try_from(d.as_nanos())
            .unwrap_or(NEVER - 1)
            .min(NEVER - 1)
    }

    /// The deadline of an entry inserted now with time-to-live `ttl`, or [`NEVER`] without one
    /// (the clock is read only with one).
    #[inline]
    pub(crate) fn deadline_for(&self, ttl: Option<Duration>) -> u64 {
        match ttl {
            None => NEVER,
            Some(d) => self.deadline(d),
        }
    }

    /// The deadline of an entry inserted now with time-to-live `ttl`.
    #[inline]
    pub(crate) fn deadline(&self, ttl: Duration) -> u64 {
        let ttl = u64::try_from(ttl.as_nanos()).unwrap_or(NEVER);
        self.get().saturating_add(ttl)
    }
}
