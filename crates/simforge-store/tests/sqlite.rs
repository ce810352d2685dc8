//! The SQLite store on its own: plans, transitions, queries and lookups.

use std::collections::BTreeMap;

use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_store::{AttemptRecord, RunFilter, SCHEMA_VERSION, SqliteStore, StudyRow, Update};

fn study(name: &str, hash: &str) -> StudyRow {
    StudyRow {
        name: name.into(),
        spec_hash: hash.into(),
        spec_json: "{}".into(),
        study_file: "s.yaml".into(),
        simulator: "sim".into(),
        plan_gen: 0,
        planned_runs: 0,
        created_at: String::new(),
        updated_at: String::new(),
    }
}

fn runs(ids: &[&str]) -> Vec<PlannedRun> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| PlannedRun {
            id: id.to_string(),
            index: i as u64,
            tag: None,
            replicate: 0,
            seed: i as u64,
            params: BTreeMap::from([("x".to_string(), serde_json::json!(i))]),
        })
        .collect()
}

fn finished(id: &str, attempt: u32, state: RunState, next: RunState) -> Update {
    Update::Finished {
        record: AttemptRecord {
            run_id: id.into(),
            attempt,
            state,
            started_at: "t0".into(),
            finished_at: "t1".into(),
            duration_s: 0.5,
            exit_code: Some(if state == RunState::Succeeded { 0 } else { 1 }),
            signal: None,
            reason: (state != RunState::Succeeded).then(|| "exit code 1".to_string()),
            host: "h".into(),
            max_rss_kb: Some(1024),
            metrics: serde_json::json!({"y": 2.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            spec_hash: "h1".into(),
        },
        run_state: next,
    }
}

#[test]
fn plans_are_upserted_and_generations_scope_the_study() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("db/simforge.db")).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    let (g1, st) = s
        .store_plan(
            &study("a", "h1"),
            &mut runs(&["aa01", "aa02", "aa03"]).into_iter(),
        )
        .unwrap();
    assert_eq!((st.planned, st.new), (3, 3));
    let (g2, st) = s
        .store_plan(
            &study("a", "h2"),
            &mut runs(&["aa02", "aa03", "aa04", "aa05"]).into_iter(),
        )
        .unwrap();
    assert_eq!((st.planned, st.new), (4, 2));
    assert_eq!(g2, g1 + 1);
    // aa01 left the plan: it no longer counts.
    assert_eq!(
        s.state_counts("a").unwrap().get(&RunState::Pending),
        Some(&4)
    );
    assert_eq!(s.study("a").unwrap().planned_runs, 4);
    // ... but it is still in the store, for whoever asks for every plan (the
    // adaptive loop keeps its points across re-plans).
    let listed = |all_plans| {
        s.runs(
            "a",
            &RunFilter {
                all_plans,
                ..RunFilter::default()
            },
        )
        .unwrap()
        .len()
    };
    assert_eq!((listed(false), listed(true)), (4, 5));
    let pending = s.pending_page("a", None, 2).unwrap();
    assert_eq!(
        pending.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["aa02", "aa03"]
    );
    let next = s
        .pending_page("a", Some((pending[1].index, 0)), 10)
        .unwrap();
    assert_eq!(
        next.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["aa04", "aa05"]
    );
    assert!(s.study("b").is_err());
}

