//! Ingestion end to end on the real PostgreSQL: a locally run study pushed
//! with `simforge push`'s code lands with exactly its results and a second
//! push changes nothing; bad records are quarantined with reasons while the
//! good ones of the same batch are accepted; a batch key answers from its
//! record; a server killed with SIGKILL mid-push loses nothing and applies
//! nothing twice.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::{Http, TestServer, pg_url};
use serde_json::{Value, json};
use simforge_core::results::RunRecord;
use simforge_core::{Plan, RunState};
use simforge_exec::RunnableSimulator;
use simforge_exec::remote::push::{PushError, PushOptions, PushSummary, push_study};
use simforge_store::{AttemptRecord, RunFilter, SqliteStore, Store, Update};

fn setup() -> Option<(TestServer, Http, String, String)> {
    let pg = pg_url()?;
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    let _root = server.user("root", true, &["admin"]);
    simforge_server::admin::create_project(&server.state.db, "lab").unwrap();
    let alice = server.user("alice", false, &["submit"]);
    simforge_server::admin::set_member(&server.state.db, "lab", "alice", "member").unwrap();
    let viewer = server.user("victor", false, &["read"]);
    simforge_server::admin::set_member(&server.state.db, "lab", "victor", "viewer").unwrap();
    Some((server, http, alice, viewer))
}

fn study_text(name: &str, samples: u64, replicates: u32) -> String {
    format!(
        "name: {name}\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\n\
         parameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\n\
         design: {{sampler: random, samples: {samples}, seed: 3, replicates: {replicates}}}\nmetrics: [y]\n"
    )
}

/// A study directory with its file and an SQLite store beside it.
struct Local {
    dir: tempfile::TempDir,
    study: simforge_core::Study,
}

impl Local {
    fn new(text: &str) -> Local {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("study.yaml");
        std::fs::write(&file, text).unwrap();
        let study = simforge_core::load_study(&file).unwrap();
        Local { dir, study }
    }

    fn store_dir(&self) -> std::path::PathBuf {
        self.dir.path().join(".simforge")
    }

    fn store(&self) -> SqliteStore {
        std::fs::create_dir_all(self.store_dir()).unwrap();
        SqliteStore::open(&self.store_dir().join("simforge.db")).unwrap()
    }

    /// Runs the study for real with the local runner.
    fn run(&self) -> SqliteStore {
        let mut store = self.store();
        let sim = RunnableSimulator::new(&self.study).unwrap();
        let opts = simforge_exec::RunOptions {
            jobs: Some(2),
            retry_failed: false,
            runs_root: self.store_dir().join("runs").join(&self.study.spec.name),
            lock_dir: self.store_dir().join("locks"),
            progress: simforge_exec::progress::Mode::Quiet,
            machine: simforge_exec::pool::Machine::detect(),
            guardian_exe: None,
        };
        let summary = simforge_exec::run_study(
            &mut store,
            &self.study,
            sim,
            "study.yaml",
            &opts,
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap();
        assert_eq!(summary.failed, 0, "{summary:?}");
        store
    }

    /// Plans the study and records a synthetic success for every run, fast
    /// (no simulator), as a store of a finished study looks.
    fn synthesize(&self) -> SqliteStore {
        let mut store = self.store();
        let sim = RunnableSimulator::new(&self.study).unwrap();
        simforge_exec::runner::plan_into_store(
            &mut store,
            &self.study,
            &sim.identity(),
            "study.yaml",
        )
        .unwrap();
        let mut updates = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .pending_page(&self.study.spec.name, after, 20_000)
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some((last.index, last.replicate));
            for r in &page {
                let x1 = r.params["x1"].as_f64().unwrap();
                let mut metrics = serde_json::Map::new();
                metrics.insert("y".into(), json!(x1 * 2.0 + r.index as f64));
                updates.push(Update::Finished {
                    record: AttemptRecord {
                        run_id: r.id.clone(),
                        attempt: 1,
                        state: RunState::Succeeded,
                        started_at: "2026-11-29T10:00:00.000Z".into(),
                        finished_at: "2026-11-29T10:00:00.250Z".into(),
                        duration_s: 0.25,
                        exit_code: Some(0),
                        signal: None,
                        reason: None,
                        host: "laptop".into(),
                        max_rss_kb: None,
                        metrics,
                        spec_hash: self.study.spec_hash.clone(),
                    },
                    run_state: RunState::Succeeded,
                });
            }
            store.apply(&updates).unwrap();
            updates.clear();
        }
        store
    }
}

