//! Checking one ingested record, field by field, into either a [`Checked`]
//! record ready to match against the plan or a [`Rejected`] one with the
//! reason and the field at fault.
//!
//! The rules:
//! - the record is a JSON object with exactly the fields of
//!   [`IngestRecord`], each of its type;
//! - `state` is settled: `succeeded`, `failed` or `timed_out` (a cancelled
//!   run has no result, and a resubmission would put it back to pending);
//! - `params` holds exactly the study's parameters: a real is a number in
//!   its range, an integer an integral number in its range, a choice one of
//!   its options, a constant its value;
//! - `metrics` values are numbers (JSON has no NaN or infinity), strings,
//!   booleans or null. A non-finite result arrives as the string the
//!   simulator printed (`"nan"`), exactly as the local store keeps it:
//!   accepting it keeps the server's table identical to the local one.
//!   Booleans are accepted for the same reason (a JSON output file keeps
//!   them); arrays and objects are not. On success, every metric the study
//!   declares is present;
//! - `started_at` and `finished_at` are RFC 3339, the end not before the
//!   start; `duration_s` ≥ 0 (computed from the timestamps when absent);
//! - text holds no NUL character (PostgreSQL cannot store one) and stays
//!   within sane lengths.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use simforge_core::space::{Domain, Parameter, ParameterSpace};
use simforge_exec::remote::push::IngestRecord;

/// Longest accepted `reason`.
const MAX_REASON: usize = 64 * 1024;
/// Longest accepted host, id or hash.
const MAX_SHORT: usize = 256;
/// Longest accepted string metric.
const MAX_METRIC_TEXT: usize = 64 * 1024;
/// Most metrics per record.
const MAX_METRICS: usize = 10_000;

/// What a study allows, for checking records.
#[derive(Debug, Clone)]
pub struct Rules {
    /// The parameters.
    pub space: ParameterSpace,
    /// Metrics every successful run reports.
    pub metrics: Vec<String>,
}

/// A record that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    /// Position in the batch.
    pub position: u32,
    /// Design index.
    pub index: u64,
    /// Replicate.
    pub replicate: u32,
    /// Seed.
    pub seed: u64,
    /// Parameter values encoded per sampled parameter (see [`encode`]).
    pub coords: Vec<u64>,
    /// Settled state.
    pub state: &'static str,
    /// Metrics.
    pub metrics: Map<String, Value>,
    /// Attempts.
    pub attempts: i64,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// Seconds.
    pub duration_s: f64,
    /// Host.
    pub host: String,
    /// Failure reason.
    pub reason: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Spec hash it ran under.
    pub spec_hash: String,
}

/// A record set aside.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    /// Position in the batch.
    pub position: u32,
    /// Design index, if readable.
    pub index: Option<u64>,
    /// Replicate, if readable.
    pub replicate: Option<u32>,
    /// Why.
    pub reason: String,
    /// The field at fault.
    pub field: Option<String>,
}

impl Rejected {
    /// A rejection; NULs and overlong text in the reason (which may quote
    /// the record) are made storable.
    pub fn new(
        position: u32,
        index: Option<u64>,
        replicate: Option<u32>,
        reason: String,
        field: Option<String>,
    ) -> Self {
        Rejected {
            position,
            index,
            replicate,
            reason: storable(&reason, 2000),
            field: field.map(|f| storable(&f, 300)),
        }
    }
}

/// `s` without NUL characters, cut to `max` characters.
fn storable(s: &str, max: usize) -> String {
    let mut out: String = s.replace('\0', "\\0").chars().take(max).collect();
    if out.len() < s.len() && s.chars().count() > max {
        out.push('…');
    }
    out
}

/// The design position of a record that does not parse, if it has one.
#[derive(Deserialize)]
struct Position {
    #[serde(default)]
    index: Value,
    #[serde(default)]
    replicate: Value,
}

/// Checks the record at `position`, given as raw JSON.
pub fn check(raw: &RawValue, position: u32, rules: &Rules) -> Result<Checked, Rejected> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let rec: IngestRecord = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) => {
            let pos: Option<Position> = serde_json::from_str(raw.get()).ok();
            let index = pos.as_ref().and_then(|p| p.index.as_u64());
            let replicate = pos
                .as_ref()
                .and_then(|p| p.replicate.as_u64())
                .and_then(|r| u32::try_from(r).ok());
            let path = e.path().to_string();
            let field = (path != ".").then_some(path);
            let reason = if raw.get().trim_start().starts_with('{') {
                format!("not a valid record: {}", e.inner())
            } else {
                "a record must be a JSON object".to_string()
            };
            return Err(Rejected::new(position, index, replicate, reason, field));
        }
    };
    check_record(rec, position, rules)
}

