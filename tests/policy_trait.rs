//! One policy trait for the three policies (`Policy`, and `future::AsyncPolicy`), chosen at run
//! time behind `Arc<dyn …>`, and write-behind clones that share one queue and close with the last.

use std::sync::Arc;
use stratacache::{
    Cache, CacheAside, ErrorKind, MemoryStore, Policy, Store, WriteBehind, WriteThrough,
};

type Db = Arc<MemoryStore<u32, u64>>;

fn pick(kind: &str, db: &Db) -> Arc<dyn Policy<u32, u64>> {
    let cache = Cache::new(100);
    match kind {
        "aside" => Arc::new(CacheAside::new(cache, db.clone())),
        "through" => Arc::new(WriteThrough::new(cache, db.clone())),
        _ => Arc::new(WriteBehind::builder(cache, db.clone()).build().unwrap()),
    }
}

#[test]
fn every_policy_behind_one_trait() {
    for kind in ["aside", "through", "behind"] {
        let db = Db::default();
        db.write(&9, &90).unwrap();
        let p = pick(kind, &db);
        assert_eq!(p.get_if_present(&9), None, "{kind}");
        assert_eq!(p.get(&9).unwrap(), Some(90), "{kind}");
        assert_eq!(p.get_if_present(&9), Some(90), "{kind}");
        p.put(1, 10).unwrap();
        assert_eq!(p.get(&1).unwrap(), Some(10), "{kind}");
        p.delete(&1).unwrap();
        assert_eq!(p.get(&1).unwrap(), None, "{kind}");
        p.invalidate(&9);
        assert_eq!(p.cache().peek(&9), None, "{kind}");
        p.get(&9).unwrap();
        p.invalidate_all();
        assert!(p.cache().is_empty(), "{kind}");
        let s = p.stats();
        assert!(s.hits + s.misses > 0, "{kind}");
        drop(p);
        assert_eq!(db.peek(&1), None, "{kind}: the delete reached the store");
    }
}

/// Clones of a write-behind policy share its queue: a clone dropped closes nothing, the last
/// one dropped flushes, and `close` on any clone closes them all.
#[test]
fn write_behind_clones_share_one_queue() {
    let db = Db::default();
    let a = WriteBehind::builder(Cache::new(100), db.clone())
        .build()
        .unwrap();
    let b = a.clone();
    b.put(1, 10).unwrap();
    assert_eq!(a.get(&1).unwrap(), Some(10), "one cache");
    drop(b);
    a.put(2, 20).unwrap(); // still open
    let c = a.clone();
    drop(a);
    c.put(3, 30).unwrap();
    drop(c); // the last one: flushes
    assert_eq!(
        (db.peek(&1), db.peek(&2), db.peek(&3)),
        (Some(10), Some(20), Some(30))
    );

    let a = WriteBehind::builder(Cache::new(100), db.clone())
        .build()
        .unwrap();
    let b = a.clone();
    a.close().unwrap();
    assert_eq!(b.put(4, 40).unwrap_err().kind(), ErrorKind::Closed);
}

#[cfg(feature = "tokio")]
mod on_tokio {
    use super::*;
    use stratacache::future::{self, AsyncPolicy, Blocking};

    type AsyncDb = Blocking<Db>;

    fn pick(kind: &str, db: &Db) -> Arc<dyn AsyncPolicy<u32, u64>> {
        let (cache, store): (Cache<u32, u64>, AsyncDb) =
            (Cache::new(100), Blocking::new(db.clone()));
        match kind {
            "aside" => Arc::new(future::CacheAside::new(cache, store)),
            "through" => Arc::new(future::WriteThrough::new(cache, store)),
            _ => Arc::new(future::WriteBehind::builder(cache, store).build().unwrap()),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_async_policy_behind_one_trait() {
        for kind in ["aside", "through", "behind"] {
            let db = Db::default();
            db.write(&9, &90).unwrap();
            let p = pick(kind, &db);
            assert_eq!(p.get_if_present(&9), None, "{kind}");
            assert_eq!(p.get(&9).await.unwrap(), Some(90), "{kind}");
            p.put(1, 10).await.unwrap();
            assert_eq!(p.get(&1).await.unwrap(), Some(10), "{kind}");
            p.delete(&1).await.unwrap();
            assert_eq!(p.get(&1).await.unwrap(), None, "{kind}");
            p.invalidate_all();
            assert!(p.cache().is_empty(), "{kind}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_write_behind_clones_share_one_queue() {
        let db = Db::default();
        let a = future::WriteBehind::builder(Cache::new(100), Blocking::new(db.clone()))
            .build()
            .unwrap();
        let b = a.clone();
        b.put(1, 10).await.unwrap();
        drop(b);
        a.put(2, 20).await.unwrap(); // still open
        let c = a.clone();
        a.close().await.unwrap();
        assert_eq!((db.peek(&1), db.peek(&2)), (Some(10), Some(20)));
        assert_eq!(c.put(3, 30).await.unwrap_err().kind(), ErrorKind::Closed);
    }
}
