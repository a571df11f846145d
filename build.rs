//! Tells the test suite whether a Redis server was named: with `STRATACACHE_REDIS_URL` set, the
//! Redis tests are compiled as ordinary tests (cfg `stratacache_redis`); without it they are
//! reported as ignored, with the reason, instead of passing without having run.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(stratacache_redis)");
    println!("cargo::rerun-if-env-changed=STRATACACHE_REDIS_URL");
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var_os("STRATACACHE_REDIS_URL").is_some_and(|u| !u.is_empty()) {
        println!("cargo::rustc-cfg=stratacache_redis");
    }
}
