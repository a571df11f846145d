//! A key's text form, for key names that `redis-cli` and other languages can read: integers,
//! `bool`, `char` and strings (and newtypes around them) render as themselves (`9`, `alice`);
//! anything else (structs, tuples, enums, options, floats, bytes) has no text form, and the
//! Redis store then names the key by its postcard bytes, after a marker no text form has. Which
//! applies follows the key's `Serialize`: a type whose values serialize sometimes as a number
//! and sometimes as a string (an untagged enum, `serde_json::Value`) gives `9` and `"9"` one
//! name, and must use `KeyFormat::Binary`.

use serde::Serialize;
use serde::ser::{self, Impossible};
use std::fmt;

/// The key's text form, or `None` if its type has none.
pub(crate) fn text_key<K: Serialize + ?Sized>(key: &K) -> Option<String> {
    key.serialize(Text).ok()
}

#[derive(Debug)]
pub(crate) struct NotText;

impl fmt::Display for NotText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no text form")
    }
}

impl std::error::Error for NotText {}

impl ser::Error for NotText {
    fn custom<T: fmt::Display>(_: T) -> Self {
        NotText
    }
}

struct Text;

macro_rules! as_text {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, v: $ty) -> Result<String, NotText> {
            Ok(v.to_string())
        }
    )*};
}

macro_rules! not_text {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method(self, _: $ty) -> Result<String, NotText> {
            Err(NotText)
        }
    )*};
}

impl ser::Serializer for Text {
    type Ok = String;
    type Error = NotText;
    type SerializeSeq = Impossible<String, NotText>;
    type SerializeTuple = Impossible<String, NotText>;
    type SerializeTupleStruct = Impossible<String, NotText>;
    type SerializeTupleVariant = Impossible<String, NotText>;
    type SerializeMap = Impossible<String, NotText>;
    type SerializeStruct = Impossible<String, NotText>;
    type SerializeStructVariant = Impossible<String, NotText>;

    as_text!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_char: char,
        serialize_str: &str);
    not_text!(serialize_f32: f32, serialize_f64: f64, serialize_bytes: &[u8],
        serialize_unit_struct: &'static str);

    fn serialize_none(self) -> Result<String, NotText> {
        Err(NotText)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<String, NotText> {
        Err(NotText)
    }
    fn serialize_unit(self) -> Result<String, NotText> {
        Err(NotText)
    }
    fn serialize_unit_variant(self, _: &str, _: u32, _: &str) -> Result<String, NotText> {
        Err(NotText)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<String, NotText> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &str,
        _: u32,
        _: &str,
        _: &T,
    ) -> Result<String, NotText> {
        Err(NotText)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotText> {
        Err(NotText)
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotText> {
        Err(NotText)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotText> {
        Err(NotText)
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotText> {
        Err(NotText)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotText> {
        Err(NotText)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotText> {
        Err(NotText)
    }
}

#[cfg(test)]
mod tests {
    use super::text_key;
    use serde::Serialize;

    #[derive(Serialize)]
    struct UserId(u64);

    #[derive(Serialize)]
    struct Pair {
        a: u32,
    }

    #[test]
    fn integers_strings_and_newtypes_are_text_the_rest_is_not() {
        assert_eq!(text_key(&9u64).as_deref(), Some("9"));
        assert_eq!(text_key(&-3i32).as_deref(), Some("-3"));
        assert_eq!(text_key("alice").as_deref(), Some("alice"));
        assert_eq!(text_key(&String::from("a:b")).as_deref(), Some("a:b"));
        assert_eq!(text_key(&UserId(7)).as_deref(), Some("7"));
        assert_eq!(text_key(&'x').as_deref(), Some("x"));
        assert_eq!(text_key(&true).as_deref(), Some("true"));
        assert_eq!(text_key(&Pair { a: 1 }), None);
        assert_eq!(text_key(&(1u8, 2u8)), None);
        assert_eq!(text_key(&Some(1u8)), None);
        assert_eq!(text_key(&1.5f64), None);
        assert_eq!(text_key(&vec![1u8]), None);
    }
}
