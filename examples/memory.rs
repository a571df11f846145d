//! Memory per entry: fills caches of capacity 1M with `u64 -> u64` entries (no TTL) and counts
//! the bytes they hold with a counting global allocator.
//!
//! Run: `cargo run --release --example memory`
//!
//! The figure is live heap bytes after the fill, minus those before, divided by the entries the
//! cache holds (a sharded or approximate cache may hold a little less than its capacity).

#[path = "../benches/support/machine.rs"]
mod machine;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting live bytes.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const N: u64 = 1_000_000;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Builds a container, fills it with `0..N`, and reports bytes per held entry.
fn measure<C>(
    name: &str,
    build: impl FnOnce() -> C,
    insert: impl Fn(&C, u64),
    len: impl Fn(&C) -> usize,
) -> f64 {
    let before = live();
    let c = build();
    for k in 0..N {
        insert(&c, k);
    }
    let bytes = live() - before;
    let held = len(&c);
    let per = bytes as f64 / held as f64;
    println!(
        "| {name:<34} | {held:>9} | {:>9.1} | {per:>9.1} |",
        bytes as f64 / 1e6
    );
    drop(c);
    per
}

/// A 64-bit mix (splitmix64's finalizer): a fixed pseudo-random stream from a counter.
fn mix(k: u64) -> u64 {
    let mut z = k.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A cache of `N` with `Admission::TinyLfu`.
fn tiny_lfu() -> stratacache::Cache<u64, u64> {
    stratacache::Cache::builder()
        .max_capacity(N)
        .admission(stratacache::Admission::TinyLfu)
        .build()
        .unwrap()
}

fn main() {
    println!("Machine: {}", machine::describe());
    println!("Memory for {N} u64 -> u64 entries, capacity {N} (counting allocator)\n");
    println!(
        "| {:<34} | {:>9} | {:>9} | {:>9} |",
        "cache", "entries", "MB", "B/entry"
    );
    println!("|{:-<36}|{:-<11}|{:-<11}|{:-<11}|", "", "", "", "");
    let ours = measure(
        "stratacache (default shards)",
        || stratacache::Cache::<u64, u64>::new(N),
        |c, k| c.insert(k, k),
        |c| c.len(),
    );
    measure(
        "stratacache (shards(1))",
        || {
            stratacache::Cache::<u64, u64>::builder()
                .max_capacity(N)
                .shards(1)
                .build()
                .unwrap()
        },
        |c, k| c.insert(k, k),
        |c| c.len(),
    );
    measure(
        "stratacache Admission::TinyLfu",
        tiny_lfu,
        |c, k| c.insert(k, k),
        |c| c.len(),
    );
    // A skewed stream over three times as many keys as it holds (`get`, and `insert` on a
    // miss), so that entries are admitted, rejected, promoted to the protected segment, demoted
    // and evicted: the ghosts that size TinyLfu's window and protected share fill up (a
    // twelfth of the entries each).
    measure(
        "stratacache TinyLfu, ghosts full",
        tiny_lfu,
        |c, k| {
            for j in 0..3 {
                let x = mix(k * 3 + j);
                let key = (x % (3 * N)) % ((x >> 32) % (3 * N) + 1);
                if c.get(&key).is_none() {
                    c.insert(key, key);
                }
            }
        },
        |c| c.len(),
    );
    let qc = measure(
        "quick_cache::sync::Cache",
        || quick_cache::sync::Cache::<u64, u64>::new(N as usize),
        |c, k| c.insert(k, k),
        |c| c.len(),
    );
    measure(
        "Mutex<lru::LruCache>",
        || {
            parking_lot::Mutex::new(lru::LruCache::<u64, u64>::new(
                (N as usize).try_into().unwrap(),
            ))
        },
        |c, k| {
            c.lock().put(k, k);
        },
        |c| c.lock().len(),
    );
    measure(
        "moka::sync::Cache",
        || moka::sync::Cache::<u64, u64>::new(N),
        |c, k| c.insert(k, k),
        |c| {
            c.run_pending_tasks();
            c.entry_count() as usize
        },
    );
    let hb = measure(
        "hashbrown::HashMap (no eviction)",
        || parking_lot::RwLock::new(hashbrown::HashMap::<u64, u64>::new()),
        |c, k| {
            c.write().insert(k, k);
        },
        |c| c.read().len(),
    );
    churn();
    println!(
        "\nstratacache / quick_cache: {:.2}x the bytes; stratacache / hashbrown: {:.2}x",
        ours / qc,
        ours / hb
    );
}

/// A full cache under churn: every insert of a new key evicts one entry, and must allocate
/// nothing (the slab reuses the freed slot; the table only rehashes in place).
fn churn() {
    let cache = stratacache::Cache::<u64, u64>::new(N);
    for k in 0..N {
        cache.insert(k, k);
    }
    let (bytes, allocs) = (live(), ALLOCS.load(Ordering::Relaxed));
    for k in N..6 * N {
        cache.insert(k, k);
    }
    println!(
        "\nstratacache churn, {} inserts into the full cache: {} allocations, {:+} live bytes",
        5 * N,
        ALLOCS.load(Ordering::Relaxed) - allocs,
        live() - bytes
    );
}
