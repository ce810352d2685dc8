//! Study-file text → a JSON value plus the position of every field.
//!
//! YAML and JSON (a subset of YAML 1.2) are both read with `saphyr`, which keeps a
//! span for every node. We convert the tree to a [`serde_json::Value`] for typed
//! deserialisation and keep a [`SourceMap`] from field paths to positions, so that
//! errors found later — by serde or by semantic checks — can still point at the
//! right line and column.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYamlOwned, ScalarOwned, YamlDataOwned};

use crate::diagnostic::{Diagnostic, Diagnostics, Location};

/// Positions of the fields of one parsed document, by dotted path.
///
/// Paths look like `parameters.x.range[1]`. For mapping entries both the key's
/// and the value's position are kept: unknown-key errors point at the key,
/// type errors at the value.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    file: PathBuf,
    lines: Vec<String>,
    keys: HashMap<String, Location>,
    values: HashMap<String, Location>,
}

impl SourceMap {
    /// The file this map describes.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Position of the value at `path`, falling back to its key, then to the
    /// nearest ancestor that has a position.
    pub fn value_location(&self, path: &str) -> Option<Location> {
        self.lookup(path, false)
    }

    /// Position of the key at `path` (falling back like [`Self::value_location`]).
    pub fn key_location(&self, path: &str) -> Option<Location> {
        self.lookup(path, true)
    }

    fn lookup(&self, path: &str, key_first: bool) -> Option<Location> {
        let mut p = path.to_string();
        loop {
            let (first, second) = if key_first {
                (&self.keys, &self.values)
            } else {
                (&self.values, &self.keys)
            };
            if let Some(l) = first.get(&p).or_else(|| second.get(&p)) {
                return Some(*l);
            }
            if p.is_empty() {
                return None;
            }
            p = parent_path(&p).to_string();
        }
    }

    /// A diagnostic about the value at `path`, located and with its source line.
    pub fn error_at(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        self.located(self.value_location(path), path, message)
    }

    /// A diagnostic about the key at `path` (e.g. an unknown field).
    pub fn error_at_key(&self, path: &str, message: impl Into<String>) -> Diagnostic {
        self.located(self.key_location(path), path, message)
    }

    fn located(&self, loc: Option<Location>, path: &str, message: impl Into<String>) -> Diagnostic {
        let mut d = Diagnostic::new(&self.file, path, message);
        d.location = loc;
        d.source_line = loc.and_then(|l| self.lines.get(l.line.wrapping_sub(1)).cloned());
        d
    }
}

