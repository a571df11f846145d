//! [`SqliteStore`]: values in a SQLite table: the store's own key-value table (keys and values
//! encoded with serde through postcard) or a table of the user's described by a [`SqliteTable`].

use super::table::{Driver, MapError, Params, Table, postcard_kv, valid_name};
use super::{Store, WriteOp};
use parking_lot::Mutex;
use rusqlite::{Connection, params_from_iter};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// How long a call waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite driver of a [`Table`] (feature `sqlite`).
#[derive(Debug)]
pub enum Sqlite {}

impl Driver for Sqlite {
    type Param = dyn rusqlite::ToSql + Send + Sync;
    type Row<'a> = rusqlite::Row<'a>;
}

impl Params<Sqlite> {
    /// Appends a parameter.
    pub fn push(&mut self, value: impl rusqlite::ToSql + Send + Sync + 'static) -> &mut Self {
        self.0.push(Box::new(value));
        self
    }
}

/// A SQLite table of the user's, as [`SqliteStore::open_with_table`] reads and writes it
/// (feature `sqlite`): see [`Table`]. Parameters are `?1`, `?2`…
///
/// # Examples
///
/// ```
/// use stratacache::{SqliteStore, SqliteTable, Store};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User { name: String, email: String }
///
/// let users = SqliteTable::new(
///     "SELECT name, email FROM users WHERE id = ?1",
///     "INSERT INTO users (id, name, email) VALUES (?1, ?2, ?3)
///      ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email",
///     "DELETE FROM users WHERE id = ?1",
///     |id: &i64, p| { p.push(*id); Ok(()) },
///     |u: &User, p| { p.push(u.name.clone()).push(u.email.clone()); Ok(()) },
///     |row| Ok(User { name: row.get(0)?, email: row.get(1)? }),
/// )
/// .create("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, name TEXT, email TEXT)");
/// let store = SqliteStore::in_memory_with_table(users)?;
/// let alice = User { name: "alice".into(), email: "a@example.com".into() };
/// store.write(&9, &alice)?;
/// assert_eq!(store.load(&9)?, Some(alice));
/// store.delete(&9)?;
/// assert_eq!(store.load(&9)?, None);
/// # Ok::<(), stratacache::SqliteStoreError>(())
/// ```
pub type SqliteTable<K, V> = Table<K, V, Sqlite>;

impl<K, V> SqliteTable<K, V>
where
    K: Serialize + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// The store's own layout: table `name (k BLOB PRIMARY KEY, v BLOB)`, created if absent,
    /// keys and values encoded with serde through postcard. `name` must be letters, digits and
    /// `_`, not starting with a digit.
    pub fn kv(name: &str) -> Result<Self, SqliteStoreError> {
        if !valid_name(name) {
            return Err(SqliteStoreError(Inner::Table(name.to_owned())));
        }
        // Quoted, so that a name SQL reserves (`order`, `user`) works too.
        let q = format!("\"{name}\"");
        Ok(postcard_kv(
            [
                format!("SELECT v FROM {q} WHERE k = ?1"),
                format!("INSERT OR REPLACE INTO {q} (k, v) VALUES (?1, ?2)"),
                format!("DELETE FROM {q} WHERE k = ?1"),
                format!(
                    "CREATE TABLE IF NOT EXISTS {q} (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID"
                ),
                format!("SELECT COUNT(*) FROM {q}"),
            ],
            |p, bytes| {
                p.push(bytes);
            },
            |row| Ok(row.get(0)?),
        ))
    }
}

/// A [`Store`] on a SQLite table `(k BLOB PRIMARY KEY, v BLOB)`: the embedded default store for
/// examples and single-machine services. SQLite is compiled into the crate (rusqlite's `bundled`
/// feature), so nothing is installed.
///
/// [`open`](Self::open) keeps keys and values encoded with serde through `postcard` in the
/// store's own table; [`open_with_table`](Self::open_with_table) reads and writes a table of
/// the user's through the statements and mapping of a [`SqliteTable`]. `write_batch` runs in one
/// transaction, so a batch is all or nothing. A file database uses WAL journaling with
/// `synchronous = NORMAL`: a committed write survives a crash of the process, and a power cut may
/// lose the last commits; [`with_full_sync`](Self::with_full_sync) syncs every commit. Feature
/// `sqlite`.
///
/// # Examples
///
/// ```
/// use stratacache::{SqliteStore, Store};
/// let store: SqliteStore<u64, String> = SqliteStore::open_in_memory()?;
/// store.write(&1, &"one".to_string())?;
/// assert_eq!(store.load(&1)?, Some("one".to_string()));
/// # Ok::<(), stratacache::SqliteStoreError>(())
/// ```
pub struct SqliteStore<K, V> {
    conn: Mutex<Connection>,
    table: SqliteTable<K, V>,
    latency: Duration,
}

/// A failure of a [`SqliteStore`]: SQLite's error, an encoding error, or a bad table name.
#[derive(Debug)]
pub struct SqliteStoreError(Inner);

#[derive(Debug)]
enum Inner {
    Sqlite(rusqlite::Error),
    Map(MapError),
    Table(String),
    Count,
    Rows,
}

impl fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Sqlite(e) => write!(f, "sqlite: {e}"),
            Inner::Map(e) => write!(f, "sqlite store mapping: {e}"),
            Inner::Count => write!(f, "sqlite store: the table has no count statement"),
            Inner::Rows => write!(f, "sqlite store: the select returned more than one row"),
            Inner::Table(t) => write!(
                f,
                "sqlite store: table name {t:?} must be letters, digits and '_', not starting with a digit"
            ),
        }
    }
}

