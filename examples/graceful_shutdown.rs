//! Graceful shutdown of a service that writes behind: on SIGTERM (or Ctrl-C), stop taking
//! writes, flush every write already acknowledged to the database, then exit.
//!
//! Run: `cargo run --release --features sqlite --example graceful_shutdown`
//!
//! Four request-handler threads share one `WriteBehind` policy behind an `Arc` and "acknowledge"
//! each write once `put` returned `Ok` (a service would answer 204 there). The example sends
//! itself SIGTERM after a moment, as an orchestrator would; run it with `-- --wait` to send the
//! signal yourself (`kill -TERM <pid>` or Ctrl-C). On the signal, `close(&self)` refuses new
//! writes (a handler gets `ErrorKind::Closed`, a service would answer 503) and returns once the
//! flusher has written everything accepted. The check at the end reopens the database and finds
//! every acknowledged write there.

use signal_hook::consts::{SIGINT, SIGTERM};
use std::collections::HashMap;
use std::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};
use stratacache::{Cache, ErrorKind, SqliteStore, Store, WriteBehind};

const HANDLERS: u64 = 4;
const KEYS_PER_HANDLER: u64 = 50;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("orders.db");
    let store: SqliteStore<u64, u64> = SqliteStore::open(&path)?;
    // A long flush interval: without a flush on shutdown, most acknowledged writes would still
    // be in the queue when the process ends.
    let policy = Arc::new(
        WriteBehind::builder(Cache::new(10_000), store)
            .flush_interval(Duration::from_secs(10))
            .batch_size(10_000)
            .build()?,
    );

    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(SIGTERM, stop.clone())?;
    signal_hook::flag::register(SIGINT, stop.clone())?;

    // Request handlers: each writes increasing values to its own keys and remembers the last
    // value it acknowledged per key.
    let handlers: Vec<_> = (0..HANDLERS)
        .map(|h| {
            let policy = policy.clone();
            thread::spawn(move || {
                let mut acked = HashMap::new();
                let mut refused = 0u64;
                for n in 1u64.. {
                    let key = h * KEYS_PER_HANDLER + n % KEYS_PER_HANDLER;
                    match policy.put(key, n) {
                        Ok(()) => {
                            acked.insert(key, n); // "204 No Content"
                        }
                        Err(e) if e.kind() == ErrorKind::Closed => {
                            refused += 1; // "503 Service Unavailable"
                            if refused == 10 {
                                break;
                            }
                        }
                        Err(e) => panic!("unexpected write error: {e}"),
                    }
                    thread::sleep(Duration::from_micros(200));
                }
                acked
            })
        })
        .collect();

    println!("pid {}: serving writes", std::process::id());
    if std::env::args().any(|a| a == "--wait") {
        println!("waiting for SIGTERM or Ctrl-C");
    } else {
        thread::sleep(Duration::from_millis(300));
        println!("sending SIGTERM to ourselves");
        signal_hook::low_level::raise(SIGTERM)?;
    }
    while !stop.load(Ordering::Relaxed) {
        thread::sleep(Duration::from_millis(10));
    }

    let pending = policy.stats().pending;
    let start = Instant::now();
    policy.close()?; // no new writes; every accepted one is in SQLite when this returns
    println!(
        "SIGTERM: closed the policy, flushing {pending} pending keys in {:.1?}",
        start.elapsed()
    );

    let mut acked = HashMap::new();
    for h in handlers {
        acked.extend(h.join().expect("a handler panicked"));
    }
    let db: SqliteStore<u64, u64> = SqliteStore::open(&path)?;
    let mut missing = 0;
    for (key, value) in &acked {
        if db.load(key)? != Some(*value) {
            missing += 1;
        }
    }
    println!(
        "{} keys with acknowledged writes, {} of them with their last acknowledged value in the database",
        acked.len(),
        acked.len() - missing
    );
    assert_eq!(missing, 0, "an acknowledged write was lost");
    Ok(())
}