fn opts(server: &str, token: &str) -> PushOptions {
    PushOptions {
        server: server.to_string(),
        token: token.to_string(),
        project: "lab".into(),
        batch: 5000,
        parallel: 2,
        patience: Duration::from_secs(20),
        resend_all: false,
    }
}

/// The server's runs of a study (current plan), by design position.
fn server_runs(server: &TestServer, key: &str) -> BTreeMap<(u64, u32), RunRecord> {
    let c = server.state.db.get().unwrap();
    c.runs(key, &RunFilter::default())
        .unwrap()
        .into_iter()
        .map(|r| ((r.index, r.replicate), r))
        .collect()
}

/// Asserts that the server holds exactly the local finished results.
fn assert_same_results(local: &[RunRecord], server: &BTreeMap<(u64, u32), RunRecord>) {
    let finished: Vec<&RunRecord> = local.iter().filter(|r| r.state.is_final()).collect();
    let server_finished = server.values().filter(|r| r.state.is_final()).count();
    assert_eq!(
        server_finished,
        finished.len(),
        "finished runs on the server"
    );
    for l in finished {
        let s = &server[&(l.index, l.replicate)];
        assert_eq!(s.params, l.params, "params at {}", l.index);
        assert_eq!(s.seed, l.seed);
        assert_eq!(s.metrics, l.metrics, "metrics at {}", l.index);
        assert_eq!(s.state, l.state);
        assert_eq!(s.attempts, l.attempts);
        assert_eq!(s.started_at, l.started_at);
        assert_eq!(s.finished_at, l.finished_at);
        assert_eq!(s.duration_s, l.duration_s);
        assert_eq!(s.host, l.host);
        assert_eq!(s.spec_hash, l.spec_hash);
    }
}

