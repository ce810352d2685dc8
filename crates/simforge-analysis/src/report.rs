//! The self-contained HTML report of a study: summary, failures, metric
//! statistics with histograms, metric-versus-parameter plots. Inline CSS and SVG
//! only, so it opens offline and can be mailed as one file.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;
use simforge_core::RunState;
use simforge_core::results::{RunRecord, StudyResults};

use crate::stats;
use crate::svg::{self, escape, short};

/// Failed runs listed in full at most.
const MAX_FAILURE_ROWS: usize = 200;

/// Facts about the study and this report that are not in the results.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReportInfo {
    /// Title (default: the study name).
    pub title: Option<String>,
    /// When the report was made (RFC 3339), passed in so output is reproducible.
    pub generated_at: String,
    /// Path of the study file.
    pub study_file: Option<String>,
    /// Simulator identity.
    pub simulator: String,
    /// Wall time of the last `simforge run`, if known.
    pub wall_time_s: Option<f64>,
    /// Where the store is.
    pub store: String,
    /// Sensitivity charts (Saltelli and Morris designs), computed by the caller.
    pub sensitivity: Vec<SensitivityChart>,
    /// The study's objective, for the convergence curve.
    pub objective: Option<ObjectiveInfo>,
}

/// What the study optimises.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObjectiveInfo {
    /// The metric.
    pub metric: String,
    /// Whether larger is better.
    pub maximize: bool,
    /// Constraints on other metrics.
    pub constraints: Vec<simforge_core::adaptive::Constraint>,
}

/// One sensitivity chart of the report.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SensitivityChart {
    /// Heading, e.g. "Sobol' indices of y".
    pub heading: String,
    /// What the numbers rest on (design, samples, intervals).
    pub note: String,
    /// Input names.
    pub labels: Vec<String>,
    /// Series to draw (e.g. S1 and ST, or μ* and σ).
    pub series: Vec<svg::BarSeries>,
}

