//! Observability, behind two features; without them everything here is empty and inlined away.
//!
//! - Feature `metrics`: counters and gauges through the [`metrics`](https://docs.rs/metrics)
//!   facade, so whichever exporter the service installs (Prometheus, OpenTelemetry, statsd)
//!   picks them up. Two kinds of source:
//!   - Store calls are recorded as they end (a counter by operation and outcome, and a
//!     histogram of their duration): they are rare next to hits, and slow.
//!   - The caches' and policies' own counters (hits, misses, removals by cause, write-behind
//!     writes, refreshes, bus resets) are read once a second ([`METRICS_INTERVAL`]) by one
//!     thread per process and published as absolute values, so a hit costs nothing more than it
//!     did. [`publish_metrics`] publishes at once. Only named caches are published
//!     ([`CacheBuilder::name`](crate::CacheBuilder::name)); the name is the `cache` label.
//! - Feature `tracing`: a span (`stratacache.store`) around every store call a policy makes,
//!   loads included, with the cache's name, the operation, the key's hash (never the key or the
//!   value) and, when it ends, the outcome.
//!
//! | metric | kind | labels |
//! |---|---|---|
//! | `stratacache_cache_requests_total` | counter | `cache`, `result` (`hit`, `miss`) |
//! | `stratacache_cache_inserts_total` | counter | `cache` |
//! | `stratacache_cache_removals_total` | counter | `cache`, `cause` (`evicted`, `expired`) |
//! | `stratacache_cache_entries`, `stratacache_cache_weighted_size` | gauge | `cache` |
//! | `stratacache_store_calls_total` | counter | `cache`, `op` (`load`, `write`, `delete`, `write_batch`), `outcome` (`found`, `absent`, `ok`, `error`, `timeout`, `panic`, `cancelled`: the caller's future was dropped) |
//! | `stratacache_store_call_duration_seconds` | histogram | `cache`, `op` |
//! | `stratacache_write_behind_pending` | gauge | `cache` |
//! | `stratacache_write_behind_writes_total` | counter | `cache`, `result` (`written`, `retried`, `failed`) |
//! | `stratacache_refreshes_total` | counter | `cache`, `result` (`started`, `failed`, `superseded`) |
//! | `stratacache_bus_resets_total` (subscriber reconnections), `stratacache_bus_lost_total` (lost invalidations detected) | counter | `namespace` |

use crate::policy::{ErrorKind, PolicyError};
#[cfg(feature = "metrics")]
use parking_lot::Mutex;
use std::sync::Arc;
#[cfg(feature = "metrics")]
use std::time::{Duration, Instant};

/// How often the thread that publishes the caches' counters reads them (feature `metrics`).
#[cfg(feature = "metrics")]
pub const METRICS_INTERVAL: Duration = Duration::from_secs(1);

/// What a store call does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Load,
    Write,
    Delete,
    Batch,
}

impl Op {
    #[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
    fn name(self) -> &'static str {
        match self {
            Op::Load => "load",
            Op::Write => "write",
            Op::Delete => "delete",
            Op::Batch => "write_batch",
        }
    }
}

/// The outcome label of a store call's result.
#[cfg_attr(not(any(feature = "metrics", feature = "tracing")), allow(dead_code))]
fn outcome<R>(r: &Result<R, PolicyError>, found: impl FnOnce(&R) -> Option<bool>) -> &'static str {
    match r {
        Ok(v) => match found(v) {
            Some(true) => "found",
            Some(false) => "absent",
            None => "ok",
        },
        Err(e) => match e.kind() {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Panicked => "panic",
            _ => "error",
        },
    }
}

/// One store call under observation: its span and its start. Made by [`probe`], ended by
/// [`Probe::end`]; a probe dropped without an end (the caller's future was dropped) records the
/// outcome `cancelled`.
pub(crate) struct Probe {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
    #[cfg(feature = "metrics")]
    start: Instant,
    #[cfg(feature = "metrics")]
    cache: Option<Arc<str>>,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    op: Op,
    #[cfg(any(feature = "metrics", feature = "tracing"))]
    ended: bool,
}

