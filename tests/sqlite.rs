//! `SqliteStore` against a real database file in a temporary directory.
#![cfg(feature = "sqlite")]

mod common;

use common::stores::{self, Profile, profile};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use stratacache::{SqliteStore, SqliteTable, Store, WriteOp};

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

/// The user's own table, written by another program first: the store reads and writes its
/// columns, not a blob.
fn profiles(path: &std::path::Path) -> SqliteStore<u64, Profile> {
    let table = profiles_table("SELECT name, email FROM profiles WHERE id = ?1")
        .count("SELECT COUNT(*) FROM profiles");
    SqliteStore::open_with_table(path, table).unwrap()
}

/// The mapping of the `profiles` table, with this select.
fn profiles_table(select: &str) -> SqliteTable<u64, Profile> {
    SqliteTable::new(
        select,
        "INSERT INTO profiles (id, name, email) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email",
        "DELETE FROM profiles WHERE id = ?1",
        |id: &u64, p| {
            p.push(i64::try_from(*id)?);
            Ok(())
        },
        |v: &Profile, p| {
            p.push(v.name.clone()).push(v.email.clone());
            Ok(())
        },
        |row| {
            Ok(Profile {
                name: row.get(0)?,
                email: row.get(1)?,
            })
        },
    )
}

fn existing_profiles_table(path: &std::path::Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "CREATE TABLE profiles (id INTEGER PRIMARY KEY, name TEXT NOT NULL CHECK (name <> ''),
                                email TEXT NOT NULL, created TEXT DEFAULT 'today');
         INSERT INTO profiles (id, name, email) VALUES (9, 'Ada', 'ada@example.com');",
    )
    .unwrap();
}

#[test]
fn the_kv_layout_keeps_the_shared_store_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let store: SqliteStore<u64, Profile> = SqliteStore::open(dir.path().join("kv.db")).unwrap();
    stores::round_trip(&store);
    stores::batches(&store, false);
    stores::policies(Arc::new(store));
}

#[test]
fn a_table_of_the_users_keeps_the_shared_store_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    existing_profiles_table(&path);
    let store = profiles(&path);
    assert_eq!(
        store.load(&9).unwrap(),
        Some(Profile {
            name: "Ada".into(),
            email: "ada@example.com".into()
        }),
        "a row another program wrote"
    );
    stores::round_trip(&store);
    stores::batches(&store, true);
    stores::policies(Arc::new(profiles(&path)));
    // The rows are the user's columns, readable by any SQLite client.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let name: String = conn
        .query_row("SELECT name FROM profiles WHERE id = 11", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, profile(111).name);
    assert!(store.len().unwrap() > 300);
}

#[test]
fn a_users_table_reports_mapping_errors_and_ambiguous_selects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    existing_profiles_table(&path);
    let store = profiles(&path);
    // A key the mapping cannot express is an error, not a panic or a wrapped id.
    let e = store.write(&u64::MAX, &profile(1)).unwrap_err();
    assert!(e.to_string().contains("mapping"), "{e}");
    // A select that matches several rows is an error, not an arbitrary pick.
    let loose = profiles_table("SELECT name, email FROM profiles WHERE id >= ?1");
    let loose = SqliteStore::open_with_table(&path, loose).unwrap();
    loose.write(&10, &profile(10)).unwrap();
    let e = loose.load(&1).unwrap_err();
    assert!(e.to_string().contains("more than one row"), "{e}");
    assert!(loose.len().unwrap_err().to_string().contains("count"));
}
