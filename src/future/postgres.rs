//! [`PostgresStore`]: the async face of the PostgreSQL store (feature `postgres`). The pool,
//! the statements and the row mapping are the sync store's core; this face awaits it.

use crate::future::AsyncStore;
use crate::store::postgres::PgCore;
use crate::{DEFAULT_PG_POOL_SIZE, DEFAULT_PG_TIMEOUT, PgTable, PostgresStoreError, WriteOp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// An [`AsyncStore`] on a PostgreSQL table (feature `postgres`), on tokio-postgres: the same
/// tables, pool, timeouts and one-transaction batches as the sync
/// [`PostgresStore`](crate::PostgresStore), without a thread of its own. Connections run as
/// tasks of the runtime that opened them. Cheap to clone (clones share the pool).
///
/// # Examples
///
/// ```no_run
/// use stratacache::Cache;
/// use stratacache::future::{PostgresStore, WriteThrough};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store: PostgresStore<u64, String> =
///     PostgresStore::connect("host=127.0.0.1 user=postgres").await?;
/// let users = WriteThrough::new(Cache::new(10_000), store);
/// users.put(9, "alice".to_string()).await?;
/// assert_eq!(users.get(&9).await?.as_deref(), Some("alice"));
/// # Ok(())
/// # }
/// ```
pub struct PostgresStore<K, V> {
    core: Arc<PgCore<K, V>>,
}

impl<K, V> PostgresStore<K, V>
where
    K: Serialize + 'static,
    V: Serialize + DeserializeOwned + 'static,
{
    /// Connects to the server `params` names and uses (creating it if absent) the table `kv`.
    pub async fn connect(params: &str) -> Result<Self, PostgresStoreError> {
        Self::connect_with_table(params, PgTable::kv("kv")?).await
    }

    /// As [`connect`](Self::connect), with the table `table`.
    pub async fn connect_table(params: &str, table: &str) -> Result<Self, PostgresStoreError> {
        Self::connect_with_table(params, PgTable::kv(table)?).await
    }
}

impl<K, V> PostgresStore<K, V> {
    /// Connects and reads and writes the user's table through `table`.
    pub async fn connect_with_table(
        params: &str,
        table: PgTable<K, V>,
    ) -> Result<Self, PostgresStoreError> {
        Self::connect_with(params, table, DEFAULT_PG_POOL_SIZE, DEFAULT_PG_TIMEOUT).await
    }

    /// As [`connect_with_table`](Self::connect_with_table), with at most `pool_size`
    /// connections (at least 1) and calls that fail after `timeout`.
    pub async fn connect_with(
        params: &str,
        table: PgTable<K, V>,
        pool_size: usize,
        timeout: Duration,
    ) -> Result<Self, PostgresStoreError> {
        let core = PgCore::connect(params, table, pool_size, timeout).await?;
        Ok(PostgresStore {
            core: Arc::new(core),
        })
    }

    /// The number of rows (by the table's `count` statement; the `kv` layout has one).
    pub async fn len(&self) -> Result<u64, PostgresStoreError> {
        self.core.len().await
    }

    /// Whether the table is empty.
    pub async fn is_empty(&self) -> Result<bool, PostgresStoreError> {
        Ok(self.len().await? == 0)
    }
}

impl<K, V> Clone for PostgresStore<K, V> {
    fn clone(&self) -> Self {
        PostgresStore {
            core: Arc::clone(&self.core),
        }
    }
}

impl<K, V> AsyncStore<K, V> for PostgresStore<K, V>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    type Error = PostgresStoreError;

    async fn load(&self, key: &K) -> Result<Option<V>, PostgresStoreError> {
        self.core.load(key).await
    }

    async fn write(&self, key: &K, value: &V) -> Result<(), PostgresStoreError> {
        self.core.write(key, value).await
    }

    async fn delete(&self, key: &K) -> Result<(), PostgresStoreError> {
        self.core.delete(key).await
    }

    /// One transaction: all of the batch or none of it.
    async fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), PostgresStoreError>
    where
        K: Sync,
        V: Sync,
    {
        self.core.write_batch(ops).await
    }
}

impl<K, V> fmt::Debug for PostgresStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("future::PostgresStore")
            .finish_non_exhaustive()
    }
}
