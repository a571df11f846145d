//! `SqliteStore` against a real database file in a temporary directory.
#![cfg(feature = "sqlite")]

use serde::{Deserialize, Serialize};
use std::time::Duration;
use stratacache::{Cache, SqliteStore, Store, WriteBehind, WriteOp, WriteThrough};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    name: String,
    email: String,
}

fn user(id: u64) -> User {
    User {
        id,
        name: format!("User {id}"),
        email: format!("user{id}@example.com"),
    }
}

#[test]
fn load_write_delete_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.db");
    {
        let store: SqliteStore<u64, User> = SqliteStore::open(&path).unwrap();
        assert_eq!(store.load(&1).unwrap(), None);
        store.write(&1, &user(1)).unwrap();
        store.write(&2, &user(2)).unwrap();
        store.write(&2, &user(22)).unwrap(); // a repeated write replaces
        store.delete(&3).unwrap(); // deleting an absent key succeeds
        assert_eq!(store.load(&2).unwrap(), Some(user(22)));
        assert_eq!(store.len().unwrap(), 2);
    }
    let store: SqliteStore<u64, User> = SqliteStore::open(&path).unwrap();
    assert_eq!(store.load(&1).unwrap(), Some(user(1)));
    store.delete(&1).unwrap();
    assert_eq!(store.load(&1).unwrap(), None);
}

#[test]
fn batch_applies_in_order_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store: SqliteStore<String, u32> = SqliteStore::open(dir.path().join("kv.db")).unwrap();
    store
        .write_batch(&[
            WriteOp::Put("a".into(), 1),
            WriteOp::Put("b".into(), 2),
            WriteOp::Delete("a".into()),
            WriteOp::Put("b".into(), 3),
        ])
        .unwrap();
    assert_eq!(store.load(&"a".into()).unwrap(), None);
    assert_eq!(store.load(&"b".into()).unwrap(), Some(3));
}

#[test]
fn tables_are_separate_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    let a: SqliteStore<u32, u32> = SqliteStore::open_table(&path, "a").unwrap();
    let b: SqliteStore<u32, u32> = SqliteStore::open_table(&path, "b").unwrap();
    a.write(&1, &1).unwrap();
    assert_eq!(b.load(&1).unwrap(), None);
    let e = SqliteStore::<u32, u32>::open_table(&path, "x; DROP TABLE a").unwrap_err();
    assert!(e.to_string().contains("table name"), "{e}");
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    SqliteStore::<u32, String>::open(&path)
        .unwrap()
        .write(&1, &"x".repeat(40))
        .unwrap();
    let wrong: SqliteStore<u32, Vec<User>> = SqliteStore::open(&path).unwrap();
    assert!(wrong.load(&1).is_err());
}

#[test]
fn policies_over_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let wt = WriteThrough::new(
        Cache::new(100),
        SqliteStore::<u64, User>::open(&path).unwrap(),
    );
    wt.put(1, user(1)).unwrap();
    assert_eq!(wt.get(&1).unwrap(), Some(user(1)));
    let wb = WriteBehind::builder(
        Cache::new(100),
        SqliteStore::<u64, User>::open(&path).unwrap(),
    )
    .flush_interval(Duration::from_millis(1))
    .build()
    .unwrap();
    for id in 2..200 {
        wb.put(id, user(id)).unwrap();
    }
    wb.shutdown().unwrap();
    let check: SqliteStore<u64, User> = SqliteStore::open(&path).unwrap();
    assert_eq!(check.len().unwrap(), 199);
    assert_eq!(check.load(&150).unwrap(), Some(user(150)));
}
