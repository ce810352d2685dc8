//! Reading a run's `params` / `metrics` JSONB straight from the bytes
//! PostgreSQL sends, one entry at a time, without building a
//! `serde_json::Value` tree or allocating a key per entry: loading a
//! million-run study into the explorer parses two objects per row, and this
//! is most of the client's share of that cost.

use std::borrow::Cow;
use std::fmt;

use postgres::types::{FromSql, Type};
use serde::Deserializer as _;
use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::Value;

/// The JSON text of a `json` or `jsonb` value, borrowed from the row.
pub struct RawJson<'a>(pub &'a [u8]);

impl<'a> FromSql<'a> for RawJson<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        if *ty == Type::JSONB {
            // jsonb's binary format is a version byte (1) and the JSON text.
            match raw.split_first() {
                Some((1, text)) => Ok(RawJson(text)),
                _ => Err("unsupported jsonb binary format version".into()),
            }
        } else {
            Ok(RawJson(raw))
        }
    }

    fn accepts(ty: &Type) -> bool {
        matches!(*ty, Type::JSON | Type::JSONB)
    }
}

/// One value of an entry, as the explorer types it.
#[derive(Debug, PartialEq)]
pub enum Scalar<'a> {
    /// A number.
    Number(f64),
    /// A string.
    Text(Cow<'a, str>),
    /// Anything else (booleans, null, arrays, objects), as JSON.
    Json(Value),
}

impl Scalar<'_> {
    /// The text the explorer shows for this value in a text column.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Scalar::Number(x) => Cow::Owned(number_text(*x)),
            Scalar::Text(s) => Cow::Borrowed(s.as_ref()),
            Scalar::Json(v) => Cow::Owned(v.to_string()),
        }
    }
}

/// A number as text: integers without a fraction (`3`, not `3.0`).
pub fn number_text(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        format!("{}", x as i64)
    } else {
        Value::from(x).to_string()
    }
}

/// Calls `f` with each key and value of the JSON object `bytes`. Anything
/// but an object is an error.
pub fn for_each_entry<'a>(
    bytes: &'a [u8],
    f: &mut dyn FnMut(&str, Scalar<'a>),
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    de.deserialize_map(Entries { f })?;
    de.end()
}

struct Entries<'f, 'a> {
    f: &'f mut dyn FnMut(&str, Scalar<'a>),
}

impl<'a> Visitor<'a> for Entries<'_, 'a> {
    type Value = ();

    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'a>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let value = map.next_value_seed(ScalarSeed)?;
            (self.f)(&key, value);
        }
        Ok(())
    }
}

struct KeySeed;

impl<'a> DeserializeSeed<'a> for KeySeed {
    type Value = Cow<'a, str>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'a> Visitor<'a> for KeyVisitor {
    type Value = Cow<'a, str>;

    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

struct ScalarSeed;

impl<'a> DeserializeSeed<'a> for ScalarSeed {
    type Value = Scalar<'a>;

    fn deserialize<D: de::Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'a> Visitor<'a> for ScalarVisitor {
    type Value = Scalar<'a>;

    fn expecting(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str("a JSON value")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v as f64))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_string())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Json(Value::Bool(v)))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Json(Value::Null))
    }

    fn visit_seq<S: de::SeqAccess<'a>>(self, seq: S) -> Result<Self::Value, S::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Scalar::Json)
    }

    fn visit_map<M: MapAccess<'a>>(self, map: M) -> Result<Self::Value, M::Error> {
        use serde::Deserialize;
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Scalar::Json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<(String, Scalar<'_>)> {
        let mut out = Vec::new();
        for_each_entry(text.as_bytes(), &mut |k, v| out.push((k.to_string(), v))).unwrap();
        out
    }

    #[test]
    fn every_kind_of_value_comes_through() {
        let got = entries(
            r#"{"a": 1, "b": -2.5, "c": "x\"y", "d": true, "e": null, "f": [1, 2], "g": {"h": 1}, "k\u00e9": "plain"}"#,
        );
        assert_eq!(got[0], ("a".into(), Scalar::Number(1.0)));
        assert_eq!(got[1], ("b".into(), Scalar::Number(-2.5)));
        assert_eq!(got[2], ("c".into(), Scalar::Text("x\"y".into())));
        assert_eq!(got[3], ("d".into(), Scalar::Json(Value::Bool(true))));
        assert_eq!(got[4], ("e".into(), Scalar::Json(Value::Null)));
        assert_eq!(got[5].1.text(), "[1,2]");
        assert_eq!(got[6].1.text(), r#"{"h":1}"#);
        assert_eq!(got[7], ("ké".into(), Scalar::Text("plain".into())));
        // Unescaped strings are borrowed from the row, not copied.
        assert!(matches!(got[7].1, Scalar::Text(Cow::Borrowed(_))));
    }

    #[test]
    fn numbers_parse_exactly() {
        // PostgreSQL writes float8 metrics into jsonb with 17 significant
        // digits; the nearest double must come back, not one a unit in the
        // last place away (serde_json's `float_roundtrip`).
        for text in [
            "-9.905731060174059",
            "0.1",
            "2.2250738585072014e-308",
            "1.7976931348623157e308",
        ] {
            let want: f64 = text.parse().unwrap();
            let mut got = None;
            let json = format!("{{\"y\": {text}}}");
            for_each_entry(json.as_bytes(), &mut |_, v| got = Some(v)).unwrap();
            assert_eq!(got, Some(Scalar::Number(want)), "{text}");
        }
    }

    #[test]
    fn numbers_as_text_keep_integers_plain() {
        assert_eq!(number_text(3.0), "3");
        assert_eq!(number_text(-0.5), "-0.5");
        assert_eq!(number_text(1e300), "1e+300");
    }

    #[test]
    fn anything_but_an_object_is_an_error() {
        assert!(for_each_entry(b"[1]", &mut |_, _| {}).is_err());
        assert!(for_each_entry(b"{\"a\": 1} x", &mut |_, _| {}).is_err());
    }
}
