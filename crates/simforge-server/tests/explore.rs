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
    simforge_server::admin::create_project(&server.state.db, "lab").unwrap();
    let alice = server.user("alice", false, &["submit"]);
    simforge_server::admin::set_member(&server.state.db, "lab", "alice", "member").unwrap();
    let worker = server.user("robot", false, &["worker"]);
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
