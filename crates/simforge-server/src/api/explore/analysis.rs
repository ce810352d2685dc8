//! The explorer's analyses of a whole study: optimisation convergence (for
//! studies with an `objective`) and global sensitivity (the estimator the
//! design supports: Sobol' indices, Morris elementary effects or rank
//! measures). The numerics are `simforge_exec::adaptive::trace` and
//! `simforge_analysis::sensitivity::of_study`, the same as the CLI's; this
//! module turns them into the dashboard's JSON, for the server and for
//! `simforge ui`.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};
use simforge_analysis::sensitivity::of_study::{self, Method, StudySensitivity};
use simforge_core::Study;
use simforge_core::results::RunRecord;
use simforge_core::study::DesignMethod;
use simforge_exec::adaptive::Trace;
use simforge_store::Store;

use super::frame::{self, Data, Frame, SUCCEEDED};
use super::readable;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// Most points a convergence answer lists: every improvement is kept, the
/// rest thinned evenly.
pub const MAX_TRACE_POINTS: usize = 5_000;

/// The design's name as the API spells it.
pub fn design_name(study: &Study) -> &'static str {
    match study.design.method {
        DesignMethod::Grid => "grid",
        DesignMethod::Random { .. } => "random",
        DesignMethod::Lhs { .. } => "lhs",
        DesignMethod::Sobol { .. } => "sobol",
        DesignMethod::Halton { .. } => "halton",
        DesignMethod::Saltelli { .. } => "saltelli",
        DesignMethod::Morris { .. } => "morris",
        DesignMethod::Table { .. } => "table",
    }
}

/// Adds what the explorer can show for `study` beyond its rows to the
/// `explore/columns` answer `columns` (its `objective`, `design` and
/// `sensitivity` fields; the estimator only once three runs succeeded).
pub fn add_analyses(columns: &mut Value, study: &Study) {
    let succeeded = columns["runs"]["succeeded"].as_u64().unwrap_or(0);
    let objective = study.adaptive.as_ref().map(|a| {
        json!({"metric": a.metric, "maximize": a.maximize,
               "constraints": a.constraints.iter().map(ToString::to_string).collect::<Vec<_>>()})
    });
    let inputs = of_study::input_names(study).len();
    let sensitivity = (inputs >= 1 && succeeded >= 3).then(|| Method::of(study).name());
    columns["objective"] = json!(objective);
    columns["design"] = json!(design_name(study));
    columns["sensitivity"] = json!(sensitivity);
}

/// The convergence answer for `trace`, thinned to [`MAX_TRACE_POINTS`].
pub fn convergence_json(key: &str, study: &Study, trace: &Trace) -> Value {
    let a = study.adaptive.as_ref();
    let point = |i: usize| {
        let p = &trace.points[i];
        json!({"index": p.index, "run_id": p.run_id, "value": p.value, "feasible": p.feasible,
               "best": p.best, "pending": p.pending, "params": p.params})
    };
    let n = trace.points.len();
    let keep: Vec<usize> = if n <= MAX_TRACE_POINTS {
        (0..n).collect()
    } else {
        // Every point where the best improved, the best itself, and an even
        // spread of the others.
        let mut keep: Vec<usize> = (0..n)
            .filter(|&i| i == 0 || trace.points[i].best != trace.points[i - 1].best)
            .collect();
        keep.extend(trace.best);
        let step = n.div_ceil(MAX_TRACE_POINTS.saturating_sub(keep.len()).max(1));
        keep.extend((0..n).step_by(step.max(1)));
        keep.sort_unstable();
        keep.dedup();
        keep
    };
    json!({
        "study": key,
        "metric": a.map(|a| a.metric.clone()),
        "maximize": a.is_some_and(|a| a.maximize),
        "constraints": a.map(|a| a.constraints.iter().map(ToString::to_string).collect::<Vec<_>>()),
        "total": n,
        "points": keep.into_iter().map(point).collect::<Vec<_>>(),
        "best": trace.best.map(point),
    })
}

/// A measure of a sensitivity answer: key and label.
fn measures(list: &[(&str, &str)]) -> Vec<Value> {
    list.iter()
        .map(|(k, l)| json!({"key": k, "label": l}))
        .collect()
}

