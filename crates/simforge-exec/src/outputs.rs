//! Reading metrics from a finished command: a JSON file, the last row of a CSV,
//! `key=value` lines, or regular expressions over stdout.

use std::path::Path;

use regex::Regex;
use serde_json::{Map, Value};
use simforge_core::spec::OutputsSpec;

/// Default metrics file read when a command simulator declares no `outputs`.
pub const DEFAULT_METRICS_FILE: &str = "metrics.json";

/// Compiled output rules.
#[derive(Debug, Clone)]
pub struct OutputRules {
    json: Option<String>,
    csv: Option<String>,
    keyvalue: Option<String>,
    regex: Vec<(String, Regex)>,
    default_json: bool,
}

impl OutputRules {
    /// Compiles the rules; an invalid regex is reported with its metric name.
    pub fn new(spec: Option<&OutputsSpec>) -> Result<Self, (String, String)> {
        let Some(spec) = spec else {
            return Ok(OutputRules {
                json: None,
                csv: None,
                keyvalue: None,
                regex: vec![],
                default_json: true,
            });
        };
        let mut regex = Vec::new();
        for (metric, pattern) in &spec.regex {
            let re = Regex::new(pattern).map_err(|e| (metric.clone(), e.to_string()))?;
            regex.push((metric.clone(), re));
        }
        Ok(OutputRules {
            json: spec.json.clone(),
            csv: spec.csv.clone(),
            keyvalue: spec.keyvalue.clone(),
            regex,
            default_json: false,
        })
    }

    /// Reads every rule's metrics from run directory `dir` (stdout is `stdout.log`).
    pub fn read(&self, dir: &Path) -> Result<Map<String, Value>, String> {
        let mut metrics = Map::new();
        if self.default_json {
            let p = dir.join(DEFAULT_METRICS_FILE);
            if p.is_file() {
                read_json(&p, &mut metrics)?;
            }
        }
        if let Some(f) = &self.json {
            read_json(&dir.join(f), &mut metrics)?;
        }
        if let Some(f) = &self.csv {
            read_csv(&dir.join(f), &mut metrics)?;
        }
        if let Some(f) = &self.keyvalue {
            let p = if f == "stdout" {
                dir.join(crate::rundir::STDOUT_FILE)
            } else {
                dir.join(f)
            };
            let text = read_text(&p)?;
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    let k = k.trim();
                    if !k.is_empty() && !k.contains(char::is_whitespace) {
                        metrics.insert(k.to_string(), scalar(v.trim()));
                    }
                }
            }
        }
        if !self.regex.is_empty() {
            let text = read_text(&dir.join(crate::rundir::STDOUT_FILE))?;
            for (metric, re) in &self.regex {
                let Some(caps) = re.captures_iter(&text).last() else {
                    return Err(format!("regex for `{metric}` did not match stdout"));
                };
                let m = caps
                    .get(1)
                    .or_else(|| caps.get(0))
                    .map(|m| m.as_str())
                    .unwrap_or_default();
                metrics.insert(metric.clone(), scalar(m.trim()));
            }
        }
        Ok(metrics)
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read output {}: {e}", file_name(path)))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_json(path: &Path, metrics: &mut Map<String, Value>) -> Result<(), String> {
    let text = read_text(path)?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("output {} is not valid JSON: {e}", file_name(path)))?;
    let Value::Object(obj) = value else {
        return Err(format!(
            "output {} must hold a JSON object of metrics",
            file_name(path)
        ));
    };
    flatten("", obj, metrics);
    Ok(())
}

fn flatten(prefix: &str, obj: Map<String, Value>, out: &mut Map<String, Value>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) => flatten(&key, inner, out),
            other => {
                out.insert(key, other);
            }
        }
    }
}

fn read_csv(path: &Path, metrics: &mut Map<String, Value>) -> Result<(), String> {
    let text = read_text(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| format!("output {}: {e}", file_name(path)))?
        .clone();
    let mut last = None;
    for rec in reader.records() {
        last = Some(rec.map_err(|e| format!("output {}: {e}", file_name(path)))?);
    }
    let last = last.ok_or_else(|| format!("output {} has no data rows", file_name(path)))?;
    for (k, v) in header.iter().zip(last.iter()) {
        metrics.insert(k.to_string(), scalar(v));
    }
    Ok(())
}

/// A number when the text is one, else the text.
pub fn scalar(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() => simforge_core::space::number(f),
        _ => Value::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_output() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("o.json"), r#"{"a": 1.5, "nested": {"b": "x"}}"#).unwrap();
        std::fs::write(d.join("o.csv"), "t,c\n0,1\n1,2.5\n").unwrap();
        std::fs::write(
            d.join("stdout.log"),
            "step 1 energy = 3\nlast=7\nstep 2 energy = -1.25e-3\n",
        )
        .unwrap();
        let spec = OutputsSpec {
            json: Some("o.json".into()),
            csv: Some("o.csv".into()),
            keyvalue: Some("stdout".into()),
            regex: [("energy".to_string(), r"energy = (\S+)".to_string())]
                .into_iter()
                .collect(),
        };
        let m = OutputRules::new(Some(&spec)).unwrap().read(d).unwrap();
        assert_eq!(m["a"], serde_json::json!(1.5));
        assert_eq!(m["nested.b"], serde_json::json!("x"));
        assert_eq!(m["c"], serde_json::json!(2.5), "last CSV row wins");
        assert_eq!(m["last"], serde_json::json!(7));
        assert_eq!(
            m["energy"],
            serde_json::json!(-1.25e-3),
            "last regex match wins"
        );
    }

    #[test]
    fn missing_or_bad_outputs_are_reasons_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let spec = OutputsSpec {
            json: Some("none.json".into()),
            ..Default::default()
        };
        let err = OutputRules::new(Some(&spec))
            .unwrap()
            .read(dir.path())
            .unwrap_err();
        assert!(err.contains("none.json"), "{err}");
        std::fs::write(dir.path().join("none.json"), "[1,2]").unwrap();
        let err = OutputRules::new(Some(&spec))
            .unwrap()
            .read(dir.path())
            .unwrap_err();
        assert!(err.contains("JSON object"), "{err}");
        let bad = OutputsSpec {
            regex: [("m".to_string(), "(".to_string())].into_iter().collect(),
            ..Default::default()
        };
        assert_eq!(OutputRules::new(Some(&bad)).unwrap_err().0, "m");
    }
}