/// The span of a [`Probe`], to enter on the thread or in the task that makes the call.
#[derive(Clone)]
pub(crate) struct Scope {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

/// Starts observing a store call of the cache named `cache`, on the key whose hash `key_hash`
/// gives (none for a batch, which gives its length instead). The key is hashed only for a span
/// that a subscriber collects.
#[inline]
pub(crate) fn probe(
    cache: Option<&Arc<str>>,
    op: Op,
    key_hash: impl FnOnce() -> Option<u64>,
    len: usize,
) -> Probe {
    let _ = (cache, len);
    #[cfg(feature = "tracing")]
    let span = {
        let span = tracing::debug_span!(
            "stratacache.store",
            cache = cache.map(|c| &**c),
            op = op.name(),
            key_hash = tracing::field::Empty,
            len,
            outcome = tracing::field::Empty,
        );
        if !span.is_disabled()
            && let Some(h) = key_hash()
        {
            span.record("key_hash", h);
        }
        span
    };
    #[cfg(not(feature = "tracing"))]
    let _ = key_hash;
    Probe {
        #[cfg(feature = "tracing")]
        span,
        #[cfg(feature = "metrics")]
        start: Instant::now(),
        #[cfg(feature = "metrics")]
        cache: cache.cloned(),
        op,
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        ended: false,
    }
}

impl Scope {
    /// Runs `f` inside the call's span.
    #[inline]
    pub(crate) fn in_scope<R>(&self, f: impl FnOnce() -> R) -> R {
        #[cfg(feature = "tracing")]
        let _entered = self.span.enter();
        f()
    }

    /// `f`, inside the call's span whenever it is polled.
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn instrument<F: std::future::Future>(
        self,
        f: F,
    ) -> impl std::future::Future<Output = F::Output> {
        #[cfg(feature = "tracing")]
        {
            tracing::Instrument::instrument(f, self.span)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = self;
            f
        }
    }
}

impl Probe {
    /// The call's span, to enter where the call runs.
    #[inline]
    pub(crate) fn scope(&self) -> Scope {
        Scope {
            #[cfg(feature = "tracing")]
            span: self.span.clone(),
        }
    }

    /// Ends the call with its result: the outcome goes to the span and to the metrics (with
    /// `found` saying, for a load, whether it found a value).
    #[inline]
    pub(crate) fn end<R>(self, r: &Result<R, PolicyError>, found: impl FnOnce(&R) -> Option<bool>) {
        #[cfg(not(any(feature = "metrics", feature = "tracing")))]
        let _ = (r, found);
        #[cfg(any(feature = "metrics", feature = "tracing"))]
        {
            let mut this = self;
            this.record(outcome(r, found));
        }
    }

    #[cfg(any(feature = "metrics", feature = "tracing"))]
    fn record(&mut self, outcome: &'static str) {
        self.ended = true;
        #[cfg(feature = "tracing")]
        self.span.record("outcome", outcome);
        #[cfg(feature = "metrics")]
        {
            let cache = self.cache.as_deref().unwrap_or("").to_owned();
            metrics::counter!(
                "stratacache_store_calls_total",
                "cache" => cache.clone(),
                "op" => self.op.name(),
                "outcome" => outcome,
            )
            .increment(1);
            metrics::histogram!(
                "stratacache_store_call_duration_seconds",
                "cache" => cache,
                "op" => self.op.name(),
            )
            .record(self.start.elapsed().as_secs_f64());
        }
    }
}

#[cfg(any(feature = "metrics", feature = "tracing"))]
impl Drop for Probe {
    fn drop(&mut self) {
        if !self.ended {
            self.record("cancelled");
        }
    }
}

/// Something whose counters the metrics thread publishes: returns false once it is gone.
#[cfg(feature = "metrics")]
type Source = Arc<dyn Fn() -> bool + Send + Sync>;

#[cfg(feature = "metrics")]
static SOURCES: Mutex<Vec<Source>> = Mutex::new(Vec::new());

/// Adds a source to publish (and starts the metrics thread, the first time).
#[cfg(feature = "metrics")]
pub(crate) fn register(source: impl Fn() -> bool + Send + Sync + 'static) {
    static STARTED: std::sync::Once = std::sync::Once::new();
    SOURCES.lock().push(Arc::new(source));
    STARTED.call_once(|| {
        // If no thread can be started, counters are still published by `publish_metrics`.
        let _ = std::thread::Builder::new()
            .name("stratacache-metrics".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(METRICS_INTERVAL);
                    publish_metrics();
                }
            });
    });
}

