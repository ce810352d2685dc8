//! The sensitivity of one metric of a study, from its runs: the estimator
//! its design supports (Sobol' indices from a Saltelli design, elementary
//! effects from a Morris design, rank measures — and optionally Sobol'
//! indices on a surrogate — from any other design). One place for what
//! `simforge analyze sensitivity`, the HTML report and the dashboard show,
//! so they agree.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use simforge_core::results::RunRecord;
use simforge_core::space::Parameter;
use simforge_core::study::DesignMethod;
use simforge_core::{RunState, Study};

use super::SensitivityError;
use super::morris::{MorrisIndices, MorrisRow, morris_indices};
use super::on_surrogate::{SurrogateSobol, sobol_on_surrogate};
use super::rank::{RankIndices, rank_indices};
use super::sobol::{SobolIndices, SobolOptions, sobol_indices};

/// A study's sensitivity results for one metric.
#[derive(Debug, Clone)]
pub enum StudySensitivity {
    /// From a Saltelli design.
    Sobol(SobolIndices),
    /// From a Morris design.
    Morris(MorrisIndices),
    /// From any other design: rank measures, and Sobol' indices on a
    /// Gaussian-process surrogate when asked for.
    Rank(RankIndices, Option<SurrogateSobol>),
}

/// Which estimator a study's design supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Sobol' indices (Saltelli design).
    Sobol,
    /// Elementary effects (Morris design).
    Morris,
    /// Rank measures (any other design).
    Rank,
}

impl Method {
    /// The estimator for `study`'s design.
    pub fn of(study: &Study) -> Method {
        match study.design.method {
            DesignMethod::Saltelli { .. } => Method::Sobol,
            DesignMethod::Morris { .. } => Method::Morris,
            _ => Method::Rank,
        }
    }

    /// Its name as APIs spell it: `sobol`, `morris` or `rank`.
    pub fn name(self) -> &'static str {
        match self {
            Method::Sobol => "sobol",
            Method::Morris => "morris",
            Method::Rank => "rank",
        }
    }
}

/// How to estimate.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Bootstrap resamples for confidence intervals.
    pub bootstrap: usize,
    /// Confidence level of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// For designs without their own estimator: also Sobol' indices on a
    /// Gaussian-process surrogate (costs a GP fit).
    pub surrogate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            bootstrap: 100,
            confidence: 0.95,
            surrogate: false,
        }
    }
}

/// The names of the inputs the analysis reports on, in design order: the
/// sampled parameters, or a Morris design's groups.
pub fn input_names(study: &Study) -> Vec<String> {
    match &study.design.method {
        DesignMethod::Morris {
            groups: Some(groups),
            ..
        } => groups.iter().map(|(g, _)| g.clone()).collect(),
        _ => study.space.sampled().map(|p| p.name.clone()).collect(),
    }
}

/// The numeric metrics among `runs`, sorted.
pub fn numeric_metrics(runs: &[RunRecord]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for r in runs {
        out.extend(
            r.metrics
                .iter()
                .filter(|(_, v)| v.is_number())
                .map(|(k, _)| k.clone()),
        );
    }
    out.into_iter().collect()
}

/// The sensitivity of `metric` from `runs` (the study's current plan) and
/// `design` (its tagged design rows: tag, replicate, run id — as
/// `Store::design_rows` gives them; empty falls back to the runs' own tags).
pub fn analyse(
    study: &Study,
    runs: &[RunRecord],
    design: Vec<(String, u32, String)>,
    metric: &str,
    opts: &Options,
) -> Result<StudySensitivity, SensitivityError> {
    let names = input_names(study);
    match Method::of(study) {
        Method::Rank => {
            let params: Vec<&Parameter> = study.space.sampled().collect();
            let x: Vec<Vec<f64>> = runs.iter().map(|r| numeric_inputs(&params, r)).collect();
            let y: Vec<f64> = runs.iter().map(|r| metric_value(r, metric)).collect();
            let rank = rank_indices(&names, &x, &y)?;
            let on_gp = if opts.surrogate {
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
                Some(sobol_on_surrogate(
                    &names,
                    &unit,
                    &y,
                    1024,
                    study.design.seed,
                )?)
            } else {
                None
            };
            Ok(StudySensitivity::Rank(rank, on_gp))
        }
        Method::Morris => {
            let levels = match study.design.method {
                DesignMethod::Morris { levels, .. } => levels,
                _ => 4,
            };
            let params: Vec<&Parameter> = study.space.sampled().collect();
            let rows: Vec<MorrisRow> = design_rows(runs, design, metric)
                .into_iter()
                .map(|(tag, y, r)| MorrisRow {
                    tag,
                    y,
                    // Inputs as numbers (a choice by its position), to tell
                    // which way each step moved.
                    x: numeric_inputs(&params, r),
                })
                .collect();
            let groups: Option<Vec<Vec<usize>>> = match &study.design.method {
                DesignMethod::Morris {
                    groups: Some(g), ..
                } => Some(g.iter().map(|(_, m)| m.clone()).collect()),
                _ => None,
            };
            Ok(StudySensitivity::Morris(morris_indices(
                &names,
                &rows,
                levels,
                opts.bootstrap,
                opts.confidence,
                study.design.seed,
                groups.as_deref(),
            )?))
        }
        Method::Sobol => {
            let second_order = matches!(
                study.design.method,
                DesignMethod::Saltelli {
                    second_order: true,
                    ..
                }
            );
            let tagged: Vec<(String, f64)> = design_rows(runs, design, metric)
                .into_iter()
                .map(|(tag, y, _)| (tag, y))
                .collect();
            let sobol = SobolOptions {
                second_order,
                bootstrap: opts.bootstrap,
                confidence: opts.confidence,
                seed: study.design.seed,
            };
            Ok(StudySensitivity::Sobol(sobol_indices(
                &names, &tagged, &sobol,
            )?))
        }
    }
}

/// Every tagged row of the design with its metric value (NaN unless its run
/// succeeded; the mean over replicates when there are several) and its run.
/// Points shared by several rows count for each.
fn design_rows<'r>(
    runs: &'r [RunRecord],
    mut table: Vec<(String, u32, String)>,
    metric: &str,
) -> Vec<(String, f64, &'r RunRecord)> {
    let by_id: HashMap<&str, &RunRecord> = runs.iter().map(|r| (r.id.as_str(), r)).collect();
    if table.is_empty() {
        table = runs
            .iter()
            .filter_map(|r| Some((r.tag.clone()?, r.replicate, r.id.clone())))
            .collect();
    }
    // tag → (sum, count, any run) over replicates; a failed replicate makes
    // the row NaN, as a failed run does.
    let mut rows: BTreeMap<String, (f64, u32, &RunRecord)> = BTreeMap::new();
    for (tag, _, id) in table {
        let Some(r) = by_id.get(id.as_str()) else {
            continue;
        };
        let e = rows.entry(tag).or_insert((0.0, 0, r));
        e.0 += metric_value(r, metric);
        e.1 += 1;
    }
    rows.into_iter()
        .map(|(tag, (sum, n, r))| (tag, sum / f64::from(n), r))
        .collect()
}

/// A run's inputs as numbers in design order (a choice by its position).
fn numeric_inputs(params: &[&Parameter], r: &RunRecord) -> Vec<f64> {
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
fn metric_value(r: &RunRecord, metric: &str) -> f64 {
    match (r.state, r.metrics.get(metric).and_then(|v| v.as_f64())) {
        (RunState::Succeeded, Some(y)) => y,
        _ => f64::NAN,
    }
}
