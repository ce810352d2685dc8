//! The results explorer's queries against a real study on PostgreSQL: every
//! answer is checked against the same computation done here over all the
//! study's runs (fetched page by page).

mod common;

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use common::{Http, TestServer, branin_study, pg_url};
use serde_json::{Value, json};
use simforge_exec::remote::worker::{RemoteWorkerOptions, run_remote_worker};

/// (id, x1, x2, y) of every run.
fn all_runs(http: &Http, token: &str) -> Vec<(String, f64, f64, f64)> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/projects/lab/studies/ex/runs?limit=100&after={a}"),
            None => "/api/v1/projects/lab/studies/ex/runs?limit=100".into(),
        };
        let (_, page) = http.get(&path, token);
        for r in page["runs"].as_array().unwrap() {
            out.push((
                r["id"].as_str().unwrap().to_string(),
                r["params"]["x1"].as_f64().unwrap(),
                r["params"]["x2"].as_f64().unwrap(),
                r["metrics"]["y"].as_f64().unwrap(),
            ));
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => return out,
        }
    }
}

#[test]
fn explorer_queries_agree_with_the_runs_themselves() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    let (alice, worker) = server.lab();
    let (s, v) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("ex", 200)}),
    );
    assert_eq!(s, 201, "{v}");
    let work = tempfile::tempdir().unwrap();
    let opts = RemoteWorkerOptions {
        server: server.url.clone(),
        token: worker,
        queues: vec!["analytic".into()],
        name: "w".into(),
        slots: 2,
        workdir: work.path().to_path_buf(),
        idle_exit: Some(Duration::from_millis(1500)),
        patience: Duration::from_secs(10),
    };
    run_remote_worker(&opts, &AtomicBool::new(false)).unwrap();
    let runs = all_runs(&http, &alice);
    assert_eq!(runs.len(), 200);
    let base = "/api/v1/projects/lab/studies/ex/explore";

    // Columns: types and ranges as the runs have them.
    let (s, cols) = http.get(&format!("{base}/columns"), &alice);
    assert_eq!(s, 200, "{cols}");
    assert_eq!(cols["runs"], json!({"total": 200, "succeeded": 200}));
    let col = |name: &str| {
        cols["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {cols}"))
            .clone()
    };
    let min_x1 = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let max_y = runs.iter().map(|r| r.3).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(col("param.x1")["min"].as_f64(), Some(min_x1));
    assert_eq!(col("metric.y")["max"].as_f64(), Some(max_y));
    assert_eq!(col("metric.y")["type"], "number");
    assert_eq!(col("metric.y")["count"], 200);

    // Samples: within the filter, without duplicates, the same each time.
    let low: Vec<_> = runs.iter().filter(|r| r.3 < 20.0).collect();
    let (_, s1) = http.get(&format!("{base}/sample?n=30&where=metric.y:lt:20"), &alice);
    assert_eq!(s1["matching"].as_u64(), Some(low.len() as u64), "{s1}");
    let ids: Vec<&str> = s1["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(!ids.is_empty() && ids.len() <= 30, "{s1}");
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    for r in s1["rows"].as_array().unwrap() {
        assert!(r["metrics"]["y"].as_f64().unwrap() < 20.0, "{r}");
    }
    let (_, s2) = http.get(&format!("{base}/sample?n=30&where=metric.y:lt:20"), &alice);
    assert_eq!(s1["rows"], s2["rows"], "a sample is deterministic");
    let (_, every) = http.get(&format!("{base}/sample?n=1000"), &alice);
    assert_eq!(
        every["sampled"], 200,
        "a sample larger than the study is all of it"
    );

    // Histogram: exact counts in equal bins, as computed here.
    let (s, h) = http.get(
        &format!("{base}/histogram?col=metric.y&bins=10&where=param.x1:gte:0"),
        &alice,
    );
    assert_eq!(s, 200, "{h}");
    let ys: Vec<f64> = runs.iter().filter(|r| r.1 >= 0.0).map(|r| r.3).collect();
    let (lo, hi) = (
        ys.iter().copied().fold(f64::INFINITY, f64::min),
        ys.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    assert_eq!((h["min"].as_f64(), h["max"].as_f64()), (Some(lo), Some(hi)));
    let width = (hi - lo) / 10.0;
    let mut want = [0i64; 10];
    for y in &ys {
        want[(((y - lo) / width).floor() as usize).min(9)] += 1;
    }
    let got: Vec<i64> = h["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .collect();
    assert_eq!(got, want);
    assert_eq!(h["matching"].as_u64(), Some(ys.len() as u64));

    // The runs table sorted by the metric, filtered, paged.
    let mut by_y: Vec<_> = runs.iter().filter(|r| r.2 <= 10.0).collect();
    by_y.sort_by(|a, b| b.3.total_cmp(&a.3));
    let (_, page) = http.get(
        &format!("{base}/runs?sort=metric.y&order=desc&where=param.x2:lte:10&limit=5&offset=5"),
        &alice,
    );
    assert_eq!(page["total"].as_u64(), Some(by_y.len() as u64), "{page}");
    let got: Vec<&str> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = by_y[5..10].iter().map(|r| r.0.as_str()).collect();
    assert_eq!(got, want);
    let (_, first) = http.get(&format!("{base}/runs?limit=1"), &alice);
    assert_eq!(first["runs"][0]["index"], 0, "design order by default");

    // A filtered download has exactly the matching rows.
    let (s, csv) = http.get(
        "/api/v1/projects/lab/studies/ex/results?format=csv&where=metric.y:lt:20",
        &alice,
    );
    assert_eq!(s, 200);
    assert_eq!(csv.as_str().unwrap().lines().count(), low.len() + 1);

    // Sensitivity of a random design: rank measures over the explorer's
    // copy, the same as simforge_analysis computes over the runs here.
    let (s, sens) = http.get(&format!("{base}/sensitivity?metric=y"), &alice);
    assert_eq!(s, 200, "{sens}");
    assert_eq!(sens["method"], "rank");
    assert_eq!(sens["samples"], 200);
    let names = vec!["x1".to_string(), "x2".to_string()];
    let x: Vec<Vec<f64>> = runs.iter().map(|r| vec![r.1, r.2]).collect();
    let y: Vec<f64> = runs.iter().map(|r| r.3).collect();
    let want = simforge_analysis::sensitivity::rank::rank_indices(&names, &x, &y).unwrap();
    for (i, input) in sens["inputs"].as_array().unwrap().iter().enumerate() {
        assert_eq!(input["name"], names[i]);
        let srrc = input["values"]["SRRC"]["value"].as_f64().unwrap();
        let prcc = input["values"]["PRCC"]["value"].as_f64().unwrap();
        assert!(
            (srrc - want.srrc[i]).abs() < 1e-9,
            "{srrc} vs {}",
            want.srrc[i]
        );
        assert!(
            (prcc - want.prcc[i]).abs() < 1e-9,
            "{prcc} vs {}",
            want.prcc[i]
        );
    }

    // Mistakes name their field.
    for (path, field) in [
        (format!("{base}/sample?where=y:lt:3"), "where"),
        (format!("{base}/runs?sort=y"), "sort"),
        (format!("{base}/runs?order=up"), "order"),
        (
            format!("{base}/histogram?col=metric.y&where=metric.y:lt:x"),
            "where",
        ),
        (
            "/api/v1/projects/lab/studies/ex/results?where=metric.y:lt:3".to_string(),
            "where",
        ),
    ] {
        let (s, e) = http.get(&path, &alice);
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (400, Some(field)),
            "{path}: {e}"
        );
    }
    let stranger = server.user("bob", false, &["read"]);
    let (s, _) = http.get(&format!("{base}/columns"), &stranger);
    assert_eq!(s, 404);
    let _: Value = json!(null);
}

/// A study large enough for the explorer to load it in parts at once (two
/// or more parts of 100,000 runs, as the machine's cores allow), its
/// results written straight into the store: the merged copy must agree
/// with SQL over the same rows, including a column that is text in one part
/// and numbers in the other.
#[test]
fn a_study_loaded_in_parts_agrees_with_sql_over_its_rows() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    let (alice, _) = server.lab();
    let n = 210_000;
    let (s, v) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("big", n)}),
    );
    assert_eq!(s, 201, "{v}");
    // Results as a worker would leave them; a text metric on some rows turns
    // that column to text in the part that has them, numbers elsewhere.
    let mut c = server.state.db.get().unwrap();
    let updated = c
        .client()
        .execute(
            "UPDATE runs SET state = 'succeeded', duration_s = idx % 7,
               metrics = jsonb_build_object('y', (params->>'x1')::float8 * 2 + (params->>'x2')::float8,
                                            'tag', CASE WHEN idx >= 150000 THEN to_jsonb('late'::text) ELSE to_jsonb(idx % 3) END)
             WHERE study = 'lab/big'",
            &[],
        )
        .unwrap();
    assert_eq!(updated, u64::from(n));
    let sql = c
        .client()
        .query_one(
            "SELECT min((metrics->>'y')::float8), max((metrics->>'y')::float8),
                    count(*) FILTER (WHERE (params->>'x1')::float8 < 0)
             FROM runs WHERE study = 'lab/big'",
            &[],
        )
        .unwrap();
    let (lo, hi, negative): (f64, f64, i64) = (sql.get(0), sql.get(1), sql.get(2));
    let base = "/api/v1/projects/lab/studies/big/explore";
    let (s, cols) = http.get(&format!("{base}/columns"), &alice);
    assert_eq!(s, 200, "{cols}");
    assert_eq!(cols["runs"], json!({"total": n, "succeeded": n}));
    let col = |name: &str| {
        cols["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {cols}"))
            .clone()
    };
    assert_eq!(col("metric.y")["min"].as_f64(), Some(lo));
    assert_eq!(col("metric.y")["max"].as_f64(), Some(hi));
    assert_eq!(col("metric.tag")["type"], "text", "{cols}");
    let mut tags: Vec<String> = col("metric.tag")["values"]["first"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    tags.sort();
    assert_eq!(tags, ["0", "1", "2", "late"]);
    // Every row once, in design order: counts, a filter, the sort's ends.
    let (_, h) = http.get(
        &format!("{base}/histogram?col=metric.y&bins=20&where=param.x1:lt:0"),
        &alice,
    );
    let total: i64 = h["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_i64().unwrap())
        .sum();
    assert_eq!((total, h["matching"].as_i64()), (negative, Some(negative)));
    let (_, top) = http.get(
        &format!("{base}/runs?sort=metric.y&order=desc&limit=1"),
        &alice,
    );
    assert_eq!(top["runs"][0]["metrics"]["y"].as_f64(), Some(hi), "{top}");
    let (_, first) = http.get(&format!("{base}/runs?limit=3"), &alice);
    let idx: Vec<i64> = first["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["index"].as_i64().unwrap())
        .collect();
    assert_eq!(idx, [0, 1, 2]);
    let (_, last) = http.get(&format!("{base}/runs?order=desc&limit=1"), &alice);
    assert_eq!(last["runs"][0]["index"].as_i64(), Some(i64::from(n) - 1));
    let (_, tagged) = http.get(
        &format!("{base}/sample?n=5&where=metric.tag:eq:late"),
        &alice,
    );
    assert_eq!(tagged["matching"].as_i64(), Some(i64::from(n) - 150_000));
}