impl std::error::Error for SqliteStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Inner::Sqlite(e) => Some(e),
            Inner::Map(e) => Some(&**e),
            Inner::Table(_) | Inner::Count | Inner::Rows => None,
        }
    }
}

fn sql(e: rusqlite::Error) -> SqliteStoreError {
    SqliteStoreError(Inner::Sqlite(e))
}

fn map(e: MapError) -> SqliteStoreError {
    SqliteStoreError(Inner::Map(e))
}

impl<K, V> SqliteStore<K, V>
where
    K: Serialize + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Opens (or creates) the database file at `path`, with the table `kv`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteStoreError> {
        Self::open_table(path, "kv")
    }

    /// Opens (or creates) the database file at `path`, with the table `table`.
    pub fn open_table(path: impl AsRef<Path>, table: &str) -> Result<Self, SqliteStoreError> {
        Self::open_with_table(path, SqliteTable::kv(table)?)
    }

    /// A private in-memory database, gone when the store is dropped.
    pub fn open_in_memory() -> Result<Self, SqliteStoreError> {
        Self::in_memory_with_table(SqliteTable::kv("kv")?)
    }
}

impl<K, V> SqliteStore<K, V> {
    /// Opens (or creates) the database file at `path`, reading and writing the user's table
    /// through `table` (its `create` statement, if any, runs first). WAL journaling, as
    /// [`open`](Self::open).
    pub fn open_with_table(
        path: impl AsRef<Path>,
        table: SqliteTable<K, V>,
    ) -> Result<Self, SqliteStoreError> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        Self::with_connection(conn, table)
    }

    /// A private in-memory database with `table` (whose `create` statement makes it).
    pub fn in_memory_with_table(table: SqliteTable<K, V>) -> Result<Self, SqliteStoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(sql)?, table)
    }

    fn with_connection(
        conn: Connection,
        table: SqliteTable<K, V>,
    ) -> Result<Self, SqliteStoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        if let Some(create) = &table.create {
            conn.execute_batch(create).map_err(sql)?;
        }
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            table,
            latency: Duration::ZERO,
        })
    }

    /// Syncs every commit to the disk (`PRAGMA synchronous = FULL`), so that a committed write
    /// survives a power cut too; each write then costs a sync of the WAL file.
    ///
    /// # Errors
    ///
    /// SQLite refused the setting.
    pub fn with_full_sync(self) -> Result<Self, SqliteStoreError> {
        self.conn
            .lock()
            .pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        Ok(self)
    }

    /// Every call sleeps `latency` first (a batch sleeps once): a stand-in for a database across
    /// a network, for examples and benchmarks.
    #[must_use]
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// The number of rows (by the table's `count` statement; the `kv` layout has one).
    pub fn len(&self) -> Result<u64, SqliteStoreError> {
        let count = self
            .table
            .count
            .as_deref()
            .ok_or(SqliteStoreError(Inner::Count))?;
        let conn = self.conn.lock();
        let n: i64 = conn.query_row(count, [], |r| r.get(0)).map_err(sql)?;
        Ok(n.unsigned_abs())
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> Result<bool, SqliteStoreError> {
        Ok(self.len()? == 0)
    }

    fn delay(&self) {
        if !self.latency.is_zero() {
            std::thread::sleep(self.latency);
        }
    }
}

impl<K, V> Store<K, V> for SqliteStore<K, V>
where
    K: Send + Sync,
    V: Send + Sync,
{
    type Error = SqliteStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, SqliteStoreError> {
        self.delay();
        let params = self.table.key_params(key).map_err(map)?;
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(&self.table.select).map_err(sql)?;
        let mut rows = stmt.query(params_from_iter(params.0.iter())).map_err(sql)?;
        let Some(row) = rows.next().map_err(sql)? else {
            return Ok(None);
        };
        let value = self.table.value_of(row).map_err(map)?;
        if rows.next().map_err(sql)?.is_some() {
            return Err(SqliteStoreError(Inner::Rows));
        }
        Ok(Some(value))
    }

    fn write(&self, key: &K, value: &V) -> Result<(), SqliteStoreError> {
        self.delay();
        let params = self.table.upsert_params(key, value).map_err(map)?;
        run(&self.conn.lock(), &self.table.upsert, &params)
    }

    fn delete(&self, key: &K) -> Result<(), SqliteStoreError> {
        self.delay();
        let params = self.table.key_params(key).map_err(map)?;
        run(&self.conn.lock(), &self.table.delete, &params)
    }

    /// One transaction: all of the batch or none of it.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), SqliteStoreError> {
        self.delay();
        // Map before taking the connection, so that a bad value fails the batch up front.
        let mapped = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put(k, v) => Ok((&self.table.upsert, self.table.upsert_params(k, v)?)),
                WriteOp::Delete(k) => Ok((&self.table.delete, self.table.key_params(k)?)),
            })
            .collect::<Result<Vec<_>, MapError>>()
            .map_err(map)?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(sql)?;
        for (statement, params) in &mapped {
            run(&tx, statement, params)?;
        }
        tx.commit().map_err(sql)
    }
}

fn run(
    conn: &Connection,
    statement: &str,
    params: &Params<Sqlite>,
) -> Result<(), SqliteStoreError> {
    conn.prepare_cached(statement)
        .and_then(|mut s| s.execute(params_from_iter(params.0.iter())))
        .map(drop)
        .map_err(sql)
}

impl<K, V> fmt::Debug for SqliteStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("select", &self.table.select)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}
