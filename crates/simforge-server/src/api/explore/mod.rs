//! The results explorer's queries: what a study's results look like
//! (columns with their types and ranges), an evenly spread sample of its
//! rows for plots, exact histograms, and the runs table sorted and filtered
//! by any parameter or metric. All computed in PostgreSQL next to the data,
//! so a million-run study never travels to the browser: plots get a sample
//! (at most 20,000 rows) or aggregates, tables get one page.
//!
//! Rows are the runs of the study's current plan; the plots' queries take
//! succeeded runs only (the others have no metrics). Filters are
//! [`filter`]'s `where=` conditions.

pub mod filter;

use axum::Json;
use axum::extract::{Path, State};
use postgres::types::ToSql;
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

/// Most rows a sample may have.
pub const MAX_SAMPLE: i64 = 20_000;
/// Most bins of a histogram.
pub const MAX_BINS: i64 = 200;

/// The runs of the study's current plan (`$1` binds the study key).
const CURRENT: &str =
    "r.study = $1 AND r.plan_gen = (SELECT plan_gen FROM studies WHERE name = $1)";

fn refs(params: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

/// Checks the caller may read the project; the study's key.
fn readable(conn: &mut Conn, caller: &Caller, project: &str, name: &str) -> ApiResult<String> {
    authorize(conn.client(), caller, project, Action::Read, "read results")?;
    Ok(study_row(conn, project, name)?.0)
}

/// `GET .../explore/columns` (viewer): every parameter and metric with its
/// type (`number` or `text`), range, and how many succeeded runs have it;
/// text columns list up to 50 values seen in the first 2,000 rows.
pub async fn columns(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let counts = c.client().query_one(
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE r.state = 'succeeded') FROM runs r WHERE {CURRENT}"
                ),
                &[&key],
            )?;
            // The columns and the text values seen in a slice of the rows
            // (cheap), then one pass over every succeeded run with four
            // aggregates per column (no row is expanded into key/value pairs).
            let seen = c.client().query(
                &format!(
                    "WITH s AS (SELECT r.params, r.metrics FROM runs r WHERE {CURRENT} AND r.state = 'succeeded' LIMIT 2000),
                     cells AS (
                       SELECT 'param' AS kind, e.key, e.value FROM s, jsonb_each(s.params) e
                       UNION ALL
                       SELECT 'metric', e.key, e.value FROM s, jsonb_each(coalesce(s.metrics, '{{}}'::jsonb)) e)
                     SELECT kind, key,
                       (array_agg(DISTINCT value #>> '{{}}') FILTER (WHERE jsonb_typeof(value) <> 'number'))[1:51]
                     FROM cells GROUP BY kind, key ORDER BY kind DESC, key"
                ),
                &[&key],
            )?;
            let names: Vec<(String, String, Option<Vec<String>>)> =
                seen.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect();
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(key.clone())];
            let mut aggs = Vec::new();
            for (kind, name, _) in &names {
                let k = params.len() + 1;
                params.push(Box::new(name.clone()));
                let col = Column {
                    source: if kind == "param" { filter::Source::Param } else { filter::Source::Metric },
                    name: name.clone(),
                };
                let src = col.source.column();
                let v = col.number_sql(k);
                aggs.push(format!(
                    "count(*) FILTER (WHERE {src} ? ${k}::text), count({v}), min({v}), max({v})"
                ));
            }
            let stats = if aggs.is_empty() {
                None
            } else {
                Some(c.client().query_one(
                    &format!(
                        "SELECT {} FROM runs r WHERE {CURRENT} AND r.state = 'succeeded'",
                        aggs.join(", ")
                    ),
                    &refs(&params),
                )?)
            };
            let columns: Vec<Value> = names
                .iter()
                .enumerate()
                .map(|(i, (kind, name, values))| {
                    let (n, numbers, lo, hi): (i64, i64, Option<f64>, Option<f64>) = match &stats {
                        Some(r) => (r.get(4 * i), r.get(4 * i + 1), r.get(4 * i + 2), r.get(4 * i + 3)),
                        None => (0, 0, None, None),
                    };
                    let numeric = numbers == n && values.is_none();
                    json!({
                        "name": format!("{kind}.{name}"),
                        "kind": kind,
                        "type": if numeric { "number" } else { "text" },
                        "count": n,
                        "min": if numeric { json!(lo) } else { Value::Null },
                        "max": if numeric { json!(hi) } else { Value::Null },
                        "values": if numeric { Value::Null } else {
                            let v = values.clone().unwrap_or_default();
                            json!({"first": v.iter().take(50).collect::<Vec<_>>(), "more": v.len() > 50})
                        },
                    })
                })
                .collect();
            Ok(json!({
                "study": key,
                "runs": {"total": counts.get::<_, i64>(0), "succeeded": counts.get::<_, i64>(1)},
                "columns": columns,
            }))
        })
        .await?;
    Ok(Json(out))
}

