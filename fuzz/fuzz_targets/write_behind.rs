//! Write-behind over a store that fails and panics at chosen calls: reads see the latest write,
//! and after `flush` the store holds the last write of every key.
#![no_main]

#[path = "../../tests/common/model.rs"]
mod model;
#[path = "../../tests/common/properties.rs"]
mod properties;
#[path = "../../tests/common/fuzz.rs"]
mod fuzz;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    // libFuzzer's panic hook aborts on every panic, caught or not; the chaos store's panics are
    // meant to be caught by the policy, so only the others go on to that hook.
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let fuzzer_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("chaos store panics") {
                fuzzer_hook(info);
            }
        }));
    });
    fuzz::write_behind(data);
});
