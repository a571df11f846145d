//! [`RedisStore`]: a [`Store`] on a Redis server, and the connection handling it shares with the
//! invalidation bus: timeouts on connect, read and write, and reconnection with backoff.

use super::codec::{decode, encode};
use super::{FillLease, Leased, Store, WriteOp};
use parking_lot::Mutex;
use redis::{Client, Connection, RedisError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

/// How long a fill lease lasts by default: a reader that took a lease on a miss must fill the
/// key within this long, or its fill is refused (a crashed reader blocks nothing for longer).
pub const DEFAULT_FILL_LEASE: Duration = Duration::from_secs(10);

/// On a miss: the value, or the key's outstanding fill lease, or a new one (from a per-namespace
/// counter). KEYS: value, lease, lease counter; ARGV: lease lifetime in ms.
const LOAD_OR_LEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
local t = redis.call('GET', KEYS[2])
if not t then
  t = tostring(redis.call('INCR', KEYS[3]))
  redis.call('SET', KEYS[2], t, 'PX', ARGV[1])
end
return {0, t}
";

/// Stores a fill only under the key's outstanding lease, which it consumes. KEYS: value, lease;
/// ARGV: lease token, value, expiry in seconds (0: none).
const FILL: &str = r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[3] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2], 'NX')
end
return 1
";

/// How long connecting may take by default before the call fails.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one read or write on the socket may take by default: a stalled server gives an
/// error after this, never a hung caller.
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failed connection attempt, calls fail at once for this long, doubling with each
/// further failure up to [`MAX_RECONNECT_BACKOFF`].
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(50);
/// The longest wait between two connection attempts.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(2);

/// A failure of a [`RedisStore`] or of the invalidation bus.
#[derive(Debug)]
pub struct RedisStoreError(Inner);

#[derive(Debug)]
enum Inner {
    Redis(RedisError),
    Codec(postcard::Error),
    Backoff { retry_in: Duration, last: String },
}

impl RedisStoreError {
    /// Whether the server could not be reached (down, unreachable, too slow): the call may
    /// succeed later. False for errors the server returned and for encoding errors.
    pub fn is_unavailable(&self) -> bool {
        match &self.0 {
            Inner::Redis(e) => {
                e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal()
            }
            Inner::Backoff { .. } => true,
            Inner::Codec(_) => false,
        }
    }
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Redis(e) => write!(f, "redis: {e}"),
            Inner::Codec(e) => write!(f, "redis store encoding: {e}"),
            Inner::Backoff { retry_in, last } => write!(
                f,
                "redis unavailable, reconnecting in {retry_in:?} (last error: {last})"
            ),
        }
    }
}

impl std::error::Error for RedisStoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0 {
            Inner::Redis(e) => Some(e),
            Inner::Codec(e) => Some(e),
            Inner::Backoff { .. } => None,
        }
    }
}

impl From<RedisError> for RedisStoreError {
    fn from(e: RedisError) -> Self {
        RedisStoreError(Inner::Redis(e))
    }
}

pub(crate) fn codec(e: postcard::Error) -> RedisStoreError {
    RedisStoreError(Inner::Codec(e))
}

/// Connection settings.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: DEFAULT_CONNECT_TIMEOUT,
            io: DEFAULT_IO_TIMEOUT,
        }
    }
}

/// One connection to Redis, made on first use and remade after a failure, with backoff.
pub(crate) struct Link {
    client: Client,
    pub(crate) timeouts: Timeouts,
    state: Mutex<LinkState>,
}

struct LinkState {
    conn: Option<Connection>,
    /// No connection attempt before this instant.
    not_before: Option<Instant>,
    backoff: Duration,
    last_error: String,
}

impl Link {
    pub(crate) fn open(url: &str, timeouts: Timeouts) -> Result<Link, RedisStoreError> {
        Ok(Link {
            client: Client::open(url)?,
            timeouts,
            state: Mutex::new(LinkState {
                conn: None,
                not_before: None,
                backoff: RECONNECT_BACKOFF,
                last_error: String::new(),
            }),
        })
    }

    /// A fresh connection with the timeouts set (for the bus's subscriber, which keeps its own).
    pub(crate) fn connect(&self) -> Result<Connection, RedisError> {
        let conn = self
            .client
            .get_connection_with_timeout(self.timeouts.connect)?;
        conn.set_read_timeout(Some(self.timeouts.io))?;
        conn.set_write_timeout(Some(self.timeouts.io))?;
        Ok(conn)
    }

