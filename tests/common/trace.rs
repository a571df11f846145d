//! Readers for the trace formats of `tests/data/README.md` (shared by tests, benches and examples).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// The folder of traces: `$STRATACACHE_TRACES`, or the repository's own `tests/data`.
pub fn dir() -> PathBuf {
    match std::env::var_os("STRATACACHE_TRACES") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data")),
    }
}

/// Reads a trace by file name: ARC format (`*.lis*`: `start count _ _` a line) or LIRS format
/// (one key a line, `*` lines skipped), gzip when the name ends in `.gz`. `None` if absent.
pub fn load(name: &str) -> Option<Vec<u64>> {
    let path = dir().join(name);
    let file = std::fs::File::open(&path).ok()?;
    let reader: Box<dyn Read> = if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let arc = name.contains(".lis");
    let mut keys = Vec::new();
    for line in BufReader::new(reader).lines() {
        let line = line.unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let line = line.trim();
        if line.is_empty() || line.starts_with('*') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let first: u64 = fields
            .next()
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
        if arc {
            let count: u64 = fields
                .next()
                .and_then(|f| f.parse().ok())
                .unwrap_or_else(|| panic!("{}: bad line {line:?}", path.display()));
            keys.extend(first..first + count);
        } else {
            keys.push(first);
        }
    }
    Some(keys)
}

/// A trace the tests need. The repository carries them in `tests/data`, so a missing one is a
/// broken checkout (or a wrong `$STRATACACHE_TRACES`): the test fails, it is never skipped.
pub fn require(name: &str) -> Vec<u64> {
    load(name).unwrap_or_else(|| panic!("trace {name} not found in {}", dir().display()))
}
