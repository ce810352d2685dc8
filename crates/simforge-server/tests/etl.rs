//! The reporting ETL against a real server and PostgreSQL: studies are
//! submitted through the API, finished attempts recorded through the
//! `Store` trait (as the worker protocol does), corrupt records written with
//! SQL. Every report number is checked against a computation done here,
//! independently, from the data the test wrote.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{Http, TestServer, branin_study, pg_url};
use serde_json::{Map, Value, json};
use simforge_core::RunState;
use simforge_server::etl::{EtlReport, run_etl};
use simforge_store::{AttemptRecord, RunFilter, Store, Update};

const TOL: f64 = 1e-9;

/// One finished attempt the test recorded.
#[derive(Debug, Clone)]
struct Att {
    study: String,
    queue: String,
    run: String,
    attempt: u32,
    state: RunState,
    run_state: RunState,
    day: u32,
    second: u32,
    duration: f64,
    host: String,
    metrics: Map<String, Value>,
    /// The test corrupted its run: excluded from the study's metrics.
    run_bad: bool,
    /// The test corrupted this attempt: excluded from the day reports.
    att_bad: bool,
    /// Its study was deleted.
    gone: bool,
}

fn ts(day: u32, second: u32) -> String {
    format!(
        "2024-03-{day:02}T{:02}:{:02}:{:02}Z",
        second / 3600,
        second / 60 % 60,
        second % 60
    )
}

/// A small deterministic generator (no dependency, same values every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct World {
    server: TestServer,
    http: Http,
    root: String,
    viewer: String,
    member: String,
    outsider: String,
    worker: String,
    atts: Vec<Att>,
    /// Runs of each study not yet finished by the test.
    unused: BTreeMap<String, Vec<(String, String)>>,
    rng: Lcg,
}

impl World {
    fn new(pg: &str) -> World {
        let server = TestServer::start(pg, 30.0);
        let http = Http::new(&server.url);
        let db = &server.state.db;
        let root = server.user("root", true, &["admin"]);
        simforge_server::admin::create_project(db, "p1").unwrap();
        simforge_server::admin::create_project(db, "p2").unwrap();
        let viewer = server.user("viewer", false, &["admin"]);
        simforge_server::admin::set_member(db, "p1", "viewer", "viewer").unwrap();
        let member = server.user("member", false, &["admin"]);
        simforge_server::admin::set_member(db, "p1", "member", "member").unwrap();
        let outsider = server.user("outsider", false, &["admin"]);
        simforge_server::admin::set_member(db, "p2", "outsider", "admin").unwrap();
        let worker = server.user("robot", false, &["worker"]);
        simforge_server::admin::set_member(db, "p1", "robot", "admin").unwrap();
        World {
            server,
            http,
            root,
            viewer,
            member,
            outsider,
            worker,
            atts: vec![],
            unused: BTreeMap::new(),
            rng: Lcg(42),
        }
    }

    fn submit(&mut self, project: &str, name: &str, samples: u32, queue: Option<&str>) {
        let mut body = json!({"source": branin_study(name, samples)});
        if let Some(q) = queue {
            body["queue"] = json!(q);
        }
        let (s, b) = self.http.post(
            &format!("/api/v1/projects/{project}/studies"),
            &self.root,
            body,
        );
        assert_eq!(s, 201, "{b}");
        let key = format!("{project}/{name}");
        let conn = self.server.state.db.get().unwrap();
        let runs = conn.runs(&key, &RunFilter::default()).unwrap();
        assert_eq!(runs.len(), samples as usize);
        self.unused
            .insert(key, runs.into_iter().map(|r| (r.id, r.spec_hash)).collect());
    }

