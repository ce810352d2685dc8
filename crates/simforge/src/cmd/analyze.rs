//! `simforge analyze sensitivity`: Sobol' indices of a metric from the study's
//! Saltelli design (the numerics live in `simforge_analysis::sensitivity`).

use std::path::Path;

use anyhow::{Context, Result};
use simforge_analysis::sensitivity::of_study;

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
    /// For designs without their own estimator: also Sobol' indices on a
    /// Gaussian-process surrogate.
    pub surrogate: bool,
}

pub use simforge_analysis::sensitivity::of_study::StudySensitivity as Analysis;

/// What [`compute`] found.
pub struct Computed {
    /// The metric analysed.
    pub metric: String,
    /// Numeric metrics of the study.
    pub numeric: Vec<String>,
    /// The indices.
    pub analysis: Analysis,
}

/// Loads the study behind `study_name` in `store` and estimates the
/// sensitivity of `metric` (default: the study's first metric, or its only
/// numeric one) from its Saltelli or Morris design.
pub fn compute(
    store: &dyn simforge_store::Store,
    study_name: &str,
    metric: Option<&str>,
    bootstrap: usize,
    confidence: f64,
    surrogate: bool,
) -> Result<Computed> {
    let row = store.study(study_name)?;
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
    let (runs, numeric) = runs_and_metrics(store, study_name)?;
    let metric = choose_metric(&study, study_name, metric, &numeric)?;
    let design = store.design_rows(study_name)?;
    let analysis = of_study::analyse(
        &study,
        &runs,
        design,
        &metric,
        &of_study::Options {
            bootstrap,
            confidence,
            surrogate,
        },
    )
    .map_err(|e| UsageError(e.to_string()))?;
    Ok(Computed {
        metric,
        numeric,
        analysis,
    })
}

/// The metric to analyse: `asked` if it is a numeric metric of the study,
/// else the study's first `metrics:` entry, else its only numeric metric.
pub fn choose_metric(
    study: &simforge_core::Study,
    study_name: &str,
    asked: Option<&str>,
    numeric: &[String],
) -> Result<String> {
    let metric = match asked {
        Some(m) => m.to_string(),
        None => match (study.spec.metrics.first(), numeric.len()) {
            (Some(m), _) => m.clone(),
            (None, 1) => numeric[0].clone(),
            _ => {
                return Err(UsageError(format!(
                    "which metric? pass --metric (numeric metrics of `{study_name}`: {})",
                    numeric.join(", ")
                ))
                .into());
            }
        },
    };
    if !numeric.contains(&metric) {
        return Err(UsageError(format!(
            "no numeric metric `{metric}` in study `{study_name}` (numeric metrics: {})",
            numeric.join(", ")
        ))
        .into());
    }
    Ok(metric)
}

/// Every run of the study and the names of its numeric metrics.
pub fn runs_and_metrics(
    store: &dyn simforge_store::Store,
    study: &str,
) -> Result<(Vec<simforge_core::results::RunRecord>, Vec<String>)> {
    let mut runs = Vec::new();
    store.for_each_run(study, &Default::default(), &mut |r| {
        runs.push(r);
        Ok(())
    })?;
    let numeric = of_study::numeric_metrics(&runs);
    Ok((runs, numeric))
}

/// Names of the study's numeric metrics (empty if the store cannot say).
pub fn numeric_metrics(store: &dyn simforge_store::Store, study: &str) -> Vec<String> {
    runs_and_metrics(store, study)
        .map(|(_, m)| m)
        .unwrap_or_default()
}

/// Prints the sensitivity of one metric: Sobol' indices (Saltelli designs)
/// or elementary effects (Morris designs).
pub fn sensitivity(store: crate::locate::StoreArgs<'_>, args: &SensitivityArgs<'_>) -> Result<u8> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(UsageError(format!(
            "--confidence {}: expected a level between 0 and 1, e.g. 0.95",
            args.confidence
        ))
        .into());
    }
    let loc = locate(store, args.study)?;
    let c = compute(
        &*loc.store,
        &loc.study,
        args.metric,
        args.bootstrap,
        args.confidence,
        args.surrogate,
    )?;
    let metric = c.metric;
    let s = match c.analysis {
        Analysis::Morris(m) => return print_morris(&loc.study, &metric, &m, args),
        Analysis::Rank(r, gp) => return print_rank(&loc.study, &metric, &r, gp.as_ref(), args),
        Analysis::Sobol(s) => s,
    };
    let names = s.names.clone();
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

