//! [`RedisStore`] for async code (features `tokio` and `redis`): the sync `RedisStore`'s keys,
//! encoding, TTL and fill leases (one [`Keyspace`]), sent over redis-rs's multiplexed
//! connection manager, which many tasks share without a lock and which reconnects by itself.

use super::AsyncStore;
use crate::WriteOp;
use crate::store::redis_keys::{FillAnswer, Keyspace};
use crate::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT, FillLease, Leased, RedisStoreError};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

/// A [`crate::RedisStore`] for async code: the same keys, values, TTL and fill leases (so the
/// two can share a namespace), on one multiplexed connection that every task uses at once with
/// no lock held across a round trip. Connect and response timeouts (1 s each by default) turn a
/// dead or stalled server into a prompt error; the connection is remade in the background.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use stratacache::future::{AsyncStore, RedisStore};
/// # async fn run() -> Result<(), stratacache::RedisStoreError> {
/// let store: RedisStore<u64, String> = RedisStore::connect("redis://127.0.0.1:6379/")
///     .await?
///     .with_namespace("users")
///     .with_ttl(Duration::from_secs(3600));
/// store.write(&456, &"alice".to_string()).await?;
/// assert_eq!(store.load(&456).await?, Some("alice".to_string()));
/// # Ok(())
/// # }
/// ```
pub struct RedisStore<K, V> {
    conn: ConnectionManager,
    keys: Keyspace,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> RedisStore<K, V> {
    /// Connects to the server at `url` (`redis://host:port/db`), namespace `stratacache`, with
    /// the default timeouts.
    ///
    /// # Errors
    ///
    /// A malformed URL, or a server that cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, RedisStoreError> {
        Self::connect_with_timeouts(url, DEFAULT_CONNECT_TIMEOUT, DEFAULT_IO_TIMEOUT).await
    }

    /// Connects with these connect and response timeouts.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub async fn connect_with_timeouts(
        url: &str,
        connect: Duration,
        io: Duration,
    ) -> Result<Self, RedisStoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(Some(io));
        Ok(RedisStore {
            conn: ConnectionManager::new_with_config(client, config).await?,
            keys: Keyspace::default(),
            _types: PhantomData,
        })
    }

    /// Keys are stored under `namespace:`, as by the sync store.
    #[must_use]
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.keys.namespace);
        self
    }

    /// Every write sets this Redis-side expiry (`SET … EX`, whole seconds, at least 1).
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.keys.ttl = Some(ttl);
        self
    }

    /// How long a fill lease lasts (default [`crate::DEFAULT_FILL_LEASE`]; at least 1 ms).
    #[must_use]
    pub fn with_fill_lease(mut self, lease: Duration) -> Self {
        self.keys.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// How values are encoded: see [`RedisStore::with_codec`](crate::RedisStore::with_codec).
    #[must_use]
    pub fn with_codec(mut self, codec: crate::ValueCodec) -> Self {
        self.keys.codec = codec;
        self
    }

    /// How keys are named: see
    /// [`RedisStore::with_key_format`](crate::RedisStore::with_key_format).
    #[must_use]
    pub fn with_key_format(mut self, format: crate::KeyFormat) -> Self {
        self.keys.key_format = format;
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.keys.namespace
    }

    /// The value under `key`, or a lease to fill it (see [`crate::Store::load_or_lease`]).
    ///
    /// # Errors
    ///
    /// The server is unreachable, answered with an error, or held what does not decode.
    pub async fn load_or_lease(&self, key: &K) -> Result<Leased<V>, RedisStoreError>
    where
        K: Serialize,
        V: DeserializeOwned,
    {
        self.keys
            .leased(self.request(self.keys.load_or_lease(key)).await?)
    }

    /// Stores a fill under `lease` (see [`crate::Store::fill`]); returns whether it stored.
    ///
    /// # Errors
    ///
    /// As [`load_or_lease`](Self::load_or_lease).
    pub async fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, RedisStoreError>
    where
        K: Serialize,
        V: Serialize,
    {
        let (stored,): FillAnswer = self.request(self.keys.fill(key, value, lease)).await?;
        Ok(stored == 1)
    }

    /// Gives `lease` back (see [`crate::Store::release`]).
    ///
    /// # Errors
    ///
    /// As [`load_or_lease`](Self::load_or_lease).
    pub async fn release(&self, key: &K, lease: FillLease) -> Result<(), RedisStoreError>
    where
        K: Serialize,
    {
        let _: (u8,) = self.request(self.keys.release(key, lease)).await?;
        Ok(())
    }

    /// Sends a request on a clone of the multiplexed connection (clones share it) and reads its
    /// answer. The future owns what it needs, so it borrows neither the store nor the key.
    fn request<T: redis::FromRedisValue>(
        &self,
        pipe: Result<redis::Pipeline, RedisStoreError>,
    ) -> impl Future<Output = Result<T, RedisStoreError>> + Send + 'static {
        let mut conn = self.conn.clone();
        async move { Ok(pipe?.query_async(&mut conn).await?) }
    }
}

impl<K, V> AsyncStore<K, V> for RedisStore<K, V>
where
    K: Serialize + Send + Sync + 'static,
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Error = RedisStoreError;

    fn load(&self, key: &K) -> impl Future<Output = Result<Option<V>, RedisStoreError>> + Send {
        let answer = self.request(self.keys.load(key));
        async move { self.keys.value(answer.await?) }
    }

    /// Also revokes the key's fill lease (same round trip).
    fn write(
        &self,
        key: &K,
        value: &V,
    ) -> impl Future<Output = Result<(), RedisStoreError>> + Send {
        self.request(self.keys.write(key, value))
    }

    /// Also revokes the key's fill lease (same command).
    fn delete(&self, key: &K) -> impl Future<Output = Result<(), RedisStoreError>> + Send {
        self.request(self.keys.delete(key))
    }

    /// One `MULTI`/`EXEC` transaction; revokes the fill leases of the keys.
    fn write_batch(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> impl Future<Output = Result<(), RedisStoreError>> + Send
    where
        K: Sync,
        V: Sync,
    {
        self.request(self.keys.write_batch(ops))
    }
}

impl<K, V> fmt::Debug for RedisStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("future::RedisStore")
            .field("namespace", &self.keys.namespace)
            .field("ttl", &self.keys.ttl)
            .finish_non_exhaustive()
    }
}
