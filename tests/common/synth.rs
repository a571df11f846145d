//! Synthetic workloads, generated from a seed, for checking an admission policy on shapes the
//! real traces of `tests/data` do not cover, or cover once: skewed reads, a hot set that moves,
//! scans through a skewed workload, and a loop with noise. Shared by `tests/traces.rs` and
//! `examples/synth.rs`, which writes them as trace files for `examples/replay`.
#![allow(dead_code)]

/// SplitMix64 (Steele, Lea and Flood, 2014): small, fast, and the same sequence on every
/// machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// Draws ranks `0..keys` with probability proportional to `1 / (rank + 1)^s`.
pub struct Zipf {
    /// Cumulative weights, normalised to end at 1.
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(keys: u64, s: f64) -> Self {
        let mut sum = 0.0;
        let mut cdf: Vec<f64> = (1..=keys)
            .map(|r| {
                sum += 1.0 / (r as f64).powf(s);
                sum
            })
            .collect();
        for c in &mut cdf {
            *c /= sum;
        }
        Zipf { cdf }
    }

    pub fn draw(&self, rng: &mut Rng) -> u64 {
        let u = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// Skewed reads: Zipf(0.8) over 50,000 keys, 300,000 requests. Frequency pays; recency alone
/// keeps the tail.
pub fn zipf() -> Vec<u64> {
    let (mut rng, z) = (Rng::new(1), Zipf::new(50_000, 0.8));
    (0..300_000).map(|_| z.draw(&mut rng)).collect()
}

/// A hot set that moves: 1,200 keys read uniformly, replaced by 1,200 new keys every 20,000
/// requests; one request in ten is a key never seen before. Recency pays: what was frequent in
/// the last phase is never read again, so a policy that trusts old counts (or grows no window)
/// loses to exact LRU here.
pub fn shifting() -> Vec<u64> {
    with_one_offs(2, 300_000, |i, rng| (i / 20_000) * 1_200 + rng.below(1_200))
}

/// Scans through skewed reads: Zipf(0.8) over 20,000 keys, and every 10,000 requests a scan of
/// 3,000 keys read once each; 300,000 requests in all. A policy without admission lets each scan
/// flush the hot keys.
pub fn scan_mix() -> Vec<u64> {
    let (mut rng, z) = (Rng::new(3), Zipf::new(20_000, 0.8));
    let mut scan = 1_000_000_000u64;
    let mut out = Vec::with_capacity(300_000);
    while out.len() < 300_000 {
        out.extend((0..10_000).map(|_| z.draw(&mut rng)));
        out.extend(scan..scan + 3_000);
        scan += 3_000;
    }
    out.truncate(300_000);
    out
}

/// A loop over 1,200 keys, each request replaced, one time in ten, by a key never seen before;
/// 240,000 requests. Larger than a cache of 1,000, a loop gives exact LRU no hits at all, while a
/// policy that keeps a fixed part of the loop hits on that part every time round.
pub fn noisy_loop() -> Vec<u64> {
    with_one_offs(4, 240_000, |i, _| i % 1_200)
}

/// `len` requests from a generator seeded with `seed`: request `i` is, one time in ten, a key
/// never seen before, and otherwise `key(i, rng)`.
fn with_one_offs(seed: u64, len: u64, key: impl Fn(u64, &mut Rng) -> u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    let mut fresh = 10_000_000u64;
    (0..len)
        .map(|i| {
            if rng.below(10) == 0 {
                fresh += 1;
                fresh
            } else {
                key(i, &mut rng)
            }
        })
        .collect()
}

/// A workload's generator.
pub type Generate = fn() -> Vec<u64>;

/// The workloads by the file names `examples/synth.rs` gives them.
pub const WORKLOADS: [(&str, Generate); 4] = [
    ("zipf.synth", zipf),
    ("shifting.synth", shifting),
    ("scan_mix.synth", scan_mix),
    ("noisy_loop.synth", noisy_loop),
];