/// The sensitivity answer: one bar group per input, one bar per measure,
/// with its confidence half-width where the estimator gives one.
pub fn sensitivity_json(key: &str, metric: &str, analysis: &StudySensitivity) -> Value {
    let bar = |v: f64, conf: Option<f64>| json!({"value": v.is_finite().then_some(v), "conf": conf.filter(|c| c.is_finite())});
    match analysis {
        StudySensitivity::Sobol(s) => json!({
            "study": key, "metric": metric, "method": "sobol",
            "samples": s.samples, "dropped": s.dropped, "confidence": s.confidence, "note": null,
            "measures": measures(&[("S1", "first-order Sobol' index"), ("ST", "total Sobol' index")]),
            "inputs": s.names.iter().enumerate().map(|(i, n)| json!({"name": n, "values": {
                "S1": bar(s.s1[i], Some(s.s1_conf[i])), "ST": bar(s.st[i], Some(s.st_conf[i]))}}))
                .collect::<Vec<_>>(),
        }),
        StudySensitivity::Morris(m) => json!({
            "study": key, "metric": metric, "method": "morris",
            "samples": m.effects.iter().min().copied().unwrap_or(0), "dropped": m.dropped,
            "confidence": m.confidence, "note": null,
            "measures": measures(&[("mu_star", "μ* (mean |elementary effect|: importance)"),
                                   ("sigma", "σ (non-linearity, interactions)")]),
            "inputs": m.names.iter().enumerate().map(|(i, n)| json!({"name": n, "values": {
                "mu_star": bar(m.mu_star[i], Some(m.mu_star_conf[i])), "sigma": bar(m.sigma[i], None),
                "mu": bar(m.mu[i], None)}}))
                .collect::<Vec<_>>(),
        }),
        StudySensitivity::Rank(r, gp) => {
            let mut list = vec![
                ("SRRC", "standardised rank regression coefficient"),
                ("PRCC", "partial rank correlation coefficient"),
            ];
            if gp.is_some() {
                list.push((
                    "GP_ST",
                    "total Sobol' index on a Gaussian-process surrogate",
                ));
            }
            let note = (r.r2 < 0.7).then(|| {
                format!(
                    "rank regression R² = {:.2}: the metric is not monotone in the inputs, so SRRC and PRCC miss part of \
                     the picture; a Saltelli design gives Sobol' indices that do not assume monotonicity",
                    r.r2
                )
            });
            json!({
                "study": key, "metric": metric, "method": "rank",
                "samples": r.samples, "dropped": r.dropped, "confidence": null, "note": note,
                "r2": r.r2, "surrogate_r2": gp.as_ref().map(|g| g.cv_r2),
                "measures": measures(&list),
                "inputs": r.names.iter().enumerate().map(|(i, n)| {
                    let mut v = serde_json::Map::new();
                    v.insert("SRRC".into(), bar(r.srrc[i], None));
                    v.insert("PRCC".into(), bar(r.prcc[i], None));
                    if let Some(g) = gp {
                        v.insert("GP_ST".into(), bar(g.sobol.st[i], Some(g.sobol.st_conf[i])));
                    }
                    json!({"name": n, "values": v})
                }).collect::<Vec<_>>(),
            })
        }
    }
}

/// The metric to analyse: `asked`, or the study's first declared numeric
/// metric, or the first numeric one (of `numeric`); a 400 naming the field
/// otherwise.
pub fn choose_metric(study: &Study, numeric: &[String], asked: Option<&str>) -> ApiResult<String> {
    let metric = match asked {
        Some(m) => m.to_string(),
        None => study
            .spec
            .metrics
            .iter()
            .find(|m| numeric.contains(m))
            .or(numeric.first())
            .cloned()
            .ok_or_else(|| {
                ApiError::conflict("the study has no numeric metric with a value yet")
                    .with_hint("wait for runs to succeed")
            })?,
    };
    if !numeric.contains(&metric) {
        return Err(
            ApiError::invalid(format!("no numeric metric `{metric}` in this study"))
                .with_field("metric")
                .with_hint(format!("one of: {}", numeric.join(", "))),
        );
    }
    Ok(metric)
}

fn estimate(
    study: &Study,
    runs: &[RunRecord],
    design: Vec<(String, u32, String)>,
    metric: &str,
    surrogate: bool,
) -> ApiResult<StudySensitivity> {
    of_study::analyse(
        study,
        runs,
        design,
        metric,
        &of_study::Options {
            surrogate,
            ..Default::default()
        },
    )
    .map_err(|e| {
        ApiError::conflict(format!(
            "cannot estimate the sensitivity of `{metric}`: {e}"
        ))
        .with_hint("wait for more runs to succeed, or pick another metric")
    })
}

