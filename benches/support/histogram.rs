//! Latency histograms for the benchmark tools: buckets of 1/8 of a power of two, so quantiles
//! are within 9 %, cheap to record from many threads (one histogram each, merged) and to pass
//! between processes as text.
#![allow(dead_code)]

use std::time::Duration;

/// Latencies in buckets of 1/8 of a power of two (at most 9 % apart).
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u64>,
}

impl Histogram {
    fn bucket(nanos: u64) -> usize {
        let n = nanos.max(1);
        let log = 63 - n.leading_zeros() as usize;
        let frac = if log >= 3 { (n >> (log - 3)) & 7 } else { 0 } as usize;
        log * 8 + frac
    }

    fn floor(bucket: usize) -> u64 {
        let (log, frac) = (bucket / 8, (bucket % 8) as u64);
        if log >= 3 {
            (8 + frac) << (log - 3)
        } else {
            1 << log
        }
    }

    pub fn record(&mut self, d: Duration) {
        let b = Self::bucket(d.as_nanos().min(u64::MAX as u128) as u64);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The latency under which a fraction `q` of the calls fell (the bucket's lower edge).
    pub fn quantile(&self, q: f64) -> Duration {
        let want = (self.count() as f64 * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Duration::from_nanos(Self::floor(b));
            }
        }
        Duration::ZERO
    }

    /// The slowest call (its bucket's lower edge).
    pub fn max(&self) -> Duration {
        self.counts
            .iter()
            .rposition(|&c| c > 0)
            .map_or(Duration::ZERO, |b| Duration::from_nanos(Self::floor(b)))
    }

    pub fn encode(&self) -> String {
        let cells: Vec<String> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(b, c)| format!("{b}:{c}"))
            .collect();
        cells.join(",")
    }

    pub fn decode(s: &str) -> Self {
        let mut h = Histogram::default();
        for cell in s.split(',').filter(|c| !c.is_empty()) {
            let (b, c) = cell.split_once(':').expect("bucket:count");
            let (b, c): (usize, u64) = (b.parse().unwrap(), c.parse().unwrap());
            if h.counts.len() <= b {
                h.counts.resize(b + 1, 0);
            }
            h.counts[b] += c;
        }
        h
    }
}
