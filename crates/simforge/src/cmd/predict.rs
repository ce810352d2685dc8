//! `simforge predict`: the Gaussian-process surrogate of a metric, fitted to
//! the study's succeeded runs, evaluated at a point (mean and standard
//! deviation). The model lives in `simforge_analysis::surrogate::gp`.

use std::path::Path;

use anyhow::{Context, Result};
use simforge_analysis::surrogate::gp::Gp;
use simforge_core::RunState;

use crate::cmd::UsageError;
use crate::locate::locate;

/// Parses `k=v,k=v` into (name, JSON value): numbers stay numbers.
fn parse_point(at: &str) -> Result<Vec<(String, serde_json::Value)>> {
    at.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                UsageError(format!(
                    "--at `{pair}`: expected name=value, e.g. --at x1=0.5,x2=2"
                ))
            })?;
            let v = v.trim();
            let value = v
                .parse::<f64>()
                .map(|f| serde_json::json!(f))
                .unwrap_or_else(|_| serde_json::json!(v));
            Ok((k.trim().to_string(), value))
        })
        .collect()
}

/// Prints the surrogate's mean and standard deviation of `metric` at `at`.
pub fn predict(
    store: crate::locate::StoreArgs<'_>,
    study: Option<&str>,
    metric: Option<&str>,
    at: &str,
) -> Result<u8> {
    let loc = locate(store, study)?;
    let row = loc.store.study(&loc.study)?;
    let spec = simforge_core::load_study(Path::new(&row.study_file))
        .with_context(|| format!("loading {} to read the parameters", row.study_file))?;
    let params: Vec<&simforge_core::space::Parameter> = spec.space.sampled().collect();
    let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let point = parse_point(at)?;
    for (k, _) in &point {
        if !names.contains(&k.as_str()) {
            let mut msg = format!(
                "--at names `{k}`, which is not a sampled parameter of `{}` (parameters: {})",
                loc.study,
                names.join(", ")
            );
            if let Some(s) = simforge_core::diagnostic::did_you_mean(k, names.iter().copied()) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            return Err(UsageError(msg).into());
        }
    }
    let mut unit = Vec::with_capacity(params.len());
    for p in &params {
        let Some((_, v)) = point.iter().find(|(k, _)| *k == p.name) else {
            return Err(UsageError(format!(
                "--at needs a value for every sampled parameter; missing `{}` (parameters: {})",
                p.name,
                names.join(", ")
            ))
            .into());
        };
        let u = p.to_unit(v).ok_or_else(|| {
            UsageError(format!(
                "--at {}={v}: not a value this parameter can take",
                p.name
            ))
        })?;
        unit.push(u);
    }
    let mut x = Vec::new();
    let mut y = Vec::new();
    let (rows, numeric) = crate::cmd::analyze::runs_and_metrics(&*loc.store, &loc.study)?;
    let metric = crate::cmd::analyze::choose_metric(&spec, &loc.study, metric, &numeric)?;
    for r in &rows {
        let (RunState::Succeeded, Some(v)) =
            (r.state, r.metrics.get(&metric).and_then(|v| v.as_f64()))
        else {
            continue;
        };
        let u: Option<Vec<f64>> = params
            .iter()
            .map(|p| r.params.get(&p.name).and_then(|v| p.to_unit(v)))
            .collect();
        if let Some(u) = u {
            x.push(u);
            y.push(v);
        }
    }
    let gp = Gp::fit(&x, &y, 3, spec.design.seed).map_err(|e| {
        UsageError(format!(
            "cannot fit a surrogate of `{metric}` to study `{}`: {e}",
            loc.study
        ))
    })?;
    let (mean, sd) = gp.predict(&unit);
    println!(
        "{metric} at {}: {mean:.6} ± {sd:.6} (Gaussian-process mean ± standard deviation, fitted to {} succeeded runs)",
        point
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        x.len()
            .min(simforge_analysis::surrogate::gp::MAX_FIT_POINTS)
    );
    Ok(0)
}