/// The sensitivity of `metric` in `study` over the runs `store` holds for
/// its current plan (what `simforge ui` uses on its local store).
pub fn sensitivity_of(
    store: &dyn Store,
    study: &Study,
    metric: Option<&str>,
    surrogate: bool,
) -> ApiResult<(String, StudySensitivity)> {
    let name = &study.spec.name;
    let runs = store.runs(name, &Default::default())?;
    let metric = choose_metric(study, &of_study::numeric_metrics(&runs), metric)?;
    let design = store.design_rows(name)?;
    let analysis = estimate(study, &runs, design, &metric, surrogate)?;
    Ok((metric, analysis))
}

/// Most runs the rank measures use; beyond it, an even sample of this many
/// (their standard error is about 1/√n: 0.007).
pub const RANK_SAMPLE: usize = 20_000;
/// Most runs a Saltelli or Morris study may have for the explorer to
/// estimate its indices on demand (each design row is needed).
pub const MAX_DESIGN_RUNS: usize = 250_000;

/// The server's sensitivity of `metric`: over the explorer's in-memory copy
/// of the study (`f`), so that a million-run study costs a sample, not a
/// read of every row. Returns the metric, the estimate and a note when the
/// estimate used a sample.
pub fn sensitivity_on_frame(
    conn: &mut crate::db::Conn,
    f: &Frame,
    study: &Study,
    metric: Option<&str>,
    surrogate: bool,
) -> ApiResult<(String, StudySensitivity, Option<String>)> {
    let numeric: Vec<String> = f
        .cols
        .iter()
        .filter(|(n, d)| n.starts_with("metric.") && matches!(d, Data::Number(_)))
        .map(|(n, _)| n["metric.".len()..].to_string())
        .collect();
    let metric = choose_metric(study, &numeric, metric)?;
    let succeeded: Vec<u32> = f.select(&[], Some(SUCCEEDED));
    if Method::of(study) == Method::Rank {
        let total = succeeded.len();
        let rows = f.spread(succeeded, RANK_SAMPLE);
        let note = (rows.len() < total).then(|| {
            format!(
                "from an even sample of {} of the {total} succeeded runs",
                rows.len()
            )
        });
        let runs = records(f, &rows, &metric);
        let analysis = estimate(study, &runs, Vec::new(), &metric, surrogate)?;
        return Ok((metric, analysis, note));
    }
    if f.idx.len() > MAX_DESIGN_RUNS {
        return Err(ApiError::conflict(format!(
            "the study has {} runs; the explorer estimates Sobol' indices and Morris effects of up to {MAX_DESIGN_RUNS}",
            f.idx.len()
        ))
        .with_hint("download the results (`simforge results --server ... --format parquet`) to analyse them elsewhere"));
    }
    let all: Vec<u32> = (0..f.idx.len() as u32).collect();
    let runs = records(f, &all, &metric);
    // The design's rows by design position (the frame has no run ids).
    let design = conn
        .client()
        .query(
            "SELECT d.tag, d.replicate, r.idx, r.replicate FROM design_rows d JOIN runs r ON r.id = d.run_id
             WHERE d.study = $1",
            &[&study.spec.name],
        )?
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                r.get::<_, i64>(1) as u32,
                position_id(r.get(2), r.get(3)),
            )
        })
        .collect();
    let analysis = estimate(study, &runs, design, &metric, surrogate)?;
    Ok((metric, analysis, None))
}

/// The stand-in run id of a design position in [`records`].
fn position_id(idx: i64, rep: i64) -> String {
    format!("{idx}:{rep}")
}

/// Rows `rows` of `f` as run records with their parameters and `metric`
/// (ids are design positions: see [`position_id`]).
fn records(f: &Frame, rows: &[u32], metric: &str) -> Vec<RunRecord> {
    let params: Vec<(&str, &Data)> = f
        .cols
        .iter()
        .filter_map(|(n, d)| Some((n.strip_prefix("param.")?, d)))
        .collect();
    let y = f
        .cols
        .iter()
        .find(|(n, _)| n.strip_prefix("metric.") == Some(metric))
        .map(|(_, d)| d);
    let value = |d: &Data, i: usize| -> Option<Value> {
        match d {
            Data::Number(v) => v.get(i).filter(|x| !x.is_nan()).map(|x| json!(x)),
            Data::Text { codes, dict } => dict.get(*codes.get(i)? as usize).map(|s| json!(s)),
        }
    };
    rows.iter()
        .map(|&i| {
            let i = i as usize;
            let state = frame::STATES[f.state[i] as usize];
            RunRecord {
                id: position_id(f.idx[i], f.rep[i]),
                index: f.idx[i] as u64,
                tag: None,
                replicate: f.rep[i] as u32,
                seed: 0,
                params: params
                    .iter()
                    .filter_map(|(n, d)| Some((n.to_string(), value(d, i)?)))
                    .collect(),
                metrics: y
                    .and_then(|d| value(d, i))
                    .map(|v| (metric.to_string(), v))
                    .into_iter()
                    .collect(),
                state: state.parse().unwrap_or(simforge_core::RunState::Pending),
                attempts: 0,
                reason: None,
                started_at: None,
                finished_at: None,
                duration_s: None,
                host: None,
                spec_hash: String::new(),
            }
        })
        .collect()
}

