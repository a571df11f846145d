//! Write durability against speed (issue 14): puts per second and put latency for write-through
//! and write-behind with and without a journal, over SQLite on a file, with 1, 2, 8 and 32 writer
//! threads, all in one run.
//!
//! Run: `cargo run --release --features sqlite --example durability` (`--puts N`: puts per
//! writer, default 2,000).

#[path = "../benches/support/durability.rs"]
mod durability;
#[path = "../benches/support/histogram.rs"]
mod histogram;
#[path = "../benches/support/machine.rs"]
mod machine;

use durability::Setup;
use std::time::Duration;

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let puts: u64 = args
        .iter()
        .position(|a| a == "--puts")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    println!(
        "Machine: {}; SQLite on a file in {}; {puts} puts per writer\n",
        machine::describe(),
        std::env::temp_dir().display()
    );
    println!(
        "| setup | writers | puts/s | vs write-through FULL | put p50 | put p99 | a process crash loses | a power cut loses |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for threads in [1, 2, 8, 32] {
        let mut full = 0.0;
        for setup in Setup::ALL {
            let (took, h) = durability::run(setup, threads, puts);
            let rate = (threads as u64 * puts) as f64 / took.as_secs_f64();
            if setup == Setup::ThroughFull {
                full = rate;
            }
            let ratio = if full > 0.0 {
                format!("{:.1}x", rate / full)
            } else {
                "-".into()
            };
            let (crash, power) = setup.loses();
            println!(
                "| {} | {threads} | {rate:.0} | {ratio} | {} | {} | {crash} | {power} |",
                setup.name(),
                us(h.quantile(0.5)),
                us(h.quantile(0.99)),
            );
        }
    }
}
