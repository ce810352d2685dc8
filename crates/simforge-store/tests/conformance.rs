//! One suite of store scenarios, run on every backend: each scenario takes a
//! `&mut dyn Store` and runs once on SQLite (a temporary file) and once on
//! PostgreSQL (a fresh schema, dropped at the end). PostgreSQL tests need
//! SIMFORGE_TEST_POSTGRES_URL; without it they skip, unless
//! SIMFORGE_REQUIRE_SERVICES=1 makes them fail. PostgreSQL-only behaviour
//! (connection, schemas, concurrent migration) is tested at the end.

mod support;

use std::collections::BTreeMap;

use simforge_core::RunState;
use simforge_core::plan::PlannedRun;
use simforge_store::{PgStore, RunFilter, SCHEMA_VERSION, SqliteStore, Store, StoreError, Update};
use support::*;

/// Runs `scenario` on a fresh SQLite store.
fn on_sqlite(scenario: fn(&mut dyn Store)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = SqliteStore::open(&dir.path().join("db/simforge.db")).expect("open SQLite");
    scenario(&mut store);
}

/// Runs `scenario` on a fresh PostgreSQL store in a schema of its own.
fn on_postgres(scenario: fn(&mut dyn Store)) {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    let mut store = PgStore::connect_in_schema(&url, &schema.name).expect("open PostgreSQL");
    scenario(&mut store);
}

/// One `#[test]` per scenario and backend: `sqlite::NAME` and `postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { super::on_sqlite(super::scenarios::$name) })*
        }
        mod postgres {
            $(#[test] fn $name() { super::on_postgres(super::scenarios::$name) })*
        }
    };
}

conformance!(
    plans_are_upserted_and_generations_scope_the_study,
    transitions_attempts_and_lookups,
    pilot_leases_submissions_and_out_of_memory_losses,
    shared_points_keep_their_last_design_row,
    one_batch_keeps_its_order,
    requeue_rules,
    submissions_from_marking_to_closing,
    values_round_trip_exactly,
    queries_for_recovery_and_scheduling,
    streaming_stops_on_the_callbacks_error,
    a_large_plan_is_stored_and_grown,
);

fn ids(runs: &[simforge_core::results::RunRecord]) -> Vec<&str> {
    runs.iter().map(|r| r.id.as_str()).collect()
}

/// The run `id`, whatever its study or plan.
fn run_by_id(s: &dyn Store, id: &str) -> simforge_core::results::RunRecord {
    for study in s.studies().expect("studies") {
        let all = RunFilter {
            all_plans: true,
            ..RunFilter::default()
        };
        if let Some(r) = s
            .runs(&study.name, &all)
            .expect("runs")
            .into_iter()
            .find(|r| r.id == id)
        {
            return r;
        }
    }
    panic!("no run {id}")
}

fn state_of(s: &dyn Store, id: &str) -> RunState {
    run_by_id(s, id).state
}

mod scenarios {
    use super::*;

