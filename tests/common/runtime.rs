//! One multi-thread tokio runtime per test binary, for tests that call async policies from plain
//! test threads (`rt().block_on(...)`).

use std::sync::OnceLock;
use tokio::runtime::Runtime;

/// The runtime: two workers, timers and I/O on.
pub fn rt() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}
