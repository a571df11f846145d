//! [`PostgresStore`]: values in a PostgreSQL table, the store's own key-value table or a table
//! of the user's described by a [`PgTable`]. One core ([`PgCore`]: a pool of tokio-postgres
//! connections with the table's statements prepared on each) serves both faces: the async
//! `future::PostgresStore` awaits it, and the sync `PostgresStore` runs it on a private
//! one-thread runtime, as the `postgres` crate does with tokio-postgres.

use super::table::{Driver, MapError, Params, Table, postcard_kv, valid_name};
use super::{Store, WriteOp};
use parking_lot::Mutex;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Statement};

/// How many connections a store opens at most by default: enough for a flusher and a few
/// concurrent loads on a small service; each PostgreSQL connection is a server process.
pub const DEFAULT_PG_POOL_SIZE: usize = 8;

/// How long a call may take by default before it fails with a timeout (its connection is then
/// closed, since the server may still be working on it). Also the connect timeout.
pub const DEFAULT_PG_TIMEOUT: Duration = Duration::from_secs(5);

/// The PostgreSQL driver of a [`Table`] (feature `postgres`).
#[derive(Debug)]
pub enum Postgres {}

impl Driver for Postgres {
    type Param = dyn ToSql + Send + Sync;
    type Row<'a> = tokio_postgres::Row;
}

impl Params<Postgres> {
    /// Appends a parameter.
    pub fn push(&mut self, value: impl ToSql + Send + Sync + 'static) -> &mut Self {
        self.0.push(Box::new(value));
        self
    }
}

/// A PostgreSQL table of the user's, as [`PostgresStore::connect_with_table`] reads and writes
/// it (feature `postgres`): see [`Table`]. Parameters are `$1`, `$2`…; PostgreSQL checks their
/// types, so push the Rust type of each column (`i64` for `BIGINT`, `String` for `TEXT`).
///
/// # Examples
///
/// ```no_run
/// use stratacache::{PgTable, PostgresStore, Store};
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct User { name: String, email: String }
///
/// let users = PgTable::new(
///     "SELECT name, email FROM users WHERE id = $1",
///     "INSERT INTO users (id, name, email) VALUES ($1, $2, $3)
///      ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email",
///     "DELETE FROM users WHERE id = $1",
///     |id: &i64, p| { p.push(*id); Ok(()) },
///     |u: &User, p| { p.push(u.name.clone()).push(u.email.clone()); Ok(()) },
///     |row| Ok(User { name: row.try_get(0)?, email: row.try_get(1)? }),
/// );
/// let store = PostgresStore::connect_with_table("host=127.0.0.1 user=postgres", users)?;
/// store.write(&9, &User { name: "alice".into(), email: "a@example.com".into() })?;
/// # Ok::<(), stratacache::PostgresStoreError>(())
/// ```
pub type PgTable<K, V> = Table<K, V, Postgres>;

impl<K, V> PgTable<K, V>
where
    K: Serialize + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// The store's own layout: table `name (k BYTEA PRIMARY KEY, v BYTEA)`, created if absent,
    /// keys and values encoded with serde through postcard. `name` must be letters, digits and
    /// `_`, not starting with a digit.
    pub fn kv(name: &str) -> Result<Self, PostgresStoreError> {
        if !valid_name(name) {
            return Err(PostgresStoreError(Inner::Table(name.to_owned())));
        }
        // Quoted, so that a name SQL reserves (`order`, `user`) works too.
        let q = format!("\"{name}\"");
        Ok(postcard_kv(
            [
                format!("SELECT v FROM {q} WHERE k = $1"),
                format!(
                    "INSERT INTO {q} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
                ),
                format!("DELETE FROM {q} WHERE k = $1"),
                format!("CREATE TABLE IF NOT EXISTS {q} (k BYTEA PRIMARY KEY, v BYTEA NOT NULL)"),
                format!("SELECT COUNT(*) FROM {q}"),
            ],
            |p, bytes| {
                p.push(bytes);
            },
            |row| Ok(row.try_get(0)?),
        ))
    }
}

/// A failure of a PostgreSQL store: the server's or the connection's error, a mapping error, a
/// timeout, a select that returned several rows, or a bad setting.
#[derive(Debug)]
pub struct PostgresStoreError(Inner);