    pub fn plans_are_upserted_and_generations_scope_the_study(s: &mut dyn Store) {
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let (g1, st) = s
            .store_plan(
                &study("a", "h1"),
                &mut runs(&["aa01", "aa02", "aa03"]).into_iter(),
            )
            .unwrap();
        assert_eq!((st.planned, st.new), (3, 3));
        let first = s.study("a").unwrap();
        let (g2, st) = s
            .store_plan(
                &study("a", "h2"),
                &mut runs(&["aa02", "aa03", "aa04", "aa05"]).into_iter(),
            )
            .unwrap();
        assert_eq!((st.planned, st.new), (4, 2));
        assert_eq!(g2, g1 + 1);
        let row = s.study("a").unwrap();
        assert_eq!(
            (row.plan_gen, row.planned_runs, row.spec_hash.as_str()),
            (g2, 4, "h2")
        );
        assert_eq!(row.created_at, first.created_at, "creation time is kept");
        // aa01 left the plan: it no longer counts.
        assert_eq!(
            s.state_counts("a").unwrap().get(&RunState::Pending),
            Some(&4)
        );
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
        assert!(matches!(s.study("b"), Err(StoreError::UnknownStudy(_))));
        // A second study; studies are listed by name.
        s.store_plan(&study("B", "h"), &mut runs(&["bb01"]).into_iter())
            .unwrap();
        let names: Vec<String> = s.studies().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["B", "a"]);
        assert_eq!(
            s.state_counts("B").unwrap().get(&RunState::Pending),
            Some(&1)
        );
    }

    pub fn transitions_attempts_and_lookups(s: &mut dyn Store) {
        s.store_plan(
            &study("a", "h1"),
            &mut runs(&["ab01", "ab02", "cd03"]).into_iter(),
        )
        .unwrap();
        s.apply(&[
            started("ab01", 1),
            started("ab02", 1),
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
        let attempts = s.attempts("ab02").unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(
            (attempts[0].attempt, attempts[0].state, attempts[1].state),
            (1, RunState::Failed, RunState::Failed)
        );
        assert_eq!(attempts[0].exit_code, Some(1));
        assert_eq!(attempts[0].max_rss_kb, Some(1024));
        assert_eq!(attempts[0].reason.as_deref(), Some("exit code 1"));
        assert_eq!(attempts[0].spec_hash, "h1");
        assert!(
            attempts[0].metrics.is_empty(),
            "attempt rows keep no metrics"
        );
        assert_eq!(s.requeue_running("a").unwrap(), 1);
        assert_eq!(s.requeue_failed("a").unwrap(), 1);
        let r = s.find_run(Some("a"), "ab01").unwrap();
        assert_eq!(r.state, RunState::Succeeded);
        assert_eq!(r.metrics["y"], serde_json::json!(2.5));
        assert_eq!(
            (r.attempts, r.duration_s, r.host.as_deref()),
            (1, Some(0.5), Some("h"))
        );
        assert_eq!(
            (r.started_at.as_deref(), r.finished_at.as_deref()),
            (Some("t0"), Some("t1"))
        );
        assert_eq!(s.find_run(None, "AB01").unwrap().id, "ab01", "case-blind");
        assert!(
            matches!(s.find_run(None, "ab"), Err(StoreError::RunLookup(m)) if m.contains("more than one")),
            "ambiguous prefix"
        );
        assert!(s.find_run(None, "zz").is_err(), "not hex");
        assert!(s.find_run(None, "").is_err(), "empty");
        assert!(s.find_run(None, "ef").is_err(), "no match");
        assert!(s.find_run(Some("other"), "ab01").is_err(), "other study");
        assert_eq!(s.run_study("cd03").unwrap(), "a");
        assert!(s.run_study("ffff").is_err());
        let pending = s
            .runs(
                "a",
                &RunFilter {
                    state: Some(RunState::Pending),
                    limit: None,
                    all_plans: false,
                },
            )
            .unwrap();
        assert_eq!(ids(&pending), ["ab02", "cd03"]);
        let first = s
            .runs(
                "a",
                &RunFilter {
                    state: None,
                    limit: Some(2),
                    all_plans: false,
                },
            )
            .unwrap();
        assert_eq!(ids(&first), ["ab01", "ab02"]);
    }

    pub fn pilot_leases_submissions_and_out_of_memory_losses(s: &mut dyn Store) {
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
        // A lost pilot's runs all come back at once.
        s.lease_runs(&["r1".into(), "r3".into()], "pilot:9_1")
            .unwrap();
        assert_eq!(s.release_pilot_held("a").unwrap(), 2);
        assert_eq!(state_of(s, "r3"), RunState::Pending);
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
        assert!(s.submission("10").is_err());
    }

    /// Identical points share one run: the plan counts every row, the store
    /// one run whose design position and tag are those of its last row, and
    /// `design_rows` keeps every tagged row of the current plan only.
    pub fn shared_points_keep_their_last_design_row(s: &mut dyn Store) {
        let row = |id: &str, index: u64, tag: &str| PlannedRun {
            id: id.into(),
            index,
            tag: Some(tag.into()),
            replicate: 0,
            seed: 7,
            params: BTreeMap::from([("x".to_string(), serde_json::json!(id))]),
        };
        let plan = vec![
            row("p1", 0, "A"),
            row("p2", 1, "B"),
            row("p1", 2, "AB0"),
            row("p3", 3, "AB1"),
        ];
        let (g1, st) = s
            .store_plan(&study("sal", "h"), &mut plan.into_iter())
            .unwrap();
        assert_eq!((st.planned, st.new), (4, 3));
        assert_eq!(s.study("sal").unwrap().planned_runs, 4);
        let p1 = run_by_id(s, "p1");
        assert_eq!((p1.index, p1.tag.as_deref()), (2, Some("AB0")));
        let all = s.runs("sal", &RunFilter::default()).unwrap();
        assert_eq!(ids(&all), ["p2", "p1", "p3"], "design order");
        assert_eq!(
            s.design_rows("sal").unwrap(),
            vec![
                ("A".to_string(), 0, "p1".to_string()),
                ("AB0".to_string(), 0, "p1".to_string()),
                ("AB1".to_string(), 0, "p3".to_string()),
                ("B".to_string(), 0, "p2".to_string()),
            ]
        );
        // Re-planned: only the new plan's rows remain.
        let (g2, st) = s
            .store_plan(
                &study("sal", "h2"),
                &mut vec![row("p3", 0, "A")].into_iter(),
            )
            .unwrap();
        assert_eq!((g2, st.planned, st.new), (g1 + 1, 1, 0));
        assert_eq!(
            s.design_rows("sal").unwrap(),
            vec![("A".to_string(), 0, "p3".to_string())]
        );
        // Untagged studies have none.
        s.store_plan(&study("plain", "h"), &mut runs(&["q1"]).into_iter())
            .unwrap();
        assert!(s.design_rows("plain").unwrap().is_empty());
    }

    /// Updates apply in order, even when one batch starts, finishes and
    /// restarts the same run, and attempts never go down.
    pub fn one_batch_keeps_its_order(s: &mut dyn Store) {
        s.store_plan(
            &study("a", "h1"),
            &mut runs(&["o1", "o2", "o3"]).into_iter(),
        )
        .unwrap();
        s.apply(&[
            started("o1", 1),
            started("o2", 1),
            finished("o1", 1, RunState::Failed, RunState::Pending),
            started("o1", 2),
            finished("o1", 2, RunState::Succeeded, RunState::Succeeded),
            started("o3", 1),
            Update::Requeued {
                run_id: "o3".into(),
            },
            Update::Requeued {
                run_id: "o1".into(),
            },
        ])
        .unwrap();
        let o1 = run_by_id(s, "o1");
        assert_eq!((o1.state, o1.attempts), (RunState::Succeeded, 2));
        assert_eq!(o1.reason, None);
        assert_eq!(s.attempts("o1").unwrap().len(), 2);
        assert_eq!(state_of(s, "o2"), RunState::Running);
        assert_eq!(state_of(s, "o3"), RunState::Pending, "requeued");
        let o2 = run_by_id(s, "o2");
        assert_eq!((o2.attempts, o2.finished_at), (1, None));
        // A late report of an older attempt replaces that attempt's row but
        // does not lower the run's attempt count.
        let Update::Finished { mut record, .. } =
            finished("o1", 1, RunState::TimedOut, RunState::Succeeded)
        else {
            unreachable!()
        };
        record.exit_code = None;
        record.signal = Some(9);
        record.reason = Some("wall time".into());
        record.metrics.clear();
        s.apply(&[Update::Finished {
            record,
            run_state: RunState::Succeeded,
        }])
        .unwrap();
        let o1 = run_by_id(s, "o1");
        assert_eq!(o1.attempts, 2);
        assert!(o1.metrics.is_empty(), "no metrics recorded as none");
        let a = s.attempts("o1").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (
                a[0].state,
                a[0].exit_code,
                a[0].signal,
                a[0].reason.as_deref()
            ),
            (RunState::TimedOut, None, Some(9), Some("wall time"))
        );
        assert_eq!(s.last_recorded_attempt("o1").unwrap(), Some(2));
        assert_eq!(s.last_recorded_attempt("o3").unwrap(), None);
        s.apply(&[]).unwrap();
    }

    pub fn requeue_rules(s: &mut dyn Store) {
        s.store_plan(
            &study("a", "h1"),
            &mut runs(&["q1", "q2", "q3", "q4", "q5", "q6"]).into_iter(),
        )
        .unwrap();
        s.apply(&[
            started("q1", 1),
            finished("q2", 1, RunState::Failed, RunState::Failed),
            finished("q3", 1, RunState::TimedOut, RunState::TimedOut),
            finished("q4", 1, RunState::Cancelled, RunState::Cancelled),
            finished("q5", 1, RunState::Succeeded, RunState::Succeeded),
        ])
        .unwrap();
        // q6 runs inside a cluster job: its job's bookkeeping owns it.
        s.record_submission("a", "77", "m.json", 0, &["q6".into()])
            .unwrap();
        assert_eq!(s.requeue_running("a").unwrap(), 1);
        assert_eq!(state_of(s, "q1"), RunState::Pending);
        assert_eq!(state_of(s, "q6"), RunState::Running);
        assert_eq!(s.requeue_cancelled("a").unwrap(), 1);
        assert_eq!(state_of(s, "q4"), RunState::Pending);
        // Re-planned without q3: the failure outside the plan stays failed.
        s.store_plan(
            &study("a", "h2"),
            &mut runs(&["q1", "q2", "q4", "q5", "q6"]).into_iter(),
        )
        .unwrap();
        assert_eq!(s.requeue_failed("a").unwrap(), 1);
        assert_eq!(state_of(s, "q2"), RunState::Pending);
        assert_eq!(state_of(s, "q3"), RunState::TimedOut);
        assert_eq!(state_of(s, "q5"), RunState::Succeeded);
        assert_eq!(s.requeue_failed("nope").unwrap(), 0);
    }

    pub fn submissions_from_marking_to_closing(s: &mut dyn Store) {
        s.store_plan(
            &study("a", "h1"),
            &mut runs(&["s1", "s2", "s3", "s4", "s5"]).into_iter(),
        )
        .unwrap();
        // Marked before sbatch, then recorded: the marker becomes the job.
        s.mark_submitting(&["s1".into(), "s2".into()], "submitting:tok1|a")
            .unwrap();
        s.mark_submitting(&["s3".into()], "submitting:tok2|a")
            .unwrap();
        let mut marked = s.submitting("a").unwrap();
        for (_, ids) in &mut marked {
            ids.sort();
        }
        assert_eq!(
            marked,
            vec![
                (
                    "submitting:tok1|a".to_string(),
                    vec!["s1".to_string(), "s2".to_string()]
                ),
                ("submitting:tok2|a".to_string(), vec!["s3".to_string()]),
            ]
        );
        s.record_submission("a", "100", "m1.json", 0, &["s1".into(), "s2".into()])
            .unwrap();
        s.record_submission("a", "101", "m2.json", 3, &["s3".into(), "s4".into()])
            .unwrap();
        assert!(s.submitting("a").unwrap().is_empty());
        assert_eq!(s.active_submissions("a").unwrap().len(), 2);
        assert_eq!(s.submission("101").unwrap(), ("m2.json".to_string(), 3));
        let s4 = run_by_id(s, "s4");
        assert_eq!(
            (s4.state, s4.host.as_deref()),
            (RunState::Running, Some("slurm job 101"))
        );
        // s1 finished inside job 100; s2 was lost to a node failure (no attempt).
        s.apply(&[finished("s1", 1, RunState::Succeeded, RunState::Succeeded)])
            .unwrap();
        let lost = s
            .close_submission("100", "completed", &|_| None, 3)
            .unwrap();
        assert_eq!(lost, 1);
        let s2 = run_by_id(s, "s2");
        assert_eq!((s2.state, s2.attempts), (RunState::Pending, 0));
        assert!(s.attempts("s2").unwrap().is_empty());
        // Job 101 failed its runs: s3 has no attempt left, s4 gets another.
        s.apply(&[finished("s3", 1, RunState::Failed, RunState::Running)])
            .unwrap();
        s.record_submission("a", "102", "m3.json", 0, &[]).unwrap();
        let lost = s
            .close_submission(
                "101",
                "failed",
                &|id| Some(format!("task of {id} was killed")),
                2,
            )
            .unwrap();
        assert_eq!(lost, 2);
        let s3 = run_by_id(s, "s3");
        assert_eq!(
            (s3.state, s3.attempts, s3.reason.as_deref()),
            (RunState::Failed, 2, Some("task of s3 was killed"))
        );
        let a = s.attempts("s3").unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[1].attempt, a[1].state, a[1].host.as_str(), a[1].exit_code),
            (2, RunState::Failed, "slurm job 101", None)
        );
        let s4 = run_by_id(s, "s4");
        assert_eq!((s4.state, s4.attempts), (RunState::Pending, 1));
        assert_eq!(s.active_submissions("a").unwrap(), ["102"]);
        assert_eq!(s.submission_count("a").unwrap(), 3);
        // A closed job's runs are free again: a new lease takes them.
        s.lease_runs(&["s4".into()], "pilot:w").unwrap();
        assert_eq!(s.pilot_held("a").unwrap().len(), 1);
    }

    /// Parameters and metrics of every JSON kind, strings that need escaping,
    /// and seeds above `i64::MAX` come back as they went in.
    pub fn values_round_trip_exactly(s: &mut dyn Store) {
        let params = BTreeMap::from([
            ("int".to_string(), serde_json::json!(-42)),
            (
                "big".to_string(),
                serde_json::json!(9_007_199_254_740_993u64),
            ),
            ("real".to_string(), serde_json::json!(0.1)),
            ("small".to_string(), serde_json::json!(-1.25e-7)),
            ("large".to_string(), serde_json::json!(6.02e23)),
            (
                "text".to_string(),
                serde_json::json!("tab\there\nnew \\ \"q\" é ✓"),
            ),
            ("flag".to_string(), serde_json::json!(true)),
            ("list".to_string(), serde_json::json!([1, "two", null])),
            ("nested".to_string(), serde_json::json!({"k": [0.25]})),
        ]);
        let plan = vec![PlannedRun {
            id: "v1".into(),
            index: 0,
            tag: Some("t\\1\tx".into()),
            replicate: 3,
            seed: u64::MAX - 5,
            params: params.clone(),
        }];
        s.store_plan(&study("vals", "h"), &mut plan.into_iter())
            .unwrap();
        let p = s.pending_page("vals", None, 10).unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].seed, p[0].replicate), (u64::MAX - 5, 3));
        assert_eq!(
            p[0].params.clone().into_iter().collect::<BTreeMap<_, _>>(),
            params
        );
        let metrics = serde_json::json!({"y": -0.0625, "label": "ok\nfine", "n": 7});
        let Update::Finished { mut record, .. } =
            finished("v1", 1, RunState::Succeeded, RunState::Succeeded)
        else {
            unreachable!()
        };
        record.metrics = metrics.as_object().cloned().unwrap_or_default();
        record.reason = Some("it's \"fine\"".into());
        record.duration_s = 1.0 / 3.0;
        s.apply(&[Update::Finished {
            record,
            run_state: RunState::Succeeded,
        }])
        .unwrap();
        let r = run_by_id(s, "v1");
        assert_eq!(r.params, params);
        assert_eq!(
            serde_json::Value::Object(r.metrics.into_iter().collect()),
            metrics
        );
        assert_eq!(r.tag.as_deref(), Some("t\\1\tx"));
        assert_eq!(r.seed, u64::MAX - 5);
        assert_eq!(r.duration_s, Some(1.0 / 3.0));
        assert_eq!(r.reason.as_deref(), Some("it's \"fine\""));
        assert_eq!(r.spec_hash, "h1");
    }

    pub fn queries_for_recovery_and_scheduling(s: &mut dyn Store) {
        s.store_plan(
            &study("a", "h1"),
            &mut runs(&["m1", "m2", "m3", "m4", "m5"]).into_iter(),
        )
        .unwrap();
        assert_eq!(s.median_duration("a").unwrap(), None);
        let done = |id: &str, secs: f64| {
            let Update::Finished { mut record, .. } =
                finished(id, 1, RunState::Succeeded, RunState::Succeeded)
            else {
                unreachable!()
            };
            record.duration_s = secs;
            Update::Finished {
                record,
                run_state: RunState::Succeeded,
            }
        };
        s.apply(&[
            done("m1", 4.0),
            done("m2", 1.0),
            done("m3", 3.0),
            done("m4", 2.0),
        ])
        .unwrap();
        // The upper median of an even count, as SQLite's OFFSET n/2 gives it.
        assert_eq!(s.median_duration("a").unwrap(), Some(3.0));
        s.apply(&[started("m5", 1)]).unwrap();
        assert_eq!(s.unfinished_ids("a").unwrap(), ["m5"]);
        // A failure without a reason is counted as "unknown".
        let Update::Finished { mut record, .. } =
            finished("m5", 1, RunState::Failed, RunState::Failed)
        else {
            unreachable!()
        };
        record.reason = None;
        s.apply(&[Update::Finished {
            record,
            run_state: RunState::Failed,
        }])
        .unwrap();
        assert_eq!(
            s.failure_reasons("a", 5).unwrap(),
            vec![("unknown".to_string(), 1)]
        );
        assert!(s.unfinished_ids("a").unwrap().is_empty());
        assert!(s.failure_reasons("a", 0).unwrap().is_empty());
    }

    /// An error from the callback ends the stream and comes back to the
    /// caller; the store stays usable.
    pub fn streaming_stops_on_the_callbacks_error(s: &mut dyn Store) {
        let many: Vec<String> = (0..5000).map(|i| format!("{i:06x}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        s.store_plan(&study("a", "h"), &mut runs(&refs).into_iter())
            .unwrap();
        let mut seen = 0u64;
        let err = s
            .for_each_run("a", &RunFilter::default(), &mut |_| {
                seen += 1;
                if seen == 2500 {
                    return Err(StoreError::Corrupt("stop here".into()));
                }
                Ok(())
            })
            .unwrap_err();
        assert!(err.to_string().contains("stop here"), "{err}");
        assert_eq!(seen, 2500);
        let mut indexes = Vec::new();
        s.for_each_run("a", &RunFilter::default(), &mut |r| {
            indexes.push(r.index);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            indexes,
            (0..5000).collect::<Vec<u64>>(),
            "all, in design order"
        );
        s.apply(&[started("000001", 1)]).unwrap();
        assert_eq!(state_of(s, "000001"), RunState::Running);
    }

    /// 200k runs stored, then re-planned with 1000 more: the second plan adds
    /// only the new runs and keeps the finished ones finished.
    pub fn a_large_plan_is_stored_and_grown(s: &mut dyn Store) {
        let plan = |n: u64| {
            (0..n).map(|i| PlannedRun {
                id: format!("{:016x}{i:08x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                index: i,
                tag: None,
                replicate: 0,
                seed: i ^ 0xdead_beef,
                params: BTreeMap::from([
                    ("x".to_string(), serde_json::json!(i as f64 / 7.0)),
                    ("k".to_string(), serde_json::json!(3)),
                    ("model".to_string(), serde_json::json!("allen-cahn")),
                ]),
            })
        };
        let t = std::time::Instant::now();
        let (g1, st) = s
            .store_plan(&study("big", "h1"), &mut plan(200_000))
            .unwrap();
        let first = t.elapsed();
        assert_eq!((st.planned, st.new), (200_000, 200_000));
        let finished_id = plan(1).next().map(|r| r.id).unwrap_or_default();
        s.apply(&[finished(
            &finished_id,
            1,
            RunState::Succeeded,
            RunState::Succeeded,
        )])
        .unwrap();
        let t = std::time::Instant::now();
        let (g2, st) = s
            .store_plan(&study("big", "h2"), &mut plan(201_000))
            .unwrap();
        let second = t.elapsed();
        assert_eq!(g2, g1 + 1);
        assert_eq!((st.planned, st.new), (201_000, 1000));
        let counts = s.state_counts("big").unwrap();
        assert_eq!(counts.get(&RunState::Pending), Some(&200_999));
        assert_eq!(counts.get(&RunState::Succeeded), Some(&1));
        assert_eq!(s.study("big").unwrap().planned_runs, 201_000);
        let last = s.pending_page("big", Some((200_998, 0)), 10).unwrap();
        assert_eq!(last.iter().map(|p| p.index).collect::<Vec<_>>(), [200_999]);
        eprintln!(
            "store_plan on {}: 200k runs in {:.2}s; re-plan of 201k (1000 new) in {:.2}s",
            s.location(),
            first.as_secs_f64(),
            second.as_secs_f64()
        );
    }
}

// ---- PostgreSQL only: connecting, schemas, migrations -------------------------

/// The test database's URL with `password` in its user info.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    match rest.split_once('@') {
        Some((user, host)) => format!("{scheme}://{user}:{password}@{host}"),
        None => format!("{scheme}://postgres:{password}@{rest}"),
    }
}

#[test]
fn pg_location_hides_the_password_and_names_the_schema() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    // The test server trusts local connections, so any password is accepted.
    let secret = with_password(&schema.store_url(), "hunter2");
    let store = PgStore::connect(&secret).unwrap();
    let location = store.location();
    assert!(!location.contains("hunter2"), "{location}");
    assert!(location.starts_with("postgres"), "{location}");
    assert!(
        location.contains(&format!("schema={}", schema.name)),
        "{location}"
    );
    // `?schema=` really put the tables in that schema.
    let n: i64 = schema
        .client()
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('runs', 'studies', 'meta')",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(n, 3);
    let in_schema = PgStore::connect_in_schema(&with_password(&url, "hunter2"), &schema.name)
        .unwrap()
        .location();
    assert!(!in_schema.contains("hunter2"), "{in_schema}");
    assert!(in_schema.contains(&schema.name), "{in_schema}");
}