/// Checks a parsed record.
pub fn check_record(rec: IngestRecord, position: u32, rules: &Rules) -> Result<Checked, Rejected> {
    let (index, replicate) = (rec.index, rec.replicate);
    let reject = |reason: String, field: &str| {
        Rejected::new(
            position,
            Some(index),
            Some(replicate),
            reason,
            Some(field.to_string()),
        )
    };
    let state: &'static str = match rec.state.as_str() {
        "succeeded" => "succeeded",
        "failed" => "failed",
        "timed_out" => "timed_out",
        "cancelled" => {
            return Err(reject(
                "a cancelled run has no result; only settled runs (succeeded, failed, timed_out) are ingested".into(),
                "state",
            ));
        }
        "pending" | "running" => {
            return Err(reject(
                format!(
                    "state `{}` is not final; push a run once it succeeded, failed or timed out",
                    rec.state
                ),
                "state",
            ));
        }
        other => {
            return Err(reject(
                format!(
                    "unknown state `{}`; expected succeeded, failed or timed_out",
                    storable(other, 100)
                ),
                "state",
            ));
        }
    };
    let coords = encode_params(&rec.params, &rules.space)
        .map_err(|(reason, field)| reject(reason, &field))?;
    check_text("run_id", &rec.run_id, MAX_SHORT, false).map_err(|r| reject(r, "run_id"))?;
    check_text("spec_hash", &rec.spec_hash, MAX_SHORT, false)
        .map_err(|r| reject(r, "spec_hash"))?;
    let host = rec.host.unwrap_or_default();
    check_text("host", &host, MAX_SHORT, true).map_err(|r| reject(r, "host"))?;
    if let Some(r) = &rec.reason {
        check_text("reason", r, MAX_REASON, true).map_err(|m| reject(m, "reason"))?;
    }
    if rec.attempts == 0 {
        return Err(reject(
            "a settled run made at least one attempt; attempts is 0".into(),
            "attempts",
        ));
    }
    let started_at = rec.started_at.ok_or_else(|| {
        reject(
            "a settled run has a start time; started_at is missing".into(),
            "started_at",
        )
    })?;
    let finished_at = rec.finished_at.ok_or_else(|| {
        reject(
            "a settled run has an end time; finished_at is missing".into(),
            "finished_at",
        )
    })?;
    let start = rfc3339_seconds(&started_at)
        .map_err(|e| reject(format!("started_at: {e}"), "started_at"))?;
    let end = rfc3339_seconds(&finished_at)
        .map_err(|e| reject(format!("finished_at: {e}"), "finished_at"))?;
    if end + 1e-3 < start {
        return Err(reject(
            format!("finished_at ({finished_at}) is before started_at ({started_at})"),
            "finished_at",
        ));
    }
    let duration_s = match rec.duration_s {
        Some(d) if d.is_finite() && d >= 0.0 => d,
        Some(d) => {
            return Err(reject(
                format!("duration_s must be a finite number ≥ 0, not {d}"),
                "duration_s",
            ));
        }
        None => end - start,
    };
    check_metrics(&rec.metrics, state, rules).map_err(|(reason, field)| reject(reason, &field))?;
    Ok(Checked {
        position,
        index,
        replicate,
        seed: rec.seed,
        coords,
        state,
        metrics: rec.metrics,
        attempts: i64::from(rec.attempts),
        started_at,
        finished_at,
        duration_s,
        host,
        reason: rec.reason,
        exit_code: rec.exit_code.map(i64::from),
        spec_hash: rec.spec_hash,
    })
}

fn check_text(what: &str, s: &str, max: usize, empty_ok: bool) -> Result<(), String> {
    if !empty_ok && s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.len() > max {
        return Err(format!("{what} is longer than {max} bytes"));
    }
    if s.contains('\0') {
        return Err(format!(
            "{what} contains a NUL character, which the database cannot store"
        ));
    }
    Ok(())
}

