//! Remote execution end to end on the real PostgreSQL: a study submitted over
//! the API runs on remote workers pulling its queue, results come back; a
//! lost worker's leases expire and its runs run again elsewhere; a late
//! result from an expired lease is kept exactly once.

mod common;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::{Http, TestServer, branin_study, pg_url};
use serde_json::{Value, json};
use simforge_exec::remote::protocol::{LeaseEvent, SyncReply, SyncRequest};
use simforge_exec::remote::worker::{RemoteWorkerOptions, run_remote_worker};

fn setup(ttl: f64) -> Option<(TestServer, Http, String, String)> {
    let pg = pg_url()?;
    let server = TestServer::start(&pg, ttl);
    let http = Http::new(&server.url);
    let _root = server.user("root", true, &["admin"]);
    let (alice, worker) = server.lab();
    Some((server, http, alice, worker))
}

fn sync_req(name: &str, want: u32, held: Vec<String>, events: Vec<LeaseEvent>) -> Value {
    serde_json::to_value(SyncRequest {
        worker: name.into(),
        host: "test-host".into(),
        queues: vec!["analytic".into()],
        slots: 1,
        version: "test".into(),
        want,
        held,
        events,
        leaving: false,
    })
    .unwrap()
}

#[test]
fn a_submitted_study_runs_on_remote_workers_and_its_results_come_back() {
    let Some((server, http, alice, worker)) = setup(3.0) else {
        return;
    };
    let (s, body) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("sweep", 24)}),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["planned"], 24);
    assert_eq!(body["queue"], "analytic");
    assert_eq!(body["key"], "lab/sweep");
    let (_, q) = http.get("/api/v1/queues", &alice);
    assert_eq!(q["queues"][0]["pending"], 24, "{q}");

    // Two workers share the queue.
    let work = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let summaries: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|i| {
                let opts = RemoteWorkerOptions {
                    server: server.url.clone(),
                    token: worker.clone(),
                    queues: vec!["analytic".into()],
                    name: format!("w{i}"),
                    slots: 2,
                    workdir: work.path().join(format!("w{i}")),
                    idle_exit: Some(Duration::from_millis(1500)),
                    patience: Duration::from_secs(10),
                };
                let stop = &stop;
                scope.spawn(move || run_remote_worker(&opts, stop).unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let granted: u64 = summaries.iter().map(|s| s.runs).sum();
    assert_eq!(granted, 24, "every run granted exactly once: {summaries:?}");

    let (_, show) = http.get("/api/v1/projects/lab/studies/sweep", &alice);
    assert_eq!(show["counts"]["succeeded"], 24, "{show}");
    // The list carries every state's count too (what the dashboard draws).
    let (_, list) = http.get("/api/v1/studies?project=lab", &alice);
    let row = &list["studies"][0];
    assert_eq!(row["name"], "sweep", "{list}");
    assert_eq!(
        row["counts"],
        serde_json::json!({"pending": 0, "running": 0, "succeeded": 24, "failed": 0, "timed_out": 0, "cancelled": 0}),
        "{list}"
    );
    assert_eq!(
        (row["succeeded"].as_i64(), row["failed"].as_i64()),
        (Some(24), Some(0))
    );
    assert_eq!(show["finished"], true);

    let (s, csv) = http.get(
        "/api/v1/projects/lab/studies/sweep/results?format=csv",
        &alice,
    );
    assert_eq!(s, 200);
    let csv = csv.as_str().unwrap().to_string();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 25, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert!(
        header.contains(&"x1") && header.contains(&"x2") && header.contains(&"y"),
        "{header:?}"
    );
    let y = header.iter().position(|h| *h == "y").unwrap();
    let state = header.iter().position(|h| *h == "state").unwrap();
    for l in &lines[1..] {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells[state], "succeeded");
        let v: f64 = cells[y].parse().unwrap();
        assert!(
            v.is_finite() && v >= 0.39,
            "Branin is ≥ 0.397887 everywhere: {v}"
        );
    }

    // Paging and filters belong to JSON pages; a download is the whole study.
    let (s, e) = http.get(
        "/api/v1/projects/lab/studies/sweep/results?format=parquet&state=failed",
        &alice,
    );
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("state")),
        "{e}"
    );

    // Paged JSON covers every run once.
    let mut seen = std::collections::HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/projects/lab/studies/sweep/results?limit=10&after={a}"),
            None => "/api/v1/projects/lab/studies/sweep/results?limit=10".into(),
        };
        let (_, page) = http.get(&path, &alice);
        for r in page["results"].as_array().unwrap() {
            assert!(seen.insert(r["id"].as_str().unwrap().to_string()));
        }
        match page["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 24);

    let id = seen.iter().next().unwrap();
    let (_, run) = http.get(&format!("/api/v1/runs/{}", &id[..10]), &alice);
    assert_eq!(run["state"], "succeeded", "{run}");
    assert_eq!(run["attempt_history"].as_array().unwrap().len(), 1);
    assert_eq!(
        run["attempt_history"][0]["host"],
        simforge_exec::runner::hostname()
    );

    let (_, workers) = http.get("/api/v1/workers", &alice);
    let done: i64 = workers["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["runs_succeeded"].as_i64().unwrap())
        .sum();
    assert_eq!(done, 24, "{workers}");

    // Submitting the same study again plans nothing new.
    let (s, again) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("sweep", 24)}),
    );
    assert_eq!((s, again["new"].clone()), (201, json!(0)), "{again}");

    let (_, metrics) = http.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("simforge_runs{state=\"succeeded\"} 24"),
        "{metrics}"
    );
    assert!(
        metrics.contains("simforge_queue_depth{queue=\"analytic\"} 0"),
        "{metrics}"
    );
}

