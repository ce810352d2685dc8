//! Reliability: crashes, failures, hangs, floods, interruptions and damaged
//! state never lose or repeat a finished run and never panic.

mod common;
use common::*;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

fn succeeded_ids(db: &std::path::Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id FROM runs WHERE state = 'succeeded'")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Starts `simforge run study.yaml` in the background with no output.
fn spawn_quiet_runner(s: &Scratch, jobs: u32) -> std::process::Child {
    bin()
        .args([
            "run",
            "study.yaml",
            "--jobs",
            &jobs.to_string(),
            "--no-report",
            "--progress",
            "none",
        ])
        .current_dir(s.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (at most 30 s) until `n` distinct runs have started.
fn wait_for_started(s: &Scratch, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while counts_by_id(s).len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn counts_by_id(s: &Scratch) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in std::fs::read_to_string(s.path().join("counter"))
        .unwrap_or_default()
        .lines()
    {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

#[test]
fn kill_dash_nine_then_resume_repeats_no_finished_run() {
    let s = Scratch::new();
    s.script("sim.sh", "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\nsleep 0.05\necho '{\"y\": 1}' > metrics.json");
    s.write(
        "study.yaml",
        "name: crash\nsimulator: {command: [\"./sim.sh\"]}\nparameters: {i: {range: [1, 200], type: integer}}\ndesign: {sampler: grid}\nmetrics: [y]\n",
    );
    let mut child = spawn_quiet_runner(&s, 4);
    // Kill once a good part, but not all, of the study is recorded.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let done = if s.store_db().exists() {
            succeeded_ids(&s.store_db()).len()
        } else {
            0
        };
        if done >= 40 || Instant::now() > deadline {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = succeeded_ids(&s.store_db());
    assert!(
        !before.is_empty() && before.len() < 200,
        "kill landed mid-study: {} done",
        before.len()
    );

    let out = ok(s.simforge(&["run", "study.yaml", "--jobs", "4", "--no-report"]));
    assert!(
        out.contains("200 succeeded") || out.contains("study now: 200 succeeded"),
        "{out}"
    );
    assert_eq!(
        state_counts(&s.store_db()).get("succeeded"),
        Some(&200),
        "{out}"
    );
    let counts = counts_by_id(&s);
    assert_eq!(counts.len(), 200, "every run executed at least once");
    for id in &before {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "run {id} had succeeded before the kill and ran again"
        );
    }
}

#[test]
fn failures_hangs_and_floods_are_recorded_and_the_rest_completes() {
    let s = Scratch::new();
    s.script(
        "sim.sh",
        r#"case "$SIMFORGE_PARAM_MODE" in
  ok) echo "y=$SIMFORGE_PARAM_I" ;;
  fail) echo "boom: bad region" >&2; exit 3 ;;
  hang) sleep 60 ;;
  flood) yes "flood flood flood flood" ;;
esac"#,
    );
    s.write(
        "study.yaml",
        "name: mixed\nsimulator: {command: [\"./sim.sh\"], outputs: {keyvalue: stdout}}\n\
         parameters:\n  mode: {choice: [ok, fail, hang, flood]}\n  i: {range: [1, 3], type: integer}\n\
         design: {sampler: grid}\nmetrics: [y]\n\
         resources: {time: 1s, retries: 1, backoff: 10ms, max_log_size: 1MiB}\n",
    );
    let t = Instant::now();
    let out = s.simforge(&["run", "study.yaml", "--jobs", "6"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "some runs failed: {}",
        stderr(&out)
    );
    assert!(
        t.elapsed() < Duration::from_secs(45),
        "hung runs were not stopped: {:?}",
        t.elapsed()
    );
    let text = stdout(&out);
    assert!(
        text.contains("3 succeeded, 6 failed, 3 timed out"),
        "{text}"
    );
    assert!(text.contains("most common failure reasons"), "{text}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(s.simforge(&["results", "--format", "json"]))).unwrap();
    for r in &rows {
        let (mode, state, reason) = (
            r["mode"].as_str().unwrap(),
            r["state"].as_str().unwrap(),
            r["reason"].as_str().unwrap_or(""),
        );
        match mode {
            "ok" => assert_eq!(state, "succeeded", "{r}"),
            "fail" => {
                assert_eq!(state, "failed", "{r}");
                assert_eq!(reason, "exit code 3: boom: bad region", "{r}");
                assert_eq!(r["attempts"], 2, "retried once: {r}");
            }
            "hang" => {
                assert_eq!(state, "timed_out", "{r}");
                assert!(reason.contains("wall time"), "{r}");
            }
            "flood" => {
                assert_eq!(state, "failed", "{r}");
                assert!(reason.contains("max_log_size"), "{r}");
            }
            other => panic!("unexpected mode {other}"),
        }
    }
    // The flood's log was capped near the limit, not left to fill the disk.
    let flood = rows.iter().find(|r| r["mode"] == "flood").unwrap();
    let log = s
        .path()
        .join(".simforge/runs/mixed")
        .join(flood["run_id"].as_str().unwrap())
        .join("stdout.log");
    assert!(std::fs::metadata(&log).unwrap().len() < 64 * 1024 * 1024);
    // --retry-failed runs the failures again; deterministic failures fail again.
    let again = s.simforge(&["run", "study.yaml", "--retry-failed", "--no-report"]);
    assert!(
        stdout(&again).contains("executed 9 runs"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn max_failures_stops_early() {
    let s = Scratch::new();
    s.script("sim.sh", "exit 1");
    s.write(
        "study.yaml",
        "name: doomed\nsimulator: {command: [\"./sim.sh\"]}\nparameters: {i: {range: [1, 50], type: integer}}\ndesign: {sampler: grid}\nmax_failures: 3\n",
    );
    let out = s.simforge(&["run", "study.yaml", "--jobs", "1", "--no-report"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("stopped early: max_failures (3)"),
        "{}",
        stdout(&out)
    );
    let c = state_counts(&s.store_db());
    assert_eq!(c.get("failed"), Some(&3), "{c:?}");
    assert_eq!(c.get("pending"), Some(&47), "{c:?}");
}

#[test]
fn ctrl_c_stops_children_and_leaves_the_store_consistent() {
    let s = Scratch::new();
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\nsleep 30.417 &\nwait",
    );
    s.write(
        "study.yaml",
        "name: intr\nsimulator: {command: [\"./sim.sh\"]}\nparameters: {i: {range: [1, 4], type: integer}}\ndesign: {sampler: grid}\n",
    );
    let child = bin()
        .args(["run", "study.yaml", "--jobs", "2", "--no-report"])
        .current_dir(s.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_started(&s, 2);
    // A second runner on the same study is refused while the first holds it.
    let second = s.simforge(&["run", "study.yaml", "--no-report"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("already running study `intr`"),
        "{}",
        stderr(&second)
    );
    let t = Instant::now();
    // SAFETY: signalling our own child.
    unsafe { libc_kill(child.id() as i32, 2) };
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stdout(&out).contains("interrupted"), "{}", stdout(&out));
    let c = state_counts(&s.store_db());
    assert_eq!(c.get("running"), None, "no run left running: {c:?}");
    assert_eq!(c.get("pending"), Some(&4), "{c:?}");
    // No `sleep 30` grandchild survives.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "sleep 30.417"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ps.stdout).trim().is_empty(),
        "children survived Ctrl-C"
    );
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn damaged_run_state_is_recovered_or_reported() {
    let s = Scratch::new();
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\necho y=1",
    );
    s.write(
        "study.yaml",
        "name: dmg\nsimulator: {command: [\"./sim.sh\"], outputs: {keyvalue: stdout}}\nparameters: {i: {range: [1, 6], type: integer}}\ndesign: {sampler: grid}\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--no-report"]));
    let ids: Vec<String> = {
        let conn = rusqlite::Connection::open(s.store_db()).unwrap();
        let mut st = conn.prepare("SELECT id FROM runs ORDER BY idx").unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    };
    let runs = s.path().join(".simforge/runs/dmg");
    // Run 0: the coordinator "crashed" before recording it and its result.json is truncated.
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    conn.execute("UPDATE runs SET state = 'running' WHERE id = ?1", [&ids[0]])
        .unwrap();
    let rj = runs.join(&ids[0]).join("result.json");
    let text = std::fs::read_to_string(&rj).unwrap();
    std::fs::write(&rj, &text[..text.len() / 3]).unwrap();
    // A coordinator that died before recording these two also left no attempt rows.
    for id in &ids[..2] {
        conn.execute("DELETE FROM attempts WHERE run_id = ?1", [id])
            .unwrap();
    }
    // Run 1: not recorded, but its result.json is intact: it is ingested, not re-run.
    conn.execute("UPDATE runs SET state = 'pending' WHERE id = ?1", [&ids[1]])
        .unwrap();
    // Run 2: its directory was deleted after it succeeded.
    std::fs::remove_dir_all(runs.join(&ids[2])).unwrap();
    drop(conn);

    let out = ok(s.simforge(&["run", "study.yaml", "--no-report"]));
    assert!(out.contains("1 recovered"), "{out}");
    assert!(out.contains("executed 1 runs"), "{out}");
    let counts = counts_by_id(&s);
    assert_eq!(
        counts[&ids[0]], 2,
        "the run with a corrupt result ran again"
    );
    assert_eq!(
        counts[&ids[1]], 1,
        "the run with an intact result was recovered, not re-run"
    );
    assert_eq!(
        counts[&ids[2]], 1,
        "a succeeded run with a deleted directory is not re-run"
    );
    assert_eq!(state_counts(&s.store_db()).get("succeeded"), Some(&6));
    let logs = ok(s.simforge(&["logs", &ids[2]]));
    assert!(logs.contains("not written"), "{logs}");
    // A corrupt result.json of a finished run is reported by `logs`, without a panic.
    std::fs::write(runs.join(&ids[3]).join("result.json"), "{not json").unwrap();
    let logs = ok(s.simforge(&["logs", &ids[3]]));
    assert!(logs.contains("not a valid result file"), "{logs}");
}

/// The version-1 schema, as written by simforge before schema version 2.
const SCHEMA_V1: &str = r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE studies (name TEXT PRIMARY KEY, spec_hash TEXT NOT NULL, spec_json TEXT NOT NULL,
  study_file TEXT NOT NULL, simulator TEXT NOT NULL, plan_gen INTEGER NOT NULL,
  planned_runs INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE runs (id TEXT PRIMARY KEY, study TEXT NOT NULL, plan_gen INTEGER NOT NULL, idx INTEGER NOT NULL,
  tag TEXT, replicate INTEGER NOT NULL, seed INTEGER NOT NULL, params TEXT NOT NULL, state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, reason TEXT, metrics TEXT, started_at TEXT, finished_at TEXT,
  duration_s REAL, host TEXT, spec_hash TEXT NOT NULL);
CREATE INDEX runs_by_plan ON runs (study, plan_gen, state);
CREATE INDEX runs_by_order ON runs (study, idx, replicate);
CREATE TABLE attempts (run_id TEXT NOT NULL, attempt INTEGER NOT NULL, state TEXT NOT NULL, started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL, duration_s REAL NOT NULL, exit_code INTEGER, signal INTEGER, reason TEXT,
  host TEXT NOT NULL, PRIMARY KEY (run_id, attempt));
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO studies VALUES ('old', 'h', '{"parameters": {"x": {}}, "metrics": ["y"]}', 'old.yaml', 'command:x', 1, 1, 't', 't');
INSERT INTO runs (id, study, plan_gen, idx, replicate, seed, params, state, attempts, metrics, spec_hash)
  VALUES ('abc123', 'old', 1, 0, 0, 1, '{"x": 1.5}', 'succeeded', 1, '{"y": 2}', 'h');
INSERT INTO attempts VALUES ('abc123', 1, 'succeeded', 't0', 't1', 0.5, 0, NULL, NULL, 'host');
"#;

#[test]
fn old_new_and_foreign_stores() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path().join(".simforge")).unwrap();
    rusqlite::Connection::open(s.store_db())
        .unwrap()
        .execute_batch(SCHEMA_V1)
        .unwrap();
    // An older store is migrated in place and its data kept.
    let st = ok(s.simforge(&["status"]));
    assert!(
        st.contains("study `old`") && st.contains("succeeded"),
        "{st}"
    );
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let v: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, simforge_store::SCHEMA_VERSION.to_string());
    let logs = ok(s.simforge(&["logs", "abc1"]));
    assert!(logs.contains("attempt 1: succeeded"), "{logs}");
    // A store from a newer simforge is refused with a clear message.
    conn.execute(
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
        [],
    )
    .unwrap();
    drop(conn);
    let out = s.simforge(&["status"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schema version 99, newer than this simforge"),
        "{}",
        stderr(&out)
    );
    // A file that is not a database at all.
    std::fs::write(s.store_db(), "this is not sqlite").unwrap();
    let _ = std::fs::remove_file(s.path().join(".simforge/simforge.db-wal"));
    let _ = std::fs::remove_file(s.path().join(".simforge/simforge.db-shm"));
    let out = s.simforge(&["status"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a simforge store")
            || stderr(&out).contains("not an SQLite database"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"));
}

#[test]
fn children_die_with_a_killed_runner() {
    let s = Scratch::new();
    // A distinctive sleep length so pgrep finds only this test's children.
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\nexec sleep 41.137",
    );
    s.write(
        "study.yaml",
        "name: orphans\nsimulator: {command: [\"./sim.sh\"]}\nparameters: {i: {range: [1, 4], type: integer}}\ndesign: {sampler: grid}\n",
    );
    let mut child = spawn_quiet_runner(&s, 2);
    wait_for_started(&s, 2);
    let running = || {
        let ps = std::process::Command::new("pgrep")
            .args(["-f", "sleep 41.137"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&ps.stdout).lines().count()
    };
    // The shell writes the counter line just before it execs sleep: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    while running() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(running(), 2, "two simulations running before the kill");
    child.kill().unwrap(); // SIGKILL: the runner gets no chance to clean up
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while running() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(running(), 0, "the guardian killed the orphaned simulations");
}