fn check_metrics(
    metrics: &Map<String, Value>,
    state: &str,
    rules: &Rules,
) -> Result<(), (String, String)> {
    if metrics.len() > MAX_METRICS {
        return Err((format!("more than {MAX_METRICS} metrics"), "metrics".into()));
    }
    for (name, v) in metrics {
        let field = format!("metrics.{name}");
        if name.is_empty() || name.len() > MAX_SHORT || name.contains('\0') {
            return Err((
                "a metric name must be 1 to 256 bytes without NUL characters".into(),
                field,
            ));
        }
        match v {
            Value::Number(_) | Value::Null | Value::Bool(_) => {}
            Value::String(s) => {
                check_text(&format!("metric `{name}`"), s, MAX_METRIC_TEXT, true)
                    .map_err(|r| (r, field.clone()))?;
            }
            Value::Array(_) => {
                return Err((
                    format!(
                        "metric `{name}` is an array; a metric is a number, a string, a boolean or null"
                    ),
                    field,
                ));
            }
            Value::Object(_) => {
                return Err((
                    format!(
                        "metric `{name}` is an object; a metric is a number, a string, a boolean or null (nested outputs are flattened as `a.b`)"
                    ),
                    field,
                ));
            }
        }
    }
    if state == "succeeded"
        && let Some(missing) = rules
            .metrics
            .iter()
            .find(|m| !metrics.contains_key(m.as_str()))
    {
        return Err((
            format!(
                "metric `{missing}`, which the study declares, is missing from a succeeded run"
            ),
            format!("metrics.{missing}"),
        ));
    }
    Ok(())
}

/// Whether two numbers are equal up to the rounding a decimal round trip may
/// add.
fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-300)
}

/// JSON equality with numbers compared by value (`1` equals `1.0`), up to
/// rounding.
pub fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => match (x.as_f64(), y.as_f64()) {
                (Some(p), Some(q)) => close(p, q),
                _ => x == y,
            },
        },
        _ => a == b,
    }
}

/// Encodes one sampled parameter's value for comparison with the plan: a
/// real's bits, an integer's value, a choice's position. Constants encode to
/// nothing (they are checked against their value).
fn encode_one(p: &Parameter, v: &Value) -> Result<Option<u64>, String> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    match &p.domain {
        Domain::Real { low, high, .. } => {
            let Some(x) = v.as_f64().filter(|_| v.is_number()) else {
                return Err(format!(
                    "parameter `{}` is a real number, not {}",
                    p.name,
                    kind(v)
                ));
            };
            let slack = 1e-12 * low.abs().max(high.abs()).max(1.0);
            if !(x >= low - slack && x <= high + slack) {
                return Err(format!(
                    "parameter `{}` = {x} is outside its range [{low}, {high}]",
                    p.name
                ));
            }
            Ok(Some(x.to_bits()))
        }
        Domain::Integer { low, high, .. } => {
            let Some(i) = v.as_i64() else {
                let what = if v.is_number() {
                    "a number with a fraction or out of range"
                } else {
                    kind(v)
                };
                return Err(format!(
                    "parameter `{}` is an integer, not {what} ({v})",
                    p.name
                ));
            };
            if i < *low || i > *high {
                return Err(format!(
                    "parameter `{}` = {i} is outside its range [{low}, {high}]",
                    p.name
                ));
            }
            Ok(Some(i as u64))
        }
        Domain::Choice(options) => match options.iter().position(|o| same_value(o, v)) {
            Some(k) => Ok(Some(k as u64)),
            None => {
                let shown: Vec<String> = options.iter().map(|o| o.to_string()).collect();
                Err(format!(
                    "parameter `{}` = {} is not one of its choices [{}]",
                    p.name,
                    storable(&v.to_string(), 200),
                    shown.join(", ")
                ))
            }
        },
        Domain::Constant(c) => {
            if same_value(c, v) {
                Ok(None)
            } else {
                Err(format!(
                    "parameter `{}` is the constant {c}, not {}",
                    p.name,
                    storable(&v.to_string(), 200)
                ))
            }
        }
    }
}

