//! Names the build profile for the benchmark tools' headers, and tells the test suite whether a Redis or PostgreSQL server was named: with
//! `STRATACACHE_REDIS_URL` (`STRATACACHE_POSTGRES_URL`) set, those tests are compiled as ordinary
//! tests (cfg `stratacache_redis`, `stratacache_postgres`); without it they are reported as
//! ignored, with the reason, instead of passing without having run.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    // The build profile's name, for the headers of the benchmark tools (`benches/support/
    // machine.rs`): OUT_DIR is `<target>/[<triple>/]<profile>/build/<package>-<hash>/out`.
    let profile = std::env::var("OUT_DIR").ok().and_then(|out| {
        let p = std::path::PathBuf::from(out);
        Some(
            p.parent()?
                .parent()?
                .parent()?
                .file_name()?
                .to_str()?
                .to_owned(),
        )
    });
    println!(
        "cargo::rustc-env=STRATACACHE_PROFILE={}",
        profile.as_deref().unwrap_or("unknown")
    );
    for (var, cfg) in [
        ("STRATACACHE_REDIS_URL", "stratacache_redis"),
        ("STRATACACHE_POSTGRES_URL", "stratacache_postgres"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some_and(|u| !u.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
