//! [`InvalidationBus`]: keeps every process's in-memory copy coherent through Redis pub/sub, and
//! [`Publishing`], the store wrapper that announces each write on it.
//!
//! Why pub/sub rather than RESP3 client tracking: tracking tells a client about keys *it read
//! from Redis*, while an in-process cache also holds values it loaded from the database behind
//! Redis (through a layered store or straight from SQL). Pub/sub announces writes, whatever the
//! reader's path, needs one channel per namespace, works with RESP2 servers, and a subscription
//! that drops is noticed on its socket.

use super::codec::{decode, encode};
use super::redis::{
    Link, MAX_RECONNECT_BACKOFF, RECONNECT_BACKOFF, RedisStoreError, Timeouts, codec,
};
use super::{FillLease, Leased, Store, WriteOp};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
#[cfg(feature = "tokio")]
use std::future::Future;
use std::hash::BuildHasher;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a subscriber is told to drop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation<K> {
    /// Another process wrote this key.
    Key(K),
    /// Drop everything: the subscription was (re)established, and messages sent while it was
    /// down are lost.
    All,
}

/// How often the subscriber wakes to check that it should go on, and that the server is there.
const POLL: Duration = Duration::from_millis(200);

/// How often a subscriber compares, by default, the publishers' sequence numbers in Redis with
/// the last ones it received (see [`InvalidationBus`], "Lost messages").
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(1);

/// A publisher whose last message is older than this is forgotten by the reconciliation.
const FORGET_PUBLISHER_SECS: u64 = 24 * 60 * 60;

/// Publishes one invalidation with the publisher's next sequence number, in one step: the
/// number comes from the namespace's hash of sequence numbers (so a subscriber can compare), the
/// message is `origin (8 bytes) . seq . ':' . key`. KEYS: sequence hash, last-publish-time
/// hash; ARGV: origin, channel, encoded key.
const PUBLISH: &str = r"
local s = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('HSET', KEYS[2], ARGV[1], redis.call('TIME')[1])
redis.call('PUBLISH', ARGV[2], ARGV[1] .. s .. ':' .. ARGV[3])
return s
";

struct Shared {
    origin: u64,
    stop: AtomicBool,
    subscribed: AtomicBool,
    resets: AtomicU64,
    received: AtomicU64,
    publish_failures: AtomicU64,
    /// Lost messages detected (each cleared the cache).
    lost: AtomicU64,
    /// The reconciliation interval, in nanoseconds.
    reconcile: AtomicU64,
    /// Fault injection: about one received message in this many is dropped (0: none).
    lose_one_in: AtomicU64,
}

/// The Redis keys of a namespace's bus.
struct BusKeys {
    channel: String,
    /// origin -> the last sequence number it published.
    seqs: String,
    /// origin -> when it last published (Unix seconds).
    stamps: String,
}

impl BusKeys {
    fn new(namespace: &str) -> Self {
        BusKeys {
            channel: format!("stratacache:inv:{namespace}"),
            seqs: format!("stratacache:inv-seq:{namespace}"),
            stamps: format!("stratacache:inv-time:{namespace}"),
        }
    }
}

