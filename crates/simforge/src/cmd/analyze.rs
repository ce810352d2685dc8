//! `simforge analyze sensitivity`: Sobol' indices of a metric from the study's
//! Saltelli design (the numerics live in `simforge_analysis::sensitivity`).

use std::path::Path;

use anyhow::{Context, Result};
use simforge_analysis::sensitivity::sobol::{SobolOptions, sobol_indices};
use simforge_core::RunState;
use simforge_core::study::DesignMethod;

use crate::cmd::UsageError;
use crate::locate::locate;

/// What `analyze sensitivity` was asked.
pub struct SensitivityArgs<'a> {
    /// Study file or name.
    pub study: Option<&'a str>,
    /// Metric (default: the only numeric one, or the study's first).
    pub metric: Option<&'a str>,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Bootstrap resamples.
    pub bootstrap: usize,
    /// Confidence level.
    pub confidence: f64,
}

/// Prints the Sobol' indices of one metric.
pub fn sensitivity(store: Option<&Path>, args: &SensitivityArgs<'_>) -> Result<u8> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(UsageError(format!(
            "--confidence {}: expected a level between 0 and 1, e.g. 0.95",
            args.confidence
        ))
        .into());
    }
    let loc = locate(store, args.study)?;
    let row = loc.store.study(&loc.study)?;
    // The design's input order and kind come from the study file the plan was
    // made from, as long as it still describes the stored plan.
    let study = simforge_core::load_study(Path::new(&row.study_file))
        .with_context(|| format!("loading {} to read the design", row.study_file))?;
    if study.spec_hash != row.spec_hash {
        return Err(UsageError(format!(
            "{} changed since its runs were planned; run it again (`simforge run`) before analysing",
            row.study_file
        ))
        .into());
    }
    let DesignMethod::Saltelli { second_order, .. } = study.design.method else {
        return Err(UsageError(format!(
            "study `{}` does not use a Saltelli design; Sobol' indices need `design: {{sampler: saltelli, samples: N}}` \
             (Morris and surrogate-based measures for other designs are not built yet)",
            loc.study
        ))
        .into());
    };
    let names: Vec<String> = study.space.sampled().map(|p| p.name.clone()).collect();
    let mut tagged = Vec::new();
    let mut numeric: std::collections::BTreeSet<String> = Default::default();
    let mut runs = Vec::new();
    loc.store
        .for_each_run(&loc.study, &Default::default(), |r| {
            runs.push(r);
            Ok(())
        })?;
    for r in &runs {
        for (k, v) in &r.metrics {
            if v.is_number() {
                numeric.insert(k.clone());
            }
        }
    }
    let metric = match args.metric {
        Some(m) => m.to_string(),
        None => match (study.spec.metrics.first(), numeric.len()) {
            (Some(m), _) => m.clone(),
            (None, 1) => numeric.iter().next().cloned().unwrap_or_default(),
            _ => {
                return Err(UsageError(format!(
                    "which metric? pass --metric (numeric metrics of `{}`: {})",
                    loc.study,
                    numeric.into_iter().collect::<Vec<_>>().join(", ")
                ))
                .into());
            }
        },
    };
    if !numeric.contains(&metric) {
        return Err(UsageError(format!(
            "no numeric metric `{metric}` in study `{}` (numeric metrics: {})",
            loc.study,
            numeric.into_iter().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    for r in runs {
        let Some(tag) = r.tag else { continue };
        let y = match (r.state, r.metrics.get(&metric).and_then(|v| v.as_f64())) {
            (RunState::Succeeded, Some(y)) => y,
            _ => f64::NAN,
        };
        tagged.push((tag, y));
    }
    let opts = SobolOptions {
        second_order,
        bootstrap: args.bootstrap,
        confidence: args.confidence,
        seed: study.design.seed,
    };
    let s = sobol_indices(&names, &tagged, &opts).map_err(|e| UsageError(e.to_string()))?;
    if args.json {
        let mut v = serde_json::to_value(&s)?;
        v["metric"] = serde_json::json!(metric);
        v["study"] = serde_json::json!(loc.study);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    let pct = args.confidence * 100.0;
    println!(
        "Sobol' indices of `{metric}` in study `{}`: Saltelli design, {} base samples ({} dropped for failed runs); ± {pct:.0}% bootstrap half-widths ({} resamples)",
        loc.study, s.samples, s.dropped, args.bootstrap
    );
    let w = names.iter().map(String::len).max().unwrap_or(5).max(5);
    println!(
        "{:<w$}  {:>17}  {:>17}",
        "input", "S1 (first order)", "ST (total)"
    );
    for (i, name) in names.iter().enumerate() {
        println!(
            "{name:<w$}  {:>8.4} ± {:<6.4}  {:>8.4} ± {:<6.4}",
            s.s1[i], s.s1_conf[i], s.st[i], s.st_conf[i]
        );
    }
    if let (Some(s2), Some(c2)) = (&s.s2, &s.s2_conf) {
        println!("second order:");
        for i in 0..names.len() {
            for j in (i + 1)..names.len() {
                println!(
                    "  {} × {}: {:.4} ± {:.4}",
                    names[i], names[j], s2[i][j], c2[i][j]
                );
            }
        }
    }
    Ok(0)
}