/// Query of a sample.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    /// Rows wanted (default 2,000, at most 20,000).
    pub n: Option<i64>,
    /// Filter (see [`filter`]).
    #[serde(rename = "where")]
    pub filter: Option<String>,
}

/// `GET .../explore/sample?n=&where=` (viewer): at most `n` succeeded runs
/// matching the filter, spread evenly over them (run ids are uniform
/// hashes: the rows whose id falls below a threshold are a uniform sample,
/// the same one on every call), with the number that match.
pub async fn sample(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<SampleQuery>,
) -> ApiResult<Json<Value>> {
    let conds = filter::parse(q.filter.as_deref())?;
    let n = q.n.unwrap_or(2000).clamp(1, MAX_SAMPLE);
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = filter::compile(&conds, 2);
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(key.clone())];
            params.extend(f.params);
            let total: i64 = c
                .client()
                .query_one(
                    &format!(
                        "SELECT count(*) FROM runs r WHERE {CURRENT} AND r.state = 'succeeded'{}",
                        f.sql
                    ),
                    &refs(&params),
                )?
                .get(0);
            // The share of ids to keep, as a hex prefix bound (with slack so
            // that `n` rows are nearly always reached; the LIMIT trims).
            let share = ((n as f64 * 1.2) / total.max(1) as f64).min(1.0);
            let bound = if share >= 1.0 {
                "g".to_string() // above every hex digit
            } else {
                format!("{:08x}", (share * 4_294_967_295.0) as u64)
            };
            let k = params.len() + 1;
            params.push(Box::new(bound));
            params.push(Box::new(n));
            let rows = c.client().query(
                &format!(
                    "{RUN_SELECT_R} WHERE {CURRENT} AND r.state = 'succeeded'{} AND r.id < ${k}
                     ORDER BY r.id LIMIT ${}",
                    f.sql,
                    k + 1
                ),
                &refs(&params),
            )?;
            Ok(json!({
                "study": key,
                "matching": total,
                "sampled": rows.len(),
                "rows": rows.iter().map(run_json).collect::<Vec<_>>(),
            }))
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
    pub bins: Option<i64>,
    /// Filter (see [`filter`]).
    #[serde(rename = "where")]
    pub filter: Option<String>,
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
    let bins = q.bins.unwrap_or(30).clamp(1, MAX_BINS);
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = filter::compile(&conds, 3);
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> =
                vec![Box::new(key.clone()), Box::new(col.name.clone())];
            params.extend(f.params);
            let v = col.number_sql(2);
            let range = c.client().query_one(
                &format!(
                    "SELECT min({v}), max({v}), count(*) FILTER (WHERE {v} IS NULL), count(*)
                     FROM runs r WHERE {CURRENT} AND r.state = 'succeeded'{}",
                    f.sql
                ),
                &refs(&params),
            )?;
            let (lo, hi): (Option<f64>, Option<f64>) = (range.get(0), range.get(1));
            let (missing, total): (i64, i64) = (range.get(2), range.get(3));
            let (Some(lo), Some(hi)) = (lo, hi) else {
                return Ok(json!({"study": key, "col": q.col, "min": null, "max": null,
                                 "bins": [], "missing": missing, "matching": total}));
            };
            let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
            let k = params.len() + 1;
            params.push(Box::new(lo));
            params.push(Box::new(width));
            params.push(Box::new(bins));
            let rows = c.client().query(
                &format!(
                    "SELECT least(floor(({v} - ${k}::float8) / ${w}::float8)::bigint, ${b}::bigint - 1) AS bin, count(*)
                     FROM runs r WHERE {CURRENT} AND r.state = 'succeeded'{} AND {v} IS NOT NULL
                     GROUP BY 1 ORDER BY 1",
                    f.sql,
                    w = k + 1,
                    b = k + 2
                ),
                &refs(&params),
            )?;
            let mut counts = vec![0i64; bins as usize];
            for r in &rows {
                let (bin, n): (i64, i64) = (r.get(0), r.get(1));
                if let Some(slot) = usize::try_from(bin).ok().and_then(|b| counts.get_mut(b)) {
                    *slot += n;
                }
            }
            let out: Vec<Value> = counts
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let a = lo + width * i as f64;
                    json!({"lo": a, "hi": if i + 1 == counts.len() { hi.max(a) } else { a + width }, "count": n})
                })
                .collect();
            Ok(json!({"study": key, "col": q.col, "min": lo, "max": hi, "bins": out,
                      "missing": missing, "matching": total}))
        })
        .await?;
    Ok(Json(out))
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
    pub offset: Option<i64>,
    /// Rows (default 50, at most 1,000).
    pub limit: Option<i64>,
}

