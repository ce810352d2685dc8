//! Building a builtin simulator from options written in a study (or on the
//! command line): options that name YAML files (a `sysdesign` topology) are
//! loaded here, keeping their positions, so that an error deep inside such a
//! file still points at its line.

use std::path::Path;

use serde_json::{Map, Value};
use simforge_core::diagnostic::{Diagnostic, Diagnostics, did_you_mean};
use simforge_core::source::{Document, SourceMap, parse_document};
use simforge_sims::{SimError, Simulator};

/// Where the options came from, for error positions.
pub struct OptionsOrigin<'a> {
    /// The document holding the options (the study file), if any.
    pub source: Option<&'a SourceMap>,
    /// The options' path in it, e.g. `simulator.options`.
    pub path: &'a str,
    /// What to call the options in messages when there is no document,
    /// e.g. `--option`.
    pub label: &'a str,
    /// What relative file names are relative to, for hints, e.g. `the study
    /// file's directory`.
    pub relative_to: &'a str,
}

/// Builds builtin `name` from `options`; relative file names are resolved
/// against `base`.
pub fn build_builtin(
    name: &str,
    options: &Map<String, Value>,
    base: &Path,
    origin: &OptionsOrigin<'_>,
) -> Result<Box<dyn Simulator>, Diagnostics> {
    let mut options = options.clone();
    let mut loaded: Vec<(&str, SourceMap)> = Vec::new();
    for &key in simforge_sims::file_options(name) {
        let Some(Value::String(file)) = options.get(key) else {
            continue;
        };
        let path = base.join(file);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            Diagnostics::from(
                at(
                    origin,
                    key,
                    format!("cannot read `{}`: {e}", path.display()),
                )
                .hint(format!("the path is relative to {}", origin.relative_to)),
            )
        })?;
        let Document { value, source } = parse_document(&path, &text)?;
        options.insert(key.to_string(), value);
        loaded.push((key, source));
    }
    simforge_sims::builtin(name, &options, base).map_err(|e| {
        let d = match e {
            SimError::UnknownBuiltin { name, known } => {
                let mut d = match origin.source {
                    Some(s) => s.error_at(
                        "simulator.builtin",
                        format!("unknown builtin simulator `{name}`"),
                    ),
                    None => Diagnostic::new(
                        "<command line>",
                        "NAME",
                        format!("unknown builtin simulator `{name}`"),
                    ),
                }
                .expected(format!("one of {known}"));
                if let Some(s) = did_you_mean(&name, simforge_sims::builtin_names().iter().copied())
                {
                    d = d.hint(format!("did you mean `{s}`?"));
                }
                d
            }
            SimError::BadOption { option, message } => {
                let (message, hint) = split_hint(&message);
                let inner = loaded.iter().find_map(|(key, src)| {
                    // `topology` itself or a path inside it, not `topology_x`.
                    let rest = option.strip_prefix(key)?;
                    let inner = match rest.strip_prefix('.') {
                        Some(inner) => inner,
                        None if rest.is_empty() => "",
                        None => return None,
                    };
                    Some((src, inner))
                });
                let d = match inner {
                    Some((src, path)) if message.starts_with("unknown field") => {
                        src.error_at_key(path, message)
                    }
                    Some((src, path)) => src.error_at(path, message),
                    None => at(origin, &option, message),
                };
                match hint {
                    Some(h) => d.hint(h),
                    None => d,
                }
            }
            other => at(origin, "", other.to_string()),
        };
        Diagnostics::from(d)
    })
}

fn at(origin: &OptionsOrigin<'_>, option: &str, message: impl Into<String>) -> Diagnostic {
    let path = if option.is_empty() {
        origin.path.to_string()
    } else {
        format!("{}.{option}", origin.path)
    };
    match origin.source {
        Some(s) => s.error_at(&path, message),
        None if option.is_empty() => Diagnostic::new("<command line>", origin.label, message),
        None => Diagnostic::new(
            "<command line>",
            format!("{} {option}", origin.label),
            message,
        ),
    }
}

/// Splits a trailing "; did you mean `x`?" off a message, to show it as a hint.
fn split_hint(message: &str) -> (String, Option<String>) {
    match message.rsplit_once("; did you mean") {
        Some((m, rest)) => (m.to_string(), Some(format!("did you mean{rest}"))),
        None => (message.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_a_topology_file_point_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("system.yaml"),
            "components:\n  c:\n    type: source\n    arrivals: {rate: 10}\n    to: api\n  api:\n    type: service\n    service_time: 5\n    replica: 2\n",
        )
        .unwrap();
        let mut o = Map::new();
        o.insert("topology".into(), Value::String("system.yaml".into()));
        let origin = OptionsOrigin {
            source: None,
            path: "simulator.options",
            label: "--option",
            relative_to: "the current directory",
        };
        let e = build_builtin("sysdesign", &o, dir.path(), &origin)
            .err()
            .expect("an unknown field");
        let text = e.render();
        assert!(text.contains("system.yaml:9"), "{text}");
        assert!(text.contains("unknown field `replica`"), "{text}");
        assert!(text.contains("did you mean `replicas`"), "{text}");
        o.insert("topology".into(), Value::String("missing.yaml".into()));
        let e = build_builtin("sysdesign", &o, dir.path(), &origin)
            .err()
            .unwrap();
        assert!(e.render().contains("cannot read"), "{}", e.render());
    }
}