#[test]
fn transitions_attempts_and_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("simforge.db")).unwrap();
    s.store_plan(
        &study("a", "h1"),
        &mut runs(&["ab01", "ab02", "cd03"]).into_iter(),
    )
    .unwrap();
    s.apply(&[
        Update::Started {
            run_id: "ab01".into(),
            attempt: 1,
            started_at: "t0".into(),
            host: "h".into(),
        },
        Update::Started {
            run_id: "ab02".into(),
            attempt: 1,
            started_at: "t0".into(),
            host: "h".into(),
        },
        finished("ab01", 1, RunState::Succeeded, RunState::Succeeded),
        finished("ab02", 1, RunState::Failed, RunState::Pending),
    ])
    .unwrap();
    let c = s.state_counts("a").unwrap();
    assert_eq!(
        (c.get(&RunState::Succeeded), c.get(&RunState::Pending)),
        (Some(&1), Some(&2))
    );
    // A retry that fails for good; then a runner dies with cd03 running.
    s.apply(&[
        finished("ab02", 2, RunState::Failed, RunState::Failed),
        Update::Started {
            run_id: "cd03".into(),
            attempt: 1,
            started_at: "t2".into(),
            host: "h".into(),
        },
    ])
    .unwrap();
    assert_eq!(
        s.failure_reasons("a", 3).unwrap(),
        vec![("exit code 1".to_string(), 1)]
    );
    assert_eq!(s.attempts("ab02").unwrap().len(), 2);
    assert_eq!(s.requeue_running("a").unwrap(), 1);
    assert_eq!(s.requeue_failed("a").unwrap(), 1);
    let r = s.find_run(Some("a"), "ab01").unwrap();
    assert_eq!(r.state, RunState::Succeeded);
    assert_eq!(r.metrics["y"], serde_json::json!(2.5));
    assert!(s.find_run(None, "ab").is_err(), "ambiguous prefix");
    assert!(s.find_run(None, "zz").is_err(), "not hex");
    assert!(s.find_run(None, "ef").is_err(), "no match");
    let failed = s
        .runs(
            "a",
            &RunFilter {
                state: Some(RunState::Pending),
                limit: None,
                all_plans: false,
            },
        )
        .unwrap();
    assert_eq!(failed.len(), 2);
}

#[test]
fn pilot_leases_submissions_and_out_of_memory_losses() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = SqliteStore::open(&dir.path().join("simforge.db")).unwrap();
    s.store_plan(
        &study("a", "h1"),
        &mut runs(&["r1", "r2", "r3"]).into_iter(),
    )
    .unwrap();
    // Leasing marks pending runs running under the worker; release undoes it.
    s.lease_runs(&["r1".into(), "r2".into()], "pilot:7_0")
        .unwrap();
    let mut held = s.pilot_held("a").unwrap();
    held.sort();
    assert_eq!(
        held,
        vec![
            ("r1".to_string(), "7_0".to_string(), 0),
            ("r2".to_string(), "7_0".to_string(), 0)
        ]
    );
    s.lease_runs(&["r1".into()], "pilot:8_0").unwrap();
    assert_eq!(
        s.pilot_held("a")
            .unwrap()
            .iter()
            .filter(|h| h.1 == "8_0")
            .count(),
        0,
        "a leased run is not leased again"
    );
    s.release_runs(&["r1".into(), "r2".into()]).unwrap();
    assert!(s.pilot_held("a").unwrap().is_empty());
    assert_eq!(
        s.state_counts("a").unwrap().get(&RunState::Pending),
        Some(&3)
    );
    // Two losses to OUT_OF_MEMORY for r1, another failure for r2.
    let mut oom = |id: &str, attempt: u32, reason: &str| {
        let Update::Finished { mut record, .. } =
            finished(id, attempt, RunState::Failed, RunState::Pending)
        else {
            unreachable!()
        };
        record.reason = Some(reason.into());
        s.apply(&[Update::Finished {
            record,
            run_state: RunState::Pending,
        }])
        .unwrap();
    };
    oom("r1", 1, "the SLURM task ran out of memory (job 5)");
    oom("r1", 2, "the SLURM task ran out of memory (job 6)");
    oom("r2", 1, "exit code 1");
    let losses = s
        .oom_losses("a", "the SLURM task ran out of memory")
        .unwrap();
    assert_eq!(losses.len(), 1);
    assert_eq!(losses["r1"], 2);
    assert_eq!(s.submission_count("a").unwrap(), 0);
    s.record_submission("a", "9", "m.json", 0, &["r3".into()])
        .unwrap();
    assert_eq!(s.submission_count("a").unwrap(), 1);
    assert_eq!(s.submission("9").unwrap(), ("m.json".to_string(), 0));
}