    fn queue_of(study: &str) -> &'static str {
        if study == "p1/beta" {
            "gpu"
        } else {
            "analytic"
        }
    }

    /// Finishes `n` more runs of `study` on `day` and `host`; every fourth
    /// run fails once first, one in five fails for good, one in seven is
    /// cancelled, and the rest succeed with metrics.
    fn finish(&mut self, study: &str, n: usize, day: u32, hosts: &[&str]) {
        let mut updates = Vec::new();
        for i in 0..n {
            let (run, spec_hash) = self
                .unused
                .get_mut(study)
                .and_then(|v| {
                    if v.is_empty() {
                        None
                    } else {
                        Some(v.remove(0))
                    }
                })
                .expect("a run left to finish");
            let host = hosts[i % hosts.len()].to_string();
            let k = self.atts.len();
            let mut plan = vec![];
            if k % 4 == 1 {
                plan.push((RunState::Failed, RunState::Pending));
            }
            plan.push(if k % 5 == 3 {
                (RunState::Failed, RunState::Failed)
            } else if k % 7 == 5 {
                (RunState::Cancelled, RunState::Cancelled)
            } else {
                (RunState::Succeeded, RunState::Succeeded)
            });
            for (attempt, (state, run_state)) in plan.into_iter().enumerate() {
                let second = (3600.0 * 2.0 + self.rng.next() * 3600.0 * 20.0) as u32;
                let duration = 1.0 + (self.rng.next() * 1000.0).round() / 8.0;
                let mut metrics = Map::new();
                if state == RunState::Succeeded {
                    metrics.insert("y".into(), json!(-3.0 + self.rng.next() * 50.0));
                    metrics.insert("z".into(), json!((self.rng.next() * 1e6).round()));
                    metrics.insert("label".into(), json!("not a number"));
                    if k.is_multiple_of(3) {
                        metrics.insert("sometimes".into(), json!(self.rng.next()));
                    }
                }
                let att = Att {
                    study: study.into(),
                    queue: Self::queue_of(study).into(),
                    run: run.clone(),
                    attempt: attempt as u32 + 1,
                    state,
                    run_state,
                    day,
                    second,
                    duration,
                    host: host.clone(),
                    metrics: metrics.clone(),
                    run_bad: false,
                    att_bad: false,
                    gone: false,
                };
                updates.push(Update::Finished {
                    record: AttemptRecord {
                        run_id: run.clone(),
                        attempt: att.attempt,
                        state,
                        started_at: ts(day, second - 60),
                        finished_at: ts(day, second),
                        duration_s: duration,
                        exit_code: Some(0),
                        signal: None,
                        reason: (state != RunState::Succeeded).then(|| "it broke".to_string()),
                        host: host.clone(),
                        max_rss_kb: None,
                        metrics,
                        spec_hash: spec_hash.clone(),
                    },
                    run_state,
                });
                self.atts.push(att);
            }
        }
        let mut conn = self.server.state.db.get().unwrap();
        conn.apply(&updates).unwrap();
    }

    fn sql(&self, q: &str) -> Vec<postgres::Row> {
        let mut conn = self.server.state.db.get().unwrap();
        conn.client().query(q, &[]).unwrap()
    }

    fn exec(&self, q: &str) -> u64 {
        let mut conn = self.server.state.db.get().unwrap();
        conn.client().execute(q, &[]).unwrap()
    }

    fn etl(&self) -> EtlReport {
        let r = run_etl(&self.server.state.db).unwrap();
        assert!(r.succeeded(), "{r:?}");
        r
    }

    /// Every report row as text, for equality checks.
    fn snapshot(&self) -> Vec<String> {
        let mut out = vec![];
        for (t, order) in [
            ("report_study_metric", "study, metric"),
            ("report_simulator_day", "queue, day"),
            ("report_host_day", "host, day"),
        ] {
            for r in self.sql(&format!(
                "SELECT row_to_json(t)::text FROM {t} t ORDER BY {order}"
            )) {
                out.push(format!("{t}: {}", r.get::<_, String>(0)));
            }
        }
        out
    }

    /// `last_updated` of every report row, by table and group.
    fn stamps(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (t, key) in [
            ("report_study_metric", "study || ' ' || metric"),
            ("report_simulator_day", "queue || ' ' || day"),
            ("report_host_day", "host || ' ' || day"),
        ] {
            for r in self.sql(&format!("SELECT {key}, last_updated::text FROM {t}")) {
                out.insert(format!("{t} {}", r.get::<_, String>(0)), r.get(1));
            }
        }
        out
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    let pos = p * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

fn close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= TOL * want.abs().max(1.0),
        "{what}: got {got}, computed {want}"
    );
}