    /// Runs `f` on the connection, connecting first if needed. A connection that failed is
    /// dropped, and the next call reconnects (at once after a working connection broke, after
    /// the backoff when connecting itself failed).
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, RedisError>,
    ) -> Result<R, RedisStoreError> {
        let mut st = self.state.lock();
        if st.conn.is_none() {
            if let Some(t) = st.not_before {
                let now = Instant::now();
                if now < t {
                    return Err(RedisStoreError(Inner::Backoff {
                        retry_in: t - now,
                        last: st.last_error.clone(),
                    }));
                }
            }
            match self.connect() {
                Ok(c) => {
                    st.conn = Some(c);
                    st.not_before = None;
                    st.backoff = RECONNECT_BACKOFF;
                }
                Err(e) => {
                    st.last_error = e.to_string();
                    st.not_before = Some(Instant::now() + st.backoff);
                    st.backoff = (st.backoff * 2).min(MAX_RECONNECT_BACKOFF);
                    return Err(e.into());
                }
            }
        }
        let conn = st.conn.as_mut().expect("connected above");
        match f(conn) {
            Ok(r) => Ok(r),
            Err(e) => {
                if e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_unrecoverable_error()
                {
                    st.conn = None;
                    st.last_error = e.to_string();
                }
                Err(e.into())
            }
        }
    }
}

/// A [`Store`] on a Redis server (feature `redis`): the article's own setup, and the tier that
/// services on many machines share.
///
/// Keys are stored under `namespace:` followed by the key's serde encoding (postcard, as in
/// `SqliteStore`); values are their encoding. With a TTL every write is `SET … EX`, so Redis
/// expires what it holds. `write_batch` is one pipeline in a `MULTI`/`EXEC` transaction.
///
/// Every call has a connect timeout and read and write timeouts (default 1 s each), so a dead or
/// stalled server gives an error promptly. A broken connection is remade on the next call;
/// after a failed attempt, calls fail at once (an "unavailable" error) during a backoff that
/// doubles from 50 ms up to 2 s. Calls share one connection.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use stratacache::{RedisStore, Store};
/// let store: RedisStore<u64, String> = RedisStore::open("redis://127.0.0.1:6379/")?
///     .with_namespace("users")
///     .with_ttl(Duration::from_secs(3600));
/// store.write(&456, &"alice".to_string())?;
/// assert_eq!(store.load(&456)?, Some("alice".to_string()));
/// # Ok::<(), stratacache::RedisStoreError>(())
/// ```
pub struct RedisStore<K, V> {
    link: Link,
    namespace: String,
    ttl: Option<Duration>,
    lease: Duration,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> RedisStore<K, V> {
    /// A store on the server at `url` (`redis://host:port/db`), namespace `stratacache`. Connects
    /// on first use, so a service can start while Redis is down.
    ///
    /// # Errors
    ///
    /// A malformed URL.
    pub fn open(url: &str) -> Result<Self, RedisStoreError> {
        Ok(RedisStore {
            link: Link::open(url, Timeouts::default())?,
            namespace: "stratacache".into(),
            ttl: None,
            lease: DEFAULT_FILL_LEASE,
            _types: PhantomData,
        })
    }

    /// Keys are stored under `namespace:`; stores with different namespaces do not meet.
    #[must_use]
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        namespace.clone_into(&mut self.namespace);
        self
    }

    /// Every write sets this Redis-side expiry (`SET … EX`, whole seconds, at least 1).
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// How long a fill lease lasts (default [`DEFAULT_FILL_LEASE`]; at least 1 ms): the longest
    /// a reader may take between its miss and its fill.
    #[must_use]
    pub fn with_fill_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// The connect timeout and the read/write timeout of every call.
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.link.timeouts = Timeouts { connect, io };
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Asks the server for a `PONG`.
    ///
    /// # Errors
    ///
    /// The server is unreachable or answered with an error.
    pub fn ping(&self) -> Result<(), RedisStoreError> {
        self.link
            .with(|c| redis::cmd("PING").query::<String>(c).map(drop))
    }

    fn key(&self, key: &K) -> Result<Vec<u8>, RedisStoreError>
    where
        K: Serialize,
    {
        let mut k = Vec::with_capacity(self.namespace.len() + 9);
        k.extend_from_slice(self.namespace.as_bytes());
        k.push(b':');
        k.extend_from_slice(&encode(key).map_err(codec)?);
        Ok(k)
    }

    /// Where the fill lease of the value key `k` lives: the namespace, a NUL (which no value key
    /// has there, since they continue with `:`), `lease:`, the encoded key.
    fn lease_key(&self, k: &[u8]) -> Vec<u8> {
        let mut l = Vec::with_capacity(k.len() + 7);
        l.extend_from_slice(self.namespace.as_bytes());
        l.extend_from_slice(b"\0lease:");
        l.extend_from_slice(&k[self.namespace.len() + 1..]);
        l
    }

