//! The PostgreSQL store against a real server: the shared store scenarios on the store's own
//! `kv` layout and on a table of the user's, through the sync and the async faces; a server
//! that does not answer; mapping errors.
//!
//! Tests that need PostgreSQL read `STRATACACHE_POSTGRES_URL` (a tokio-postgres connection
//! string; `.ci/run` starts a server and sets it). Without it they show as ignored, with the
//! reason (`build.rs` sets the cfg `stratacache_postgres` when the variable is set), and under
//! `CI=true` the check `postgres_is_configured_under_ci` fails.
#![cfg(feature = "postgres")]

mod common;

use common::runtime::rt;
use common::stores::{self, Profile, profile};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use stratacache::{PgTable, PostgresStore, Store, future};

fn url() -> String {
    std::env::var("STRATACACHE_POSTGRES_URL")
        .expect("STRATACACHE_POSTGRES_URL was set when this test was built; set it again to run it")
}

#[test]
fn postgres_is_configured_under_ci() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        assert!(
            std::env::var("STRATACACHE_POSTGRES_URL").is_ok_and(|u| !u.is_empty()),
            "CI=true but STRATACACHE_POSTGRES_URL is not set: the PostgreSQL tests would not run"
        );
        let built_with_postgres = cfg!(stratacache_postgres);
        assert!(
            built_with_postgres,
            "CI=true but the PostgreSQL tests were built without STRATACACHE_POSTGRES_URL"
        );
    }
}

/// A table name no other test or run shares.
fn unique(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t{}_{test}_{nanos}", std::process::id())
}

/// The user's own table (made here as another program would), with a constraint the database
/// enforces.
fn profiles(name: &str) -> PgTable<u64, Profile> {
    PgTable::new(
        format!("SELECT name, email FROM {name} WHERE id = $1"),
        format!(
            "INSERT INTO {name} (id, name, email) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email"
        ),
        format!("DELETE FROM {name} WHERE id = $1"),
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
                name: row.try_get(0)?,
                email: row.try_get(1)?,
            })
        },
    )
    .count(format!("SELECT COUNT(*) FROM {name}"))
}

fn create_profiles(name: &str) {
    let store: PostgresStore<u64, u64> = PostgresStore::connect_with_table(
        &url(),
        PgTable::new(
            "SELECT 1",
            "SELECT 1",
            "SELECT 1",
            |_, _| Ok(()),
            |_, _| Ok(()),
            |_| Ok(0),
        )
        .create(format!(
            "CREATE TABLE {name} (id BIGINT PRIMARY KEY, name TEXT NOT NULL CHECK (name <> ''),
                                      email TEXT NOT NULL, created TIMESTAMPTZ DEFAULT now());
                 INSERT INTO {name} (id, name, email) VALUES (9, 'Ada', 'ada@example.com');"
        )),
    )
    .unwrap();
    drop(store);
}

#[test]
#[cfg_attr(
    not(stratacache_postgres),
    ignore = "needs PostgreSQL: set STRATACACHE_POSTGRES_URL (.ci/run starts a server)"
)]
fn the_kv_layout_keeps_the_shared_store_scenarios() {
    let store: PostgresStore<u64, Profile> =
        PostgresStore::connect_table(&url(), &unique("kv")).unwrap();
    stores::round_trip(&store);
    stores::batches(&store, false);
    stores::policies(Arc::new(store));
}

#[test]
#[cfg_attr(
    not(stratacache_postgres),
    ignore = "needs PostgreSQL: set STRATACACHE_POSTGRES_URL (.ci/run starts a server)"
)]
fn a_table_of_the_users_keeps_the_shared_store_scenarios() {
    let name = unique("profiles");
    create_profiles(&name);
    let store = PostgresStore::connect_with_table(&url(), profiles(&name)).unwrap();
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
    let store = Arc::new(store);
    stores::policies(Arc::clone(&store));
    assert!(store.len().unwrap() > 300);
    let e = store.write(&u64::MAX, &profile(1)).unwrap_err();
    assert!(e.to_string().contains("mapping"), "{e}");
}

#[test]
#[cfg_attr(
    not(stratacache_postgres),
    ignore = "needs PostgreSQL: set STRATACACHE_POSTGRES_URL (.ci/run starts a server)"
)]
fn the_async_face_keeps_the_shared_store_scenarios() {
    rt().block_on(async {
        let kv: future::PostgresStore<u64, Profile> =
            future::PostgresStore::connect_table(&url(), &unique("akv"))
                .await
                .unwrap();
        stores::async_policies(Arc::new(kv)).await;
        let name = unique("aprofiles");
        tokio::task::spawn_blocking({
            let name = name.clone();
            move || create_profiles(&name)
        })
        .await
        .unwrap();
        let users = future::PostgresStore::connect_with_table(&url(), profiles(&name))
            .await
            .unwrap();
        stores::async_policies(Arc::new(users.clone())).await;
        assert_eq!(
            users.len().await.unwrap(),
            300,
            "Ada and 299 of the 300 writes"
        );
    });
}

#[test]
#[cfg_attr(
    not(stratacache_postgres),
    ignore = "needs PostgreSQL: set STRATACACHE_POSTGRES_URL (.ci/run starts a server)"
)]
fn concurrent_callers_share_a_bounded_pool() {
    let store: Arc<PostgresStore<u64, u64>> = Arc::new(
        PostgresStore::connect_with(
            &url(),
            PgTable::kv(&unique("pool")).unwrap(),
            2,
            Duration::from_secs(5),
        )
        .unwrap(),
    );
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for i in 0..50 {
                    store.write(&(t * 1000 + i), &i).unwrap();
                    assert_eq!(store.load(&(t * 1000 + i)).unwrap(), Some(i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(store.len().unwrap(), 400);
}

/// A server that accepts connections and never answers: connecting fails with a timeout, not a
/// hang. (Needs no PostgreSQL.)
#[test]
fn a_server_that_never_answers_times_out() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let e = PostgresStore::<u64, u64>::connect_with(
        &format!("host=127.0.0.1 port={port} user=x"),
        PgTable::kv("kv").unwrap(),
        1,
        Duration::from_millis(300),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("within") || e.to_string().contains("timed out"),
        "{e}"
    );
    drop(silent);
}

#[test]
fn bad_settings_are_errors() {
    let e = PgTable::<u64, u64>::kv("x; DROP TABLE y").unwrap_err();
    assert!(e.to_string().contains("table name"), "{e}");
    let e = PostgresStore::<u64, u64>::connect_with(
        "host=127.0.0.1",
        PgTable::kv("kv").unwrap(),
        0,
        Duration::from_secs(1),
    )
    .unwrap_err();
    assert!(e.to_string().contains("pool size"), "{e}");
    let e = PostgresStore::<u64, u64>::connect("port=notanumber").unwrap_err();
    assert!(e.to_string().contains("postgres"), "{e}");
}