/// Recent sensitivity answers: (study, the explorer copy's version, metric,
/// surrogate) → answer. The estimate costs a pass over every run
/// (and a bootstrap); the dashboard asks again on every visit.
type Cached = HashMap<(String, frame::Version, String, bool), Value>;
static SENSITIVITY_CACHE: Mutex<Option<Cached>> = Mutex::new(None);
const CACHE_ENTRIES: usize = 64;

/// `GET .../explore/convergence` (viewer): each design point's objective,
/// feasibility and the best feasible value so far. 409 for a study without
/// an objective.
pub async fn convergence(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let storage = state.config.storage.path.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let study = crate::api::studies::stored_study(c, &storage, &key)?;
            convergence_of(&**c, &key, &study)
        })
        .await?;
    Ok(Json(out))
}

/// The `explore/convergence` answer for `study` (named `key`) from the
/// runs `store` holds; 409 for a study without an objective. Shared with
/// `simforge ui`.
pub fn convergence_of(store: &dyn Store, key: &str, study: &Study) -> ApiResult<Value> {
    if study.adaptive.is_none() {
        return Err(no_objective());
    }
    let trace = simforge_exec::adaptive::trace(store, study)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(convergence_json(key, study, &trace))
}

/// The 409 of a convergence request for a study without an objective.
fn no_objective() -> ApiError {
    ApiError::conflict("the study has no `objective`, so there is no convergence to show")
        .with_hint("add `objective: {minimize: METRIC}` (and `optimize:` for an adaptive loop)")
}

/// Query of a sensitivity request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivityQuery {
    /// Metric (default: the study's first numeric metric).
    pub metric: Option<String>,
    /// Also Sobol' indices on a Gaussian-process surrogate (rank designs).
    #[serde(default)]
    pub surrogate: bool,
}

/// `GET .../explore/sensitivity?metric=&surrogate=` (viewer): the
/// sensitivity of one metric to each input, by the estimator the design
/// supports.
pub async fn sensitivity(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    super::Q(q): super::Q<SensitivityQuery>,
) -> ApiResult<Json<Value>> {
    let storage = state.config.storage.path.clone();
    let schema = state.config.database.schema.clone();
    let db = state.db.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let study = crate::api::studies::stored_study(c, &storage, &key)?;
            let f = frame::frame(c, Some(&db), &schema, &key)?;
            // Keyed by the copy the estimate is made from.
            let cache_key = |metric: &str| {
                (
                    format!("{schema}/{key}"),
                    f.version.clone(),
                    metric.to_string(),
                    q.surrogate,
                )
            };
            if let Some(m) = &q.metric
                && let Some(hit) = SENSITIVITY_CACHE
                    .lock()
                    .ok()
                    .and_then(|c| c.as_ref()?.get(&cache_key(m)).cloned())
            {
                return Ok(hit);
            }
            let (metric, analysis, note) =
                sensitivity_on_frame(c, &f, &study, q.metric.as_deref(), q.surrogate)?;
            let mut answer = sensitivity_json(&key, &metric, &analysis);
            if let Some(note) = note {
                answer["note"] = match answer["note"].as_str() {
                    Some(n) => json!(format!("{n}; {note}")),
                    None => json!(note),
                };
            }
            if let Ok(mut cache) = SENSITIVITY_CACHE.lock() {
                let cache = cache.get_or_insert_with(HashMap::new);
                if cache.len() >= CACHE_ENTRIES {
                    cache.clear();
                }
                cache.insert(cache_key(&metric), answer.clone());
            }
            Ok(answer)
        })
        .await?;
    Ok(Json(out))
}
