//! What every SQL store must do, as scenarios over any `Store<u64, Profile>` (and its async
//! twin): run by `tests/sqlite.rs` (the `kv` layout and a table of the user's) and by
//! `tests/postgres.rs` (both layouts, sync and async faces). One text, every store.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use stratacache::{Cache, CacheAside, Store, WriteBehind, WriteOp, WriteThrough};

/// The value the scenarios store: a row of a `profiles` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub email: String,
}

pub fn profile(id: u64) -> Profile {
    Profile {
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

/// A profile the user's tables refuse by a `CHECK (name <> '')` constraint: the database, not
/// the mapping, fails the write.
pub fn refused() -> Profile {
    Profile {
        name: String::new(),
        email: "nobody@example.com".into(),
    }
}

/// Load, write, overwrite, delete, delete again.
pub fn round_trip<S: Store<u64, Profile>>(store: &S) {
    assert_eq!(store.load(&1).unwrap(), None);
    store.write(&1, &profile(1)).unwrap();
    assert_eq!(store.load(&1).unwrap(), Some(profile(1)));
    store.write(&1, &profile(100)).unwrap();
    assert_eq!(store.load(&1).unwrap(), Some(profile(100)));
    store.delete(&1).unwrap();
    assert_eq!(store.load(&1).unwrap(), None);
    store.delete(&1).unwrap();
    store.write(&u64::from(u32::MAX), &profile(7)).unwrap();
    assert_eq!(store.load(&u64::from(u32::MAX)).unwrap(), Some(profile(7)));
}

/// A batch applies in order; with `refuses_in_database`, a batch the database refuses halfway
/// leaves nothing of itself behind (one transaction).
pub fn batches<S: Store<u64, Profile>>(store: &S, refuses_in_database: bool) {
    store
        .write_batch(&[
            WriteOp::Put(10, profile(10)),
            WriteOp::Put(11, profile(11)),
            WriteOp::Delete(10),
            WriteOp::Put(12, profile(12)),
            WriteOp::Put(11, profile(111)),
        ])
        .unwrap();
    assert_eq!(store.load(&10).unwrap(), None);
    assert_eq!(store.load(&11).unwrap(), Some(profile(111)));
    assert_eq!(store.load(&12).unwrap(), Some(profile(12)));
    if refuses_in_database {
        let err = store
            .write_batch(&[
                WriteOp::Put(13, profile(13)),
                WriteOp::Delete(12),
                WriteOp::Put(14, refused()),
            ])
            .unwrap_err();
        assert!(!err.to_string().is_empty());
        assert_eq!(store.load(&13).unwrap(), None, "half a batch landed");
        assert_eq!(
            store.load(&12).unwrap(),
            Some(profile(12)),
            "half a batch landed"
        );
        assert!(store.write(&14, &refused()).is_err());
        assert_eq!(store.load(&14).unwrap(), None);
    }
}

/// The three policies over the store: write-through and cache-aside read their writes, and
/// write-behind's 300 writes are all in the store after `shutdown`.
pub fn policies<S: Store<u64, Profile> + 'static>(store: Arc<S>) {
    let wt = WriteThrough::new(Cache::new(100), Arc::clone(&store));
    wt.put(1, profile(1)).unwrap();
    assert_eq!(wt.get(&1).unwrap(), Some(profile(1)));
    assert_eq!(store.load(&1).unwrap(), Some(profile(1)));

    let aside = CacheAside::new(Cache::new(100), Arc::clone(&store));
    assert_eq!(aside.get(&1).unwrap(), Some(profile(1)));
    aside.put(1, profile(2)).unwrap();
    assert_eq!(
        aside.cache().get(&1),
        None,
        "cache-aside drops the stale copy"
    );
    assert_eq!(aside.get(&1).unwrap(), Some(profile(2)));
    aside.delete(&1).unwrap();
    assert_eq!(aside.get(&1).unwrap(), None);

    let wb = WriteBehind::builder(Cache::new(50), Arc::clone(&store))
        .flush_interval(Duration::from_millis(1))
        .batch_size(64)
        .build()
        .unwrap();
    for id in 100..400 {
        wb.put(id, profile(id)).unwrap();
    }
    wb.delete(&150).unwrap();
    wb.shutdown().unwrap();
    for id in 100..400 {
        let want = (id != 150).then(|| profile(id));
        assert_eq!(store.load(&id).unwrap(), want, "key {id}");
    }
}

/// The async policies over an async store: the same checks as [`policies`].
#[cfg(feature = "tokio")]
pub async fn async_policies<S: stratacache::future::AsyncStore<u64, Profile>>(store: Arc<S>) {
    use stratacache::future;
    let wt = future::WriteThrough::new(Cache::new(100), Arc::clone(&store));
    wt.put(1, profile(1)).await.unwrap();
    assert_eq!(wt.get(&1).await.unwrap(), Some(profile(1)));
    assert_eq!(store.load(&1).await.unwrap(), Some(profile(1)));

    let aside = future::CacheAside::new(Cache::new(100), Arc::clone(&store));
    aside.put(1, profile(2)).await.unwrap();
    assert_eq!(aside.get(&1).await.unwrap(), Some(profile(2)));
    aside.delete(&1).await.unwrap();
    assert_eq!(aside.get(&1).await.unwrap(), None);

    let wb = future::WriteBehind::builder(Cache::new(50), Arc::clone(&store))
        .flush_interval(Duration::from_millis(1))
        .batch_size(64)
        .build()
        .unwrap();
    for id in 100..400 {
        wb.put(id, profile(id)).await.unwrap();
    }
    wb.delete(&150).await.unwrap();
    wb.shutdown().await.unwrap();
    for id in 100..400 {
        let want = (id != 150).then(|| profile(id));
        assert_eq!(store.load(&id).await.unwrap(), want, "key {id}");
    }
}