/// Cache coherence between processes (feature `redis`).
///
/// Every process that caches a namespace connects a bus to the same Redis server. A write in
/// one process is published on the namespace's channel (`stratacache:inv:<namespace>`) after the
/// store took it — wrap the store in [`Publishing`] and every policy does this — and every other
/// process's bus hands the key to its `on_invalidate` callback, which drops the local copy
/// (`policy.invalidate(&key)`). A process ignores its own messages: its policy already updated
/// its cache.
///
/// When the subscription drops (Redis restarted, the network failed), the callback gets
/// [`Invalidation::All`] at once — the process cannot know what it missed, so it clears its
/// cache — and again each time the subscriber has reconnected and resubscribed, with backoff.
///
/// Invariant: an idle bus stays subscribed, and a bus that really lost its subscription sends
/// `All`. After a second of quiet the subscriber pings the server; any answer, including the
/// `["pong", ""]` that Redis gives a subscribed RESP2 connection, proves the connection alive, and
/// only an error or silence past the I/O timeout counts as lost. So `All` comes once at
/// subscription and then only after a real loss, never from quiet alone.
///
/// # Consistency
///
/// After a `put` returns in process A, a reader in process B can see the old value until the
/// invalidation reaches B: on loopback well under a millisecond, in general one network trip.
/// A reader can never see the old value after the invalidation was handled (a load that was in
/// flight is not allowed to refill the cache). If the message is lost with the connection, B
/// clears its cache when it notices the drop (at once for a closed socket, within the I/O
/// timeout for a silent one). If A cannot publish (Redis down for A only), B serves its copy
/// until B's local TTL: **the local TTL is the bound on staleness**. Publish failures are
/// counted ([`publish_failures`](Self::publish_failures)).
///
/// # Lost messages
///
/// Pub/sub delivers at most once: a message can be lost while the connection looks healthy (a
/// subscriber whose output buffer overflowed, a proxy in between). So every publisher numbers
/// its messages: the number comes from a Redis hash of the namespace
/// (`stratacache:inv-seq:<namespace>`, one field per publisher), incremented in the same script
/// that publishes, so the hash always holds the last number each publisher sent.
///
/// - **Gaps.** A subscriber that receives number `n + 2` after `n` from one publisher lost a
///   message: it sends [`Invalidation::All`] (and counts it in [`lost`](Self::lost)).
/// - **Reconciliation** (as Hazelcast's near cache does), for what gaps cannot show: a lost
///   last message, or a publisher that restarted (a new process is a new publisher; the old
///   one's field stays). Every [`with_reconcile_interval`](Self::with_reconcile_interval)
///   (default [`DEFAULT_RECONCILE_INTERVAL`]) the subscriber reads the hash, and if a publisher's
///   number read one interval earlier is still ahead of what it received, messages were lost:
///   `All` again. (Comparing with the previous reading, not the fresh one, leaves a message
///   in flight a whole interval to arrive, so a slow delivery is not taken for a loss.)
///
/// Staleness bound with a lost message: it is detected by the next message of its publisher,
/// or at the latest two reconciliation intervals after it was published (the first reading that
/// includes it, then the comparison one interval later), plus one round trip. Publishers
/// silent for a day are forgotten.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use stratacache::{Cache, CacheAside, Invalidation, InvalidationBus, MemoryStore, Publishing};
///
/// let db = Arc::new(MemoryStore::<u64, String>::new());
/// let policy = Arc::new(CacheAside::new(Cache::new(1_000), Publishing::new(db, None)));
/// let p = policy.clone();
/// let bus = InvalidationBus::connect("redis://127.0.0.1:6379/", "users", move |inv| match inv {
///     Invalidation::Key(k) => p.invalidate(&k),
///     Invalidation::All => p.invalidate_all(),
/// })?;
/// // Writes through `policy` go to the store, then to every other process's bus.
/// policy.store().attach(&bus);
/// # Ok::<(), stratacache::RedisStoreError>(())
/// ```
pub struct InvalidationBus<K> {
    bus: Arc<BusRef<K>>,
    subscriber: Option<JoinHandle<()>>,
}

