//! `simforge results` and `simforge report`.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use simforge_core::results::StudyResults;
use simforge_store::{RunFilter, Store};

use crate::cli::FormatArg;
use crate::cmd::UsageError;
use crate::locate::locate;

/// Writes the results of `study` to `path` in `format`; returns the row count.
pub fn write_results_file(
    store: &dyn Store,
    study: &str,
    format: FormatArg,
    path: &Path,
) -> Result<u64> {
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    // Write beside the target and rename, so a reader never sees half a file.
    let tmp = path.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let n = write_results(
        store,
        study,
        format,
        Box::new(std::io::BufWriter::new(file)),
    )?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(n)
}

fn write_results(
    store: &dyn Store,
    study: &str,
    format: FormatArg,
    out: Box<dyn Write + Send>,
) -> Result<u64> {
    Ok(simforge_exec::export::write_results(
        store,
        study,
        format.into(),
        out,
    )?)
}

/// `simforge results`.
pub fn results(
    store: crate::locate::StoreArgs<'_>,
    study: Option<&str>,
    format: FormatArg,
    output: Option<&Path>,
) -> Result<u8> {
    let loc = locate(store, study)?;
    match output {
        Some(path) => {
            let n = write_results_file(&*loc.store, &loc.study, format, path)?;
            eprintln!("wrote {n} rows to {}", path.display());
        }
        None if format == FormatArg::Parquet => {
            return Err(UsageError("Parquet output is binary: pass -o FILE.parquet".into()).into());
        }
        None => {
            write_results(&*loc.store, &loc.study, format, Box::new(std::io::stdout()))?;
        }
    }
    Ok(0)
}

/// Loads every run of `study` for reports.
pub fn study_results(store: &dyn Store, study: &str) -> Result<StudyResults> {
    let row = store.study(study)?;
    let (params, mut metrics) = simforge_exec::export::declared_columns(store, study)?;
    let runs = store.runs(study, &RunFilter::default())?;
    let mut seen: std::collections::BTreeSet<String> = Default::default();
    for r in &runs {
        seen.extend(r.metrics.keys().cloned());
    }
    for m in seen {
        if !metrics.contains(&m) {
            metrics.push(m);
        }
    }
    Ok(StudyResults {
        study: study.into(),
        spec_hash: row.spec_hash,
        parameters: params,
        metrics,
        runs,
    })
}

/// Most metrics charted in the report's sensitivity section.
const MAX_SENSITIVITY_CHARTS: usize = 6;

/// Sensitivity charts of every numeric metric (up to a few) when the study's
/// design supports them (Saltelli, Morris); none otherwise.
/// The objective recorded with the study's spec, for the convergence curve.
fn objective_info(spec_json: &str) -> Option<simforge_analysis::ObjectiveInfo> {
    let spec: simforge_core::spec::StudySpec = serde_json::from_str(spec_json).ok()?;
    let obj = spec.objective?;
    let (metric, maximize) = match (obj.minimize, obj.maximize) {
        (Some(m), None) => (m, false),
        (None, Some(m)) => (m, true),
        _ => return None,
    };
    let constraints = obj
        .constraints
        .iter()
        .filter_map(|c| simforge_core::adaptive::parse_constraint(c).ok())
        .collect();
    Some(simforge_analysis::ObjectiveInfo {
        metric,
        maximize,
        constraints,
    })
}

fn sensitivity_charts(store: &dyn Store, study: &str) -> Vec<simforge_analysis::SensitivityChart> {
    use crate::cmd::analyze::{Analysis, compute};
    use simforge_analysis::svg::BarSeries;
    let first = match compute(store, study, None, 100, 0.95, false) {
        Ok(c) => c,
        // No default metric among several: start with the first numeric one.
        Err(_) => match crate::cmd::analyze::numeric_metrics(store, study)
            .first()
            .map(|m| compute(store, study, Some(m), 100, 0.95, false))
        {
            Some(Ok(c)) => c,
            _ => return Vec::new(),
        },
    };
    let mut metrics = vec![first.metric.clone()];
    metrics.extend(
        first
            .numeric
            .iter()
            .filter(|m| **m != first.metric)
            .cloned(),
    );
    metrics.truncate(MAX_SENSITIVITY_CHARTS);
    let mut charts = Vec::new();
    for (k, metric) in metrics.iter().enumerate() {
        let c = if k == 0 {
            Ok(first.analysis.clone())
        } else {
            compute(store, study, Some(metric), 100, 0.95, false).map(|c| c.analysis)
        };
        let Ok(analysis) = c else { continue };
        charts.push(match analysis {
            Analysis::Sobol(s) => simforge_analysis::SensitivityChart {
                heading: format!("Sobol' indices of {metric}"),
                note: format!(
                    "Saltelli design, {} base samples ({} dropped); whiskers: 95% bootstrap intervals",
                    s.samples, s.dropped
                ),
                labels: s.names.clone(),
                series: vec![
                    BarSeries { name: "S1".into(), values: s.s1.clone(), errors: s.s1_conf.clone() },
                    BarSeries { name: "ST".into(), values: s.st.clone(), errors: s.st_conf.clone() },
                ],
            },
            Analysis::Rank(r, _) => simforge_analysis::SensitivityChart {
                heading: format!("Rank measures of {metric}"),
                note: format!(
                    "{} points ({} dropped); rank regression R² = {:.2}{}",
                    r.samples,
                    r.dropped,
                    r.r2,
                    if r.r2 < 0.7 { " — not monotone: read with care" } else { "" }
                ),
                labels: r.names.clone(),
                series: vec![
                    BarSeries { name: "SRRC".into(), values: r.srrc.clone(), errors: vec![f64::NAN; r.srrc.len()] },
                    BarSeries { name: "PRCC".into(), values: r.prcc.clone(), errors: vec![f64::NAN; r.prcc.len()] },
                ],
            },
            Analysis::Morris(m) => simforge_analysis::SensitivityChart {
                heading: format!("Morris effects on {metric}"),
                note: format!(
                    "{} elementary effects per input ({} dropped); whiskers: 95% bootstrap interval of mu*",
                    m.effects.iter().min().unwrap_or(&0),
                    m.dropped
                ),
                labels: m.names.clone(),
                series: vec![
                    BarSeries { name: "mu*".into(), values: m.mu_star.clone(), errors: m.mu_star_conf.clone() },
                    BarSeries { name: "sigma".into(), values: m.sigma.clone(), errors: vec![f64::NAN; m.sigma.len()] },
                ],
            },
        });
    }
    charts
}

/// Writes the HTML report of `study` to `path`.
pub fn write_report_file(
    store: &dyn Store,
    study: &str,
    path: &Path,
    wall_time_s: Option<f64>,
) -> Result<()> {
    let row = store.study(study)?;
    let results = study_results(store, study)?;
    let info = simforge_analysis::ReportInfo {
        title: None,
        generated_at: simforge_core::clock::now_rfc3339(),
        study_file: Some(row.study_file.clone()),
        simulator: row.simulator.clone(),
        wall_time_s,
        store: store.location(),
        sensitivity: sensitivity_charts(store, study),
        objective: objective_info(&row.spec_json),
    };
    let html = simforge_analysis::render_report(&results, &info);
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, html).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// `simforge report`.
pub fn report(
    store: crate::locate::StoreArgs<'_>,
    study: Option<&str>,
    output: Option<&Path>,
) -> Result<u8> {
    let loc = locate(store, study)?;
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => loc.dir.join("reports").join(format!("{}.html", loc.study)),
    };
    write_report_file(&*loc.store, &loc.study, &path, None)?;
    println!("report: {}", path.display());
    Ok(0)
}
