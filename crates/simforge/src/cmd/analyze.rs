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
    /// For designs without their own estimator: also Sobol' indices on a
    /// Gaussian-process surrogate.
    pub surrogate: bool,
}

/// A study's sensitivity results for one metric.
#[derive(Clone)]
pub enum Analysis {
    /// From a Saltelli design.
    Sobol(simforge_analysis::sensitivity::sobol::SobolIndices),
    /// From a Morris design.
    Morris(simforge_analysis::sensitivity::morris::MorrisIndices),
    /// From any other design: rank measures, and Sobol' indices on a
    /// Gaussian-process surrogate when asked for.
    Rank(
        simforge_analysis::sensitivity::rank::RankIndices,
        Option<simforge_analysis::sensitivity::on_surrogate::SurrogateSobol>,
    ),
}

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
    let (second_order, morris_levels, rank_only) = match study.design.method {
        DesignMethod::Saltelli { second_order, .. } => (second_order, None, false),
        DesignMethod::Morris { levels, .. } => (false, Some(levels), false),
        _ => (false, None, true),
    };
    let names: Vec<String> = match &study.design.method {
        DesignMethod::Morris {
            groups: Some(groups),
            ..
        } => groups.iter().map(|(g, _)| g.clone()).collect(),
        _ => study.space.sampled().map(|p| p.name.clone()).collect(),
    };
    let (runs, numeric) = runs_and_metrics(store, study_name)?;
    let metric = choose_metric(&study, study_name, metric, &numeric)?;
    if rank_only {
        let params: Vec<&simforge_core::space::Parameter> = study.space.sampled().collect();
        let x: Vec<Vec<f64>> = runs.iter().map(|r| numeric_inputs(&params, r)).collect();
        let y: Vec<f64> = runs.iter().map(|r| metric_value(r, &metric)).collect();
        let rank = simforge_analysis::sensitivity::rank::rank_indices(&names, &x, &y)
            .map_err(|e| UsageError(e.to_string()))?;
        let on_gp = if surrogate {
            let unit: Vec<Vec<f64>> = runs
                .iter()
                .map(|r| {
                    params
                        .iter()
                        .map(|p| {
                            r.params
                                .get(&p.name)
                                .and_then(|v| p.to_unit(v))
                                .unwrap_or(f64::NAN)
                        })
                        .collect()
                })
                .collect();
            Some(
                simforge_analysis::sensitivity::on_surrogate::sobol_on_surrogate(
                    &names,
                    &unit,
                    &y,
                    1024,
                    study.design.seed,
                )
                .map_err(|e| UsageError(e.to_string()))?,
            )
        } else {
            None
        };
        let analysis = Analysis::Rank(rank, on_gp);
        return Ok(Computed {
            metric,
            numeric,
            analysis,
        });
    }
    let rows = design_rows(store, study_name, &runs, &metric)?;
    let analysis = match morris_levels {
        Some(levels) => Analysis::Morris(morris(
            &study, &names, &rows, levels, bootstrap, confidence,
        )?),
        None => {
            let tagged: Vec<(String, f64)> = rows.into_iter().map(|(tag, y, _)| (tag, y)).collect();
            let opts = SobolOptions {
                second_order,
                bootstrap,
                confidence,
                seed: study.design.seed,
            };
            Analysis::Sobol(
                sobol_indices(&names, &tagged, &opts).map_err(|e| UsageError(e.to_string()))?,
            )
        }
    };
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
    let mut numeric = std::collections::BTreeSet::new();
    let mut runs = Vec::new();
    store.for_each_run(study, &Default::default(), &mut |r| {
        numeric.extend(
            r.metrics
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(k, _)| k.clone()),
        );
        runs.push(r);
        Ok(())
    })?;
    Ok((runs, numeric.into_iter().collect()))
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