fn counter(http: &Http, name: &str) -> i64 {
    let (_, text) = http.call("GET", "/metrics", None, None);
    let text = text.as_str().unwrap_or_default().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("simforge_{name}_total ")))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn a_pushed_study_lands_with_exactly_its_results_and_pushing_again_changes_nothing() {
    let Some((server, http, alice, viewer)) = setup() else {
        return;
    };
    let local = Local::new(&study_text("sweep", 30, 2));
    let store = local.run();
    let local_runs = store.runs("sweep", &RunFilter::default()).unwrap();
    assert_eq!(local_runs.len(), 60);

    let mut o = opts(&server.url, &alice);
    o.batch = 25;
    let s = push_study(&o, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!(s.key, "lab/sweep");
    assert_eq!(s.planned, 60);
    assert_eq!(
        (s.records, s.accepted, s.duplicates, s.quarantined),
        (60, 60, 0, 0),
        "{s:?}"
    );
    assert_eq!(s.batches, 3);
    assert_eq!(
        std::fs::read_dir(&s.spool)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("batch-")
            })
            .count(),
        0,
        "the spool is empty once everything is acknowledged"
    );
    let first = server_runs(&server, "lab/sweep");
    assert_same_results(&local_runs, &first);

    // The study is external: registered, planned, and never queued for workers.
    let (_, show) = http.get("/api/v1/projects/lab/studies/sweep", &viewer);
    assert_eq!(show["state"], "external", "{show}");
    assert_eq!(show["counts"]["succeeded"], 60, "{show}");
    let (_, q) = http.get("/api/v1/queues", &alice);
    assert!(
        q["queues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|q| q["pending"] == 0),
        "{q}"
    );

    // Again: nothing left to send.
    let s2 = push_study(&o, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!((s2.records, s2.skipped, s2.batches), (0, 60, 0), "{s2:?}");

    // Everything again, cut differently: every record a duplicate.
    let mut all = o.clone();
    all.resend_all = true;
    all.batch = 7;
    let s3 = push_study(&all, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!(
        (s3.records, s3.accepted, s3.duplicates, s3.replayed),
        (60, 0, 60, 0),
        "{s3:?}"
    );
    // Everything again, cut as the first time: the server answers from its record.
    all.batch = 25;
    let s4 = push_study(&all, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!(
        (s4.accepted, s4.replayed, s4.replayed_records),
        (0, 3, 60),
        "{s4:?}"
    );
    assert_eq!(
        server_runs(&server, "lab/sweep"),
        first,
        "the server's table is unchanged"
    );

    let (_, b) = http.get("/api/v1/projects/lab/studies/sweep/batches", &viewer);
    assert_eq!(
        b["totals"]["batches"], 12,
        "3 + 9 batches applied, replays not stored again: {b}"
    );
    assert_eq!(b["totals"]["accepted"], 60, "{b}");
    assert_eq!(b["totals"]["duplicates"], 60, "{b}");
    assert_eq!(counter(&http, "ingested_results"), 60);
    assert_eq!(counter(&http, "ingest_batches"), 12);
    assert_eq!(counter(&http, "quarantined_records"), 0);
    let c = &mut server.state.db.get().unwrap();
    let audited: i64 = c
        .client()
        .query_one(
            "SELECT count(*) FROM audit WHERE action = 'ingest_batch' AND target = 'lab/sweep'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(audited, 12);
    let attempts: i64 = c
        .client()
        .query_one("SELECT count(*) FROM attempts a JOIN runs r ON r.id = a.run_id WHERE r.study = 'lab/sweep'", &[])
        .unwrap()
        .get(0);
    assert_eq!(attempts, 60, "one attempt row per run, not one per push");
}

/// Records for the first `n` runs of the server's plan of `text`, as a
/// local store would hold them.
fn records_for(text: &str, n: usize) -> Vec<Value> {
    let study = simforge_core::parse_study(Path::new("study.yaml"), text).unwrap();
    let sim = RunnableSimulator::new(&study).unwrap();
    let plan = Plan::new(&study, &sim.identity()).unwrap();
    plan.runs()
        .take(n)
        .map(|r| {
            let x1 = r.params["x1"].as_f64().unwrap();
            json!({"run_id": r.id, "index": r.index, "replicate": r.replicate, "seed": r.seed,
                   "params": r.params, "state": "succeeded", "metrics": {"y": x1 + 100.0},
                   "attempts": 1, "started_at": "2026-11-29T10:00:00Z", "finished_at": "2026-11-29T10:00:02Z",
                   "duration_s": 2.0, "host": "elsewhere", "reason": null, "exit_code": 0, "spec_hash": study.spec_hash})
        })
        .collect()
}

/// Posts a batch with (or without) an idempotency key.
fn post_batch(
    base: &str,
    token: &str,
    study: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(&format!(
            "{base}/api/v1/projects/lab/studies/{study}/ingest"
        ))
        .header("Authorization", &format!("Bearer {token}"));
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    let mut resp = req.send_json(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[test]
fn bad_records_are_quarantined_with_reason_and_field_while_good_ones_land() {
    let Some((server, http, alice, viewer)) = setup() else {
        return;
    };
    let text = study_text("mixed", 20, 1);
    let (s, reg) = http.call(
        "PUT",
        "/api/v1/projects/lab/studies/mixed/source",
        Some(&alice),
        Some(&json!({"source": text, "source_name": "study.yaml"})),
    );
    assert_eq!(s, 200, "{reg}");
    assert_eq!(reg["state"], "external");
    assert_eq!(reg["planned"], 20);

    let good = records_for(&text, 12);
    let mut records: Vec<Value> = good[..6].to_vec();
    // A non-finite result the simulator printed is kept as the string it is.
    records[5]["metrics"]["note"] = json!("nan");
    let bad = |i: usize, f: &dyn Fn(&mut Value)| {
        let mut r = good[i].clone();
        f(&mut r);
        r
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            bad(6, &|r| {
                r["params"]["x3"] = json!(1.0);
            }),
            "params.x3",
            "unknown parameter `x3`",
        ),
        (
            bad(7, &|r| {
                r["params"]["x1"] = json!(99.0);
            }),
            "params.x1",
            "outside its range",
        ),
        (
            bad(8, &|r| {
                r["params"]["x2"] = json!("three");
            }),
            "params.x2",
            "a real number, not a string",
        ),
        (
            bad(9, &|r| {
                r["state"] = json!("running");
            }),
            "state",
            "not final",
        ),
        (
            bad(10, &|r| {
                r["finished_at"] = json!("29/11/2026 10:00");
            }),
            "finished_at",
            "RFC 3339",
        ),
        (
            bad(11, &|r| {
                r["index"] = json!(999);
            }),
            "index",
            "no run of the server's plan",
        ),
        (
            bad(11, &|r| {
                r["metrics"] = json!({});
            }),
            "metrics.y",
            "missing from a succeeded run",
        ),
        (
            bad(11, &|r| {
                r["attempts"] = json!(-1);
            }),
            "attempts",
            "not a valid record",
        ),
        (json!("not a record"), "", "JSON object"),
    ];
    records.extend(cases.iter().map(|(r, _, _)| r.clone()));
    let body = json!({ "records": records });

    let (s, r) = post_batch(&server.url, &alice, "mixed", Some("batch-0001"), &body);
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["accepted"], 6, "{r}");
    assert_eq!(r["duplicates"], 0);
    assert_eq!(r["replayed"], false);
    let q = r["quarantined"].as_array().unwrap();
    assert_eq!(q.len(), cases.len(), "{r}");
    for (k, (_, field, reason)) in cases.iter().enumerate() {
        assert_eq!(q[k]["position"], 6 + k, "{}", q[k]);
        assert!(
            q[k]["reason"].as_str().unwrap().contains(reason),
            "{}: {}",
            reason,
            q[k]
        );
        if !field.is_empty() {
            assert_eq!(q[k]["field"], *field, "{}", q[k]);
        }
    }

    // The good ones are in the store; the runs the bad ones aimed at are not.
    let runs = server_runs(&server, "lab/mixed");
    let done: Vec<u64> = runs
        .values()
        .filter(|r| r.state == RunState::Succeeded)
        .map(|r| r.index)
        .collect();
    assert_eq!(done, vec![0, 1, 2, 3, 4, 5]);
    assert_eq!(runs[&(5, 0)].metrics["note"], json!("nan"));
    assert_eq!(runs[&(0, 0)].host.as_deref(), Some("elsewhere"));

    // Visible to a viewer, with the record as sent.
    let (s, list) = http.get(
        "/api/v1/projects/lab/studies/mixed/quarantine?limit=3",
        &viewer,
    );
    assert_eq!(s, 200, "{list}");
    assert_eq!(list["total"], cases.len());
    let items = list["quarantined"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["batch"], "batch-0001");
    assert_eq!(items[0]["record"]["params"]["x3"], 1.0);
    assert_eq!(items[1]["field"], "params.x1");
    assert_eq!(items[1]["index"], 7);
    let (_, rest) = http.get(
        "/api/v1/projects/lab/studies/mixed/quarantine?offset=8",
        &viewer,
    );
    assert_eq!(rest["quarantined"][0]["record"], "not a record");
    assert_eq!(counter(&http, "quarantined_records"), cases.len() as i64);

    // The same key and body: the stored answer, nothing changed.
    let (s, again) = post_batch(&server.url, &alice, "mixed", Some("batch-0001"), &body);
    assert_eq!(s, 200);
    assert_eq!(again["replayed"], true);
    assert_eq!(again["accepted"], r["accepted"]);
    assert_eq!(again["quarantined"], r["quarantined"]);
    let (_, list) = http.get("/api/v1/projects/lab/studies/mixed/quarantine", &viewer);
    assert_eq!(
        list["total"],
        cases.len(),
        "a replay quarantines nothing again"
    );
    assert_eq!(server_runs(&server, "lab/mixed"), runs);
    // The same key with other contents is refused.
    let (s, e) = post_batch(
        &server.url,
        &alice,
        "mixed",
        Some("batch-0001"),
        &json!({"records": [good[6]]}),
    );
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (409, Some("conflict")),
        "{e}"
    );
    // A fixed record under a new key lands; the earlier good ones are duplicates.
    let (s, r2) = post_batch(
        &server.url,
        &alice,
        "mixed",
        Some("batch-0002"),
        &json!({"records": [good[0], good[6]]}),
    );
    assert_eq!(s, 200, "{r2}");
    assert_eq!(
        (r2["accepted"].as_u64(), r2["duplicates"].as_u64()),
        (Some(1), Some(1)),
        "{r2}"
    );
    // Two records for one run in a batch: the second is quarantined.
    let (_, r3) = post_batch(
        &server.url,
        &alice,
        "mixed",
        Some("batch-0003"),
        &json!({"records": [good[7], good[7]]}),
    );
    assert_eq!(r3["accepted"], 1, "{r3}");
    assert!(
        r3["quarantined"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("same run as record 0"),
        "{r3}"
    );

    // A full batch of several MB is taken (above axum's default body limit):
    // one record for a run that already succeeded, and 9,999 copies of it.
    let mut big = good[0].clone();
    big["metrics"]["note"] = json!("n".repeat(400));
    let many: Vec<Value> = (0..10_000).map(|_| big.clone()).collect();
    let body_big = json!({ "records": many });
    assert!(body_big.to_string().len() > 4_000_000);
    let (s, r4) = post_batch(&server.url, &alice, "mixed", Some("batch-big"), &body_big);
    assert_eq!(s, 200, "{r4}");
    assert_eq!(
        (r4["accepted"].as_u64(), r4["duplicates"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(r4["quarantined"].as_array().map(Vec::len), Some(9_999));

    // Batch-level mistakes are refused whole.
    let (s, e) = post_batch(&server.url, &alice, "mixed", None, &body);
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["field"], "Idempotency-Key");
    let (s, _) = post_batch(
        &server.url,
        &alice,
        "mixed",
        Some("batch-0004"),
        &json!({"rows": []}),
    );
    assert_eq!(s, 400);
    let many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    let (s, e) = post_batch(
        &server.url,
        &alice,
        "mixed",
        Some("batch-0005"),
        &json!({"records": many}),
    );
    assert_eq!(s, 400, "{e}");
    assert_eq!(e["error"]["field"], "records");
    let (s, _) = post_batch(&server.url, &viewer, "mixed", Some("batch-0006"), &body);
    assert_eq!(s, 403, "a viewer may not ingest");
    let (s, _) = post_batch(&server.url, &alice, "nosuch", Some("batch-0007"), &body);
    assert_eq!(s, 404);

    // A study submitted for workers takes no pushed results and cannot be re-registered.
    let (s, _) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": study_text("queued", 4, 1)}),
    );
    assert_eq!(s, 201);
    let (s, e) = post_batch(
        &server.url,
        &alice,
        "queued",
        Some("batch-0008"),
        &json!({"records": []}),
    );
    assert_eq!(s, 409, "{e}");
    let (s, e) = http.call(
        "PUT",
        "/api/v1/projects/lab/studies/queued/source",
        Some(&alice),
        Some(&json!({"source": study_text("queued", 4, 1)})),
    );
    assert_eq!(s, 409, "{e}");
    // The path must name the study the file declares.
    let (s, e) = http.call(
        "PUT",
        "/api/v1/projects/lab/studies/other/source",
        Some(&alice),
        Some(&json!({"source": text})),
    );
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("name")),
        "{e}"
    );
}

/// The fault test's server, started as a child process of this test binary
/// (`--ignored --exact child_server`), so it can be killed with SIGKILL.
#[test]
#[ignore = "the server process of a_server_killed_mid_push_loses_nothing_and_applies_nothing_twice"]
fn child_server() {
    let Ok(schema) = std::env::var("SIMFORGE_INGEST_CHILD_SCHEMA") else {
        return;
    };
    let mut config = simforge_server::config::ServerConfig {
        profile: "test".into(),
        listen: std::env::var("SIMFORGE_INGEST_CHILD_LISTEN").unwrap(),
        ..Default::default()
    };
    config.database.url = std::env::var("SIMFORGE_TEST_POSTGRES_URL").unwrap();
    config.database.schema = schema;
    config.database.pool_size = 4;
    config.storage.path = std::env::var("SIMFORGE_INGEST_CHILD_STORAGE")
        .unwrap()
        .into();
    let state = simforge_server::prepare(config).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(simforge_server::serve(state, std::future::pending(), |a| {
        eprintln!("child server on {a}")
    }))
    .unwrap();
}

struct Child {
    child: std::process::Child,
}

impl Child {
    fn start(schema: &str, listen: &str, storage: &Path, pg: &str) -> Child {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "child_server",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SIMFORGE_INGEST_CHILD_SCHEMA", schema)
            .env("SIMFORGE_INGEST_CHILD_LISTEN", listen)
            .env("SIMFORGE_INGEST_CHILD_STORAGE", storage)
            .env("SIMFORGE_TEST_POSTGRES_URL", pg)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = agent.get(&format!("http://{listen}/readyz")).call()
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the child server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Child { child }
    }

    fn kill(&mut self) {
        // SIGKILL: no graceful shutdown, requests in flight die with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

fn succeeded(pg: &mut postgres::Client, schema: &str, key: &str) -> i64 {
    pg.query_one(
        &format!("SELECT count(*) FROM \"{schema}\".runs WHERE study = $1 AND state = 'succeeded'"),
        &[&key],
    )
    .unwrap()
    .get(0)
}

#[test]
fn a_server_killed_mid_push_loses_nothing_and_applies_nothing_twice() {
    const N: u64 = 200_000;
    let Some(pg) = pg_url() else { return };
    let schema = format!(
        "t_ingest_kill_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let storage = tempfile::tempdir().unwrap();
    // Schema, users and project, through the library on the same database.
    let alice = {
        let mut config = simforge_server::config::ServerConfig {
            profile: "test".into(),
            ..Default::default()
        };
        config.database.url = pg.clone();
        config.database.schema = schema.clone();
        config.database.pool_size = 2;
        config.storage.path = storage.path().to_path_buf();
        let state = simforge_server::prepare(config).unwrap();
        simforge_server::admin::create_user(&state.db, "alice", Some("a long password 123"), false)
            .unwrap();
        simforge_server::admin::create_project(&state.db, "lab").unwrap();
        simforge_server::admin::set_member(&state.db, "lab", "alice", "member").unwrap();
        simforge_server::admin::create_token(&state.db, "alice", "t", &["submit".to_string()], None)
            .unwrap()
            .1
    };
    let mut db = postgres::Client::connect(&pg, postgres::NoTls).unwrap();
    struct DropSchema(String, String);
    impl Drop for DropSchema {
        fn drop(&mut self) {
            if let Ok(mut c) = postgres::Client::connect(&self.0, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.1));
            }
        }
    }
    let _cleanup = DropSchema(pg.clone(), schema.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}");

    let local = Local::new(&study_text("big", N, 1));
    let store = local.synthesize();
    let local_runs = store.runs("big", &RunFilter::default()).unwrap();
    assert_eq!(local_runs.len() as u64, N);

    let mut server = Child::start(&schema, &listen, storage.path(), &pg);
    let mut o = opts(&url, &alice);
    o.parallel = 1;
    o.patience = Duration::from_secs(3);
    let (first, store): (Result<PushSummary, PushError>, SqliteStore) =
        std::thread::scope(|scope| {
            let (o, local) = (&o, &local);
            let pushing = scope.spawn(move || {
                (
                    push_study(o, &store, &local.study, &local.store_dir()),
                    store,
                )
            });
            let deadline = Instant::now() + Duration::from_secs(300);
            while succeeded(&mut db, &schema, "lab/big") < (N as i64) * 3 / 10 {
                assert!(Instant::now() < deadline, "ingestion made no progress");
                assert!(!pushing.is_finished(), "the push ended before the kill");
                std::thread::sleep(Duration::from_millis(20));
            }
            server.kill();
            pushing.join().unwrap()
        });
    let err = first.expect_err("the first push loses its server");
    let msg = err.to_string();
    assert!(matches!(err, PushError::GaveUp { .. }), "{msg}");
    assert!(
        msg.contains("simforge push") && msg.contains("spool"),
        "{msg}"
    );
    let at_kill = succeeded(&mut db, &schema, "lab/big");
    assert!(at_kill < N as i64, "killed mid-way: {at_kill}");

    let spool = std::fs::read_dir(local.store_dir().join("push").join("big"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let acked_before = std::fs::metadata(spool.join("acked.bin")).unwrap().len() / 8;
    let spooled: Vec<_> = std::fs::read_dir(&spool)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("batch-")
        })
        .collect();
    assert_eq!(spooled.len(), 1, "the batch in flight waits in the spool");
    let in_flight: Value =
        serde_json::from_str(&std::fs::read_to_string(&spooled[0]).unwrap()).unwrap();
    let in_flight = in_flight["fingerprints"].as_array().unwrap().len() as u64;
    assert!(
        acked_before as i64 <= at_kill,
        "the client never counts what the server lacks"
    );

    let _server = Child::start(&schema, &listen, storage.path(), &pg);
    o.patience = Duration::from_secs(30);
    let s = push_study(&o, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!(s.resent_spooled, 1, "{s:?}");
    assert!(
        s.replayed <= 1,
        "at most the batch in flight was applied unbeknown to the client: {s:?}"
    );
    assert_eq!(
        s.skipped,
        acked_before + in_flight,
        "acknowledged records are not sent again: {s:?}"
    );
    assert_eq!(
        acked_before + s.records,
        N,
        "every record not acknowledged is sent once: {s:?}"
    );
    assert_eq!(s.duplicates, 0, "{s:?}");
    assert_eq!(s.quarantined, 0, "{s:?}");
    assert_eq!(acked_before + s.accepted + s.replayed_records, N, "{s:?}");

    // Exactly the local results, each once.
    assert_eq!(succeeded(&mut db, &schema, "lab/big"), N as i64);
    let row = db
        .query_one(
            &format!(
                "SELECT count(*), coalesce(sum(accepted), 0)::int8 FROM \"{schema}\".ingest_batches WHERE study = 'lab/big'"
            ),
            &[],
        )
        .unwrap();
    let (batches, accepted): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(accepted, N as i64, "every result accepted exactly once");
    assert_eq!(batches, N.div_ceil(5000) as i64);
    let attempts: i64 = db
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{schema}\".attempts a JOIN \"{schema}\".runs r ON r.id = a.run_id WHERE r.study = 'lab/big'"
            ),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(attempts, N as i64);
    let mut server_metrics: BTreeMap<(i64, i64), String> = BTreeMap::new();
    for r in db
        .query(
            &format!("SELECT idx, replicate, metrics::text FROM \"{schema}\".runs WHERE study = 'lab/big'"),
            &[],
        )
        .unwrap()
    {
        server_metrics.insert((r.get(0), r.get(1)), r.get(2));
    }
    assert_eq!(server_metrics.len() as u64, N);
    for l in &local_runs {
        let text = &server_metrics[&(l.index as i64, i64::from(l.replicate))];
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            v,
            Value::Object(l.metrics.clone().into_iter().collect()),
            "run {}",
            l.index
        );
    }
    // And a last push finds nothing to do.
    let again = push_study(&o, &store, &local.study, &local.store_dir()).unwrap();
    assert_eq!((again.records, again.skipped), (0, N), "{again:?}");
}