const CSS: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1180px;color:#222;padding:0 1em}\
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}table{border-collapse:collapse;margin:.6em 0}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}\
td.n{text-align:right;font-variant-numeric:tabular-nums}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(370px,1fr));gap:8px}\
.muted{color:#777}code{background:#f3f3f3;padding:0 3px}";

fn sensitivity(h: &mut String, info: &ReportInfo) {
    if info.sensitivity.is_empty() {
        return;
    }
    h.push_str("<h2>Sensitivity</h2><div class=\"grid\">");
    for c in &info.sensitivity {
        let _ = write!(
            h,
            "<div>{}<p class=\"muted\">{}</p></div>",
            svg::bars(&c.heading, &c.labels, &c.series),
            escape(&c.note)
        );
    }
    h.push_str("</div>");
}

/// Renders the report. Never fails: missing data is said, not fatal.
pub fn render_report(results: &StudyResults, info: &ReportInfo) -> String {
    let title = info
        .title
        .clone()
        .unwrap_or_else(|| format!("simforge study {}", results.study));
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    summary(&mut h, results, info);
    failures(&mut h, results);
    parameters(&mut h, results);
    convergence(&mut h, results, info);
    sensitivity(&mut h, info);
    metrics(&mut h, results);
    h.push_str("</body></html>\n");
    h
}

/// Best feasible objective so far against the run number (runs in design
/// order, which for `simforge optimize` is the order they were proposed).
fn convergence(h: &mut String, r: &StudyResults, info: &ReportInfo) {
    let Some(obj) = &info.objective else { return };
    let num = |run: &RunRecord, m: &str| {
        run.metrics
            .get(m)
            .and_then(serde_json::Value::as_f64)
            .filter(|v| v.is_finite())
    };
    let mut values = Vec::new();
    let mut best_line = Vec::new();
    let mut best: Option<f64> = None;
    for (i, run) in r.runs.iter().enumerate() {
        if run.state != RunState::Succeeded {
            continue;
        }
        let Some(v) = num(run, &obj.metric) else {
            continue;
        };
        let x = (i + 1) as f64;
        values.push((x, v));
        let feasible = obj
            .constraints
            .iter()
            .all(|c| num(run, &c.metric).is_some_and(|v| c.holds(v)));
        if feasible {
            let better = best.is_none_or(|b| if obj.maximize { v > b } else { v < b });
            if better {
                best = Some(v);
            }
            if let Some(b) = best {
                best_line.push((x, b));
            }
        }
    }
    if values.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>Convergence</h2><p>{} {} over {} runs{}: best so far {}.</p>",
        if obj.maximize {
            "Maximising"
        } else {
            "Minimising"
        },
        escape(&obj.metric),
        values.len(),
        if obj.constraints.is_empty() {
            String::new()
        } else {
            format!(
                " subject to {}",
                obj.constraints
                    .iter()
                    .map(|c| format!(
                        "{} {} {}",
                        escape(&c.metric),
                        if c.upper { "&le;" } else { "&ge;" },
                        short(c.limit)
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        best.map_or("none feasible".to_string(), short)
    );
    h.push_str(&svg::convergence(
        &format!("{} per run and best so far", obj.metric),
        &obj.metric,
        &values,
        &best_line,
    ));
}

fn summary(h: &mut String, r: &StudyResults, info: &ReportInfo) {
    let counts = r.state_counts();
    let total = r.runs.len();
    let ok = counts.get(&RunState::Succeeded).copied().unwrap_or(0);
    let durations: Vec<f64> = r.runs.iter().filter_map(|x| x.duration_s).collect();
    let hosts: std::collections::BTreeSet<&str> =
        r.runs.iter().filter_map(|x| x.host.as_deref()).collect();
    h.push_str("<h2>Summary</h2><table>");
    let mut row = |k: &str, v: String| {
        let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", escape(k), v);
    };
    row("study", escape(&r.study));
    if let Some(f) = &info.study_file {
        row("study file", format!("<code>{}</code>", escape(f)));
    }
    row(
        "spec hash",
        format!("<code>{}</code>", escape(&r.spec_hash)),
    );
    row(
        "simulator",
        format!("<code>{}</code>", escape(&info.simulator)),
    );
    row("runs", total.to_string());
    for st in RunState::ALL {
        if let Some(n) = counts.get(&st) {
            row(st.as_str(), n.to_string());
        }
    }
    if total > 0 {
        row(
            "success rate",
            format!("{:.1}%", 100.0 * ok as f64 / total as f64),
        );
    }
    if !durations.is_empty() {
        let sum: f64 = durations.iter().sum();
        row(
            "run time",
            format!(
                "{} s total, {} s mean per run",
                short(sum),
                short(sum / durations.len() as f64)
            ),
        );
    }
    if let Some(w) = info.wall_time_s {
        row("wall time of last invocation", format!("{} s", short(w)));
    }
    if !hosts.is_empty() {
        row(
            "hosts",
            escape(&hosts.into_iter().collect::<Vec<_>>().join(", ")),
        );
    }
    row("store", format!("<code>{}</code>", escape(&info.store)));
    row("generated", escape(&info.generated_at));
    h.push_str("</table>");
}

fn failures(h: &mut String, r: &StudyResults) {
    let bad: Vec<&RunRecord> = r
        .runs
        .iter()
        .filter(|x| {
            matches!(
                x.state,
                RunState::Failed | RunState::TimedOut | RunState::Cancelled
            )
        })
        .collect();
    h.push_str("<h2>Failures</h2>");
    if bad.is_empty() {
        h.push_str("<p>No failed, timed-out or cancelled runs.</p>");
        return;
    }
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for x in &bad {
        *reasons
            .entry(x.reason.as_deref().unwrap_or("unknown"))
            .or_insert(0) += 1;
    }
    let mut reasons: Vec<(&str, usize)> = reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    h.push_str("<h3>Most common reasons</h3><table><tr><th>runs</th><th>reason</th></tr>");
    for (reason, n) in reasons.iter().take(10) {
        let _ = write!(
            h,
            "<tr><td class=\"n\">{n}</td><td>{}</td></tr>",
            escape(reason)
        );
    }
    h.push_str("</table><h3>Runs</h3><table><tr><th>run</th><th>state</th><th>attempts</th><th>reason</th><th>parameters</th></tr>");
    for x in bad.iter().take(MAX_FAILURE_ROWS) {
        let _ = write!(
            h,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&x.id[..x.id.len().min(12)]),
            x.state.as_str(),
            x.attempts,
            escape(x.reason.as_deref().unwrap_or("")),
            escape(&serde_json::to_string(&x.params).unwrap_or_default())
        );
    }
    h.push_str("</table>");
    if bad.len() > MAX_FAILURE_ROWS {
        let _ = write!(
            h,
            "<p class=\"muted\">… and {} more; <code>simforge runs --state failed</code> lists them all.</p>",
            bad.len() - MAX_FAILURE_ROWS
        );
    }
}

/// Numeric values of a parameter per run (None where not numeric).
fn numeric_param(r: &RunRecord, name: &str) -> Option<f64> {
    r.params
        .get(name)
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
}

fn parameters(h: &mut String, r: &StudyResults) {
    h.push_str("<h2>Parameters</h2><table><tr><th>name</th><th>values</th></tr>");
    for p in &r.parameters {
        let nums: Vec<f64> = r.runs.iter().filter_map(|x| numeric_param(x, p)).collect();
        let desc = if !nums.is_empty() && nums.len() == r.runs.len() {
            let (lo, hi) = nums
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(*v), b.max(*v))
                });
            format!("{} … {}", short(lo), short(hi))
        } else {
            let cats: std::collections::BTreeSet<String> = r
                .runs
                .iter()
                .filter_map(|x| x.params.get(p))
                .map(value_label)
                .collect();
            let list: Vec<String> = cats.into_iter().take(20).collect();
            escape(&list.join(", "))
        };
        let _ = write!(h, "<tr><td>{}</td><td>{desc}</td></tr>", escape(p));
    }
    h.push_str("</table>");
}

