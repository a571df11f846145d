//! What a Redis store sends and how it reads the answers, shared by the sync
//! [`RedisStore`](super::RedisStore) and the async `future::RedisStore`: key names, value
//! encoding, TTLs, and the fill-lease scripts. Each request is a pipeline; the two stores only
//! differ in how they send it (a pooled blocking connection, or a multiplexed async one).

use super::DEFAULT_FILL_LEASE;
use super::codec::encode;
use super::redis::{RedisStoreError, codec};
use super::text_key::text_key;
use super::{FillLease, Leased, WriteOp};
use super::{KeyFormat, ValueCodec};
use redis::Pipeline;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The value (`{1, value}`); or, on a miss, a new fill lease from a per-namespace counter
/// (`{0, token}`), or word that another reader holds the key's lease (`{2, ''}`). The lease key
/// expires with the lease. KEYS: value, lease, lease counter; ARGV: lease lifetime in ms.
const LOAD_OR_LEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
if redis.call('EXISTS', KEYS[2]) == 1 then return {2, ''} end
local t = tostring(redis.call('INCR', KEYS[3]))
redis.call('SET', KEYS[2], t, 'PX', ARGV[1])
return {0, t}
";

/// Gives a lease back: deletes the lease key if it still holds this token. KEYS: lease; ARGV:
/// token.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
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

/// A store's namespace, TTL and lease lifetime, and the requests they make.
#[derive(Clone, Debug)]
pub(crate) struct Keyspace {
    pub(crate) namespace: String,
    pub(crate) ttl: Option<Duration>,
    pub(crate) lease: Duration,
    pub(crate) codec: ValueCodec,
    pub(crate) key_format: KeyFormat,
}

/// The answer to [`Keyspace::load`].
pub(crate) type LoadAnswer = (Option<Vec<u8>>,);
/// The answer to [`Keyspace::load_or_lease`].
pub(crate) type LeaseAnswer = ((u8, Vec<u8>),);
/// The answer to [`Keyspace::fill`].
pub(crate) type FillAnswer = (u8,);

impl Default for Keyspace {
    fn default() -> Self {
        Keyspace {
            namespace: "stratacache".into(),
            ttl: None,
            lease: DEFAULT_FILL_LEASE,
            codec: ValueCodec::Postcard,
            key_format: KeyFormat::Text,
        }
    }
}

impl Keyspace {
    /// The key's name: `namespace:` and then, by [`KeyFormat`]:
    ///
    /// - `Text`: the key's text form (`users:9`, `users:alice`) if it has one (integers,
    ///   strings, `bool`, `char`, newtypes of them), else NUL, `b` and its postcard bytes. A
    ///   text form that itself starts with NUL is written NUL, `t`, the text; so no text form
    ///   and no binary name meet.
    /// - `Binary`: the key's postcard bytes.
    pub(crate) fn key<K: Serialize>(&self, key: &K) -> Result<Vec<u8>, RedisStoreError> {
        let mut k = Vec::with_capacity(self.namespace.len() + 10);
        k.extend_from_slice(self.namespace.as_bytes());
        k.push(b':');
        let text = match self.key_format {
            KeyFormat::Text => text_key(key),
            KeyFormat::Binary => None,
        };
        match (text, self.key_format) {
            (Some(text), _) => {
                if text.starts_with('\0') {
                    k.extend_from_slice(b"\0t");
                }
                k.extend_from_slice(text.as_bytes());
            }
            (None, KeyFormat::Text) => {
                k.extend_from_slice(b"\0b");
                k.extend_from_slice(&encode(key).map_err(codec)?);
            }
            (None, _) => k.extend_from_slice(&encode(key).map_err(codec)?),
        }
        Ok(k)
    }