/// Morris elementary effects from the design rows.
fn morris(
    study: &simforge_core::Study,
    names: &[String],
    design: &[(String, f64, &simforge_core::results::RunRecord)],
    levels: u32,
    bootstrap: usize,
    confidence: f64,
) -> Result<simforge_analysis::sensitivity::morris::MorrisIndices> {
    use simforge_analysis::sensitivity::morris::{MorrisRow, morris_indices};
    let params: Vec<&simforge_core::space::Parameter> = study.space.sampled().collect();
    let rows: Vec<MorrisRow> = design
        .iter()
        .map(|(tag, y, r)| {
            // Inputs as numbers (a choice by its position), to tell which way
            // each step moved.
            let x = numeric_inputs(&params, r);
            MorrisRow {
                tag: tag.clone(),
                y: *y,
                x,
            }
        })
        .collect();
    let groups: Option<Vec<Vec<usize>>> = match &study.design.method {
        simforge_core::study::DesignMethod::Morris {
            groups: Some(g), ..
        } => Some(g.iter().map(|(_, m)| m.clone()).collect()),
        _ => None,
    };
    Ok(morris_indices(
        names,
        &rows,
        levels,
        bootstrap,
        confidence,
        study.design.seed,
        groups.as_deref(),
    )
    .map_err(|e| UsageError(e.to_string()))?)
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

/// Every tagged row of the study's design with its metric value (NaN unless
/// its run succeeded; the mean over replicates when there are several) and
/// its run. Rows come from the store's design table, so points shared by
/// several rows count for each; plans stored before it existed fall back to
/// the runs' own tags.
fn design_rows<'r>(
    store: &dyn simforge_store::Store,
    study: &str,
    runs: &'r [simforge_core::results::RunRecord],
    metric: &str,
) -> Result<Vec<(String, f64, &'r simforge_core::results::RunRecord)>> {
    let by_id: std::collections::HashMap<&str, &simforge_core::results::RunRecord> =
        runs.iter().map(|r| (r.id.as_str(), r)).collect();
    let value = |r: &simforge_core::results::RunRecord| match (
        r.state,
        r.metrics.get(metric).and_then(|v| v.as_f64()),
    ) {
        (RunState::Succeeded, Some(y)) => y,
        _ => f64::NAN,
    };
    let mut table = store.design_rows(study)?;
    if table.is_empty() {
        table = runs
            .iter()
            .filter_map(|r| Some((r.tag.clone()?, r.replicate, r.id.clone())))
            .collect();
    }
    // tag → (sum, count, any run) over replicates; a failed replicate makes
    // the row NaN, as a failed run does.
    let mut rows: std::collections::BTreeMap<
        String,
        (f64, u32, &simforge_core::results::RunRecord),
    > = Default::default();
    for (tag, _, id) in table {
        let Some(r) = by_id.get(id.as_str()) else {
            continue;
        };
        let e = rows.entry(tag).or_insert((0.0, 0, r));
        e.0 += value(r);
        e.1 += 1;
    }
    Ok(rows
        .into_iter()
        .map(|(tag, (sum, n, r))| (tag, sum / f64::from(n), r))
        .collect())
}

/// A run's inputs as numbers in design order (a choice by its position).
fn numeric_inputs(
    params: &[&simforge_core::space::Parameter],
    r: &simforge_core::results::RunRecord,
) -> Vec<f64> {
    params
        .iter()
        .map(|p| match r.params.get(&p.name) {
            Some(v) if v.is_number() => v.as_f64().unwrap_or(f64::NAN),
            Some(v) => p
                .grid_levels()
                .iter()
                .position(|l| l == v)
                .map_or(f64::NAN, |k| k as f64),
            None => f64::NAN,
        })
        .collect()
}

/// A run's metric value, NaN unless it succeeded with a number.
fn metric_value(r: &simforge_core::results::RunRecord, metric: &str) -> f64 {
    match (r.state, r.metrics.get(metric).and_then(|v| v.as_f64())) {
        (RunState::Succeeded, Some(y)) => y,
        _ => f64::NAN,
    }
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
