//! What machine a benchmark tool ran on, for the header of what it prints.
#![allow(dead_code)]

/// The CPU model and the number of cores this process may use.
pub fn describe() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    // The profile's directory name (build.rs), and what the project's profiles set.
    let profile = match env!("STRATACACHE_PROFILE") {
        "release" => "release profile (opt-level 3, no LTO, 16 codegen units)",
        "release-lto" => "release-lto profile (opt-level 3, thin LTO, 1 codegen unit)",
        "bench" => "bench profile (release settings, line-level debug info)",
        "debug" => "dev profile (unoptimised, debug assertions)",
        other => other,
    };
    format!("{cpu}, {cores} cores; {profile}")
}