/// The final state of every run (its last attempt) that is not corrupted.
fn final_runs(atts: &[Att]) -> BTreeMap<String, &Att> {
    let mut out: BTreeMap<String, &Att> = BTreeMap::new();
    for a in atts {
        match out.get(&a.run) {
            Some(prev) if prev.attempt > a.attempt => {}
            _ => {
                out.insert(a.run.clone(), a);
            }
        }
    }
    out
}

/// Checks report_study_metric against the attempts written.
fn check_study_metrics(w: &World) {
    let mut values: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for a in final_runs(&w.atts).values() {
        if a.run_state != RunState::Succeeded || a.run_bad || a.gone {
            continue;
        }
        for (k, v) in &a.metrics {
            if let Some(x) = v.as_f64() {
                values
                    .entry((a.study.clone(), k.clone()))
                    .or_default()
                    .push(x);
            }
        }
    }
    let rows = w.sql(
        "SELECT study, metric, n, mean, stddev, min, p5, p25, p50, p75, p95, max, project, name
         FROM report_study_metric ORDER BY study, metric",
    );
    let got: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want: BTreeSet<(String, String)> = values.keys().cloned().collect();
    assert_eq!(got, want, "study × metric groups");
    for r in &rows {
        let (study, metric): (String, String) = (r.get(0), r.get(1));
        let mut xs = values[&(study.clone(), metric.clone())].clone();
        xs.sort_by(f64::total_cmp);
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let sd = (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let what = format!("{study} {metric}");
        assert_eq!(r.get::<_, i64>(2), xs.len() as i64, "{what} n");
        close(&format!("{what} mean"), r.get(3), mean);
        if xs.len() > 1 {
            close(
                &format!("{what} stddev"),
                r.get::<_, Option<f64>>(4).unwrap(),
                sd,
            );
        } else {
            assert_eq!(r.get::<_, Option<f64>>(4), None);
        }
        close(&format!("{what} min"), r.get(5), xs[0]);
        for (i, p) in [0.05, 0.25, 0.5, 0.75, 0.95].iter().enumerate() {
            close(&format!("{what} p{p}"), r.get(6 + i), pct(&xs, *p));
        }
        close(&format!("{what} max"), r.get(11), xs[xs.len() - 1]);
        let (project, name) = study.split_once('/').unwrap();
        assert_eq!(r.get::<_, String>(12), project);
        assert_eq!(r.get::<_, String>(13), name);
    }
}

fn is_failure(s: RunState) -> bool {
    matches!(s, RunState::Failed | RunState::TimedOut)
}

/// Checks report_simulator_day and report_host_day against the attempts.
fn check_days(w: &World) {
    let good: Vec<&Att> = w.atts.iter().filter(|a| !a.att_bad && !a.gone).collect();
    // Simulator × day.
    let mut groups: BTreeMap<(String, String), Vec<&Att>> = BTreeMap::new();
    for a in &good {
        groups
            .entry((a.queue.clone(), format!("2024-03-{:02}", a.day)))
            .or_default()
            .push(a);
    }
    let rows = w.sql(
        "SELECT queue, day::text, runs, succeeded, failed, cancelled, failure_rate, duration_p50,
                duration_p90, duration_p99, busy_s, runs_per_hour
         FROM report_simulator_day ORDER BY queue, day",
    );
    let got: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        groups.keys().cloned().collect(),
        "simulator × day groups"
    );
    for r in &rows {
        let key: (String, String) = (r.get(0), r.get(1));
        let g = &groups[&key];
        let what = format!("{key:?}");
        let succeeded = g.iter().filter(|a| a.state == RunState::Succeeded).count() as i64;
        let failed = g.iter().filter(|a| is_failure(a.state)).count() as i64;
        let cancelled = g.iter().filter(|a| a.state == RunState::Cancelled).count() as i64;
        assert_eq!(r.get::<_, i64>(2), g.len() as i64, "{what} runs");
        assert_eq!(r.get::<_, i64>(3), succeeded, "{what} succeeded");
        assert_eq!(r.get::<_, i64>(4), failed, "{what} failed");
        assert_eq!(r.get::<_, i64>(5), cancelled, "{what} cancelled");
        let rate = (succeeded + failed > 0).then(|| failed as f64 / (succeeded + failed) as f64);
        match rate {
            Some(x) => close(
                &format!("{what} failure_rate"),
                r.get::<_, Option<f64>>(6).unwrap(),
                x,
            ),
            None => assert_eq!(r.get::<_, Option<f64>>(6), None),
        }
        let mut d: Vec<f64> = g
            .iter()
            .filter(|a| a.state == RunState::Succeeded)
            .map(|a| a.duration)
            .collect();
        d.sort_by(f64::total_cmp);
        for (i, p) in [0.5, 0.9, 0.99].iter().enumerate() {
            let got: Option<f64> = r.get(7 + i);
            match d.is_empty() {
                true => assert_eq!(got, None),
                false => close(&format!("{what} p{p}"), got.unwrap(), pct(&d, *p)),
            }
        }
        close(
            &format!("{what} busy"),
            r.get(10),
            g.iter().map(|a| a.duration).sum(),
        );
        let hours: BTreeSet<u32> = g.iter().map(|a| a.second / 3600).collect();
        close(
            &format!("{what} per hour"),
            r.get(11),
            g.len() as f64 / hours.len() as f64,
        );
    }
    // Host × day.
    let mut groups: BTreeMap<(String, String), Vec<&Att>> = BTreeMap::new();
    for a in &good {
        groups
            .entry((a.host.clone(), format!("2024-03-{:02}", a.day)))
            .or_default()
            .push(a);
    }
    let rows = w.sql(
        "SELECT host, day::text, runs, succeeded, failed, cancelled, busy_s, mean_duration_s
         FROM report_host_day ORDER BY host, day",
    );
    let got: BTreeSet<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(got, groups.keys().cloned().collect(), "host × day groups");
    for r in &rows {
        let key: (String, String) = (r.get(0), r.get(1));
        let g = &groups[&key];
        let what = format!("{key:?}");
        assert_eq!(r.get::<_, i64>(2), g.len() as i64, "{what} runs");
        assert_eq!(
            r.get::<_, i64>(3),
            g.iter().filter(|a| a.state == RunState::Succeeded).count() as i64
        );
        assert_eq!(
            r.get::<_, i64>(4),
            g.iter().filter(|a| is_failure(a.state)).count() as i64
        );
        assert_eq!(
            r.get::<_, i64>(5),
            g.iter().filter(|a| a.state == RunState::Cancelled).count() as i64
        );
        let busy: f64 = g.iter().map(|a| a.duration).sum();
        close(&format!("{what} busy"), r.get(6), busy);
        close(&format!("{what} mean"), r.get(7), busy / g.len() as f64);
    }
}

