//! The fuzz harnesses on stable: every input of the checked-in seed corpus (`fuzz/corpus/`), and
//! a few hundred seeded random inputs more.

mod common;
use common::fuzz;
use std::path::Path;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed corpus {}: {e}", dir.display()))
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .collect();
    assert!(!inputs.is_empty(), "empty seed corpus {}", dir.display());
    // Seeded random inputs of every length up to 4 KiB.
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for n in 0..if cfg!(miri) { 4 } else { 300 } {
        let len = (n * 13) % 4096;
        inputs.push(
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect(),
        );
    }
    inputs
}

#[test]
fn cache_model_corpus() {
    for input in corpus("cache_model") {
        fuzz::cache_model(&input);
    }
}

#[test]
fn write_behind_corpus() {
    // The chaos store's panics are expected; keep them out of the test output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("chaos store panics") {
            eprintln!("{info}");
        }
    }));
    for input in corpus("write_behind") {
        fuzz::write_behind(&input);
    }
    std::panic::set_hook(hook);
}