fn value_label(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn metrics(h: &mut String, r: &StudyResults) {
    h.push_str("<h2>Metrics</h2>");
    let ok: Vec<&RunRecord> = r
        .runs
        .iter()
        .filter(|x| x.state == RunState::Succeeded)
        .collect();
    if ok.is_empty() {
        h.push_str("<p>No succeeded runs yet, so there is nothing to plot.</p>");
        return;
    }
    for m in &r.metrics {
        let mut pairs: Vec<(&RunRecord, f64)> = Vec::new();
        let (mut non_numeric, mut non_finite) = (0, 0);
        for x in &ok {
            match x.metrics.get(m) {
                Some(Value::Number(n)) => match n.as_f64() {
                    Some(v) if v.is_finite() => pairs.push((x, v)),
                    _ => non_finite += 1,
                },
                Some(_) => non_numeric += 1,
                None => {}
            }
        }
        let _ = write!(h, "<h3>{}</h3>", escape(m));
        if pairs.is_empty() {
            let _ = write!(
                h,
                "<p class=\"muted\">No numeric values ({non_numeric} non-numeric).</p>"
            );
            continue;
        }
        let values: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        if let Some(s) = stats::summarize(&values) {
            let _ = write!(
                h,
                "<table><tr><th>n</th><th>mean</th><th>std</th><th>min</th><th>q1</th><th>median</th><th>q3</th><th>max</th></tr>\
                 <tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></table>",
                s.n,
                short(s.mean),
                short(s.std),
                short(s.min),
                short(s.q1),
                short(s.median),
                short(s.q3),
                short(s.max)
            );
        }
        if non_numeric + non_finite > 0 {
            let _ = write!(
                h,
                "<p class=\"muted\">Skipped {non_numeric} non-numeric and {non_finite} non-finite values.</p>"
            );
        }
        h.push_str("<div class=\"grid\">");
        let (edges, counts) = stats::histogram(&values, stats::sturges_bins(values.len()));
        h.push_str(&svg::histogram(
            &format!("distribution of {m}"),
            m,
            &edges,
            &counts,
        ));
        for p in &r.parameters {
            let pts: Vec<(f64, f64)> = pairs
                .iter()
                .filter_map(|(x, v)| numeric_param(x, p).map(|pv| (pv, *v)))
                .collect();
            if pts.len() == pairs.len() {
                let distinct = pts
                    .iter()
                    .map(|p| p.0.to_bits())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
                if distinct < 2 {
                    continue; // a constant: nothing to see
                }
                let (lo, hi) = pts
                    .iter()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| {
                        (a.min(q.0), b.max(q.0))
                    });
                let log_x = lo > 0.0 && hi / lo > 100.0;
                h.push_str(&svg::scatter(&format!("{m} vs {p}"), p, m, &pts, log_x));
            } else {
                category_table(h, m, p, &pairs);
            }
        }
        h.push_str("</div>");
    }
}

