//! JSON and JSON Lines: the structure of the document, inferred while streaming.
//!
//! The parser never builds a `serde_json::Value`: a visitor folds each value into a
//! [`JsonShape`] as it is read (types seen, array lengths, the union of object
//! keys), so memory is bounded by the description, not the file. The description
//! itself is capped in depth and breadth (see [`crate::limits`]); a capped
//! description says so (`truncated`, `keys_truncated`).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::{Ctx, Format, FormatError, is_false};

use crate::limits::{
    JSON_MAX_DEPTH as MAX_DEPTH, JSON_MAX_KEY_CHARS as MAX_KEY_CHARS,
    JSON_MAX_KEYS_PER_OBJECT as MAX_KEYS_PER_OBJECT, JSON_MAX_KEYS_TOTAL as MAX_KEYS_TOTAL,
};

/// The kind of a JSON value. Numbers are split into integers and floats as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    /// `null`.
    Null,
    /// `true` or `false`.
    Boolean,
    /// A number without fraction or exponent.
    Integer,
    /// Any other number.
    Float,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

const ALL_TYPES: [JsonType; 7] = [
    JsonType::Null,
    JsonType::Boolean,
    JsonType::Integer,
    JsonType::Float,
    JsonType::String,
    JsonType::Array,
    JsonType::Object,
];

/// What a JSON document holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonInfo {
    /// The top-level value's type: `object`, `array`, or a scalar type.
    #[serde(rename = "type")]
    pub kind: JsonType,
    /// For a top-level array: its length.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    /// For a top-level object: its keys, each with its value's shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<JsonKey>,
    /// For a top-level array: the merged shape of its elements (their types, and for
    /// objects the union of their keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<JsonShape>,
    /// Whether a cap (depth or keys) cut the description short.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// What a JSON Lines (NDJSON) file holds: the count of records and their merged shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonLinesInfo {
    /// JSON values in the file (one per line in a well-formed file; blank lines do not count).
    pub records: u64,
    /// The merged shape of all records: their types and the union of their keys.
    #[serde(flatten)]
    pub shape: JsonShape,
    /// Whether a cap (depth or keys) cut the description short.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
}

/// The merged shape of every value seen at one position of a document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JsonShape {
    /// The types seen, in a fixed order (null, boolean, integer, float, string, array, object).
    pub types: Vec<JsonType>,
    /// For arrays: the shortest and longest length seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<LengthRange>,
    /// For objects: the union of their keys, in first-seen order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<JsonKey>,
    /// Whether some keys were left out by a cap.
    #[serde(default, skip_serializing_if = "is_false")]
    pub keys_truncated: bool,
    /// For arrays: the merged shape of their elements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Box<JsonShape>>,
}

/// Shortest and longest array length seen at one position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LengthRange {
    /// The shortest.
    pub min: u64,
    /// The longest.
    pub max: u64,
}

/// One object key and the shape of its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JsonKey {
    /// The key.
    pub name: String,
    /// In how many of the objects at this position the key appears.
    pub count: u64,
    /// The merged shape of its values.
    #[serde(flatten)]
    pub shape: JsonShape,
}

pub(crate) fn describe(ctx: &Ctx<'_>, notes: &mut Vec<String>) -> Result<JsonInfo, FormatError> {
    let mut reader = open(ctx)?;
    let mut limits = Limits::default();
    let mut root = Builder::default();
    let mut de = serde_json::Deserializer::from_reader(&mut reader);
    Seed {
        b: &mut root,
        depth: 0,
        limits: &mut limits,
    }
    .deserialize(&mut de)
    .map_err(|e| json_error(ctx, Format::Json, e))?;
    de.end().map_err(|e| json_error(ctx, Format::Json, e))?;
    limits.note(notes);

    let kind = ALL_TYPES
        .into_iter()
        .find(|t| root.types & bit(*t) != 0)
        .unwrap_or(JsonType::Null);
    let shape = root.finish();
    Ok(JsonInfo {
        kind,
        length: shape.length.map(|l| l.max),
        keys: shape.keys,
        items: shape.items.map(|b| *b),
        truncated: limits.truncated(),
    })
}