/// The parent of a dotted path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``.
pub fn parent_path(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Joins a mapping key onto a path.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a sequence index onto a path.
pub fn join_index(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

/// A parsed study document.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON.
    pub value: serde_json::Value,
    /// Where each field came from.
    pub source: SourceMap,
}

/// Parses YAML or JSON text from `file` into a [`Document`].
pub fn parse_document(file: &Path, text: &str) -> Result<Document, Diagnostics> {
    let mut source = SourceMap {
        file: file.to_path_buf(),
        lines: text.lines().map(str::to_string).collect(),
        ..SourceMap::default()
    };
    let docs = MarkedYamlOwned::load_from_str(text).map_err(|e| -> Diagnostics {
        let m = e.marker();
        let loc = Location { line: m.line(), column: m.col() + 1 };
        let hint = if e.info().contains("duplicated key") {
            "each key may appear once in a mapping: remove or rename the repeated one"
        } else {
            "check indentation (spaces, not tabs) and that every `key: value` has a space after the colon"
        };
        source
            .located(Some(loc), "", format!("the file is not valid YAML/JSON: {}", e.info()))
            .hint(hint)
            .into()
    })?;
    let mut docs = docs.into_iter();
    let Some(doc) = docs.next() else {
        return Err(Diagnostic::new(file, "", "the study file is empty")
            .expected("a mapping with at least `name`, `simulator`, `parameters` and `design`")
            .hint("start from examples/quickstart/study.yaml or run `simforge schema`")
            .into());
    };
    if let Some(extra) = docs.next() {
        let loc = to_location(&extra);
        return Err(source
            .located(Some(loc), "", "the file holds more than one YAML document")
            .expected("exactly one study per file")
            .hint(
                "remove the `---` separator and the second document, or split them into two files",
            )
            .into());
    }
    let mut conv = Converter {
        source: &mut source,
    };
    let value = conv.convert(&doc, "")?;
    Ok(Document { value, source })
}

fn to_location(node: &MarkedYamlOwned) -> Location {
    Location {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

struct Converter<'a> {
    source: &'a mut SourceMap,
}

impl Converter<'_> {
    fn convert(
        &mut self,
        node: &MarkedYamlOwned,
        path: &str,
    ) -> Result<serde_json::Value, Diagnostics> {
        use serde_json::Value;
        self.source
            .values
            .insert(path.to_string(), to_location(node));
        Ok(match &node.data {
            YamlDataOwned::Value(s) => self.scalar(s, path)?,
            YamlDataOwned::Representation(s, _, _) => Value::String(s.clone()),
            YamlDataOwned::Sequence(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.convert(item, &join_index(path, i))?);
                }
                Value::Array(out)
            }
            YamlDataOwned::Mapping(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    let key = match &k.data {
                        YamlDataOwned::Value(ScalarOwned::String(s)) => s.clone(),
                        YamlDataOwned::Value(ScalarOwned::Integer(i)) => i.to_string(),
                        YamlDataOwned::Value(ScalarOwned::Boolean(b)) => b.to_string(),
                        YamlDataOwned::Value(ScalarOwned::FloatingPoint(f)) => f.to_string(),
                        YamlDataOwned::Representation(s, _, _) => s.clone(),
                        _ => {
                            return Err(self
                                .source
                                .located(
                                    Some(to_location(k)),
                                    path,
                                    "a mapping key must be a plain scalar",
                                )
                                .expected("a name such as `samples`")
                                .into());
                        }
                    };
                    let child = join_key(path, &key);
                    self.source.keys.insert(child.clone(), to_location(k));
                    let value = self.convert(v, &child)?;
                    out.insert(key, value);
                }
                Value::Object(out)
            }
            YamlDataOwned::Tagged(_, inner) => self.convert(inner, path)?,
            YamlDataOwned::Alias(_) => {
                return Err(self
                    .source
                    .error_at(
                        path,
                        "YAML aliases (`*name`) are not supported in study files",
                    )
                    .hint("write the value out in full")
                    .into());
            }
            YamlDataOwned::BadValue => {
                return Err(self
                    .source
                    .error_at(path, "this value could not be read")
                    .into());
            }
        })
    }

    fn scalar(&self, s: &ScalarOwned, path: &str) -> Result<serde_json::Value, Diagnostics> {
        use serde_json::Value;
        Ok(match s {
            ScalarOwned::Null => Value::Null,
            ScalarOwned::Boolean(b) => Value::Bool(*b),
            ScalarOwned::Integer(i) => Value::from(*i),
            ScalarOwned::FloatingPoint(f) => match serde_json::Number::from_f64(f.0) {
                Some(n) => Value::Number(n),
                None => {
                    return Err(self
                        .source
                        .error_at(path, format!("non-finite number `{}`", f.0))
                        .expected("a finite number")
                        .hint("infinite or NaN values cannot be used as study settings")
                        .into());
                }
            },
            ScalarOwned::String(s) => Value::String(s.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_key_and_value_positions() {
        let text = "name: demo\nparameters:\n  x:\n    range: [1, 2.5]\n";
        let doc = parse_document(Path::new("s.yaml"), text).unwrap();
        assert_eq!(
            doc.value["parameters"]["x"]["range"][1],
            serde_json::json!(2.5)
        );
        assert_eq!(
            doc.source.key_location("parameters.x"),
            Some(Location { line: 3, column: 3 })
        );
        assert_eq!(
            doc.source.value_location("parameters.x.range[1]"),
            Some(Location {
                line: 4,
                column: 16
            })
        );
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(
            doc.source.value_location("parameters.x.range[7]"),
            Some(Location {
                line: 4,
                column: 12
            })
        );
    }

    #[test]
    fn json_is_accepted() {
        let doc = parse_document(Path::new("s.json"), "{\"name\": \"j\", \"n\": [1, 2]}").unwrap();
        assert_eq!(doc.value["n"][1], serde_json::json!(2));
    }

    #[test]
    fn syntax_errors_are_located() {
        let err = parse_document(Path::new("s.yaml"), "name: a\nparameters: [1, 2\n").unwrap_err();
        assert!(err.0[0].location.is_some());
        assert!(
            err.0[0].message.contains("not valid YAML"),
            "{}",
            err.0[0].message
        );
    }

    #[test]
    fn duplicate_keys_are_rejected_with_their_own_hint() {
        let err = parse_document(Path::new("s.yaml"), "a: 1\nb: 2\na: 3\n").unwrap_err();
        let d = &err.0[0];
        assert_eq!(d.location.map(|l| l.line), Some(3));
        assert!(
            d.hint.as_deref().unwrap_or("").contains("appear once"),
            "{d:?}"
        );
    }

    #[test]
    fn empty_and_multi_document_files_are_rejected() {
        assert!(parse_document(Path::new("s.yaml"), "").is_err());
        assert!(parse_document(Path::new("s.yaml"), "a: 1\n---\nb: 2\n").is_err());
    }
}
