//! `simforge sim`: one point of a builtin simulator, without a study or a
//! store — to try a design or a parameter before sweeping it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use simforge_core::diagnostic::did_you_mean;
use simforge_exec::builtin::{OptionsOrigin, build_builtin};
use simforge_sims::{ParamKind, Params, RunInput};

use crate::cmd::UsageError;

/// The command line of `simforge sim`.
pub struct SimArgs<'a> {
    /// Builtin name; none lists the builtins.
    pub name: Option<&'a str>,
    /// `name=value` parameters.
    pub params: &'a [String],
    /// `key=value` options.
    pub options: &'a [String],
    /// Output directory.
    pub out: Option<&'a Path>,
    /// Seed.
    pub seed: u64,
    /// List the parameters only.
    pub list: bool,
    /// Print JSON.
    pub json: bool,
}

/// A `key=value` pair with the value read as YAML (numbers stay numbers).
fn pair(text: &str, flag: &str) -> Result<(String, Value)> {
    let (k, v) = text.split_once('=').ok_or_else(|| {
        UsageError(format!(
            "{flag} `{text}`: expected NAME=VALUE, e.g. {flag} replicas=4"
        ))
    })?;
    let value = simforge_core::source::parse_document(Path::new(flag), v)
        .map(|d| d.value)
        .unwrap_or_else(|_| Value::String(v.to_string()));
    let value = if value.is_null() {
        Value::String(v.to_string())
    } else {
        value
    };
    Ok((k.trim().to_string(), value))
}

/// Runs the builtin once and prints its metrics.
pub fn sim(args: SimArgs<'_>) -> Result<u8> {
    let Some(name) = args.name else {
        println!("builtin simulators:");
        for n in simforge_sims::builtin_names() {
            println!("  {n}");
        }
        println!("run `simforge sim NAME --list` to see a builtin's parameters");
        return Ok(0);
    };
    let mut options = Map::new();
    for o in args.options {
        let (k, v) = pair(o, "--option")?;
        options.insert(k, v);
    }
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let origin = OptionsOrigin {
        source: None,
        path: "--option",
        label: "--option",
        relative_to: "the current directory",
    };
    let sim = build_builtin(name, &options, &cwd, &origin)?;
    let decls = sim.parameters();
    if args.list {
        println!("parameters of `{name}`:");
        for d in &decls {
            let kind = match &d.kind {
                ParamKind::Real => "real".to_string(),
                ParamKind::Integer => "integer".to_string(),
                ParamKind::Choice(c) => format!("one of {}", c.join("|")),
            };
            let bounds = d
                .bounds
                .map(|(lo, hi)| format!(" in [{lo}, {hi}]"))
                .unwrap_or_default();
            let unit = d
                .unit
                .as_deref()
                .map(|u| format!(" ({u})"))
                .unwrap_or_default();
            let req = if d.required { ", required" } else { "" };
            println!(
                "  {}: {kind}{bounds}{unit}{req} — {}",
                d.name, d.description
            );
        }
        return Ok(0);
    }
    let mut params = Params::new();
    for p in args.params {
        let (k, v) = pair(p, "--params")?;
        if !decls.iter().any(|d| d.name == k) {
            let mut msg = format!("`{name}` has no parameter `{k}`");
            if let Some(s) = did_you_mean(&k, decls.iter().map(|d| d.name.as_str())) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            msg.push_str(&format!(" (see `simforge sim {name} --list`)"));
            return Err(UsageError(msg).into());
        }
        params.insert(k, v);
    }
    for d in decls.iter().filter(|d| d.required) {
        if !params.contains_key(&d.name) {
            return Err(UsageError(format!(
                "`{name}` needs parameter `{}` ({}); add --params {}=VALUE",
                d.name, d.description, d.name
            ))
            .into());
        }
    }
    let out: PathBuf = args
        .out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("sim-{name}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let started = std::time::Instant::now();
    let result = sim
        .run(&RunInput {
            params: &params,
            seed: args.seed,
            workdir: &out,
            threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        })
        .map_err(|e| anyhow::anyhow!("`{name}` failed: {e}"))?;
    let elapsed = started.elapsed().as_secs_f64();
    let metrics: Map<String, Value> = result.metrics.into_iter().collect();
    let record = serde_json::json!({
        "simulator": sim.identity(),
        "version": sim.version(),
        "params": params,
        "seed": args.seed,
        "metrics": metrics,
        "artifacts": result.artifacts,
        "elapsed_s": elapsed,
    });
    let file = out.join("result.json");
    std::fs::write(&file, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("writing {}", file.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&metrics)?);
        return Ok(0);
    }
    print!("{}", metrics_table(&metrics));
    eprintln!(
        "{name}: {} metrics in {elapsed:.2} s; files in {}",
        metrics.len(),
        out.display()
    );
    Ok(0)
}

/// A number as people read it: integers whole, others to 6 significant digits.
fn show(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
            Some(f) => format!("{:.6}", f)
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string(),
            None => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

/// The metrics as a table: a metric with a `NAME_ci` companion shows as
/// `value ± half-width`; dotted names (`api.utilisation`) are grouped under
/// their first part, after the plain ones.
fn metrics_table(metrics: &Map<String, Value>) -> String {
    let mut plain = Vec::new();
    let mut groups: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
    for (k, v) in metrics {
        if k.ends_with("_ci") && metrics.contains_key(&k[..k.len() - 3]) {
            continue;
        }
        let text = match metrics.get(&format!("{k}_ci")) {
            Some(ci) if ci.is_number() => format!("{} ± {}", show(v), show(ci)),
            _ => show(v),
        };
        match k.split_once('.') {
            None => plain.push((k.as_str(), text)),
            Some((head, rest)) => match groups.iter_mut().find(|(h, _)| *h == head) {
                Some((_, rows)) => rows.push((rest, text)),
                None => groups.push((head, vec![(rest, text)])),
            },
        }
    }
    let width = plain
        .iter()
        .map(|(k, _)| k.len())
        .chain(
            groups
                .iter()
                .flat_map(|(_, r)| r.iter().map(|(k, _)| k.len() + 2)),
        )
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, text) in plain {
        out.push_str(&format!("{k:<width$}  {text}\n"));
    }
    for (head, rows) in groups {
        out.push_str(&format!("{head}\n"));
        for (k, text) in rows {
            let w = width - 2;
            out.push_str(&format!("  {k:<w$}  {text}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intervals_join_their_metric_and_dotted_names_group() {
        let m: Map<String, Value> = serde_json::from_value(json!({
            "latency_p99": 28.4036, "latency_p99_ci": 0.30235,
            "bottleneck": "db", "steps": 1000.0,
            "api.utilisation": 0.1, "api.utilisation_ci": 0.0008,
            "db.pool_wait": null, "lonely_ci": 2.0,
        }))
        .unwrap();
        let t = metrics_table(&m);
        assert!(t.contains("latency_p99    28.4036 ± 0.30235"), "{t}");
        assert!(t.contains("steps          1000\n"), "{t}");
        assert!(t.contains("api\n  utilisation  0.1 ± 0.0008"), "{t}");
        assert!(t.contains("  pool_wait    —"), "{t}");
        // A `_ci` without its metric is an ordinary metric.
        assert!(t.contains("lonely_ci      2\n"), "{t}");
        assert!(!t.contains("latency_p99_ci"), "{t}");
    }
}
