//! Timeouts of the async policies run on the runtime's timer: 200 timed-out calls on a hung
//! async store create no thread. The only test in its binary, so that the thread count is its own.
#![cfg(all(feature = "tokio", target_os = "linux"))]

use std::time::Duration;
use stratacache::future::{AsyncStore, CacheAside, WriteThrough};
use stratacache::{Cache, ErrorKind, MemoryStoreError, PolicyOptions};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Every call hangs for good.
struct Hung;

impl AsyncStore<u32, u32> for Hung {
    type Error = MemoryStoreError;
    async fn load(&self, _: &u32) -> Result<Option<u32>, MemoryStoreError> {
        std::future::pending().await
    }
    async fn write(&self, _: &u32, _: &u32) -> Result<(), MemoryStoreError> {
        std::future::pending().await
    }
    async fn delete(&self, _: &u32) -> Result<(), MemoryStoreError> {
        std::future::pending().await
    }
}

#[test]
fn two_hundred_timed_out_calls_on_a_hung_store_create_no_threads() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before = threads();
    rt.block_on(async {
        let options = PolicyOptions::new().timeout(Duration::from_millis(1));
        let reads = CacheAside::with_options(Cache::new(1_000), Hung, options.clone());
        let writes = WriteThrough::with_options(Cache::new(1_000), Hung, options);
        for k in 0..100 {
            assert_eq!(reads.get(&k).await.unwrap_err().kind(), ErrorKind::Timeout);
            assert_eq!(
                writes.put(k, k).await.unwrap_err().kind(),
                ErrorKind::Timeout
            );
        }
    });
    assert_eq!(threads(), before, "timed-out calls started threads");
}