    /// The per-namespace counter that lease tokens come from.
    fn lease_counter(&self) -> Vec<u8> {
        let mut c = self.namespace.as_bytes().to_vec();
        c.extend_from_slice(b"\0lease-counter");
        c
    }

    fn ttl_secs(&self) -> Option<u64> {
        self.ttl.map(|t| t.as_secs().max(1))
    }

    /// Writes `value` under `key` only if Redis holds nothing there (`SET … NX`).
    ///
    /// # Errors
    ///
    /// As [`Store::write`].
    pub fn write_if_absent(&self, key: &K, value: &V) -> Result<(), RedisStoreError>
    where
        K: Serialize,
        V: Serialize,
    {
        let (k, v) = (self.key(key)?, encode(value).map_err(codec)?);
        let mut cmd = redis::cmd("SET");
        cmd.arg(k).arg(v).arg("NX");
        if let Some(s) = self.ttl_secs() {
            cmd.arg("EX").arg(s);
        }
        self.link.with(|c| cmd.query::<Option<String>>(c).map(drop))
    }

    /// Adds a write of `k` to `pipe`: revoke the key's fill lease, then set the value. In this
    /// order a fill can only land before the new value (which overwrites it), never after.
    fn queue_set(&self, pipe: &mut redis::Pipeline, k: Vec<u8>, v: Vec<u8>) {
        pipe.cmd("DEL").arg(self.lease_key(&k)).ignore();
        let cmd = pipe.cmd("SET").arg(k).arg(v);
        if let Some(s) = self.ttl_secs() {
            cmd.arg("EX").arg(s);
        }
        cmd.ignore();
    }

    /// Adds a delete of `k` to `pipe`: the value and its fill lease, in one command.
    fn queue_del(&self, pipe: &mut redis::Pipeline, k: Vec<u8>) {
        pipe.cmd("DEL").arg(self.lease_key(&k)).arg(k).ignore();
    }
}

impl<K, V> Store<K, V> for RedisStore<K, V>
where
    K: Serialize + Send + Sync,
    V: Serialize + DeserializeOwned + Send + Sync,
{
    type Error = RedisStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, RedisStoreError> {
        let k = self.key(key)?;
        let bytes: Option<Vec<u8>> = self.link.with(|c| redis::cmd("GET").arg(k).query(c))?;
        bytes.map(|b| decode(&b).map_err(codec)).transpose()
    }

    /// Also revokes the key's fill lease (same round trip).
    fn write(&self, key: &K, value: &V) -> Result<(), RedisStoreError> {
        let (k, v) = (self.key(key)?, encode(value).map_err(codec)?);
        let mut pipe = redis::pipe();
        self.queue_set(&mut pipe, k, v);
        self.link.with(|c| pipe.exec(c))
    }

    /// Also revokes the key's fill lease (same command).
    fn delete(&self, key: &K) -> Result<(), RedisStoreError> {
        let mut pipe = redis::pipe();
        self.queue_del(&mut pipe, self.key(key)?);
        self.link.with(|c| pipe.exec(c))
    }

    /// One pipeline, in a `MULTI`/`EXEC` transaction; revokes the fill leases of the keys.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), RedisStoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for op in ops {
            match op {
                WriteOp::Put(k, v) => {
                    self.queue_set(&mut pipe, self.key(k)?, encode(v).map_err(codec)?);
                }
                WriteOp::Delete(k) => self.queue_del(&mut pipe, self.key(k)?),
            }
        }
        self.link.with(|c| pipe.exec(c))
    }

    /// One round trip (a script): the value, or the key's fill lease.
    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, RedisStoreError> {
        let k = self.key(key)?;
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(LOAD_OR_LEASE)
            .arg(3)
            .arg(&k)
            .arg(self.lease_key(&k))
            .arg(self.lease_counter())
            .arg(self.lease.as_millis().min(u64::MAX.into()) as u64);
        let (found, bytes): (u8, Vec<u8>) = self.link.with(|c| cmd.query(c))?;
        if found == 1 {
            return decode(&bytes).map_err(codec).map(Leased::Hit);
        }
        let token = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| codec(postcard::Error::DeserializeBadEncoding))?;
        Ok(Leased::Miss(Some(FillLease::new(token))))
    }

    /// Stores only under the key's outstanding lease (a script), with the store's TTL.
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, RedisStoreError> {
        let (k, v) = (self.key(key)?, encode(value).map_err(codec)?);
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(FILL)
            .arg(2)
            .arg(&k)
            .arg(self.lease_key(&k))
            .arg(lease.token().to_string())
            .arg(v)
            .arg(self.ttl_secs().unwrap_or(0));
        let stored: u8 = self.link.with(|c| cmd.query(c))?;
        Ok(stored == 1)
    }
}

impl<K, V> fmt::Debug for RedisStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.namespace)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}