pub(crate) fn describe_lines(
    ctx: &Ctx<'_>,
    notes: &mut Vec<String>,
) -> Result<JsonLinesInfo, FormatError> {
    let mut reader = open(ctx)?;
    let mut merged = Builder::default();
    let mut merge_limits = Limits::default();
    let mut record_limits_hit = Limits::default();
    let mut records = 0u64;
    let stream = serde_json::Deserializer::from_reader(&mut reader).into_iter::<Record>();
    for record in stream {
        let record = record.map_err(|e| json_error(ctx, Format::JsonLines, e))?;
        records += 1;
        record_limits_hit.depth_capped |= record.limits.depth_capped;
        record_limits_hit.keys_capped |= record.limits.keys_capped;
        merged.merge(record.shape, &mut merge_limits);
    }
    merge_limits.depth_capped |= record_limits_hit.depth_capped;
    merge_limits.keys_capped |= record_limits_hit.keys_capped;
    merge_limits.note(notes);
    Ok(JsonLinesInfo {
        records,
        shape: merged.finish(),
        truncated: merge_limits.truncated(),
    })
}

fn open(ctx: &Ctx<'_>) -> Result<BufReader<File>, FormatError> {
    let file = File::open(ctx.path).map_err(|e| FormatError::io(ctx.path, e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let buf = reader
        .fill_buf()
        .map_err(|e| FormatError::io(ctx.path, e))?;
    if buf.starts_with(b"\xEF\xBB\xBF") {
        reader.consume(3);
    }
    Ok(reader)
}

fn json_error(ctx: &Ctx<'_>, format: Format, e: serde_json::Error) -> FormatError {
    if e.is_io() {
        let kind = std::io::Error::other(e.to_string());
        return FormatError::io(ctx.path, kind);
    }
    let prefix = if e.is_eof() { "truncated: " } else { "" };
    let message = e.to_string();
    let hint = if format == Format::Json && message.starts_with("trailing characters") {
        " (several JSON values: JSON Lines files should be named .jsonl or .ndjson)"
    } else {
        ""
    };
    FormatError::malformed(format, format!("{prefix}{message}{hint}"))
}

/// What the caps cut, across one description.
#[derive(Debug)]
struct Limits {
    keys_left: usize,
    keys_capped: bool,
    depth_capped: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            keys_left: MAX_KEYS_TOTAL,
            keys_capped: false,
            depth_capped: false,
        }
    }
}

impl Limits {
    fn truncated(&self) -> bool {
        self.keys_capped || self.depth_capped
    }

    fn note(&self, notes: &mut Vec<String>) {
        if self.depth_capped {
            notes.push(format!(
                "values nested deeper than {MAX_DEPTH} levels are described by type only"
            ));
        }
        if self.keys_capped {
            notes.push(format!(
                "key lists are capped at {MAX_KEYS_PER_OBJECT} per object and {MAX_KEYS_TOTAL} in all"
            ));
        }
    }
}

fn bit(t: JsonType) -> u8 {
    1 << (t as u8)
}

/// The mutable form of [`JsonShape`], with a key index for fast merging.
#[derive(Default)]
struct Builder {
    types: u8,
    length: Option<LengthRange>,
    keys: Vec<(String, u64, Builder)>,
    index: HashMap<String, usize>,
    keys_truncated: bool,
    items: Option<Box<Builder>>,
}

impl Builder {
    fn add_length(&mut self, n: u64) {
        self.length = Some(match self.length {
            None => LengthRange { min: n, max: n },
            Some(r) => LengthRange {
                min: r.min.min(n),
                max: r.max.max(n),
            },
        });
    }

