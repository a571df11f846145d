//! [`SqliteStore`]: values in one SQLite table, keys and values encoded with serde (postcard).

use super::codec::{decode, encode};
use super::{Store, WriteOp};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::time::Duration;

/// How long a call waits for a lock held by another connection before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on a SQLite table `(k BLOB PRIMARY KEY, v BLOB)`: the embedded default store for
/// examples and single-machine services. SQLite is compiled into the crate (rusqlite's `bundled`
/// feature), so nothing is installed.
///
/// Keys and values are encoded with serde through `postcard`. `write_batch` runs in one
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
    table: String,
    latency: Duration,
    _types: PhantomData<fn(K, V)>,
}

/// A failure of a [`SqliteStore`]: SQLite's error, an encoding error, or a bad table name.
#[derive(Debug)]
pub struct SqliteStoreError(Inner);

#[derive(Debug)]
enum Inner {
    Sqlite(rusqlite::Error),
    Codec(postcard::Error),
    Table(String),
}

impl fmt::Display for SqliteStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Sqlite(e) => write!(f, "sqlite: {e}"),
            Inner::Codec(e) => write!(f, "sqlite store encoding: {e}"),
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
            Inner::Codec(e) => Some(e),
            Inner::Table(_) => None,
        }
    }
}

fn sql(e: rusqlite::Error) -> SqliteStoreError {
    SqliteStoreError(Inner::Sqlite(e))
}

fn codec(e: postcard::Error) -> SqliteStoreError {
    SqliteStoreError(Inner::Codec(e))
}

impl<K, V> SqliteStore<K, V> {
    /// Opens (or creates) the database file at `path`, with the table `kv`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteStoreError> {
        Self::open_table(path, "kv")
    }

    /// Opens (or creates) the database file at `path`, with the table `table`.
    pub fn open_table(path: impl AsRef<Path>, table: &str) -> Result<Self, SqliteStoreError> {
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        Self::with_connection(conn, table)
    }

    /// A private in-memory database, gone when the store is dropped.
    pub fn open_in_memory() -> Result<Self, SqliteStoreError> {
        Self::with_connection(Connection::open_in_memory().map_err(sql)?, "kv")
    }

    fn with_connection(conn: Connection, table: &str) -> Result<Self, SqliteStoreError> {
        let valid = table
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(SqliteStoreError(Inner::Table(table.to_owned())));
        }
        conn.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (k BLOB PRIMARY KEY NOT NULL, v BLOB NOT NULL) WITHOUT ROWID"
        ))
        .map_err(sql)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            table: table.to_owned(),
            latency: Duration::ZERO,
            _types: PhantomData,
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

    /// The number of rows.
    pub fn len(&self) -> Result<u64, SqliteStoreError> {
        let conn = self.conn.lock();
        let n: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM {}", self.table), [], |r| {
                r.get(0)
            })
            .map_err(sql)?;
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
    K: Serialize + Send + Sync,
    V: Serialize + DeserializeOwned + Send + Sync,
{
    type Error = SqliteStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, SqliteStoreError> {
        self.delay();
        let k = encode(key).map_err(codec)?;
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(&format!("SELECT v FROM {} WHERE k = ?1", self.table))
            .map_err(sql)?;
        let bytes: Option<Vec<u8>> = stmt
            .query_row(params![k], |r| r.get(0))
            .optional()
            .map_err(sql)?;
        drop(stmt);
        drop(conn);
        bytes.map(|b| decode(&b).map_err(codec)).transpose()
    }

    fn write(&self, key: &K, value: &V) -> Result<(), SqliteStoreError> {
        self.delay();
        let (k, v) = (encode(key).map_err(codec)?, encode(value).map_err(codec)?);
        let conn = self.conn.lock();
        put(&conn, &self.table, &k, &v)
    }

    fn delete(&self, key: &K) -> Result<(), SqliteStoreError> {
        self.delay();
        let k = encode(key).map_err(codec)?;
        let conn = self.conn.lock();
        del(&conn, &self.table, &k)
    }

    /// One transaction: all of the batch or none of it.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), SqliteStoreError> {
        self.delay();
        // Encode before taking the connection, so that a bad value fails the batch up front.
        let encoded = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put(k, v) => {
                    Ok((encode(k).map_err(codec)?, Some(encode(v).map_err(codec)?)))
                }
                WriteOp::Delete(k) => Ok((encode(k).map_err(codec)?, None)),
            })
            .collect::<Result<Vec<_>, SqliteStoreError>>()?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(sql)?;
        for (k, v) in &encoded {
            match v {
                Some(v) => put(&tx, &self.table, k, v)?,
                None => del(&tx, &self.table, k)?,
            }
        }
        tx.commit().map_err(sql)
    }
}

fn put(conn: &Connection, table: &str, k: &[u8], v: &[u8]) -> Result<(), SqliteStoreError> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table} (k, v) VALUES (?1, ?2)"
    ))
    .and_then(|mut s| s.execute(params![k, v]))
    .map(drop)
    .map_err(sql)
}

fn del(conn: &Connection, table: &str, k: &[u8]) -> Result<(), SqliteStoreError> {
    conn.prepare_cached(&format!("DELETE FROM {table} WHERE k = ?1"))
        .and_then(|mut s| s.execute(params![k]))
        .map(drop)
        .map_err(sql)
}

impl<K, V> fmt::Debug for SqliteStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.table)
            .field("latency", &self.latency)
            .finish_non_exhaustive()
    }
}