/// Mean of a metric per category of a non-numeric parameter.
fn category_table(h: &mut String, metric: &str, param: &str, pairs: &[(&RunRecord, f64)]) {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (x, v) in pairs {
        let key = x
            .params
            .get(param)
            .map(value_label)
            .unwrap_or_else(|| "—".into());
        groups.entry(key).or_default().push(*v);
    }
    let _ = write!(
        h,
        "<div><table><tr><th>{}</th><th>n</th><th>mean {}</th><th>min</th><th>max</th></tr>",
        escape(param),
        escape(metric)
    );
    for (k, vs) in &groups {
        if let Some(s) = stats::summarize(vs) {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                escape(k),
                s.n,
                short(s.mean),
                short(s.min),
                short(s.max)
            );
        }
    }
    h.push_str("</table></div>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(i: u64, state: RunState, reason: Option<&str>) -> RunRecord {
        let x = 0.1 + i as f64 * 0.02;
        RunRecord {
            id: format!("{i:020x}"),
            index: i,
            tag: None,
            replicate: 0,
            seed: i,
            params: [
                ("x".to_string(), serde_json::json!(x)),
                (
                    "k".to_string(),
                    serde_json::json!(if i.is_multiple_of(2) { "a" } else { "b" }),
                ),
            ]
            .into(),
            metrics: if state == RunState::Succeeded {
                [
                    ("y".to_string(), serde_json::json!(x * x)),
                    ("label".to_string(), serde_json::json!("z")),
                ]
                .into()
            } else {
                BTreeMap::new()
            },
            state,
            attempts: 1,
            reason: reason.map(str::to_string),
            started_at: None,
            finished_at: None,
            duration_s: Some(0.5),
            host: Some("node1".into()),
            spec_hash: "h".into(),
        }
    }

    fn results(name: &str, runs: Vec<RunRecord>) -> StudyResults {
        StudyResults {
            study: name.into(),
            spec_hash: "h".into(),
            parameters: vec!["x".into(), "k".into()],
            metrics: vec!["y".into(), "label".into()],
            runs,
        }
    }

    #[test]
    fn reports_counts_failures_and_plots() {
        let mut runs: Vec<RunRecord> = (0..50).map(|i| run(i, RunState::Succeeded, None)).collect();
        runs.push(run(50, RunState::Failed, Some("exit code 3: boom")));
        runs.push(run(51, RunState::Failed, Some("exit code 3: boom")));
        runs.push(run(52, RunState::Failed, Some("killed by SIGSEGV")));
        runs.push(run(53, RunState::TimedOut, Some("wall time 1s exceeded")));
        let html = render_report(
            &results("<script>alert(1)</script>", runs),
            &ReportInfo::default(),
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"), "user text is escaped");
        assert!(html.contains("<tr><th>succeeded</th><td>50</td></tr>"));
        assert!(html.contains("<tr><th>failed</th><td>3</td></tr>"));
        assert!(
            html.contains("<tr><td class=\"n\">2</td><td>exit code 3: boom</td></tr>"),
            "reasons grouped"
        );
        assert!(html.contains("distribution of y"));
        assert!(html.contains("y vs x"));
        assert!(
            html.contains("mean y"),
            "categorical parameter gets a table"
        );
        assert!(
            html.contains("No numeric values"),
            "string metric is not plotted"
        );
        let links: Vec<&str> = html
            .match_indices("http")
            .map(|(i, _)| &html[i..i + 26])
            .collect();
        assert!(
            links.iter().all(|l| *l == "http://www.w3.org/2000/svg"),
            "nothing loads from the network: {links:?}"
        );
    }

    #[test]
    fn empty_results_render() {
        let html = render_report(&results("e", vec![]), &ReportInfo::default());
        assert!(html.contains("No succeeded runs yet"));
        assert!(html.ends_with("</html>\n"));
    }
}
