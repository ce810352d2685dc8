//! Bundle execution (what a cluster task runs) and the coordinator's harvest of
//! its result files: runs settled by a task are recorded, never re-executed.

mod common;
use common::*;

fn pending(db: &std::path::Path) -> Vec<serde_json::Value> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT id, idx, replicate, seed, params, attempts FROM runs ORDER BY idx")
        .unwrap();
    st.query_map([], |r| {
        Ok(serde_json::json!({
            "id": r.get::<_, String>(0)?, "index": r.get::<_, i64>(1)?, "replicate": r.get::<_, i64>(2)?,
            "seed": r.get::<_, i64>(3)?,
            "params": serde_json::from_str::<serde_json::Value>(&r.get::<_, String>(4)?).unwrap(),
            "attempts": r.get::<_, i64>(5)?,
        }))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

#[test]
fn a_task_runs_its_bundle_and_the_coordinator_harvests_it() {
    let s = Scratch::new();
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\n[ \"$SIMFORGE_PARAM_I\" = 2 ] && { echo bad >&2; exit 4; }\necho y=$SIMFORGE_PARAM_I",
    );
    s.write(
        "study.yaml",
        "name: bun\nsimulator: {command: [\"./sim.sh\"], outputs: {keyvalue: stdout}}\nparameters: {i: {range: [1, 6], type: integer}}\ndesign: {sampler: grid}\nresources: {retries: 1, backoff: 10ms}\n",
    );
    ok(s.simforge(&["plan", "study.yaml"]));
    let runs = pending(&s.store_db());
    assert_eq!(runs.len(), 6);
    let spec_hash: String = rusqlite::Connection::open(s.store_db())
        .unwrap()
        .query_row(
            "SELECT spec_hash FROM studies WHERE name = 'bun'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let manifest = serde_json::json!({
        "study_file": s.path().join("study.yaml"),
        "spec_hash": spec_hash,
        "runs_root": s.path().join(".simforge/runs/bun"),
        "bundles": [runs[..3].to_vec(), runs[3..].to_vec()],
    });
    s.write("manifest.json", &manifest.to_string());

    // Task 0 runs i = 1, 2, 3; i = 2 fails twice (one retry) and settles as failed.
    let out = s.simforge(&["exec-bundle", "manifest.json", "--task", "0"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("bundle 0: 2 succeeded, 1 failed"),
        "{}",
        stdout(&out)
    );
    let lines = std::fs::read_to_string(s.path().join("counter")).unwrap();
    assert_eq!(lines.lines().count(), 4, "3 runs, one retried");
    // The task never wrote the store.
    assert_eq!(state_counts(&s.store_db()).get("pending"), Some(&6));

    // The coordinator ingests the settled runs and executes only the other bundle.
    let run = s.simforge(&["run", "study.yaml", "--no-report"]);
    let text = stdout(&run);
    assert!(text.contains("3 recovered"), "{text}");
    assert!(text.contains("executed 3 runs"), "{text}");
    let c = state_counts(&s.store_db());
    assert_eq!(
        (c.get("succeeded"), c.get("failed")),
        (Some(&5), Some(&1)),
        "{c:?}"
    );
    let lines = std::fs::read_to_string(s.path().join("counter")).unwrap();
    assert_eq!(lines.lines().count(), 7, "no run of task 0 executed again");

    // A task refuses a study that changed after submission, and a bad task index.
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text.replace("backoff: 10ms", "backoff: 20ms"),
    );
    let out = s.simforge(&["exec-bundle", "manifest.json", "--task", "1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("changed since these runs were submitted"),
        "{}",
        stderr(&out)
    );
    let out = s.simforge(&["exec-bundle", "manifest.json", "--task", "7"]);
    assert!(
        stderr(&out).contains("out of range") || stderr(&out).contains("changed"),
        "{}",
        stderr(&out)
    );
}
