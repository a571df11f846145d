//! Key and value encoding for the stores that keep bytes (SQLite, Redis): serde through
//! `postcard`, a compact, stable, well-kept binary format (varint integers, no field names, a
//! documented wire format that does not change within a major version).

use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(value)
}

#[cfg_attr(
    not(any(feature = "sqlite", feature = "redis", feature = "postgres")),
    allow(dead_code)
)]
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// How a Redis store encodes values (feature `redis`; see
/// [`RedisStore::with_codec`](crate::RedisStore::with_codec)).
#[cfg(feature = "redis")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueCodec {
    /// serde through postcard: compact and fast, readable by Rust (postcard's documented wire
    /// format). The default.
    #[default]
    Postcard,
    /// serde through JSON (`serde_json`): larger and slower, readable by `redis-cli` and by
    /// services in any language.
    Json,
}

#[cfg(feature = "redis")]
impl ValueCodec {
    pub(crate) fn encode<T: Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        match self {
            ValueCodec::Postcard => Ok(encode(value)?),
            ValueCodec::Json => Ok(serde_json::to_vec(value)?),
        }
    }

    pub(crate) fn decode<T: DeserializeOwned>(
        self,
        bytes: &[u8],
    ) -> Result<T, Box<dyn std::error::Error + Send + Sync>> {
        match self {
            ValueCodec::Postcard => Ok(decode(bytes)?),
            ValueCodec::Json => Ok(serde_json::from_slice(bytes)?),
        }
    }
}

/// How a Redis store names keys (feature `redis`; see
/// [`RedisStore::with_key_format`](crate::RedisStore::with_key_format)).
#[cfg(feature = "redis")]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `namespace:` and the key's text form (`users:9`, `users:alice`) for integers, strings,
    /// `bool`, `char` and newtypes of them; other keys by their postcard bytes after
    /// `namespace:` and a NUL. The default. A key type whose values serialize sometimes as a
    /// number and sometimes as a string (an untagged enum of `u64` and `String`,
    /// `serde_json::Value`) must use [`Binary`](Self::Binary): `9` and `"9"` share a text form.
    #[default]
    Text,
    /// `namespace:` and the key's postcard bytes, for every key: one name per value for any key
    /// type, and the layout of stratacache before [`Text`](Self::Text) (so a namespace written
    /// by an older version stays readable).
    Binary,
}
