//! [`RedisStore`]: a [`Store`] on a Redis server, and the connection handling it shares with the
//! invalidation bus: timeouts on connect, read and write, and reconnection with backoff.

use super::redis_keys::{FillAnswer, Keyspace};
use super::{FillLease, Leased, Store, WriteOp};
use super::{KeyFormat, ValueCodec};
use parking_lot::Mutex;
use redis::{Client, Connection, RedisError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

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
    Codec(Box<dyn std::error::Error + Send + Sync>),
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
            Inner::Codec(e) => Some(&**e),
            Inner::Backoff { .. } => None,
        }
    }
}

impl From<RedisError> for RedisStoreError {
    fn from(e: RedisError) -> Self {
        RedisStoreError(Inner::Redis(e))
    }
}

pub(crate) fn codec(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RedisStoreError {
    RedisStoreError(Inner::Codec(e.into()))
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

/// Connections to Redis, made on use and remade after a failure, with backoff. Each call takes
/// an idle connection (or makes one) and gives it back after its round trip, so concurrent
/// callers do not wait for each other; no lock is held across a round trip or a connect.
pub(crate) struct Link {
    client: Client,
    pub(crate) timeouts: Timeouts,
    idle: Mutex<Vec<Connection>>,
    backoff: Mutex<Backoff>,
}

/// At most this many idle connections are kept; more concurrent callers make more, and drop
/// them afterwards.
const MAX_IDLE: usize = 16;

struct Backoff {
    /// No connection attempt before this instant.
    not_before: Option<Instant>,
    wait: Duration,
    last_error: String,
}

impl Link {
    pub(crate) fn open(url: &str, timeouts: Timeouts) -> Result<Link, RedisStoreError> {
        Ok(Link {
            client: Client::open(url)?,
            timeouts,
            idle: Mutex::new(Vec::new()),
            backoff: Mutex::new(Backoff {
                not_before: None,
                wait: RECONNECT_BACKOFF,
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

    /// A new connection, unless connecting failed lately (then an "unavailable" error at once,
    /// during a backoff that doubles with each failed attempt).
    fn reconnect(&self) -> Result<Connection, RedisStoreError> {
        {
            let b = self.backoff.lock();
            if let Some(t) = b.not_before {
                let now = Instant::now();
                if now < t {
                    return Err(RedisStoreError(Inner::Backoff {
                        retry_in: t - now,
                        last: b.last_error.clone(),
                    }));
                }
            }
        }
        match self.connect() {
            Ok(c) => {
                let mut b = self.backoff.lock();
                b.not_before = None;
                b.wait = RECONNECT_BACKOFF;
                Ok(c)
            }
            Err(e) => {
                let mut b = self.backoff.lock();
                b.last_error = e.to_string();
                b.not_before = Some(Instant::now() + b.wait);
                b.wait = (b.wait * 2).min(MAX_RECONNECT_BACKOFF);
                Err(e.into())
            }
        }
    }

    /// Runs `f` on a connection of its own. A connection that failed is dropped, and a later
    /// call makes a new one (at once after a working connection broke, after the backoff when
    /// connecting itself failed).
    pub(crate) fn with<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<R, RedisError>,
    ) -> Result<R, RedisStoreError> {
        let idle = self.idle.lock().pop();
        let mut conn = match idle {
            Some(c) => c,
            None => self.reconnect()?,
        };
        let r = f(&mut conn);
        let broken = r.as_ref().is_err_and(|e| {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || e.is_unrecoverable_error()
        });
        if broken {
            if let Err(e) = &r {
                self.backoff.lock().last_error = e.to_string();
            }
        } else {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        r.map_err(Into::into)
    }
}

/// A [`Store`] on a Redis server (feature `redis`): the article's own setup, and the tier that
/// services on many machines share.
///
/// # Layout
///
/// What a store keeps in Redis, readable with `redis-cli` and shareable with services in any
/// language:
///
/// | what | Redis key | Redis value |
/// |---|---|---|
/// | the value of a key with a text form (integers, strings, `bool`, `char`, newtypes of them) | `namespace:text` (user 9 in namespace `users`: `users:9`) | the value by the store's [`ValueCodec`]: postcard (default) or JSON |
/// | the value of any other key (structs, tuples, enums) | `namespace:`, NUL, `b`, the key's postcard bytes | the same |
/// | with [`KeyFormat::Binary`], every key | `namespace:` and the key's postcard bytes | the same |
/// | a fill lease | `namespace` NUL `lease:` and the key's part of the name | the lease token |
/// | the lease counter | `namespace` NUL `lease-counter` | an integer |
///
/// With a TTL every write is `SET … EX`, so Redis expires what it holds. `write_batch` is one
/// pipeline in a `MULTI`/`EXEC` transaction.
///
/// Before [`KeyFormat::Text`], keys were always postcard bytes, which [`KeyFormat::Binary`]
/// still writes. A fleet that upgrades process by process must not mix the two on one
/// namespace (each side would read values the other no longer updates): keep `Binary` until
/// every process runs the new version, or move to a new namespace.
///
/// Every call has a connect timeout and read and write timeouts (default 1 s each), so a dead or
/// stalled server gives an error promptly. A broken connection is remade on the next call;
/// after a failed attempt, calls fail at once (an "unavailable" error) during a backoff that
/// doubles from 50 ms up to 2 s. Concurrent calls use connections of their own (up to 16 are
/// kept idle for reuse), so callers never wait for each other's round trips.
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
    keys: Keyspace,
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
            keys: Keyspace::default(),
            _types: PhantomData,
        })
    }

    /// Keys are stored under `namespace:`; stores with different namespaces do not meet.
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

    /// How long a fill lease lasts (default [`DEFAULT_FILL_LEASE`](crate::DEFAULT_FILL_LEASE); at least 1 ms): the longest
    /// a reader may take between its miss and its fill, and the longest the key's other readers,
    /// in any process, wait for a holder that crashed (see [`Layered`](crate::Layered)).
    #[must_use]
    pub fn with_fill_lease(mut self, lease: Duration) -> Self {
        self.keys.lease = lease.max(Duration::from_millis(1));
        self
    }

    /// The connect timeout and the read/write timeout of every call.
    #[must_use]
    pub fn with_timeouts(mut self, connect: Duration, io: Duration) -> Self {
        self.link.timeouts = Timeouts { connect, io };
        self
    }

    /// How values are encoded (default [`ValueCodec::Postcard`]; [`ValueCodec::Json`] for data
    /// that `redis-cli` and other languages read). Every process sharing a namespace must use
    /// the same codec: a value the other codec wrote is usually a decoding error, but not
    /// always (postcard's byte `0x32` is JSON's `2`).
    #[must_use]
    pub fn with_codec(mut self, codec: ValueCodec) -> Self {
        self.keys.codec = codec;
        self
    }

    /// How keys are named (default [`KeyFormat::Text`]; see the layout above). Every process
    /// sharing a namespace must use the same format.
    #[must_use]
    pub fn with_key_format(mut self, format: KeyFormat) -> Self {
        self.keys.key_format = format;
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.keys.namespace
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
        let (k, v) = (self.keys.key(key)?, self.keys.encode(value)?);
        let mut cmd = redis::cmd("SET");
        cmd.arg(k).arg(v).arg("NX");
        if let Some(s) = self.keys.ttl_secs() {
            cmd.arg("EX").arg(s);
        }
        self.link.with(|c| cmd.query::<Option<String>>(c).map(drop))
    }

    /// Sends `pipe` and reads its answer.
    fn send<T: redis::FromRedisValue>(&self, pipe: &redis::Pipeline) -> Result<T, RedisStoreError> {
        self.link.with(|c| pipe.query(c))
    }
}

impl<K, V> Store<K, V> for RedisStore<K, V>
where
    K: Serialize + Send + Sync,
    V: Serialize + DeserializeOwned + Send + Sync,
{
    type Error = RedisStoreError;

    fn load(&self, key: &K) -> Result<Option<V>, RedisStoreError> {
        self.keys.value(self.send(&self.keys.load(key)?)?)
    }

    /// Also revokes the key's fill lease (same round trip).
    fn write(&self, key: &K, value: &V) -> Result<(), RedisStoreError> {
        self.send(&self.keys.write(key, value)?)
    }

    /// Also revokes the key's fill lease (same command).
    fn delete(&self, key: &K) -> Result<(), RedisStoreError> {
        self.send(&self.keys.delete(key)?)
    }

    /// One pipeline, in a `MULTI`/`EXEC` transaction; revokes the fill leases of the keys.
    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), RedisStoreError> {
        self.send(&self.keys.write_batch(ops)?)
    }

    /// One round trip (a script): the value, or the key's fill lease.
    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, RedisStoreError> {
        self.keys.leased(self.send(&self.keys.load_or_lease(key)?)?)
    }

    /// Deletes the key's lease if it is still `lease` (a script).
    fn release(&self, key: &K, lease: FillLease) -> Result<(), RedisStoreError> {
        let _: (u8,) = self.send(&self.keys.release(key, lease)?)?;
        Ok(())
    }

    /// Stores only under the key's outstanding lease (a script), with the store's TTL.
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, RedisStoreError> {
        let (stored,): FillAnswer = self.send(&self.keys.fill(key, value, lease)?)?;
        Ok(stored == 1)
    }
}

impl<K, V> fmt::Debug for RedisStore<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("namespace", &self.keys.namespace)
            .field("ttl", &self.keys.ttl)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Concurrent callers do not serialise: a ping answers while another caller's command
    /// blocks its own connection on the server.
    #[test]
    #[cfg_attr(
        not(stratacache_redis),
        ignore = "needs Redis: set STRATACACHE_REDIS_URL (.ci/run starts a server)"
    )]
    fn a_call_does_not_wait_for_another_callers_round_trip() {
        let url = std::env::var("STRATACACHE_REDIS_URL").expect("set when built");
        let link = std::sync::Arc::new(Link::open(&url, Timeouts::default()).unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        let blocked = {
            let (link, tx) = (link.clone(), tx.clone());
            std::thread::spawn(move || {
                // BLPOP on a list nobody pushes to: blocks this connection for 0.5 s.
                let r: Result<Option<(String, String)>, _> = link.with(|c| {
                    redis::cmd("BLPOP")
                        .arg("stratacache-test-never-pushed")
                        .arg(0.5)
                        .query(c)
                });
                assert!(matches!(r, Ok(None)));
                tx.send("blpop").unwrap();
            })
        };
        // Let the BLPOP reach the server first (it is on its own connection either way).
        std::thread::sleep(Duration::from_millis(100));
        link.with(|c| redis::cmd("PING").query::<String>(c))
            .unwrap();
        tx.send("ping").unwrap();
        assert_eq!(rx.recv().unwrap(), "ping", "the ping waited for the BLPOP");
        blocked.join().unwrap();
    }
}
