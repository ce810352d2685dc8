//! Typed reading of a JSON object field by field, so that every error in a
//! topology names the exact field path (`components.api.replicas`), what was
//! expected, and a did-you-mean for misspelt keys.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::SimError;

/// An error at `path`.
pub(crate) fn bad(path: &str, message: impl Into<String>) -> SimError {
    SimError::BadOption {
        option: path.to_string(),
        message: message.into(),
    }
}

pub(crate) use crate::params::did_you_mean;

/// Joins a parent path and a key.
pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// A JSON object being read; remembers which keys were read so that
/// [`Obj::finish`] can reject the rest.
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    read: BTreeSet<&'static str>,
}

impl<'a> Obj<'a> {
    /// Reads `value` (at `path`) as an object.
    pub(crate) fn new(value: &'a Value, path: &str) -> Result<Self, SimError> {
        match value {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
                read: BTreeSet::new(),
            }),
            other => Err(bad(
                path,
                format!("expected a mapping, found {}", kind_of(other)),
            )),
        }
    }

    /// The object's own path.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Path of one of its fields.
    pub(crate) fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The raw value of `key`, if present.
    pub(crate) fn get(&mut self, key: &'static str) -> Option<&'a Value> {
        self.read.insert(key);
        self.map.get(key)
    }

    /// A required field.
    pub(crate) fn need(&mut self, key: &'static str, what: &str) -> Result<&'a Value, SimError> {
        self.get(key).ok_or_else(|| {
            bad(
                &self.path,
                format!("missing field `{key}` (expected {what})"),
            )
        })
    }

    /// An optional number within `[low, high]`.
    pub(crate) fn number(
        &mut self,
        key: &'static str,
        low: f64,
        high: f64,
    ) -> Result<Option<f64>, SimError> {
        let path = self.at(key);
        self.get(key)
            .map(|v| number_in(v, &path, low, high))
            .transpose()
    }

    /// A required number within `[low, high]`; `what` says what it means.
    pub(crate) fn need_number(
        &mut self,
        key: &'static str,
        low: f64,
        high: f64,
        what: &str,
    ) -> Result<f64, SimError> {
        self.number(key, low, high)?.ok_or_else(|| {
            bad(
                &self.path,
                format!("missing field `{key}` (expected {what})"),
            )
        })
    }

    /// An optional string that must be one of `known` (default `default`).
    pub(crate) fn one_of(
        &mut self,
        key: &'static str,
        what: &str,
        known: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, SimError> {
        let path = self.at(key);
        match self.string(key)? {
            None => Ok(default),
            Some(v) => known.iter().find(|k| **k == v).copied().ok_or_else(|| {
                bad(
                    &path,
                    format!(
                        "unknown {what} `{v}` (known: {}){}",
                        known.join(", "),
                        did_you_mean(v, known)
                    ),
                )
            }),
        }
    }

    /// Non-negative numbers given inline under `list_key` or, one per line,
    /// in the file named by `file_key` (relative to `base`); `what` says
    /// what they are, for the message when neither is given.
    pub(crate) fn numbers(
        &mut self,
        list_key: &'static str,
        file_key: &'static str,
        base: &std::path::Path,
        what: &str,
    ) -> Result<Vec<f64>, SimError> {
        let (list_path, file_path) = (self.at(list_key), self.at(file_key));
        let out: Vec<f64> = match (self.get(list_key), self.get(file_key)) {
            (Some(Value::Array(a)), None) => a
                .iter()
                .enumerate()
                .map(|(k, x)| number_in(x, &format!("{list_path}[{k}]"), 0.0, f64::INFINITY))
                .collect::<Result<_, _>>()?,
            (None, Some(Value::String(f))) => read_numbers(&base.join(f), &file_path)?,
            _ => {
                return Err(bad(
                    &self.path,
                    format!("give `{list_key}: [..]` or `{file_key}` (one value per line): {what}"),
                ));
            }
        };
        if out.is_empty() {
            return Err(bad(&self.path, format!("no values: {what}")));
        }
        Ok(out)
    }

    /// An optional whole number within `[low, high]`.
    pub(crate) fn count(
        &mut self,
        key: &'static str,
        low: u64,
        high: u64,
    ) -> Result<Option<u64>, SimError> {
        let path = self.at(key);
        self.get(key)
            .map(|v| count_in(v, &path, low, high))
            .transpose()
    }

    /// An optional string.
    pub(crate) fn string(&mut self, key: &'static str) -> Result<Option<&'a str>, SimError> {
        let path = self.at(key);
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(bad(
                &path,
                format!("expected a string, found {}", kind_of(other)),
            )),
        }
    }

    /// Rejects every key that was not read, suggesting the closest known one.
    pub(crate) fn finish(self) -> Result<(), SimError> {
        for key in self.map.keys() {
            if !self.read.contains(key.as_str()) {
                let known: Vec<&str> = self.read.iter().copied().collect();
                return Err(bad(
                    &join(&self.path, key),
                    format!(
                        "unknown field `{key}` (known here: {}){}",
                        known.join(", "),
                        did_you_mean(key, known.iter().copied())
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Numbers from a text file, one per line (blank lines and `#` comments
/// skipped; of a CSV line, the first field; a header line is skipped).
fn read_numbers(file: &std::path::Path, path: &str) -> Result<Vec<f64>, SimError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad(path, format!("cannot read `{}`: {e}", file.display())))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let field = line.split(',').next().unwrap_or(line).trim();
        match field.parse::<f64>() {
            Ok(x) if x.is_finite() && x >= 0.0 => out.push(x),
            Err(_) if out.is_empty() && i == 0 => {} // a header
            _ => {
                return Err(bad(
                    path,
                    format!(
                        "`{}` line {}: `{field}` is not a non-negative number",
                        file.display(),
                        i + 1
                    ),
                ));
            }
        }
    }
    Ok(out)
}

/// A number within `[low, high]`.
pub(crate) fn number_in(v: &Value, path: &str, low: f64, high: f64) -> Result<f64, SimError> {
    let x = v
        .as_f64()
        .ok_or_else(|| bad(path, format!("expected a number, found {}", kind_of(v))))?;
    if !(low..=high).contains(&x) || !x.is_finite() {
        return Err(bad(
            path,
            format!("{x} is out of range (expected {})", range_text(low, high)),
        ));
    }
    Ok(x)
}

/// A whole number within `[low, high]` (a float with no fraction counts).
pub(crate) fn count_in(v: &Value, path: &str, low: u64, high: u64) -> Result<u64, SimError> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            path,
            format!("expected a whole number ≥ {low}, found {}", show(v)),
        )
    })?;
    if !(low..=high).contains(&n) {
        return Err(bad(
            path,
            format!("{n} is out of range (expected {low} to {high})"),
        ));
    }
    Ok(n)
}

fn range_text(low: f64, high: f64) -> String {
    match (low.is_finite(), high.is_finite()) {
        (true, true) => format!("a number in [{low}, {high}]"),
        (true, false) => format!("a number ≥ {low}"),
        (false, true) => format!("a number ≤ {high}"),
        (false, false) => "a finite number".into(),
    }
}

/// A short description of a value's type, for messages.
pub(crate) fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing (null)",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("\"{s}\""),
        other => kind_of(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_key_is_named_with_a_suggestion() {
        let v = json!({"replicas": 2, "concurency": 4});
        let mut o = Obj::new(&v, "components.api").unwrap();
        o.count("replicas", 1, 100).unwrap();
        o.count("concurrency", 1, 100).unwrap();
        let e = o.finish().unwrap_err().to_string();
        assert!(e.contains("components.api.concurency"), "{e}");
        assert!(e.contains("did you mean `concurrency`"), "{e}");
    }

    #[test]
    fn counts_reject_fractions_and_ranges() {
        assert!(count_in(&json!(2.0), "x", 1, 5).is_ok());
        let e = count_in(&json!(2.5), "x", 1, 5).unwrap_err().to_string();
        assert!(e.contains("whole number"), "{e}");
        let e = count_in(&json!(0), "x", 1, 5).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = number_in(&json!("a"), "y", 0.0, 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a number, found a string"), "{e}");
    }
}