/// Checks `params` against the space and encodes the sampled parameters in
/// declaration order; `Err((reason, field))`.
pub fn encode_params(
    params: &Map<String, Value>,
    space: &ParameterSpace,
) -> Result<Vec<u64>, (String, String)> {
    if let Some(unknown) = params.keys().find(|k| space.get(k).is_none()) {
        return Err((
            format!(
                "unknown parameter `{}`; the study's parameters are {}",
                storable(unknown, 200),
                space.names().join(", ")
            ),
            format!("params.{unknown}"),
        ));
    }
    let mut coords = Vec::with_capacity(space.params.len());
    for p in &space.params {
        let field = format!("params.{}", p.name);
        let Some(v) = params.get(&p.name) else {
            return Err((format!("parameter `{}` is missing", p.name), field));
        };
        if let Some(c) = encode_one(p, v).map_err(|r| (r, field))? {
            coords.push(c);
        }
    }
    Ok(coords)
}

/// Whether two encodings of the same parameters are equal (reals up to rounding).
pub fn same_coords(space: &ParameterSpace, a: &[u64], b: &[u64]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    space
        .sampled()
        .zip(a.iter().zip(b))
        .all(|(p, (x, y))| match p.domain {
            Domain::Real { .. } => close(f64::from_bits(*x), f64::from_bits(*y)),
            _ => x == y,
        })
}