impl<K> InvalidationBus<K>
where
    K: Serialize + DeserializeOwned + Send + 'static,
{
    /// Connects to `url`, subscribes to `namespace`'s channel on a background thread, and calls
    /// `on_invalidate` (on that thread; a panic in it is caught) for every key another process
    /// wrote, and with [`Invalidation::All`] when the subscription is (re)established or lost.
    ///
    /// # Errors
    ///
    /// A malformed URL, or a thread that could not start. An unreachable server is not an
    /// error: the subscriber keeps trying.
    pub fn connect(
        url: &str,
        namespace: &str,
        on_invalidate: impl Fn(Invalidation<K>) + Send + 'static,
    ) -> Result<Self, RedisStoreError> {
        let link = Arc::new(Link::open(url, Timeouts::default())?);
        let shared = Arc::new(Shared {
            origin: RandomState::new().hash_one(std::process::id()),
            stop: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            resets: AtomicU64::new(0),
            received: AtomicU64::new(0),
            publish_failures: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            reconcile: AtomicU64::new(nanos(DEFAULT_RECONCILE_INTERVAL)),
            lose_one_in: AtomicU64::new(0),
        });
        #[cfg(feature = "metrics")]
        {
            let (weak, namespace) = (Arc::downgrade(&shared), namespace.to_owned());
            crate::telemetry::register_while(weak, move |shared| {
                let ns = [("namespace", namespace.clone())];
                let resets = shared.resets.load(Ordering::Relaxed);
                crate::telemetry::counter("stratacache_bus_resets_total", &ns, resets);
                let lost = shared.lost.load(Ordering::Relaxed);
                crate::telemetry::counter("stratacache_bus_lost_total", &ns, lost);
            });
        }
        let keys = Arc::new(BusKeys::new(namespace));
        let (l, s, k) = (link.clone(), shared.clone(), keys.clone());
        let subscriber = thread::Builder::new()
            .name("stratacache-invalidation-bus".into())
            .spawn(move || subscribe_loop(&l, &s, &k, on_invalidate))
            .map_err(|e| RedisStoreError::from(redis::RedisError::from(e)))?;
        Ok(InvalidationBus {
            bus: Arc::new(BusRef {
                link,
                keys,
                shared,
                _keys: PhantomData,
            }),
            subscriber: Some(subscriber),
        })
    }

    /// How often the subscriber reconciles the publishers' sequence numbers (default
    /// [`DEFAULT_RECONCILE_INTERVAL`]; at least 10 ms). Twice this is the bound on how long a
    /// lost last message goes unnoticed.
    #[must_use]
    pub fn with_reconcile_interval(self, interval: Duration) -> Self {
        let n = nanos(interval.max(Duration::from_millis(10)));
        self.bus.shared.reconcile.store(n, Ordering::Relaxed);
        self
    }

    /// Lost invalidations detected (by a gap in a publisher's numbers, or by reconciliation);
    /// each sent [`Invalidation::All`].
    pub fn lost(&self) -> u64 {
        self.bus.shared.lost.load(Ordering::Relaxed)
    }

    /// Fault injection, for tests and drills: from now on the subscriber drops about one message
    /// in `n` that it receives, as a lossy network would (0 turns it off). The detection above
    /// then has to find them.
    pub fn lose_one_in(&self, n: u64) {
        self.bus.shared.lose_one_in.store(n, Ordering::Relaxed);
    }

    /// Announces that `key` was written. [`Publishing`] calls this after each store write.
    ///
    /// # Errors
    ///
    /// Redis could not be reached, or the key did not encode (the failure is also counted).
    pub fn publish(&self, key: &K) -> Result<(), RedisStoreError> {
        self.bus.try_publish(key)
    }

    /// Whether the subscription is established now.
    pub fn is_subscribed(&self) -> bool {
        self.bus.shared.subscribed.load(Ordering::Acquire)
    }

    /// How often the subscription was lost (each time the callback got `All`).
    pub fn resets(&self) -> u64 {
        self.bus.shared.resets.load(Ordering::Relaxed)
    }

    /// Invalidations received from other processes.
    pub fn received(&self) -> u64 {
        self.bus.shared.received.load(Ordering::Relaxed)
    }

    /// Publishes that failed.
    pub fn publish_failures(&self) -> u64 {
        self.bus.shared.publish_failures.load(Ordering::Relaxed)
    }
}

impl<K> Drop for InvalidationBus<K> {
    fn drop(&mut self) {
        self.bus.shared.stop.store(true, Ordering::Release);
        if let Some(h) = self.subscriber.take() {
            let _ = h.join();
        }
    }
}

impl<K> fmt::Debug for InvalidationBus<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InvalidationBus")
            .field("channel", &self.bus.keys.channel)
            .field(
                "subscribed",
                &self.bus.shared.subscribed.load(Ordering::Relaxed),
            )
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A message as received: its publisher, its number, the encoded key.
fn parse(bytes: &[u8]) -> Option<(u64, u64, &[u8])> {
    let (origin, rest) = bytes.split_at_checked(8)?;
    let colon = rest.iter().position(|&b| b == b':')?;
    let seq = std::str::from_utf8(&rest[..colon]).ok()?.parse().ok()?;
    Some((
        u64::from_le_bytes(origin.try_into().ok()?),
        seq,
        &rest[colon + 1..],
    ))
}

/// What a subscriber knows of the publishers' numbers.
struct Seqs {
    /// The last number received (or known at subscription) from each publisher.
    last: HashMap<u64, u64>,
    /// The hash as read at the previous reconciliation, to compare at the next.
    previous: HashMap<u64, u64>,
    next_reconcile: Instant,
    /// Fault injection state (xorshift).
    rng: u64,
}