/// `GET .../explore/runs?sort=&order=&state=&where=&offset=&limit=`
/// (viewer): one page of the runs, sorted by any column (missing values
/// last), with the number that match.
pub async fn runs(
    State(state): State<Shared>,
    caller: Caller,
    Path((project, name)): Path<(String, String)>,
    Q(q): Q<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let conds = filter::parse(q.filter.as_deref())?;
    let desc = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiError::invalid(format!("unknown order `{o}`"))
                .with_field("order")
                .with_hint("asc or desc"));
        }
    };
    let sort = match q.sort.as_deref() {
        None | Some("index") => None,
        Some("duration") => Some(None),
        Some(other) => Some(Some(Column::parse(other, "sort")?)),
    };
    super::runs::check_state(&q.state)?;
    let (offset, limit) = (
        q.offset.unwrap_or(0).max(0),
        q.limit.unwrap_or(50).clamp(1, 1000),
    );
    let out = state
        .db
        .run(move |c| {
            let key = readable(c, &caller, &project, &name)?;
            let f = filter::compile(&conds, 3);
            let mut params: Vec<Box<dyn ToSql + Sync + Send>> =
                vec![Box::new(key.clone()), Box::new(q.state.clone())];
            params.extend(f.params);
            let base = format!("{CURRENT} AND ($2::text IS NULL OR r.state = $2){}", f.sql);
            let total: i64 = c
                .client()
                .query_one(
                    &format!("SELECT count(*) FROM runs r WHERE {base}"),
                    &refs(&params),
                )?
                .get(0);
            let dir = if desc { "DESC" } else { "ASC" };
            let order = match &sort {
                None => format!("r.idx {dir}, r.replicate {dir}"),
                Some(None) => format!("r.duration_s {dir} NULLS LAST, r.idx, r.replicate"),
                Some(Some(col)) => {
                    let k = params.len() + 1;
                    params.push(Box::new(col.name.clone()));
                    format!(
                        "{n} {dir} NULLS LAST, {t} {dir} NULLS LAST, r.idx, r.replicate",
                        n = col.number_sql(k),
                        t = col.text_sql(k)
                    )
                }
            };
            let k = params.len() + 1;
            params.push(Box::new(limit));
            params.push(Box::new(offset));
            let rows = c.client().query(
                &format!(
                    "{RUN_SELECT_R} WHERE {base} ORDER BY {order} LIMIT ${k} OFFSET ${}",
                    k + 1
                ),
                &refs(&params),
            )?;
            Ok(json!({
                "study": key,
                "total": total,
                "offset": offset,
                "runs": rows.iter().map(run_json).collect::<Vec<_>>(),
            }))
        })
        .await?;
    Ok(Json(out))
}