#[derive(Debug)]
enum Inner {
    Pg(tokio_postgres::Error),
    Map(MapError),
    Timeout(Duration),
    Rows,
    Count,
    Table(String),
    PoolSize,
    Runtime(std::io::Error),
}

impl fmt::Display for PostgresStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Pg(e) => write!(f, "postgres: {e}"),
            Inner::Map(e) => write!(f, "postgres store mapping: {e}"),
            Inner::Timeout(d) => write!(f, "postgres store: no answer within {d:?}"),
            Inner::Rows => write!(f, "postgres store: the select returned more than one row"),
            Inner::Count => write!(f, "postgres store: the table has no count statement"),
            Inner::Table(t) => write!(
                f,
                "postgres store: table name {t:?} must be letters, digits and '_', not starting with a digit"
            ),
            Inner::PoolSize => write!(f, "postgres store: the pool size must be at least 1"),
            Inner::Runtime(e) => write!(f, "postgres store: cannot start its runtime: {e}"),
        }
    }
}

impl std::error::Error for PostgresStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Inner::Pg(e) => Some(e),
            Inner::Map(e) => Some(&**e),
            Inner::Runtime(e) => Some(e),
            Inner::Timeout(_) | Inner::Rows | Inner::Count | Inner::Table(_) | Inner::PoolSize => {
                None
            }
        }
    }
}

fn pg(e: tokio_postgres::Error) -> PostgresStoreError {
    PostgresStoreError(Inner::Pg(e))
}

fn map(e: MapError) -> PostgresStoreError {
    PostgresStoreError(Inner::Map(e))
}

/// One connection with the table's statements prepared on it.
struct Conn {
    client: Client,
    select: Statement,
    upsert: Statement,
    delete: Statement,
}

/// The statement parameters as tokio-postgres takes them.
fn refs(params: &Params<Postgres>) -> Vec<&(dyn ToSql + Sync)> {
    params
        .0
        .iter()
        .map(|p| &**p as &(dyn ToSql + Sync))
        .collect()
}

/// The engine of both faces: a bounded pool of connections, the table, the timeout.
pub(crate) struct PgCore<K, V> {
    config: Config,
    table: PgTable<K, V>,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
    timeout: Duration,
}

impl<K, V> PgCore<K, V> {
    /// Connects once (so that a wrong address fails here, not at the first load) and runs the
    /// table's `create` statement.
    pub(crate) async fn connect(
        params: &str,
        table: PgTable<K, V>,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<Self, PostgresStoreError> {
        if pool_size == 0 {
            return Err(PostgresStoreError(Inner::PoolSize));
        }
        let mut config: Config = params.parse().map_err(pg)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(timeout);
        }
        let core = PgCore {
            config,
            table,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(pool_size),
            timeout,
        };
        let first = core
            .timed(async {
                // The table's `create` statement runs once, before the statements are prepared.
                let client = core.connect_client().await?;
                if let Some(create) = &core.table.create {
                    client.batch_execute(create).await.map_err(pg)?;
                }
                core.prepare(client).await
            })
            .await?;
        core.idle.lock().push(first);
        Ok(core)
    }