#[test]
fn pg_refuses_a_store_newer_than_itself() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    drop(PgStore::connect_in_schema(&url, &schema.name).unwrap());
    schema
        .client()
        .execute(
            &format!(
                "UPDATE \"{}\".meta SET value = $1 WHERE key = 'schema_version'",
                schema.name
            ),
            &[&(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
    match PgStore::connect_in_schema(&url, &schema.name) {
        Err(StoreError::TooNew {
            found, supported, ..
        }) => assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION)),
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("a newer store was opened"),
    }
}

#[test]
fn pg_refuses_a_schema_that_holds_other_tables() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    schema
        .client()
        .batch_execute(&format!(
            "CREATE SCHEMA \"{0}\"; CREATE TABLE \"{0}\".invoices (id int)",
            schema.name
        ))
        .unwrap();
    let err = PgStore::connect_in_schema(&url, &schema.name)
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(
        err.to_string().contains("no simforge `meta` table"),
        "{err}"
    );
}

#[test]
fn pg_two_processes_migrating_at_once_do_not_race() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (url, name, barrier) = (url.clone(), schema.name.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                PgStore::connect_in_schema(&url, &name).map(|s| s.schema_version())
            })
        })
        .collect();
    for t in threads {
        let version = t
            .join()
            .expect("thread")
            .expect("connect")
            .expect("version");
        assert_eq!(version, SCHEMA_VERSION);
    }
    let mut c = schema.client();
    let rows: i64 = c
        .query_one(
            &format!("SELECT count(*) FROM \"{}\".meta", schema.name),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
    let tables: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = $1",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert_eq!(
        tables, 6,
        "meta, studies, runs, attempts, submissions, design_rows"
    );
}

