//! The results explorer's queries: what a study's results look like
//! (columns with their types and ranges), an evenly spread sample of its
//! rows for plots, exact histograms, and the runs table sorted and filtered
//! by any parameter or metric. They run over a typed in-memory copy of the
//! study's runs ([`frame`]), so a million-run study answers in milliseconds
//! and never travels to the browser: plots get a sample (at most 20,000
//! rows) or aggregates, tables get one page, read from PostgreSQL.
//!
//! Rows are the runs of the study's current plan; the plots' queries take
//! succeeded runs only (the others have no metrics). Filters are
//! [`filter`]'s `where=` conditions.

pub mod analysis;
pub mod filter;
pub mod frame;
pub mod rowjson;

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Q;
use super::runs::{RUN_SELECT_R, run_json};
use super::studies::study_row;
use crate::auth::{Action, Caller, authorize};
use crate::db::Conn;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;
use filter::Column;
use frame::{Data, Frame, SUCCEEDED};

/// Most rows a sample may have.
pub const MAX_SAMPLE: usize = 20_000;
/// Most bins of a histogram.
pub const MAX_BINS: usize = 200;

/// Checks the caller may read the project; the study's key.
fn readable(conn: &mut Conn, caller: &Caller, project: &str, name: &str) -> ApiResult<String> {
    authorize(conn.client(), caller, project, Action::Read, "read results")?;
    Ok(study_row(conn, project, name)?.0)
}

/// The runs at these design positions (index, replicate), in that order.
fn fetch(conn: &mut Conn, key: &str, rows: &[(i64, i64)]) -> ApiResult<Vec<Value>> {
    let idx: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let rep: Vec<i64> = rows.iter().map(|r| r.1).collect();
    let found = conn.client().query(
        &format!(
            "{RUN_SELECT_R} WHERE r.study = $1 AND r.plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)
               AND (r.idx, r.replicate) IN (SELECT * FROM unnest($2::int8[], $3::int8[]))"
        ),
        &[&key, &idx, &rep],
    )?;
    let mut by_pos: HashMap<(i64, i64), Value> = found
        .iter()
        .map(|r| ((r.get::<_, i64>(1), r.get::<_, i64>(3)), run_json(r)))
        .collect();
    Ok(rows.iter().filter_map(|p| by_pos.remove(p)).collect())
}

fn positions(f: &Frame, rows: &[u32]) -> Vec<(i64, i64)> {
    rows.iter()
        .map(|&i| (f.idx[i as usize], f.rep[i as usize]))
        .collect()
}

/// `GET .../explore/columns` (viewer): every parameter and metric with its
/// type (`number` or `text`), range or values (up to 50), and how many
/// succeeded runs have it; and which analyses the study supports (its
/// `objective`, `design` and `sensitivity` estimator).
pub async fn columns(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let schema = state.config.database.schema.clone();
    let db = state.db.clone();
    let storage = state.config.storage.path.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = frame::frame(c, Some(&db), &schema, &key)?;
            let mut out = columns_json(&key, &f);
            // What the explorer can show beyond rows; a study that no longer
            // parses still has its rows.
            match super::studies::stored_study(c, &storage, &key) {
                Ok(study) => analysis::add_analyses(&mut out, &study),
                Err(e) => {
                    tracing::warn!(study = key, error = %e.message, "explorer: reading the study")
                }
            }
            Ok(out)
        })
        .await?;
    Ok(Json(out))
}

/// The answer of `explore/columns` without its analyses: every column of
/// `f` with its type, range or first values, and counts over the succeeded
/// runs. Shared with `simforge ui`.
pub fn columns_json(key: &str, f: &Frame) -> Value {
    let ok: Vec<usize> = (0..f.idx.len())
        .filter(|&i| f.state[i] == SUCCEEDED)
        .collect();
    let columns: Vec<Value> = f
        .cols
        .iter()
        .map(|(name, data)| {
            let kind = name.split('.').next().unwrap_or("");
            match data {
                Data::Number(v) => {
                    let vals = ok.iter().map(|&i| v[i]).filter(|x| !x.is_nan());
                    let (n, lo, hi) = vals.fold((0u64, f64::INFINITY, f64::NEG_INFINITY), |(n, lo, hi), x| {
                        (n + 1, lo.min(x), hi.max(x))
                    });
                    json!({"name": name, "kind": kind, "type": "number", "count": n,
                           "min": (n > 0).then_some(lo), "max": (n > 0).then_some(hi), "values": null})
                }
                Data::Text { codes, dict } => {
                    let n = ok.iter().filter(|&&i| codes[i] != u32::MAX).count();
                    json!({"name": name, "kind": kind, "type": "text", "count": n, "min": null, "max": null,
                           "values": {"first": dict.iter().take(50).collect::<Vec<_>>(), "more": dict.len() > 50}})
                }
            }
        })
        .collect();
    json!({
        "study": key,
        "runs": {"total": f.idx.len(), "succeeded": ok.len()},
        "columns": columns,
        "objective": null, "design": null, "sensitivity": null,
    })
}