fn check_all(w: &World) {
    check_study_metrics(w);
    check_days(w);
}

fn metric_value(text: &str, name: &str) -> Option<i64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn reports_are_exact_incremental_idempotent_and_validated() {
    let Some(pg) = pg_url() else { return };
    let mut w = World::new(&pg);
    w.submit("p1", "alpha", 40, None);
    w.submit("p1", "beta", 30, Some("gpu"));
    w.submit("p2", "gamma", 10, None);
    w.finish("p1/alpha", 14, 1, &["h1", "h2"]);
    w.finish("p1/alpha", 9, 2, &["h2"]);
    w.finish("p1/beta", 16, 1, &["h3", "h2"]);
    w.finish("p2/gamma", 6, 1, &["h1", "h9"]);

    // Before the first run the reports lag behind.
    let (s, b) = w.http.get("/api/v1/reports/studies/p1/alpha", &w.viewer);
    assert_eq!(s, 200, "{b}");
    assert!(
        b["lag_s"].as_f64().unwrap() >= 0.0 && b["metrics"] == json!([]),
        "{b}"
    );
    assert!(b["last_updated"].is_null(), "{b}");
    std::thread::sleep(Duration::from_millis(20));
    assert!(w.sql("SELECT count(*) FROM etl_changes")[0].get::<_, i64>(0) > 0);

    // First run: everything, exactly. (The test server's own schedule may
    // run the ETL at any time too: assertions hold whichever run did the work.)
    w.etl();
    check_all(&w);
    let (s, b) = w.http.get("/api/v1/reports/studies/p1/alpha", &w.viewer);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["lag_s"], json!(0.0), "{b}");
    assert!(b["last_updated"].as_str().unwrap().ends_with('Z'), "{b}");
    let names: Vec<&str> = b["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["sometimes", "y", "z"],
        "strings are not summarised: {b}"
    );

    // A rerun with nothing new changes nothing.
    let before = w.snapshot();
    let stamps = w.stamps();
    let again = w.etl();
    assert_eq!(
        w.snapshot(),
        before,
        "a rerun must leave the reports identical"
    );
    for t in &again.tables {
        assert_eq!(
            (t.changes, t.read, t.written, t.deleted),
            (0, 0, 0, 0),
            "{t:?}"
        );
    }

    // New runs for alpha on a new day and host, and on day 1: only alpha's
    // metric rows, the day-1 and day-3 analytic rows and the hosts touched
    // change; the table's last_updated moves.
    let freshness = |w: &World| -> String {
        w.sql("SELECT last_updated::text FROM etl_state WHERE report = 'report_study_metric'")[0]
            .get(0)
    };
    let last_before = freshness(&w);
    w.finish("p1/alpha", 7, 3, &["h4"]);
    w.finish("p1/alpha", 2, 1, &["h1"]);
    let (_, b) = w.http.get(
        "/api/v1/reports/simulators?from=2024-03-01&to=2024-03-31",
        &w.root,
    );
    assert!(
        b["lag_s"].as_f64().is_some_and(|l| l > 0.0),
        "new attempts are not reported yet: {b}"
    );
    // Report rows are cached until the ETL writes their table again.
    let (_, again) = w.http.get(
        "/api/v1/reports/simulators?from=2024-03-01&to=2024-03-31",
        &w.root,
    );
    assert_eq!(again["cached"], true, "{again}");
    assert_eq!(again["rows"], b["rows"]);
    w.etl();
    let (_, fresh) = w.http.get(
        "/api/v1/reports/simulators?from=2024-03-01&to=2024-03-31",
        &w.root,
    );
    assert_eq!(fresh["cached"], false, "an ETL run invalidates: {fresh}");
    assert_ne!(fresh["rows"], b["rows"], "the new day-3 rows are in");
    check_all(&w);
    assert!(
        freshness(&w) > last_before,
        "the table's last_updated moves"
    );
    let after = w.stamps();
    for (k, v) in &stamps {
        let moved = after.get(k).is_some_and(|a| a != v);
        if k == "report_study_metric p1/alpha sometimes" {
            continue; // moves only if a new run reported that metric
        }
        let should_move = k.starts_with("report_study_metric p1/alpha ")
            || k == "report_simulator_day analytic 2024-03-01"
            || k == "report_host_day h1 2024-03-01";
        assert_eq!(moved, should_move, "{k}: {v} → {:?}", after.get(k));
    }
    assert!(after.contains_key("report_simulator_day analytic 2024-03-03"));
    assert!(after.contains_key("report_host_day h4 2024-03-03"));

    // Visibility of the cross-project reports.
    let rows_of = |b: &Value, key: &str| -> Vec<String> {
        b["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {}",
                    r[key].as_str().unwrap(),
                    r["day"].as_str().unwrap()
                )
            })
            .collect()
    };
    let (s, b) = w.http.get(
        "/api/v1/reports/simulators?from=2024-03-01&to=2024-03-03",
        &w.member,
    );
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        rows_of(&b, "queue"),
        [
            "analytic 2024-03-01",
            "gpu 2024-03-01",
            "analytic 2024-03-02",
            "analytic 2024-03-03"
        ]
    );
    let (_, b) = w.http.get(
        "/api/v1/reports/simulators?from=2024-03-01&to=2024-03-03",
        &w.outsider,
    );
    assert_eq!(
        rows_of(&b, "queue"),
        ["analytic 2024-03-01"],
        "an outsider sees the queue-days their project used"
    );
    let all_d1 = w
        .atts
        .iter()
        .filter(|a| a.queue == "analytic" && a.day == 1)
        .count();
    assert_eq!(
        b["rows"][0]["runs"],
        json!(all_d1),
        "a visible row is the server-wide aggregate"
    );
    let (_, b) = w.http.get(
        "/api/v1/reports/hosts?from=2024-03-01&to=2024-03-03",
        &w.outsider,
    );
    assert_eq!(
        rows_of(&b, "host"),
        ["h1 2024-03-01", "h9 2024-03-01"],
        "{b}"
    );
    let (_, b) = w.http.get(
        "/api/v1/reports/hosts?from=2024-03-01&to=2024-03-03&host=h2",
        &w.root,
    );
    assert_eq!(
        rows_of(&b, "host"),
        ["h2 2024-03-01", "h2 2024-03-02"],
        "{b}"
    );
    assert_eq!(b["lag_s"], json!(0.0));
    let (_, b) = w
        .http
        .get("/api/v1/reports/simulators?to=2024-03-02", &w.root);
    assert_eq!(
        (b["from"].as_str(), b["to"].as_str()),
        (Some("2024-02-02"), Some("2024-03-02")),
        "{b}"
    );
    let (s, b) = w.http.get(
        "/api/v1/reports/hosts?from=2024-03-05&to=2024-03-01",
        &w.root,
    );
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("from")),
        "{b}"
    );
    let (s, b) = w.http.get("/api/v1/reports/hosts?from=March", &w.root);
    assert_eq!(
        (s, b["error"]["field"].as_str()),
        (400, Some("from")),
        "{b}"
    );
    let (s, _) = w.http.get("/api/v1/reports/studies/p1/alpha", &w.outsider);
    assert_eq!(s, 404, "an outsider does not learn p1 exists");
    let (s, _) = w.http.get("/api/v1/reports/studies/p1/nope", &w.viewer);
    assert_eq!(s, 404);
    for path in [
        "/api/v1/reports/simulators",
        "/api/v1/reports/hosts",
        "/api/v1/reports/studies/p1/alpha",
    ] {
        let (s, _) = w.http.get(path, &w.worker);
        assert_eq!(s, 403, "{path}: a worker token reads no reports");
        let (s, _) = w.http.call("GET", path, None, None);
        assert_eq!(s, 401, "{path}");
    }
    for (method, path) in [
        ("GET", "/api/v1/etl/runs"),
        ("POST", "/api/v1/etl/run"),
        ("GET", "/api/v1/etl/rejects"),
    ] {
        let (s, _) = w.http.call(method, path, Some(&w.member), Some(&json!({})));
        assert_eq!(s, 403, "{method} {path} is for server administrators");
    }

    // Corrupt and incomplete records: rejected with a reason, excluded, and
    // left in the raw tables.
    let beta_ok: Vec<String> = final_runs(&w.atts)
        .values()
        .filter(|a| a.study == "p1/beta" && a.run_state == RunState::Succeeded)
        .map(|a| a.run.clone())
        .collect();
    let corrupt_runs = [
        ("metrics = '\"oops\"'", "metrics_not_object"),
        ("metrics = NULL", "missing_metrics"),
        ("finished_at = '2024-03-01 nonsense'", "bad_timestamp"),
        ("duration_s = 'NaN'", "bad_duration"),
        ("metrics = '{\"y\": 1e400}'", "metric_out_of_range"),
        (
            "finished_at = '2024-02-01T00:00:00Z'",
            "finished_before_started",
        ),
    ];
    assert!(beta_ok.len() > corrupt_runs.len(), "{beta_ok:?}");
    let mut want = BTreeSet::new();
    for ((set, reason), run) in corrupt_runs.iter().zip(&beta_ok) {
        assert_eq!(
            w.exec(&format!("UPDATE runs SET {set} WHERE id = '{run}'")),
            1
        );
        for a in w.atts.iter_mut().filter(|a| &a.run == run) {
            a.run_bad = true;
        }
        want.insert(("runs".to_string(), run.clone(), reason.to_string()));
    }
    let corrupt_atts = [
        (
            "finished_at = '2024-03-01T00:00:00Z', started_at = '2024-03-01T01:00:00Z'",
            "finished_before_started",
        ),
        ("duration_s = 'Infinity'", "bad_duration"),
        ("started_at = 'not a time'", "bad_timestamp"),
        ("duration_s = -1", "bad_duration"),
    ];
    let alpha: Vec<usize> = (0..w.atts.len())
        .filter(|&i| w.atts[i].study == "p1/alpha")
        .collect();
    for ((set, reason), &i) in corrupt_atts.iter().zip(&alpha) {
        let a = &mut w.atts[i];
        let sql = format!(
            "UPDATE attempts SET {set} WHERE run_id = '{}' AND attempt = {}",
            a.run, a.attempt
        );
        a.att_bad = true;
        want.insert(("attempts".to_string(), a.run.clone(), reason.to_string()));
        assert_eq!(w.exec(&sql), 1);
    }
    let metrics_text = |w: &World| -> String {
        w.http
            .call("GET", "/metrics", None, None)
            .1
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let rejects_before = metric_value(&metrics_text(&w), "simforge_etl_rejects_total").unwrap_or(0);
    w.etl();
    check_all(&w);
    let (s, b) = w.http.get("/api/v1/etl/rejects?limit=100", &w.root);
    assert_eq!(s, 200, "{b}");
    let got: BTreeSet<(String, String, String)> = b["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["source"].as_str().unwrap().to_string(),
                r["run_id"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{b}");
    assert!(
        b["rejects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| !r["detail"].as_str().unwrap().is_empty()),
        "{b}"
    );
    let (_, b) = w.http.get(
        "/api/v1/etl/rejects?source=attempts&reason=bad_duration",
        &w.root,
    );
    assert_eq!(b["rejects"].as_array().unwrap().len(), 2, "{b}");
    let (_, b) = w.http.get("/api/v1/reports/studies/p1/beta", &w.viewer);
    assert_eq!(b["rejected_runs"], json!(corrupt_runs.len()), "{b}");
    let raw: i64 = w
        .sql("SELECT count(*) FROM runs WHERE study = 'p1/beta' AND state = 'succeeded'")[0]
        .get(0);
    assert_eq!(raw as usize, beta_ok.len(), "raw rows are never deleted");
    // Rerun: the same rejects, none new, nothing changes.
    let snap = w.snapshot();
    let rerun = w.etl();
    assert!(
        rerun
            .tables
            .iter()
            .all(|t| t.new_rejects == 0 && t.written == 0),
        "{rerun:?}"
    );
    assert_eq!(w.snapshot(), snap);
    let text = metrics_text(&w);
    assert_eq!(
        metric_value(&text, "simforge_etl_rejects_total"),
        Some(rejects_before + (corrupt_runs.len() + corrupt_atts.len()) as i64),
        "{text}"
    );
    assert!(
        metric_value(&text, "simforge_etl_runs_total").unwrap() >= 5,
        "{text}"
    );
    assert!(
        metric_value(&text, "simforge_etl_rows_written_total").unwrap() > 0,
        "{text}"
    );
    assert!(
        metric_value(&text, "simforge_etl_lag_seconds").is_some(),
        "{text}"
    );

    // Repairing a record brings it back and clears its reject.
    let fixed = beta_ok[3].clone();
    w.exec(&format!(
        "UPDATE runs SET duration_s = 5 WHERE id = '{fixed}'"
    ));
    for a in w.atts.iter_mut().filter(|a| a.run == fixed) {
        a.run_bad = false;
    }
    w.etl();
    check_all(&w);
    let left: i64 = w.sql(&format!(
        "SELECT count(*) FROM etl_rejects WHERE run_id = '{fixed}'"
    ))[0]
        .get(0);
    assert_eq!(left, 0);

    // Deleting a study removes its rows; groups left empty disappear.
    let (s, b) = w.http.call(
        "DELETE",
        "/api/v1/projects/p2/studies/gamma",
        Some(&w.root),
        None,
    );
    assert!((200..300).contains(&s), "{s} {b}");
    for a in w.atts.iter_mut().filter(|a| a.study == "p2/gamma") {
        a.gone = true;
    }
    w.etl();
    check_all(&w);
    assert!(
        w.stamps().keys().all(|k| !k.contains("h9")),
        "h9 ran only gamma"
    );

    // On demand through the API, and the ETL log.
    let (s, b) = w.http.post("/api/v1/etl/run", &w.root, json!({}));
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["status"], "succeeded");
    assert_eq!(b["tables"].as_array().unwrap().len(), 3, "{b}");
    let (s, b) = w.http.get("/api/v1/etl/runs?limit=3", &w.root);
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["runs"].as_array().unwrap().len(), 3);
    assert_eq!(b["runs"][0]["trigger"], "api");
    assert_eq!(b["runs"][0]["status"], "succeeded");
    assert!(b["runs"][0]["finished_at"].as_str().is_some());
    let tables: Vec<&str> = b["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(
        tables,
        [
            "report_study_metric",
            "report_simulator_day",
            "report_host_day"
        ]
    );
    for t in b["tables"].as_array().unwrap() {
        assert_eq!(
            (&t["pending_changes"], &t["lag_s"]),
            (&json!(0), &json!(0.0)),
            "{t}"
        );
    }
    let audited: i64 = w.sql("SELECT count(*) FROM audit WHERE action = 'etl_run'")[0].get(0);
    assert_eq!(audited, 1);
}

#[test]
fn one_server_at_a_time_and_on_schedule() {
    let Some(pg) = pg_url() else { return };
    let server = TestServer::start(&pg, 30.0);
    let db = &server.state.db;
    // While another session holds the lock, a scheduled run skips.
    let mut other = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    other
        .execute(
            &format!(
                "SELECT pg_advisory_lock(7313002, hashtext('{}'))",
                server.schema
            ),
            &[],
        )
        .unwrap();
    assert!(simforge_server::etl::try_run_etl(db).unwrap().is_none());
    other
        .execute(
            &format!(
                "SELECT pg_advisory_unlock(7313002, hashtext('{}'))",
                server.schema
            ),
            &[],
        )
        .unwrap();
    assert!(simforge_server::etl::try_run_etl(db).unwrap().is_some());

    // Two more "servers" on the same schema, each scheduled every second:
    // runs happen, and never overlap.
    let mut config = server.state.config.clone();
    config.etl.schedule = simforge_server::etl::Schedule::parse("* * * * * *").unwrap();
    let a = simforge_server::prepare(config.clone()).unwrap();
    let b = simforge_server::prepare(config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ba, bb) = rt.block_on(async {
        (
            simforge_server::etl::Background::spawn(&a),
            simforge_server::etl::Background::spawn(&b),
        )
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut conn = db.get().unwrap();
    loop {
        let n: i64 = conn
            .client()
            .query_one(
                "SELECT count(*) FROM etl_runs WHERE trigger = 'schedule' AND status = 'succeeded'",
                &[],
            )
            .unwrap()
            .get(0);
        if n >= 4 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {n} scheduled runs in 30 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop((ba, bb));
    rt.shutdown_timeout(Duration::from_secs(10));
    let overlaps: i64 = conn
        .client()
        .query_one(
            "SELECT count(*) FROM etl_runs x JOIN etl_runs y ON x.id < y.id
             WHERE x.finished_at IS NOT NULL AND y.finished_at IS NOT NULL
               AND x.started_at < y.finished_at AND y.started_at < x.finished_at",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(overlaps, 0, "two ETL runs overlapped");
}

#[test]
fn schedule_errors_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("server.yaml");
    let load = |text: &str, env: &[(&str, &str)]| {
        std::fs::write(&f, text).unwrap();
        simforge_server::config::load(
            Some(&f),
            None,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let c = load("etl: {schedule: \"0 3 * * *\", enabled: false}\n", &[]).unwrap();
    assert_eq!(c.etl.schedule.as_str(), "0 3 * * *");
    assert!(!c.etl.enabled);
    let c = load("{}\n", &[]).unwrap();
    assert_eq!(c.etl.schedule.as_str(), "*/5 * * * *");
    assert!(c.etl.enabled);
    let e = load("etl: {schedule: \"61 * * * *\"}\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("etl.schedule") && e.contains("61 * * * *"),
        "{e}"
    );
    let e = load("etl: {schedule: \"every day\"}\n", &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("etl.schedule") && e.contains("five fields"),
        "{e}"
    );
    let e = load("{}\n", &[("SIMFORGE_SERVER__ETL__SCHEDULE", "* * *")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("etl.schedule"), "{e}");
    let c = load(
        "{}\n",
        &[("SIMFORGE_SERVER__ETL__SCHEDULE", "*/10 * * * *")],
    )
    .unwrap();
    assert_eq!(c.etl.schedule.as_str(), "*/10 * * * *");
    let e = load("etl: {shedule: \"* * * * *\"}\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("etl") && e.contains("shedule"), "{e}");
}