#[test]
fn pg_an_older_store_is_migrated() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    {
        let mut s = PgStore::connect_in_schema(&url, &schema.name).unwrap();
        s.store_plan(&study("a", "h"), &mut runs(&["aa01"]).into_iter())
            .unwrap();
    }
    // Wind it back to version 3 (before design_rows).
    schema
        .client()
        .batch_execute(&format!(
            "DROP TABLE \"{0}\".design_rows; UPDATE \"{0}\".meta SET value = '3' WHERE key = 'schema_version'",
            schema.name
        ))
        .unwrap();
    let s = PgStore::connect_in_schema(&url, &schema.name).unwrap();
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(s.design_rows("a").unwrap().is_empty());
    assert_eq!(s.find_run(None, "aa01").unwrap().state, RunState::Pending);
}

#[test]
fn pg_open_existing_never_creates_a_store() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    let err = simforge_store::open_existing(&schema.store_url())
        .err()
        .expect("no store yet");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    let exists: bool = schema
        .client()
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema.name],
        )
        .unwrap()
        .get(0);
    assert!(!exists, "open_existing created the schema");
    // `open` creates it; then `open_existing` finds it.
    let mut s = simforge_store::open(&schema.store_url()).unwrap();
    s.store_plan(&study("a", "h"), &mut runs(&["aa01"]).into_iter())
        .unwrap();
    drop(s);
    let s = simforge_store::open_existing(&schema.store_url()).unwrap();
    assert_eq!(s.studies().unwrap().len(), 1);
    // An empty, existing schema is no store either.
    let empty = TestSchema::new(&url);
    empty
        .client()
        .batch_execute(&format!("CREATE SCHEMA \"{}\"", empty.name))
        .unwrap();
    assert!(matches!(
        simforge_store::open_existing(&empty.store_url()),
        Err(StoreError::NoStore { .. })
    ));
}