/// Query of a sample.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    /// Rows wanted (default 2,000, at most 20,000).
    pub n: Option<usize>,
    /// Filter (see [`filter`]).
    #[serde(rename = "where")]
    pub filter: Option<String>,
}

impl SampleQuery {
    /// Rows asked for, within 1 and [`MAX_SAMPLE`].
    pub fn size(&self) -> usize {
        self.n.unwrap_or(2000).clamp(1, MAX_SAMPLE)
    }
}

/// `GET .../explore/sample?n=&where=` (viewer): at most `n` succeeded runs
/// matching the filter, spread evenly over them (those with the lowest
/// [`frame::sample_rank`]: the same sample on every call), in design order,
/// with the number that match.
pub async fn sample(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<SampleQuery>,
) -> ApiResult<Json<Value>> {
    let conds = filter::parse(q.filter.as_deref())?;
    let n = q.size();
    let schema = state.config.database.schema.clone();
    let db = state.db.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = frame::frame(c, Some(&db), &schema, &key)?;
            let rows = f.select(&conds, Some(SUCCEEDED));
            let matching = rows.len();
            let rows = f.spread(rows, n);
            let runs = fetch(c, &key, &positions(&f, &rows))?;
            Ok(json!({"study": key, "matching": matching, "sampled": runs.len(), "rows": runs}))
        })
        .await?;
    Ok(Json(out))
}

/// Query of a histogram.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistogramQuery {
    /// The column (`param.NAME` or `metric.NAME`), numeric.
    pub col: String,
    /// Bins (default 30, at most 200).
    pub bins: Option<usize>,
    /// Filter (see [`filter`]).
    #[serde(rename = "where")]
    pub filter: Option<String>,
}

impl HistogramQuery {
    /// Bins asked for, within 1 and [`MAX_BINS`].
    pub fn bin_count(&self) -> usize {
        self.bins.unwrap_or(30).clamp(1, MAX_BINS)
    }
}

/// `GET .../explore/histogram?col=&bins=&where=` (viewer): exact counts of
/// the column's values over every matching succeeded run, in equal bins
/// between its minimum and maximum.
pub async fn histogram(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<HistogramQuery>,
) -> ApiResult<Json<Value>> {
    let col = Column::parse(&q.col, "col")?;
    let conds = filter::parse(q.filter.as_deref())?;
    let bins = q.bin_count();
    let schema = state.config.database.schema.clone();
    let db = state.db.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = frame::frame(c, Some(&db), &schema, &key)?;
            Ok(histogram_of(&key, &f, &conds, &q.col, &col, bins))
        })
        .await?;
    Ok(Json(out))
}

/// The histogram of `col` (named `col_text` in the answer) over the
/// succeeded rows of `f` meeting `conds`. Shared with `simforge ui`.
pub fn histogram_of(
    key: &str,
    f: &Frame,
    conds: &[filter::Cond],
    col_text: &str,
    col: &Column,
    bins: usize,
) -> Value {
    let rows = f.select(conds, Some(SUCCEEDED));
    let values: Vec<f64> = match f.column(col) {
        Some(d) => rows
            .iter()
            .filter_map(|&i| Frame::number(d, i as usize))
            .collect(),
        None => vec![],
    };
    histogram_json(key, col_text, &values, rows.len(), bins)
}

/// The answer of a histogram request: `values` (the numbers among
/// `matching` rows) counted in `bins` equal bins between their extremes.
/// Shared with `simforge ui`'s explorer.
pub fn histogram_json(key: &str, col: &str, values: &[f64], matching: usize, bins: usize) -> Value {
    let missing = matching - values.len();
    if values.is_empty() {
        return json!({"study": key, "col": col, "min": null, "max": null,
                      "bins": [], "missing": missing, "matching": matching});
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let width = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0u64; bins];
    for v in values {
        counts[(((v - lo) / width).floor() as usize).min(bins - 1)] += 1;
    }
    let out: Vec<Value> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let a = lo + width * i as f64;
            json!({"lo": a, "hi": if i + 1 == bins { hi.max(a) } else { a + width }, "count": n})
        })
        .collect();
    json!({"study": key, "col": col, "min": lo, "max": hi, "bins": out,
           "missing": missing, "matching": matching})
}

