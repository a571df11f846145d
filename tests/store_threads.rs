//! Issue 11, violation 8: a hung store with `PolicyOptions::timeout` must not cost a thread per
//! call. The only test in its binary, so that the helper threads it counts are its own.
#![cfg(target_os = "linux")]

use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::time::Duration;
use stratacache::{
    Cache, CacheAside, ErrorKind, MemoryStoreError, PolicyOptions, Store, WriteThrough,
};

/// The threads of this process that run store calls (named `stratacache-store-call`, which
/// Linux shortens to 15 bytes).
fn helper_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim_end() == "stratacache-sto")
        .count()
}

/// A store whose every call hangs until it is released.
#[derive(Default)]
struct Hung {
    released: Mutex<bool>,
    release: Condvar,
}

impl Hung {
    fn hang(&self) {
        let mut r = self.released.lock();
        while !*r {
            self.release.wait(&mut r);
        }
    }
    fn free(&self) {
        *self.released.lock() = true;
        self.release.notify_all();
    }
}

impl Store<u32, u32> for Hung {
    type Error = MemoryStoreError;
    fn load(&self, _: &u32) -> Result<Option<u32>, MemoryStoreError> {
        self.hang();
        Ok(None)
    }
    fn write(&self, _: &u32, _: &u32) -> Result<(), MemoryStoreError> {
        self.hang();
        Ok(())
    }
    fn delete(&self, _: &u32) -> Result<(), MemoryStoreError> {
        self.hang();
        Ok(())
    }
}

#[test]
fn a_hung_store_holds_at_most_max_store_threads() {
    const MAX: usize = 4;
    let store = Arc::new(Hung::default());
    let options = PolicyOptions::new()
        .timeout(Duration::from_millis(5))
        .max_store_threads(MAX);
    let reads = CacheAside::with_options(Cache::new(1_000), store.clone(), options.clone());
    let writes = WriteThrough::with_options(Cache::new(1_000), store.clone(), options);
    for k in 0..100 {
        assert_eq!(reads.get(&k).unwrap_err().kind(), ErrorKind::Timeout);
        assert_eq!(writes.put(k, k).unwrap_err().kind(), ErrorKind::Timeout);
        // Two policies, each bounded by MAX.
        assert!(
            helper_threads() <= 2 * MAX,
            "{} helper threads",
            helper_threads()
        );
    }
    assert_eq!(
        helper_threads(),
        2 * MAX,
        "the hung calls hold every helper"
    );
    // The store recovers: the helpers finish their calls and end, and calls work again.
    store.free();
    let mut left = helper_threads();
    for _ in 0..2_000 {
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
        left = helper_threads();
    }
    assert_eq!(left, 0, "helper threads outlived their calls");
    assert_eq!(reads.get(&1).unwrap(), None);
}