impl Seqs {
    /// The hash's numbers (publisher -> last number), forgetting publishers silent for a day.
    fn read(link: &Link, keys: &BusKeys) -> Result<HashMap<u64, u64>, RedisStoreError> {
        let (seqs, stamps): (HashMap<Vec<u8>, u64>, HashMap<Vec<u8>, u64>) = link.with(|c| {
            redis::pipe()
                .cmd("HGETALL")
                .arg(&keys.seqs)
                .cmd("HGETALL")
                .arg(&keys.stamps)
                .query(c)
        })?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let stale: Vec<&Vec<u8>> = stamps
            .iter()
            .filter(|&(_, &t)| now.saturating_sub(t) > FORGET_PUBLISHER_SECS)
            .map(|(o, _)| o)
            .collect();
        if !stale.is_empty() {
            let _ = link.with(|c| {
                redis::pipe()
                    .cmd("HDEL")
                    .arg(&keys.seqs)
                    .arg(&stale)
                    .cmd("HDEL")
                    .arg(&keys.stamps)
                    .arg(&stale)
                    .query::<()>(c)
            });
        }
        Ok(seqs
            .into_iter()
            .filter_map(|(o, s)| Some((u64::from_le_bytes(o.try_into().ok()?), s)))
            .collect())
    }

    /// Whether a message numbered `seq` from `origin` shows that one before it was lost.
    fn gap(&mut self, origin: u64, seq: u64) -> bool {
        let last = self.last.entry(origin).or_insert(0);
        let gap = seq > *last + 1;
        *last = (*last).max(seq);
        gap
    }

    /// Whether a publisher's number read at the previous reconciliation is still ahead of what
    /// was received since; takes `now` as the new reading.
    fn reconcile(&mut self, now: HashMap<u64, u64>, own: u64) -> bool {
        let mut lost = false;
        for (&o, &s) in &self.previous {
            let last = self.last.entry(o).or_insert(0);
            if o != own && *last < s {
                lost = true;
                *last = s;
            }
        }
        self.previous = now;
        lost
    }

    /// Fault injection: whether to drop this message.
    fn lose(&mut self, one_in: u64) -> bool {
        if one_in == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng.is_multiple_of(one_in)
    }
}

fn subscribe_loop<K: DeserializeOwned>(
    link: &Link,
    shared: &Shared,
    keys: &BusKeys,
    on_invalidate: impl Fn(Invalidation<K>),
) {
    let tell = |inv: Invalidation<K>| {
        let _ = panic::catch_unwind(AssertUnwindSafe(|| on_invalidate(inv)));
    };
    let lost = || {
        shared.lost.fetch_add(1, Ordering::Relaxed);
        tell(Invalidation::All);
    };
    let reconcile_every = || Duration::from_nanos(shared.reconcile.load(Ordering::Relaxed));
    let mut backoff = RECONNECT_BACKOFF;
    while !shared.stop.load(Ordering::Acquire) {
        let mut conn = match link.connect() {
            Ok(c) => c,
            Err(_) => {
                thread::sleep(backoff.min(POLL));
                backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
                continue;
            }
        };
        let mut pubsub = conn.as_pubsub();
        if pubsub.subscribe(&keys.channel).is_err() || pubsub.set_read_timeout(Some(POLL)).is_err()
        {
            continue;
        }
        // Subscribed first, numbers read second: a message sent in between carries a number
        // already read, so it is no gap; one sent before is covered by the `All` below.
        let Ok(known) = Seqs::read(link, keys) else {
            continue;
        };
        let mut seqs = Seqs {
            last: known.clone(),
            previous: known,
            next_reconcile: Instant::now() + reconcile_every(),
            rng: shared.origin | 1,
        };
        backoff = RECONNECT_BACKOFF;
        // Whatever was written while we were not subscribed is unknown: start clean.
        tell(Invalidation::All);
        shared.subscribed.store(true, Ordering::Release);
        let mut quiet = Duration::ZERO;
        loop {
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
            if Instant::now() >= seqs.next_reconcile {
                seqs.next_reconcile = Instant::now() + reconcile_every();
                let reading = Seqs::read(link, keys);
                if reading.is_ok_and(|now| seqs.reconcile(now, shared.origin)) {
                    lost();
                }
            }
            match pubsub.get_message() {
                Ok(msg) => {
                    quiet = Duration::ZERO;
                    let Some((origin, seq, key)) = parse(msg.get_payload_bytes()) else {
                        continue;
                    };
                    if origin == shared.origin
                        || seqs.lose(shared.lose_one_in.load(Ordering::Relaxed))
                    {
                        continue;
                    }
                    if let Ok(k) = decode::<K>(key) {
                        shared.received.fetch_add(1, Ordering::Relaxed);
                        tell(Invalidation::Key(k));
                    }
                    if seqs.gap(origin, seq) {
                        lost();
                    }
                }
                Err(e) if e.is_timeout() => {
                    // A silent socket may be a dead one: ask the server now and then.
                    quiet += POLL;
                    if quiet >= link.timeouts.io
                        && !pubsub.ping::<redis::Value>().is_ok_and(|v| is_pong(&v))
                    {
                        break;
                    }
                    if quiet >= link.timeouts.io {
                        quiet = Duration::ZERO;
                    }
                }
                Err(_) => break,
            }
        }
        shared.subscribed.store(false, Ordering::Release);
        shared.resets.fetch_add(1, Ordering::Relaxed);
        tell(Invalidation::All);
    }
}