/// Prints Morris elementary effects of `metric`.
fn print_morris(
    name: &str,
    metric: &str,
    m: &simforge_analysis::sensitivity::morris::MorrisIndices,
    args: &SensitivityArgs<'_>,
) -> Result<u8> {
    let names = &m.names;
    if args.json {
        let mut v = serde_json::to_value(m)?;
        v["metric"] = serde_json::json!(metric);
        v["study"] = serde_json::json!(name);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "Morris elementary effects of `{metric}` in study `{name}`: {} effects per input, {} dropped for failed runs; μ* ± {:.0}% bootstrap half-width",
        m.effects.iter().min().unwrap_or(&0),
        m.dropped,
        args.confidence * 100.0
    );
    let w = names.iter().map(String::len).max().unwrap_or(5).max(5);
    println!(
        "{:<w$}  {:>10}  {:>19}  {:>10}",
        "input", "mu", "mu* (importance)", "sigma"
    );
    for (i, n) in names.iter().enumerate() {
        println!(
            "{n:<w$}  {:>10.4}  {:>10.4} ± {:<6.4}  {:>10.4}",
            m.mu[i], m.mu_star[i], m.mu_star_conf[i], m.sigma[i]
        );
    }
    Ok(0)
}

/// Prints rank measures of `metric`.
fn print_rank(
    name: &str,
    metric: &str,
    r: &simforge_analysis::sensitivity::rank::RankIndices,
    gp: Option<&simforge_analysis::sensitivity::on_surrogate::SurrogateSobol>,
    args: &SensitivityArgs<'_>,
) -> Result<u8> {
    if args.json {
        let mut v = serde_json::to_value(r)?;
        if let Some(gp) = gp {
            v["surrogate"] = serde_json::to_value(gp)?;
        }
        v["metric"] = serde_json::json!(metric);
        v["study"] = serde_json::json!(name);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    println!(
        "Rank measures of `{metric}` in study `{name}`: {} points ({} dropped for failed runs); rank regression R² = {:.3}",
        r.samples, r.dropped, r.r2
    );
    if r.r2 < 0.7 {
        println!(
            "warning: R² below 0.7 — the metric is not monotone in the inputs, so SRRC/PRCC miss part of the picture; \
             a Saltelli design gives Sobol' indices that do not assume monotonicity"
        );
    }
    let w = r.names.iter().map(String::len).max().unwrap_or(5).max(5);
    println!("{:<w$}  {:>8}  {:>8}", "input", "SRRC", "PRCC");
    for (i, n) in r.names.iter().enumerate() {
        println!("{n:<w$}  {:>8.4}  {:>8.4}", r.srrc[i], r.prcc[i]);
    }
    if let Some(gp) = gp {
        let good = simforge_analysis::sensitivity::on_surrogate::GOOD_R2;
        println!(
            "Sobol' indices on a Gaussian-process surrogate ({} points; 5-fold cross-validated R² = {:.3}):",
            gp.points, gp.cv_r2
        );
        if gp.cv_r2 < good {
            println!(
                "warning: the surrogate explains less than {:.0}% of held-out variance; treat these indices as rough \
                 (more points, or a Saltelli design, give reliable ones)",
                good * 100.0
            );
        }
        println!("{:<w$}  {:>8}  {:>8}", "input", "S1", "ST");
        for (i, n) in gp.sobol.names.iter().enumerate() {
            println!("{n:<w$}  {:>8.4}  {:>8.4}", gp.sobol.s1[i], gp.sobol.st[i]);
        }
    }
    Ok(0)
}