    /// A new connection whose statements the server itself cancels after the timeout, so that
    /// a call that timed out here is, as a rule, not still running there.
    async fn connect_client(&self) -> Result<Client, PostgresStoreError> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(pg)?;
        // The connection's I/O runs as a task of the current runtime; it ends when the client
        // is dropped or the server goes away (the client then reports itself closed).
        tokio::spawn(connection);
        let ms = self.timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET statement_timeout = {ms}"))
            .await
            .map_err(pg)?;
        Ok(client)
    }

    async fn open(&self) -> Result<Conn, PostgresStoreError> {
        let client = self.connect_client().await?;
        self.prepare(client).await
    }

    async fn prepare(&self, client: Client) -> Result<Conn, PostgresStoreError> {
        Ok(Conn {
            select: client.prepare(&self.table.select).await.map_err(pg)?,
            upsert: client.prepare(&self.table.upsert).await.map_err(pg)?,
            delete: client.prepare(&self.table.delete).await.map_err(pg)?,
            client,
        })
    }

    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, PostgresStoreError>>,
    ) -> Result<T, PostgresStoreError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| PostgresStoreError(Inner::Timeout(self.timeout)))?
    }

    /// Runs `work` on a pooled connection (opening one if none is idle), within the timeout. The
    /// connection goes back to the pool only if the work finished and it is still open: after a
    /// timeout or a lost server it is dropped, and the next call opens a fresh one.
    async fn with_conn<T>(
        &self,
        work: impl AsyncFnOnce(&mut Conn) -> Result<T, PostgresStoreError>,
    ) -> Result<T, PostgresStoreError> {
        // Waiting for a connection counts against the call's timeout too.
        self.timed(async {
            let _permit = self
                .permits
                .acquire()
                .await
                .expect("the pool's semaphore is never closed");
            let idle = self.idle.lock().pop();
            let mut conn = match idle {
                Some(c) if !c.client.is_closed() => c,
                _ => self.open().await?,
            };
            let result = work(&mut conn).await;
            if !conn.client.is_closed() {
                self.idle.lock().push(conn);
            }
            result
        })
        .await
    }

    pub(crate) async fn load(&self, key: &K) -> Result<Option<V>, PostgresStoreError> {
        let params = self.table.key_params(key).map_err(map)?;
        let rows = self
            .with_conn(async |c: &mut Conn| {
                c.client.query(&c.select, &refs(&params)).await.map_err(pg)
            })
            .await?;
        match rows.as_slice() {
            [] => Ok(None),
            [row] => self.table.value_of(row).map(Some).map_err(map),
            _ => Err(PostgresStoreError(Inner::Rows)),
        }
    }

    pub(crate) async fn write(&self, key: &K, value: &V) -> Result<(), PostgresStoreError> {
        let params = self.table.upsert_params(key, value).map_err(map)?;
        self.with_conn(async |c: &mut Conn| {
            c.client
                .execute(&c.upsert, &refs(&params))
                .await
                .map(drop)
                .map_err(pg)
        })
        .await
    }

    pub(crate) async fn delete(&self, key: &K) -> Result<(), PostgresStoreError> {
        let params = self.table.key_params(key).map_err(map)?;
        self.with_conn(async |c: &mut Conn| {
            c.client
                .execute(&c.delete, &refs(&params))
                .await
                .map(drop)
                .map_err(pg)
        })
        .await
    }

    /// One transaction: all of the batch or none of it.
    pub(crate) async fn write_batch(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> Result<(), PostgresStoreError> {
        // Map before taking a connection, so that a bad value fails the batch up front.
        let mapped = ops
            .iter()
            .map(|op| match op {
                WriteOp::Put(k, v) => Ok((true, self.table.upsert_params(k, v)?)),
                WriteOp::Delete(k) => Ok((false, self.table.key_params(k)?)),
            })
            .collect::<Result<Vec<_>, MapError>>()
            .map_err(map)?;
        self.with_conn(async |c: &mut Conn| {
            let tx = c.client.transaction().await.map_err(pg)?;
            for (put, params) in &mapped {
                let statement = if *put { &c.upsert } else { &c.delete };
                tx.execute(statement, &refs(params)).await.map_err(pg)?;
            }
            tx.commit().await.map_err(pg)
        })
        .await
    }

    pub(crate) async fn len(&self) -> Result<u64, PostgresStoreError> {
        let count = self
            .table
            .count
            .as_deref()
            .ok_or(PostgresStoreError(Inner::Count))?;
        let row = self
            .with_conn(async |c: &mut Conn| c.client.query_one(count, &[]).await.map_err(pg))
            .await?;
        let n: i64 = row.try_get(0).map_err(pg)?;
        Ok(n.unsigned_abs())
    }
}

