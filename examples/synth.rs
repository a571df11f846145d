//! Writes the synthetic workloads of `tests/common/synth.rs` as trace files (one key a line, the
//! LIRS format `examples/replay` reads), so that they can be replayed on stratacache and its
//! peers.
//!
//! Run: `cargo run --release --example synth -- DIR`, then
//! `STRATACACHE_TRACES=DIR cargo run --release --example replay -- --summary --trace zipf.synth
//! --trace shifting.synth --trace scan_mix.synth --trace noisy_loop.synth`.

#[path = "../tests/common/synth.rs"]
mod synth;

use std::io::Write;

fn main() {
    let dir = std::env::args()
        .nth(1)
        .expect("usage: synth DIR (the folder to write the traces to)");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {dir}: {e}"));
    for (name, generate) in synth::WORKLOADS {
        let path = std::path::Path::new(&dir).join(name);
        let file = std::fs::File::create(&path)
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        let mut out = std::io::BufWriter::new(file);
        let keys = generate();
        for k in &keys {
            writeln!(out, "{k}").unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
        out.flush()
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        println!("{}: {} requests", path.display(), keys.len());
    }
}
