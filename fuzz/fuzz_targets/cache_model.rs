//! A one-shard cache against the reference model, `validate()` after every operation; the
//! configuration (capacity, weigher, TTL) and the clock steps come from the input.
#![no_main]

#[path = "../../tests/common/model.rs"]
mod model;
#[path = "../../tests/common/properties.rs"]
mod properties;
#[path = "../../tests/common/fuzz.rs"]
mod fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::cache_model(data));