/// A [`Store`] on a PostgreSQL table (feature `postgres`): the store's own key-value table
/// ([`connect`](Self::connect): `"kv" (k BYTEA PRIMARY KEY, v BYTEA)`, keys and values encoded
/// with serde through postcard) or a table of the user's through the statements and row
/// mapping of a [`PgTable`] ([`connect_with_table`](Self::connect_with_table)).
///
/// - Connections: a pool of at most [`DEFAULT_PG_POOL_SIZE`] (see
///   [`connect_with`](Self::connect_with)), opened as needed, each with the table's statements
///   prepared. A connection the server dropped is replaced on the next call.
/// - Every call, waiting for a connection and connecting included, fails with a timeout after
///   [`DEFAULT_PG_TIMEOUT`], rather than hanging on a server that does not answer. The server
///   cancels the statements of its connections after the same time (`statement_timeout`), but a
///   write that timed out may still have committed: as with any store error, write-through then
///   leaves the cache as it was. A [`PolicyOptions::timeout`](crate::PolicyOptions::timeout)
///   shorter than the store's makes the policy treat the write as possibly applied (it drops the
///   cached copy when the write lands).
/// - `write_batch` runs in one transaction: all of the batch or none of it.
/// - The connection string is tokio-postgres's (`host=… port=… user=… dbname=…` or a
///   `postgresql://` URL); connections are without TLS (a loopback or private network).
///
/// This sync face runs the async one (`future::PostgresStore`) on a private runtime with one
/// thread, so it must not be called from inside an async task (as with the `postgres` crate):
/// async services use `future::PostgresStore`.
///
/// # Examples
///
/// ```no_run
/// use stratacache::{Cache, PostgresStore, WriteThrough};
///
/// let store: PostgresStore<u64, String> = PostgresStore::connect("host=127.0.0.1 user=postgres")?;
/// let users = WriteThrough::new(Cache::new(10_000), store);
/// users.put(9, "alice".to_string())?;
/// assert_eq!(users.get(&9)?.as_deref(), Some("alice"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PostgresStore<K, V> {
    core: Arc<PgCore<K, V>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl<K, V> PostgresStore<K, V>
where
    K: Serialize + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Connects to the server `params` names and uses (creating it if absent) the table `kv`.
    pub fn connect(params: &str) -> Result<Self, PostgresStoreError> {
        Self::connect_with_table(params, PgTable::kv("kv")?)
    }

    /// As [`connect`](Self::connect), with the table `table`.
    pub fn connect_table(params: &str, table: &str) -> Result<Self, PostgresStoreError> {
        Self::connect_with_table(params, PgTable::kv(table)?)
    }
}

impl<K, V> PostgresStore<K, V> {
    /// Connects to the server `params` names and reads and writes the user's table through
    /// `table` (its `create` statement, if any, runs on every new connection).
    pub fn connect_with_table(
        params: &str,
        table: PgTable<K, V>,
    ) -> Result<Self, PostgresStoreError> {
        Self::connect_with(params, table, DEFAULT_PG_POOL_SIZE, DEFAULT_PG_TIMEOUT)
    }

    /// As [`connect_with_table`](Self::connect_with_table), with at most `pool_size`
    /// connections (at least 1) and calls that fail after `timeout`.
    pub fn connect_with(
        params: &str,
        table: PgTable<K, V>,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<Self, PostgresStoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("stratacache-postgres")
            .enable_all()
            .build()
            .map_err(|e| PostgresStoreError(Inner::Runtime(e)))?;
        let core = runtime.block_on(PgCore::connect(params, table, pool_size, timeout))?;
        Ok(PostgresStore {
            core: Arc::new(core),
            runtime: Some(runtime),
        })
    }

    fn block_on<T>(&self, work: impl Future<Output = T>) -> T {
        self.runtime
            .as_ref()
            .expect("the runtime lives until the store is dropped")
            .block_on(work)
    }

    /// The number of rows (by the table's `count` statement; the `kv` layout has one).
    pub fn len(&self) -> Result<u64, PostgresStoreError> {
        self.block_on(self.core.len())
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> Result<bool, PostgresStoreError> {
        Ok(self.len()? == 0)
    }
}

impl<K, V> Drop for PostgresStore<K, V> {
    fn drop(&mut self) {
        // Not `Runtime::drop`, which panics when the last handle goes inside an async context.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl<K, V> Store<K, V> for PostgresStore<K, V>
where
    K: Send + Sync,
    V: Send + Sync,
{
    type Error = PostgresStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, PostgresStoreError> {
        self.block_on(self.core.load(key))
    }

    fn write(&self, key: &K, value: &V) -> Result<(), PostgresStoreError> {
        self.block_on(self.core.write(key, value))
    }

    fn delete(&self, key: &K) -> Result<(), PostgresStoreError> {
        self.block_on(self.core.delete(key))
    }

    /// One transaction: all of the batch or none of it.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), PostgresStoreError> {
        self.block_on(self.core.write_batch(ops))
    }
}

impl<K, V> fmt::Debug for PostgresStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("select", &self.core.table.select)
            .field("timeout", &self.core.timeout)
            .finish_non_exhaustive()
    }
}