#[test]
fn a_lost_workers_runs_go_back_and_a_late_result_counts_once() {
    let Some((_server, http, alice, worker)) = setup(1.0) else {
        return;
    };
    let (s, _) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("lost", 3)}),
    );
    assert_eq!(s, 201);
    // Worker A takes every run, then goes silent (killed).
    let (s, a) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("A", 3, vec![], vec![]),
    );
    assert_eq!(s, 200, "{a}");
    let a: SyncReply = serde_json::from_value(a).unwrap();
    assert_eq!(a.grants.len(), 3);
    let (_, none) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("B", 3, vec![], vec![]),
    );
    assert_eq!(
        none["grants"].as_array().unwrap().len(),
        0,
        "no run is granted twice"
    );

    // A's leases lapse; B gets the same runs.
    let deadline = Instant::now() + Duration::from_secs(10);
    let b: SyncReply = loop {
        let (_, r) = http.post(
            "/api/v1/workers/sync",
            &worker,
            sync_req("B", 3, vec![], vec![]),
        );
        let r: SyncReply = serde_json::from_value(r).unwrap();
        if r.grants.len() == 3 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(b.grants.len(), 3, "expired leases put the runs back");
    let mut ids_a: Vec<_> = a.grants.iter().map(|g| g.run.id.clone()).collect();
    let mut ids_b: Vec<_> = b.grants.iter().map(|g| g.run.id.clone()).collect();
    ids_a.sort();
    ids_b.sort();
    assert_eq!(ids_a, ids_b);

    // A comes back with a late success for one run: kept.
    let g = &a.grants[0];
    let finished = |lease: &str, value: f64, host: &str| {
        let result = simforge_exec::rundir::ResultFile {
            run_id: g.run.id.clone(),
            study: g.study.clone(),
            attempt: 1,
            state: "succeeded".into(),
            run_state: Some("succeeded".into()),
            reason: None,
            metrics: serde_json::from_value(json!({"y": value})).unwrap(),
            params: g.run.params.clone(),
            seed: g.run.seed,
            exit_code: None,
            signal: None,
            started_at: "2026-11-29T00:00:00Z".into(),
            finished_at: "2026-11-29T00:00:01Z".into(),
            duration_s: 1.0,
            host: host.into(),
            max_rss_kb: None,
            spec_hash: g.spec_hash.clone(),
        };
        LeaseEvent::Finished {
            lease: lease.into(),
            result: Box::new(result),
            logs: None,
        }
    };
    let (s, _) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("A", 0, vec![], vec![finished(&g.lease, 1.5, "host-a")]),
    );
    assert_eq!(s, 200);
    let (_, run) = http.get(&format!("/api/v1/runs/{}", g.run.id), &alice);
    assert_eq!(run["state"], "succeeded");
    assert_eq!(run["metrics"]["y"], 1.5);

    // B, holding the same run, is told to stop it; its copy of the result is dropped.
    let held: Vec<String> = b.grants.iter().map(|g| g.lease.clone()).collect();
    let b_lease = b
        .grants
        .iter()
        .find(|x| x.run.id == g.run.id)
        .unwrap()
        .lease
        .clone();
    let (_, r) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("B", 0, held, vec![]),
    );
    let r: SyncReply = serde_json::from_value(r).unwrap();
    assert_eq!(r.revoked, vec![b_lease.clone()]);
    http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("B", 0, vec![], vec![finished(&b_lease, 9.0, "host-b")]),
    );
    let (_, run) = http.get(&format!("/api/v1/runs/{}", g.run.id), &alice);
    assert_eq!(run["metrics"]["y"], 1.5, "the first result stays: {run}");
    assert_eq!(
        run["attempt_history"].as_array().unwrap().len(),
        1,
        "no duplicate attempt"
    );

    let (_, metrics) = http.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("simforge_leases_expired_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("simforge_late_results_accepted_total 1"),
        "{metrics}"
    );
}