/// Query of the sorted runs table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    /// `index` (default), `duration`, or a column (`param.NAME`, `metric.NAME`).
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// Run state.
    pub state: Option<String>,
    /// Filter (see [`filter`]).
    #[serde(rename = "where")]
    pub filter: Option<String>,
    /// Rows to skip.
    pub offset: Option<usize>,
    /// Rows (default 50, at most 1,000).
    pub limit: Option<usize>,
}

impl RunsQuery {
    /// The page asked for: (offset, limit), limit within 1 and 1,000.
    pub fn window(&self) -> (usize, usize) {
        (
            self.offset.unwrap_or(0),
            self.limit.unwrap_or(50).clamp(1, 1000),
        )
    }
}

/// `GET .../explore/runs?sort=&order=&state=&where=&offset=&limit=`
/// (viewer): one page of the runs, sorted by any column (numbers, then text,
/// then runs without a value, in both orders), with the number that match.
pub async fn runs(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let conds = filter::parse(q.filter.as_deref())?;
    let order = Sort::parse(q.sort.as_deref(), q.order.as_deref())?;
    super::runs::check_state(&q.state)?;
    let run_state = q
        .state
        .as_deref()
        .and_then(|s| frame::STATES.iter().position(|x| *x == s))
        .map(|p| p as u8);
    let (offset, limit) = q.window();
    let schema = state.config.database.schema.clone();
    let db = state.db.clone();
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = frame::frame(c, Some(&db), &schema, &key)?;
            let rows = f.select(&conds, run_state);
            let total = rows.len();
            let page = order.page(&f, rows, offset, limit);
            let runs = fetch(c, &key, &positions(&f, &page))?;
            Ok(json!({"study": key, "total": total, "offset": offset, "runs": runs}))
        })
        .await?;
    Ok(Json(out))
}

/// How the runs table is sorted: by index (`by: None`), by run time
/// (`Some(None)`) or by a column; ascending or descending.
#[derive(Debug, Clone)]
pub struct Sort {
    by: Option<Option<Column>>,
    desc: bool,
}

impl Sort {
    /// The order a runs query asks for (`sort`, `order`), or a 400 naming
    /// the field.
    pub fn parse(sort: Option<&str>, order: Option<&str>) -> ApiResult<Sort> {
        let desc = match order {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(o) => {
                return Err(ApiError::invalid(format!("unknown order `{o}`"))
                    .with_field("order")
                    .with_hint("asc or desc"));
            }
        };
        let by = match sort {
            None | Some("index") => None,
            Some("duration") => Some(None),
            Some(other) => Some(Some(Column::parse(other, "sort")?)),
        };
        Ok(Sort { by, desc })
    }

    /// Rows `offset..offset + limit` of `rows` in this order: numbers, then
    /// text, then rows without a value (last in both directions), design
    /// order breaking ties. Sorts only what the page needs.
    pub fn page(&self, f: &Frame, mut rows: Vec<u32>, offset: usize, limit: usize) -> Vec<u32> {
        let (sort, desc) = (&self.by, self.desc);
        let data = match sort {
            Some(Some(col)) => f.column(col),
            _ => None,
        };
        // (group, number, text): numbers, then text, then missing.
        let value = |i: u32| -> (u8, f64, &str) {
            let i = i as usize;
            match (sort, data) {
                (None, _) => (0, 0.0, ""),
                (Some(None), _) => {
                    let d = f.duration[i];
                    if d.is_nan() { (2, 0.0, "") } else { (0, d, "") }
                }
                (Some(Some(_)), Some(Data::Number(v))) => {
                    if v[i].is_nan() {
                        (2, 0.0, "")
                    } else {
                        (0, v[i], "")
                    }
                }
                (Some(Some(_)), Some(Data::Text { codes, dict })) => match codes[i] {
                    u32::MAX => (2, 0.0, ""),
                    code => (1, 0.0, dict[code as usize].as_str()),
                },
                (Some(Some(_)), None) => (2, 0.0, ""),
            }
        };
        let cmp = |a: &u32, b: &u32| -> Ordering {
            let (va, vb) = (value(*a), value(*b));
            let by_value = va.0.cmp(&vb.0).then_with(|| {
                let o = va.1.total_cmp(&vb.1).then_with(|| va.2.cmp(vb.2));
                if desc { o.reverse() } else { o }
            });
            // Design order breaks ties (and is the order without a sort).
            let pos = a.cmp(b);
            if sort.is_none() && desc {
                by_value.then(pos.reverse())
            } else {
                by_value.then(pos)
            }
        };
        let end = (offset + limit).min(rows.len());
        if offset < rows.len() {
            if end < rows.len() {
                rows.select_nth_unstable_by(end, cmp);
                rows.truncate(end);
            }
            rows.sort_unstable_by(cmp);
        }
        rows.into_iter().skip(offset).take(limit).collect()
    }
}