#[test]
fn pg_errors_carry_the_servers_message() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    let mut s = PgStore::connect_in_schema(&url, &schema.name).unwrap();
    // Parameters the database cannot hold (a NUL character in JSON text)
    // fail the whole plan, with PostgreSQL's own words, and leave no trace.
    let bad = vec![PlannedRun {
        id: "bad1".into(),
        index: 0,
        tag: None,
        replicate: 0,
        seed: 0,
        params: BTreeMap::from([("x".to_string(), serde_json::json!("a\u{0}b"))]),
    }];
    let err = s
        .store_plan(&study("a", "h"), &mut bad.into_iter())
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("PostgreSQL") || msg.contains("\\u0000"),
        "{msg}"
    );
    assert!(s.studies().unwrap().is_empty(), "nothing half-written");
    s.store_plan(&study("a", "h"), &mut runs(&["aa01"]).into_iter())
        .unwrap();
    assert_eq!(s.studies().unwrap().len(), 1);
}

#[test]
fn pg_a_callback_may_not_reenter_the_streaming_store() {
    let Some(url) = postgres_url() else { return };
    let schema = TestSchema::new(&url);
    let mut s = PgStore::connect_in_schema(&url, &schema.name).unwrap();
    s.store_plan(&study("a", "h"), &mut runs(&["aa01"]).into_iter())
        .unwrap();
    let store: &PgStore = &s;
    let err = store
        .for_each_run("a", &RunFilter::default(), &mut |_| {
            store.study("a").map(|_| ())
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Busy(_)), "{err}");
    assert_eq!(store.studies().unwrap().len(), 1, "usable afterwards");
}