/// Seconds since the Unix epoch of an RFC 3339 timestamp
/// (`2026-11-29T12:00:00.123Z`, `...+01:00`); a sentence on failure.
pub fn rfc3339_seconds(s: &str) -> Result<f64, String> {
    let bad = |what: &str| {
        format!(
            "`{}` is not an RFC 3339 timestamp ({what})",
            storable(s, 60)
        )
    };
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad("expected e.g. 2026-11-29T12:00:00Z"));
    }
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = s.get(from..from + len).ok_or_else(|| bad("truncated"))?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad("digits expected"));
        }
        part.parse::<i64>().map_err(|_| bad("digits expected"))
    };
    let year = num(0, 4)?;
    let month = num(5, 2)?;
    let day = num(8, 2)?;
    let hour = num(11, 2)?;
    let minute = num(14, 2)?;
    let second = num(17, 2)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad("month out of range")),
    };
    if day < 1 || day > days_in_month {
        return Err(bad("day out of range"));
    }
    if hour > 23 || minute > 59 || second > 60 {
        return Err(bad("time out of range"));
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(bad("digits expected after the decimal point"));
        }
        frac = format!("0.{}", &s[start..i])
            .parse::<f64>()
            .map_err(|_| bad("fraction"))?;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(sign @ (b'+' | b'-')) if i + 6 == b.len() && b[i + 3] == b':' => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(bad("offset out of range"));
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return Err(bad("expected a time zone: Z or ±HH:MM")),
    };
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok((days * 86_400 + hour * 3600 + minute * 60 + second - offset) as f64 + frac)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules() -> Rules {
        let study = simforge_core::parse_study(
            std::path::Path::new("s.yaml"),
            "name: s\nsimulator: {builtin: analytic, options: {function: branin}}\n\
             parameters: {x1: {range: [-5, 10]}, n: {range: [1, 8], type: integer}, m: {choice: [a, b]}, k: 3}\n\
             design: {sampler: random, samples: 4, seed: 3}\nmetrics: [y]\n",
        )
        .unwrap();
        Rules {
            space: study.space,
            metrics: study.spec.metrics,
        }
    }

    fn good() -> Value {
        json!({"run_id": "abc", "index": 1, "replicate": 0, "seed": 5,
               "params": {"x1": 1.5, "n": 3, "m": "b", "k": 3},
               "state": "succeeded", "metrics": {"y": 2.5, "note": "nan", "ok": true, "gone": null}, "attempts": 1,
               "started_at": "2026-11-29T12:00:00.000Z", "finished_at": "2026-11-29T12:00:01.500Z",
               "duration_s": 1.5, "host": "h", "reason": null, "exit_code": 0, "spec_hash": "s1"})
    }

    fn run(v: &Value) -> Result<Checked, Rejected> {
        let raw = RawValue::from_string(v.to_string()).unwrap();
        check(&raw, 7, &rules())
    }

    fn rejected(v: Value) -> (String, Option<String>) {
        let r = run(&v).expect_err("should be rejected");
        assert_eq!(r.position, 7);
        (r.reason, r.field)
    }

    #[test]
    fn a_good_record_passes_with_its_parameters_encoded() {
        let c = run(&good()).unwrap();
        assert_eq!(c.coords, vec![1.5f64.to_bits(), 3, 1]);
        assert_eq!(c.state, "succeeded");
        assert_eq!(c.duration_s, 1.5);
    }

    #[test]
    fn each_kind_of_bad_record_says_why_and_where() {
        let cases: Vec<(Value, &str, &str)> = vec![
            (json!({"z": 1}), "params", "unknown parameter `z`"),
            (json!({"x1": 11.0}), "params.x1", "outside its range"),
            (
                json!({"x1": "1.5"}),
                "params.x1",
                "a real number, not a string",
            ),
            (json!({"n": 2.5}), "params.n", "is an integer"),
            (json!({"m": "c"}), "params.m", "not one of its choices"),
            (json!({"k": 4}), "params.k", "constant"),
        ];
        for (patch, field, reason) in cases {
            let mut v = good();
            for (k, val) in patch.as_object().unwrap() {
                v["params"][k] = val.clone();
            }
            let (r, f) = rejected(v);
            assert!(r.contains(reason), "{r}");
            assert!(f.as_deref().unwrap().starts_with(field), "{f:?}");
        }
        let mut v = good();
        v["params"].as_object_mut().unwrap().remove("n");
        assert_eq!(rejected(v).1.as_deref(), Some("params.n"));

        let mut v = good();
        v["state"] = json!("running");
        assert_eq!(rejected(v).1.as_deref(), Some("state"));
        let mut v = good();
        v["state"] = json!("cancelled");
        assert!(rejected(v).0.contains("cancelled run has no result"));
        let mut v = good();
        v["finished_at"] = json!("yesterday");
        let (r, f) = rejected(v);
        assert_eq!(f.as_deref(), Some("finished_at"));
        assert!(r.contains("RFC 3339"), "{r}");
        let mut v = good();
        v["started_at"] = json!("2026-11-29T12:00:05Z");
        assert!(rejected(v).0.contains("before started_at"));
        let mut v = good();
        v["duration_s"] = json!(-1.0);
        assert_eq!(rejected(v).1.as_deref(), Some("duration_s"));
        let mut v = good();
        v["metrics"] = json!({"note": 1});
        let (r, f) = rejected(v);
        assert!(r.contains("`y`, which the study declares"), "{r}");
        assert_eq!(f.as_deref(), Some("metrics.y"));
        let mut v = good();
        v["metrics"]["arr"] = json!([1, 2]);
        assert_eq!(rejected(v).1.as_deref(), Some("metrics.arr"));
        let mut v = good();
        v["metrics"]["t"] = json!("a\u{0}b");
        assert!(rejected(v).0.contains("NUL"));
        let mut v = good();
        v["attempts"] = json!("one");
        let (r, f) = rejected(v);
        assert_eq!(f.as_deref(), Some("attempts"), "{r}");
        let mut v = good();
        v["surprise"] = json!(1);
        assert!(rejected(v).0.contains("unknown field"));
        let r = run(&json!([1, 2])).unwrap_err();
        assert!(r.reason.contains("JSON object"), "{}", r.reason);
        // A failed run needs no metrics.
        let mut v = good();
        v["state"] = json!("failed");
        v["metrics"] = json!({});
        assert!(run(&v).is_ok());
    }

    #[test]
    fn reals_match_up_to_rounding_and_numbers_compare_by_value() {
        let r = rules();
        let a = encode_params(good()["params"].as_object().unwrap(), &r.space).unwrap();
        let mut p = good()["params"].as_object().unwrap().clone();
        p.insert("x1".into(), json!(1.5000000000000002));
        let b = encode_params(&p, &r.space).unwrap();
        assert!(same_coords(&r.space, &a, &b));
        p.insert("x1".into(), json!(1.5001));
        let c = encode_params(&p, &r.space).unwrap();
        assert!(!same_coords(&r.space, &a, &c));
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(!same_value(&json!("1"), &json!(1)));
    }

    #[test]
    fn rfc3339_timestamps_are_read_exactly() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z").unwrap(), 0.0);
        assert_eq!(
            rfc3339_seconds("2000-02-29T12:34:56.789Z").unwrap(),
            951_827_696.789
        );
        assert_eq!(rfc3339_seconds("1970-01-01T01:00:00+01:00").unwrap(), 0.0);
        assert_eq!(
            rfc3339_seconds("1970-01-01t00:00:00-00:30").unwrap(),
            1800.0
        );
        for bad in [
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.Z",
            "2026-01-01 00:00",
            "2026-01-01T00:00:00+0100",
            "yesterday at noon, roughly",
        ] {
            assert!(rfc3339_seconds(bad).is_err(), "{bad}");
        }
    }
}