/// A store that announces every successful write on an [`InvalidationBus`] (feature `redis`).
///
/// Wrap the store a policy writes to, and attach the bus once it is connected (the bus's
/// callback usually needs the policy, which needs this store: [`attach`](Self::attach) breaks
/// the cycle). Until a bus is attached, writes are not announced.
pub struct Publishing<S, K> {
    inner: S,
    bus: parking_lot::RwLock<Option<Arc<dyn Publish<K>>>>,
}

/// What `Publishing` needs of a bus.
trait Publish<K>: Send + Sync {
    fn publish(&self, key: &K);
}

struct BusRef<K> {
    link: Arc<Link>,
    keys: Arc<BusKeys>,
    shared: Arc<Shared>,
    _keys: PhantomData<fn(K)>,
}

impl<K: Serialize> BusRef<K> {
    fn try_publish(&self, key: &K) -> Result<(), RedisStoreError> {
        let r = encode(key).map_err(codec).and_then(|k| {
            self.link.with(|c| {
                redis::cmd("EVAL")
                    .arg(PUBLISH)
                    .arg(2)
                    .arg(&self.keys.seqs)
                    .arg(&self.keys.stamps)
                    .arg(self.shared.origin.to_le_bytes().as_slice())
                    .arg(&self.keys.channel)
                    .arg(k)
                    .query::<u64>(c)
                    .map(drop)
            })
        });
        if r.is_err() {
            self.shared.publish_failures.fetch_add(1, Ordering::Relaxed);
        }
        r
    }
}

impl<K: Serialize> Publish<K> for BusRef<K> {
    fn publish(&self, key: &K) {
        // Counted by `try_publish`; a write that reached the store stands either way.
        let _ = self.try_publish(key);
    }
}

impl<S, K> Publishing<S, K> {
    /// `inner`, announcing its writes on `bus` (or, with `None`, on the bus attached later).
    pub fn new(inner: S, bus: Option<&InvalidationBus<K>>) -> Self
    where
        K: Serialize + DeserializeOwned + Send + 'static,
    {
        let p = Publishing {
            inner,
            bus: parking_lot::RwLock::new(None),
        };
        if let Some(b) = bus {
            p.attach(b);
        }
        p
    }

    /// From now on, writes are announced on `bus`.
    pub fn attach(&self, bus: &InvalidationBus<K>)
    where
        K: Serialize + DeserializeOwned + Send + 'static,
    {
        *self.bus.write() = Some(bus.bus.clone());
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn announce<'a>(&self, keys: impl Iterator<Item = &'a K>)
    where
        K: 'a,
    {
        if let Some(bus) = self.bus.read().as_ref() {
            for k in keys {
                bus.publish(k);
            }
        }
    }
}