    /// A value's encoding, by the store's codec.
    pub(crate) fn encode<V: Serialize>(&self, value: &V) -> Result<Vec<u8>, RedisStoreError> {
        self.codec.encode(value).map_err(codec)
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

    pub(crate) fn ttl_secs(&self) -> Option<u64> {
        self.ttl.map(|t| t.as_secs().max(1))
    }

    /// `GET`; read the answer with [`value`](Self::value).
    pub(crate) fn load<K: Serialize>(&self, key: &K) -> Result<Pipeline, RedisStoreError> {
        let mut pipe = redis::pipe();
        pipe.cmd("GET").arg(self.key(key)?);
        Ok(pipe)
    }

    /// The value a [`load`](Self::load) found.
    pub(crate) fn value<V: DeserializeOwned>(
        &self,
        (bytes,): LoadAnswer,
    ) -> Result<Option<V>, RedisStoreError> {
        bytes
            .map(|b| self.codec.decode(&b).map_err(codec))
            .transpose()
    }

    /// Adds a write of `k` to `pipe`: revoke the key's fill lease, then set the value. In this
    /// order a fill can only land before the new value (which overwrites it), never after.
    fn queue_set(&self, pipe: &mut Pipeline, k: Vec<u8>, v: Vec<u8>) {
        pipe.cmd("DEL").arg(self.lease_key(&k)).ignore();
        let cmd = pipe.cmd("SET").arg(k).arg(v);
        if let Some(s) = self.ttl_secs() {
            cmd.arg("EX").arg(s);
        }
        cmd.ignore();
    }

    /// Adds a delete of `k` to `pipe`: the value and its fill lease, in one command.
    fn queue_del(&self, pipe: &mut Pipeline, k: Vec<u8>) {
        pipe.cmd("DEL").arg(self.lease_key(&k)).arg(k).ignore();
    }

    /// A write, which revokes the key's fill lease (same round trip).
    pub(crate) fn write<K: Serialize, V: Serialize>(
        &self,
        key: &K,
        value: &V,
    ) -> Result<Pipeline, RedisStoreError> {
        let mut pipe = redis::pipe();
        self.queue_set(&mut pipe, self.key(key)?, self.encode(value)?);
        Ok(pipe)
    }

    /// A delete, with the key's fill lease.
    pub(crate) fn delete<K: Serialize>(&self, key: &K) -> Result<Pipeline, RedisStoreError> {
        let mut pipe = redis::pipe();
        self.queue_del(&mut pipe, self.key(key)?);
        Ok(pipe)
    }

    /// A batch: one `MULTI`/`EXEC` transaction that also revokes the keys' fill leases.
    pub(crate) fn write_batch<K: Serialize, V: Serialize>(
        &self,
        ops: &[WriteOp<K, V>],
    ) -> Result<Pipeline, RedisStoreError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for op in ops {
            match op {
                WriteOp::Put(k, v) => {
                    self.queue_set(&mut pipe, self.key(k)?, self.encode(v)?);
                }
                WriteOp::Delete(k) => self.queue_del(&mut pipe, self.key(k)?),
            }
        }
        Ok(pipe)
    }

    /// The value or the key's fill lease, in one script; read with [`leased`](Self::leased).
    pub(crate) fn load_or_lease<K: Serialize>(&self, key: &K) -> Result<Pipeline, RedisStoreError> {
        let k = self.key(key)?;
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(LOAD_OR_LEASE)
            .arg(3)
            .arg(&k)
            .arg(self.lease_key(&k))
            .arg(self.lease_counter())
            .arg(self.lease.as_millis().min(u64::MAX.into()) as u64);
        Ok(pipe)
    }

    /// What a [`load_or_lease`](Self::load_or_lease) found.
    pub(crate) fn leased<V: DeserializeOwned>(
        &self,
        ((found, bytes),): LeaseAnswer,
    ) -> Result<Leased<V>, RedisStoreError> {
        match found {
            1 => return self.codec.decode(&bytes).map_err(codec).map(Leased::Hit),
            2 => return Ok(Leased::Held),
            _ => {}
        }
        let token = std::str::from_utf8(&bytes)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| codec("a lease token that is not a number"))?;
        Ok(Leased::Miss(Some(FillLease::new(token))))
    }

    /// Gives `lease` back (a script); the answer is 1.
    pub(crate) fn release<K: Serialize>(
        &self,
        key: &K,
        lease: FillLease,
    ) -> Result<Pipeline, RedisStoreError> {
        let k = self.key(key)?;
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(self.lease_key(&k))
            .arg(lease.token().to_string());
        Ok(pipe)
    }

    /// A fill under `lease` (a script), with the store's TTL; the answer is 1 if it stored.
    pub(crate) fn fill<K: Serialize, V: Serialize>(
        &self,
        key: &K,
        value: &V,
        lease: FillLease,
    ) -> Result<Pipeline, RedisStoreError> {
        let (k, v) = (self.key(key)?, self.encode(value)?);
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(FILL)
            .arg(2)
            .arg(&k)
            .arg(self.lease_key(&k))
            .arg(lease.token().to_string())
            .arg(v)
            .arg(self.ttl_secs().unwrap_or(0));
        Ok(pipe)
    }
}

#[cfg(test)]
mod tests {
    use super::{KeyFormat, Keyspace};

    fn names(format: KeyFormat) -> Keyspace {
        Keyspace {
            namespace: "users".into(),
            key_format: format,
            ..Keyspace::default()
        }
    }

    #[test]
    fn text_names_binary_names_and_their_escapes_never_meet() {
        let text = names(KeyFormat::Text);
        assert_eq!(text.key(&9u64).unwrap(), b"users:9");
        assert_eq!(text.key(&"alice").unwrap(), b"users:alice");
        // No text form: a NUL and `b`, then postcard (two bytes, 1 and 2).
        assert_eq!(text.key(&(1u8, 2u8)).unwrap(), b"users:\0b\x01\x02");
        // A text form that starts like a binary name is escaped.
        assert_eq!(text.key(&"\0b\x01\x02").unwrap(), b"users:\0t\0b\x01\x02");
        // Binary: postcard for every key (u64 9 is the byte 9), as before the text names.
        let binary = names(KeyFormat::Binary);
        assert_eq!(binary.key(&9u64).unwrap(), b"users:\x09");
        assert_eq!(binary.key(&(1u8, 2u8)).unwrap(), b"users:\x01\x02");
    }
}