/// Publishes the counters of every named cache, policy and invalidation bus alive now, through
/// the `metrics` facade (feature `metrics`). A thread does this every [`METRICS_INTERVAL`];
/// call it yourself before a scrape or a test that must see the latest counts.
///
/// # Examples
///
/// ```
/// let cache: stratacache::Cache<u32, u32> =
///     stratacache::Cache::builder().max_capacity(10).name("users").build()?;
/// cache.insert(1, 1);
/// stratacache::publish_metrics(); // `stratacache_cache_inserts_total{cache="users"}` is 1
/// # Ok::<(), stratacache::BuildError>(())
/// ```
#[cfg(feature = "metrics")]
pub fn publish_metrics() {
    // Called without the list's lock: a source may be the last owner of a cache or a policy
    // for a moment, and then runs its drop (user code) here. A source that panics is dropped.
    let sources: Vec<Source> = SOURCES.lock().clone();
    let gone: Vec<Source> = sources
        .into_iter()
        .filter(|publish| {
            !std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| publish())).unwrap_or(false)
        })
        .collect();
    if !gone.is_empty() {
        SOURCES
            .lock()
            .retain(|s| !gone.iter().any(|g| Arc::ptr_eq(g, s)));
    }
}

/// Publishes what `owner` holds, by `publish`, for as long as `owner` lives.
#[cfg(feature = "metrics")]
pub(crate) fn register_while<T: ?Sized + Send + Sync + 'static>(
    owner: std::sync::Weak<T>,
    publish: impl Fn(&T) + Send + Sync + 'static,
) {
    register(move || match owner.upgrade() {
        Some(owner) => {
            publish(&owner);
            true
        }
        None => false,
    });
}

/// Publishes a named write-behind policy's counters while `policy` lives.
#[cfg(feature = "metrics")]
pub(crate) fn register_write_behind<T: Send + Sync + 'static>(
    name: Option<&Arc<str>>,
    policy: std::sync::Weak<T>,
    stats: fn(&T) -> crate::WriteBehindStats,
) {
    let Some(name) = name.cloned() else { return };
    register_while(policy, move |policy| {
        let s = stats(policy);
        let cache = [("cache", name.to_string())];
        gauge("stratacache_write_behind_pending", &cache, s.pending as f64);
        for (result, n) in [
            ("written", s.written),
            ("retried", s.retried),
            ("failed", s.failed),
        ] {
            let labels = [cache[0].clone(), ("result", result.to_owned())];
            counter("stratacache_write_behind_writes_total", &labels, n);
        }
    });
}

/// Publishes a named policy's refresh counters while `policy` lives.
#[cfg(feature = "metrics")]
pub(crate) fn register_refresh<T: Send + Sync + 'static>(
    name: Option<&Arc<str>>,
    policy: std::sync::Weak<T>,
    stats: fn(&T) -> crate::RefreshStats,
) {
    let Some(name) = name.cloned() else { return };
    register_while(policy, move |policy| {
        let s = stats(policy);
        for (result, n) in [
            ("started", s.refreshes_started),
            ("failed", s.refreshes_failed),
            ("superseded", s.refreshes_superseded),
        ] {
            let labels = [("cache", name.to_string()), ("result", result.to_owned())];
            counter("stratacache_refreshes_total", &labels, n);
        }
    });
}

#[cfg(feature = "metrics")]
fn labels(labels: &[(&'static str, String)]) -> Vec<metrics::Label> {
    labels
        .iter()
        .map(|(k, v)| metrics::Label::new(*k, v.clone()))
        .collect()
}

/// Sets the absolute value of a counter.
#[cfg(feature = "metrics")]
pub(crate) fn counter(name: &'static str, l: &[(&'static str, String)], value: u64) {
    metrics::counter!(name, labels(l)).absolute(value);
}

/// Sets a gauge.
#[cfg(feature = "metrics")]
pub(crate) fn gauge(name: &'static str, l: &[(&'static str, String)], value: f64) {
    metrics::gauge!(name, labels(l)).set(value);
}