    /// The slot of key `name`, created if the caps allow.
    fn slot(&mut self, name: String, limits: &mut Limits) -> Option<usize> {
        let name = if name.chars().count() > MAX_KEY_CHARS {
            let mut cut: String = name.chars().take(MAX_KEY_CHARS).collect();
            cut.push('…');
            cut
        } else {
            name
        };
        if let Some(&i) = self.index.get(&name) {
            return Some(i);
        }
        if self.keys.len() >= MAX_KEYS_PER_OBJECT || limits.keys_left == 0 {
            self.keys_truncated = true;
            limits.keys_capped = true;
            return None;
        }
        limits.keys_left -= 1;
        let i = self.keys.len();
        self.index.insert(name.clone(), i);
        self.keys.push((name, 0, Builder::default()));
        Some(i)
    }

    fn merge(&mut self, other: Builder, limits: &mut Limits) {
        self.types |= other.types;
        if let Some(r) = other.length {
            self.add_length(r.min);
            self.add_length(r.max);
        }
        self.keys_truncated |= other.keys_truncated;
        for (name, count, child) in other.keys {
            if let Some(i) = self.slot(name, limits) {
                self.keys[i].1 += count;
                self.keys[i].2.merge(child, limits);
            }
        }
        if let Some(items) = other.items {
            self.items
                .get_or_insert_with(Box::default)
                .merge(*items, limits);
        }
    }

    fn finish(self) -> JsonShape {
        JsonShape {
            types: ALL_TYPES
                .into_iter()
                .filter(|t| self.types & bit(*t) != 0)
                .collect(),
            length: self.length,
            keys: self
                .keys
                .into_iter()
                .map(|(name, count, b)| JsonKey {
                    name,
                    count,
                    shape: b.finish(),
                })
                .collect(),
            keys_truncated: self.keys_truncated,
            items: self.items.map(|b| Box::new(b.finish())),
        }
    }
}

/// Folds one value into a [`Builder`] as serde_json reads it.
struct Seed<'a> {
    b: &'a mut Builder,
    depth: usize,
    limits: &'a mut Limits,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.b.types |= bit(JsonType::Boolean);
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.b.types |= bit(JsonType::Integer);
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.b.types |= bit(JsonType::Integer);
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.b.types |= bit(JsonType::Float);
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.b.types |= bit(JsonType::String);
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.b.types |= bit(JsonType::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.b.types |= bit(JsonType::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.b.types |= bit(JsonType::Array);
        let mut n = 0u64;
        if self.depth + 1 < MAX_DEPTH {
            let items = self.b.items.get_or_insert_with(Box::default);
            while seq
                .next_element_seed(Seed {
                    b: items,
                    depth: self.depth + 1,
                    limits: self.limits,
                })?
                .is_some()
            {
                n += 1;
            }
        } else {
            while seq.next_element::<IgnoredAny>()?.is_some() {
                n += 1;
            }
            if n > 0 {
                self.limits.depth_capped = true;
            }
        }
        self.b.add_length(n);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.b.types |= bit(JsonType::Object);
        if self.depth + 1 < MAX_DEPTH {
            while let Some(key) = map.next_key::<String>()? {
                match self.b.slot(key, self.limits) {
                    Some(i) => {
                        let (_, count, child) = &mut self.b.keys[i];
                        *count += 1;
                        map.next_value_seed(Seed {
                            b: child,
                            depth: self.depth + 1,
                            limits: self.limits,
                        })?;
                    }
                    None => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
        } else {
            let mut any = false;
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                any = true;
            }
            if any {
                self.limits.depth_capped = true;
            }
        }
        Ok(())
    }
}

/// One JSON Lines record, described on its own and merged afterwards.
struct Record {
    shape: Builder,
    limits: Limits,
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut shape = Builder::default();
        let mut limits = Limits::default();
        Seed {
            b: &mut shape,
            depth: 0,
            limits: &mut limits,
        }
        .deserialize(deserializer)?;
        Ok(Record { shape, limits })
    }
}