impl<K, V, S> Store<K, V> for Publishing<S, K>
where
    S: Store<K, V>,
    K: Send + Sync,
{
    type Error = S::Error;

    fn load(&self, key: &K) -> Result<Option<V>, S::Error> {
        self.inner.load(key)
    }

    /// Writes, then announces: a failed announcement does not fail the write (it is counted).
    fn write(&self, key: &K, value: &V) -> Result<(), S::Error> {
        self.inner.write(key, value)?;
        self.announce(std::iter::once(key));
        Ok(())
    }

    fn delete(&self, key: &K) -> Result<(), S::Error> {
        self.inner.delete(key)?;
        self.announce(std::iter::once(key));
        Ok(())
    }

    fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), S::Error> {
        self.inner.write_batch(ops)?;
        self.announce(ops.iter().map(WriteOp::key));
        Ok(())
    }

    fn load_or_lease(&self, key: &K) -> Result<Leased<V>, S::Error> {
        self.inner.load_or_lease(key)
    }

    /// Not announced: a fill stores what the database already holds.
    fn fill(&self, key: &K, value: &V, lease: FillLease) -> Result<bool, S::Error> {
        self.inner.fill(key, value, lease)
    }

    fn release(&self, key: &K, lease: FillLease) -> Result<(), S::Error> {
        self.inner.release(key, lease)
    }
}

/// In async code: the same announcements, each sent from tokio's blocking pool (a `PUBLISH`
/// on the bus's connection) after the store took the write, so no runtime thread waits on it.
#[cfg(feature = "tokio")]
impl<K, V, S> crate::future::AsyncStore<K, V> for Publishing<S, K>
where
    S: crate::future::AsyncStore<K, V>,
    K: Clone + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    type Error = S::Error;

    fn load(&self, key: &K) -> impl Future<Output = Result<Option<V>, S::Error>> + Send {
        self.inner.load(key)
    }

    async fn write(&self, key: &K, value: &V) -> Result<(), S::Error> {
        self.inner.write(key, value).await?;
        self.announce_from_task(vec![key.clone()]).await;
        Ok(())
    }

    async fn delete(&self, key: &K) -> Result<(), S::Error> {
        self.inner.delete(key).await?;
        self.announce_from_task(vec![key.clone()]).await;
        Ok(())
    }

    async fn write_batch(&self, ops: &[WriteOp<K, V>]) -> Result<(), S::Error>
    where
        K: Sync,
        V: Sync,
    {
        self.inner.write_batch(ops).await?;
        self.announce_from_task(ops.iter().map(|op| op.key().clone()).collect())
            .await;
        Ok(())
    }
}

#[cfg(feature = "tokio")]
impl<S, K: Send + Sync + 'static> Publishing<S, K> {
    /// Announces `keys` from the blocking pool; a failure is counted, as in sync code.
    async fn announce_from_task(&self, keys: Vec<K>) {
        let bus = self.bus.read().clone();
        if let Some(bus) = bus {
            let _ = tokio::task::spawn_blocking(move || {
                for k in &keys {
                    bus.publish(k);
                }
            })
            .await;
        }
    }
}

impl<S: fmt::Debug, K> fmt::Debug for Publishing<S, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publishing")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

/// Whether `reply` answers a PING: `PONG` outside subscribed mode and in RESP3, the array
/// `["pong", ""]` in RESP2 subscribed mode (which is how a subscriber's ping is answered).
fn is_pong(reply: &redis::Value) -> bool {
    use redis::Value;
    let pong = |v: &Value| match v {
        Value::SimpleString(s) => s.eq_ignore_ascii_case("pong"),
        Value::BulkString(b) => b.eq_ignore_ascii_case(b"pong"),
        _ => false,
    };
    match reply {
        Value::Array(items) => items.first().is_some_and(pong),
        other => pong(other),
    }
}

#[cfg(test)]
mod tests {
    use super::is_pong;
    use redis::Value;

    #[test]
    fn a_subscribed_connection_answers_ping_with_an_array() {
        let resp2_subscribed = Value::Array(vec![
            Value::BulkString(b"pong".to_vec()),
            Value::BulkString(Vec::new()),
        ]);
        assert!(is_pong(&resp2_subscribed));
        assert!(is_pong(&Value::SimpleString("PONG".into())));
        assert!(!is_pong(&Value::Nil));
        assert!(!is_pong(&Value::Array(vec![Value::BulkString(
            b"message".to_vec()
        )])));
    }
}