#[test]
fn a_cancelled_study_revokes_its_leases() {
    let Some((_server, http, alice, worker)) = setup(30.0) else {
        return;
    };
    http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("c", 4)}),
    );
    let (_, a) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("A", 2, vec![], vec![]),
    );
    let a: SyncReply = serde_json::from_value(a).unwrap();
    assert_eq!(a.grants.len(), 2);
    let (s, c) = http.post("/api/v1/projects/lab/studies/c/cancel", &alice, json!({}));
    assert_eq!((s, c["cancelled_runs"].clone()), (200, json!(4)), "{c}");
    let held: Vec<String> = a.grants.iter().map(|g| g.lease.clone()).collect();
    let (_, r) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("A", 2, held.clone(), vec![]),
    );
    let r: SyncReply = serde_json::from_value(r).unwrap();
    let mut revoked = r.revoked.clone();
    revoked.sort();
    let mut held = held;
    held.sort();
    assert_eq!(revoked, held);
    assert!(
        r.grants.is_empty(),
        "a cancelled study's runs are not granted"
    );
    let (_, show) = http.get("/api/v1/projects/lab/studies/c", &alice);
    assert_eq!(show["state"], "cancelled");
    assert_eq!(show["counts"]["cancelled"], 4);
}

#[test]
fn a_run_that_loses_every_worker_fails_after_max_losses_instead_of_looping() {
    // leases.max_losses is 3 by default: a run whose holder vanishes three
    // times (a run that kills its worker, say) fails once, with a reason.
    let Some((server, http, alice, worker)) = setup(1.0) else {
        return;
    };
    assert_eq!(server.state.config.leases.max_losses, 3);
    let (s, _) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": branin_study("poison", 1)}),
    );
    assert_eq!(s, 201);
    let mut run_id = String::new();
    for holder in ["A", "B", "C"] {
        let deadline = Instant::now() + Duration::from_secs(15);
        let reply: SyncReply = loop {
            let (s, r) = http.post(
                "/api/v1/workers/sync",
                &worker,
                sync_req(holder, 1, vec![], vec![]),
            );
            assert_eq!(s, 200, "{r}");
            let r: SyncReply = serde_json::from_value(r).unwrap();
            if !r.grants.is_empty() || Instant::now() > deadline {
                break r;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        assert_eq!(reply.grants.len(), 1, "{holder} gets the run back");
        run_id = reply.grants[0].run.id.clone();
        // The holder goes silent; its lease lapses.
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let run = loop {
        let (_, run) = http.get(&format!("/api/v1/runs/{run_id}"), &alice);
        if run["state"] == "failed" || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(run["state"], "failed", "{run}");
    assert!(
        run["reason"]
            .as_str()
            .is_some_and(|r| r.contains("lost its worker 3 times")),
        "{run}"
    );
    let history = run["attempt_history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "one attempt, on the last holder: {run}");
    assert_eq!(history[0]["host"], "C", "{run}");
    let (_, none) = http.post(
        "/api/v1/workers/sync",
        &worker,
        sync_req("D", 1, vec![], vec![]),
    );
    assert_eq!(none["grants"].as_array().unwrap().len(), 0, "{none}");
    let (_, metrics) = http.call("GET", "/metrics", None, None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains("simforge_runs_failed_lost_workers_total 1")
            && metrics.contains("simforge_leases_expired_total 3"),
        "{metrics}"
    );
}

#[test]
fn a_remote_runs_files_come_back_as_artifacts_per_attempt() {
    let Some((server, http, alice, worker)) = setup(3.0) else {
        return;
    };
    let source = r#"name: files
simulator:
  command: ["sh", "-c", "mkdir -p sub && echo x=$SIMFORGE_PARAM_X > out.txt && printf 'a,b\n1,2\n' > sub/data.csv && echo y=$SIMFORGE_PARAM_X"]
  outputs: {keyvalue: stdout}
parameters: {x: {values: [1, 2]}}
design: {sampler: grid}
"#;
    let (s, body) = http.post(
        "/api/v1/projects/lab/studies",
        &alice,
        json!({"source": source}),
    );
    assert_eq!(s, 201, "{body}");
    let queue = body["queue"].as_str().unwrap().to_string();
    assert_eq!(queue, "command:sh");
    let work = tempfile::tempdir().unwrap();
    let opts = RemoteWorkerOptions {
        server: server.url.clone(),
        token: worker.clone(),
        queues: vec![queue],
        name: "files-w".into(),
        slots: 1,
        workdir: work.path().join("w"),
        idle_exit: Some(Duration::from_millis(1500)),
        patience: Duration::from_secs(10),
    };
    let summary = run_remote_worker(&opts, &AtomicBool::new(false)).unwrap();
    assert_eq!(summary.runs, 2, "{summary:?}");

    let (_, runs) = http.get("/api/v1/projects/lab/studies/files/runs", &alice);
    for run in runs["runs"].as_array().unwrap() {
        assert_eq!(run["state"], "succeeded", "{run}");
        let id = run["id"].as_str().unwrap();
        let x = run["params"]["x"]
            .as_f64()
            .unwrap_or_else(|| panic!("{run}"));
        let (s, list) = http.get(&format!("/api/v1/runs/{id}/artifacts"), &alice);
        assert_eq!(s, 200, "{list}");
        let files: Vec<(i64, &str, i64)> = list["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                (
                    a["attempt"].as_i64().unwrap(),
                    a["path"].as_str().unwrap(),
                    a["size_bytes"].as_i64().unwrap(),
                )
            })
            .collect();
        let (s, text) = http.get(
            &format!("/api/v1/runs/{id}/artifacts/download?path=out.txt"),
            &alice,
        );
        assert_eq!(s, 200, "{text}");
        let out = text.as_str().unwrap().to_string();
        let written: f64 = out
            .trim()
            .strip_prefix("x=")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{out:?}"));
        assert_eq!(written, x, "the file of this run, not another's");
        assert_eq!(
            files,
            [(1, "out.txt", out.len() as i64), (1, "sub/data.csv", 8)],
            "the logs and result.json travel elsewhere: {list}"
        );
        let (s, text) = http.get(
            &format!("/api/v1/runs/{id}/artifacts/download?path=sub%2Fdata.csv&attempt=1"),
            &alice,
        );
        assert_eq!((s, text.as_str()), (200, Some("a,b\n1,2\n")));
        let (s, e) = http.get(
            &format!("/api/v1/runs/{id}/artifacts/download?path=..%2Fx"),
            &alice,
        );
        assert_eq!(
            (s, e["error"]["field"].as_str()),
            (400, Some("path")),
            "{e}"
        );
        let (s, _) = http.get(
            &format!("/api/v1/runs/{id}/artifacts/download?path=out.txt&attempt=2"),
            &alice,
        );
        assert_eq!(s, 404);
        // Without a held lease there is nothing to attach files to.
        let (s, e) = http.send(
            "PUT",
            "/api/v1/workers/leases/no-such-lease/artifacts?attempt=1&path=x.txt",
            Some(&worker),
            &[],
            b"x",
        );
        assert_eq!(s, 404, "{e}");
        // And only workers upload.
        let (s, _) = http.send(
            "PUT",
            "/api/v1/workers/leases/no-such-lease/artifacts?attempt=1&path=x.txt",
            Some(&alice),
            &[],
            b"x",
        );
        assert_eq!(s, 403);
    }
    // Someone outside the project sees nothing of it.
    let bob = server.user("bob", false, &["read"]);
    let id = runs["runs"][0]["id"].as_str().unwrap();
    let (s, _) = http.get(&format!("/api/v1/runs/{id}/artifacts"), &bob);
    assert_eq!(s, 404);
}
