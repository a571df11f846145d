//! When a cached value is reloaded before it expires: refresh-ahead past an age, and XFetch's
//! probabilistic early refresh before the deadline; and the counters of both ([`RefreshStats`]).
//! Plain decisions on numbers, shared by every policy; the reload itself is the front ends'.

use super::options::PolicyOptions;
use crate::shard::Freshness;
use crate::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{SystemTime, UNIX_EPOCH};

/// The counters of refresh-ahead and early refresh (see
/// [`PolicyOptions::refresh_after`] and [`PolicyOptions::early_refresh`]).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use stratacache::{Cache, CacheAside, ManualClock, MemoryStore, PolicyOptions, Store};
/// let clock = ManualClock::new();
/// let cache = Cache::builder().max_capacity(10).clock(clock.clone()).build()?;
/// let store = MemoryStore::new();
/// store.write(&1, &"one")?;
/// let options = PolicyOptions::new().refresh_after(Duration::from_secs(30));
/// let policy = CacheAside::with_options(cache, store, options);
/// assert_eq!(policy.get(&1)?, Some("one")); // a miss: loaded
/// clock.advance(Duration::from_secs(30));
/// assert_eq!(policy.get(&1)?, Some("one")); // served at once; a reload starts behind it
/// assert_eq!(policy.refresh_stats().stale_served, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RefreshStats {
    /// Background reloads started.
    pub refreshes_started: u64,
    /// Background reloads that failed (the store's error, a panic, a timeout) or could not
    /// start: the old value stayed.
    pub refreshes_failed: u64,
    /// Background reloads whose answer was dropped because a write of the key landed while they
    /// ran (the write wins).
    pub refreshes_superseded: u64,
    /// Hits that returned a value older than `refresh_after` (served while it is reloaded).
    pub stale_served: u64,
}

/// A policy's refresh settings and counters.
pub(crate) struct Refresh {
    /// `refresh_after`, in nanoseconds of the cache's clock.
    after: Option<u64>,
    beta: Option<f64>,
    /// The state of the early-refresh draws (splitmix64).
    rng: AtomicU64,
    started: AtomicU64,
    failed: AtomicU64,
    superseded: AtomicU64,
    stale_served: AtomicU64,
}

impl Refresh {
    /// The settings of `options`, or `None` if it asks for no refresh.
    pub(crate) fn new(options: &PolicyOptions) -> Option<Self> {
        if options.refresh_after.is_none() && options.early_refresh.is_none() {
            return None;
        }
        let seed = options.seed.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0x5eed, |d| d.as_nanos() as u64)
        });
        Some(Refresh {
            after: options
                .refresh_after
                .map(|a| u64::try_from(a.as_nanos()).unwrap_or(u64::MAX)),
            beta: options.early_refresh,
            rng: AtomicU64::new(seed),
            started: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            superseded: AtomicU64::new(0),
            stale_served: AtomicU64::new(0),
        })
    }

    /// Whether a hit on an entry this fresh should start a reload: it is older than
    /// `refresh_after` (then it counts as a stale value served), or XFetch draws it.
    pub(crate) fn due(&self, f: Freshness) -> bool {
        if self.after.is_some_and(|a| f.age >= a) {
            self.stale_served.fetch_add(1, Relaxed);
            return true;
        }
        match (self.beta, f.left) {
            (Some(beta), Some(left)) if f.delta > 0 => {
                // XFetch: now - delta * beta * ln(u) >= expiry.
                let gap = f.delta as f64 * beta * -self.uniform().ln();
                gap >= left as f64
            }
            _ => false,
        }
    }

    /// A draw uniform in (0, 1].
    fn uniform(&self) -> f64 {
        const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut z = self.rng.fetch_add(GAMMA, Relaxed).wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn started(&self) {
        self.started.fetch_add(1, Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    pub(crate) fn superseded(&self) {
        self.superseded.fetch_add(1, Relaxed);
    }

    pub(crate) fn stats(&self) -> RefreshStats {
        RefreshStats {
            refreshes_started: self.started.load(Relaxed),
            refreshes_failed: self.failed.load(Relaxed),
            refreshes_superseded: self.superseded.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn xfetch(beta: f64, seed: u64) -> Refresh {
        Refresh::new(&PolicyOptions::new().early_refresh(beta).seed(seed)).unwrap()
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn draws_are_uniform_in_the_open_closed_unit_interval() {
        let r = xfetch(1.0, 7);
        let draws: Vec<f64> = (0..100_000).map(|_| r.uniform()).collect();
        assert!(draws.iter().all(|&u| u > 0.0 && u <= 1.0));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        let below_tenth = draws.iter().filter(|&&u| u < 0.1).count();
        assert!((9_000..11_000).contains(&below_tenth), "{below_tenth}");
    }

    /// With `left = delta * beta * x`, XFetch refreshes with probability `exp(-x)`.
    #[test]
    fn early_refresh_follows_the_papers_probability() {
        for (beta, x) in [(1.0, 0.5), (1.0, 2.0), (2.0, 1.0)] {
            let r = xfetch(beta, 42);
            let delta = 50 * MS;
            let left = (delta as f64 * beta * x) as u64;
            let f = Freshness {
                age: 0,
                delta,
                left: Some(left),
            };
            let n = 100_000;
            let hits = (0..n).filter(|_| r.due(f)).count() as f64 / n as f64;
            let expected = (-x).exp();
            assert!((hits - expected).abs() < 0.01, "beta {beta}, x {x}: {hits}");
        }
    }

    #[test]
    fn unknown_load_time_or_no_deadline_never_refreshes_early() {
        let r = xfetch(1.0, 1);
        for f in [
            Freshness {
                age: 0,
                delta: 0,
                left: Some(1),
            },
            Freshness {
                age: 0,
                delta: MS,
                left: None,
            },
        ] {
            assert!((0..1000).all(|_| !r.due(f)));
        }
        assert_eq!(r.stats().stale_served, 0);
    }

    #[test]
    fn refresh_after_is_due_from_its_age_and_counts_stale_values() {
        let opts = PolicyOptions::new().refresh_after(Duration::from_millis(10));
        let r = Refresh::new(&opts).unwrap();
        let at = |age| Freshness {
            age,
            delta: 0,
            left: None,
        };
        assert!(!r.due(at(10 * MS - 1)));
        assert!(r.due(at(10 * MS)));
        assert_eq!(r.stats().stale_served, 1);
        assert!(Refresh::new(&PolicyOptions::new()).is_none());
    }

    #[test]
    fn the_same_seed_draws_the_same() {
        let (a, b) = (xfetch(1.0, 9), xfetch(1.0, 9));
        assert!((0..100).all(|_| a.uniform() == b.uniform()));
    }

    #[test]
    #[should_panic(expected = "beta must be a finite number above zero")]
    fn a_bad_beta_is_refused_where_it_is_given() {
        let _ = PolicyOptions::new().early_refresh(f64::NAN);
    }
}
