//! Every example study under `examples/` passes `simforge check`, and the
//! builtin-simulator examples run to completion (in a copy, so the
//! repository stays clean).

mod common;
use common::*;

use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn studies() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path().join("study.yaml"))
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn every_example_study_checks() {
    let all = studies();
    assert!(all.len() >= 5, "{all:?}");
    for study in all {
        let out = bin()
            .args(["check", study.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}{}",
            study.display(),
            stdout(&out),
            stderr(&out)
        );
    }
}

/// Copies an example directory (files only) into the scratch directory.
fn copy_example(name: &str, s: &Scratch) {
    for e in std::fs::read_dir(examples_dir().join(name)).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, s.path().join(p.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn sysdesign_example_finds_a_feasible_cheapest_design() {
    let s = Scratch::new();
    copy_example("sysdesign", &s);
    ok(s.simforge(&["run", "study.yaml", "--progress", "none"]));
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    // The cheapest run whose p99 meets the 200 ms target.
    let (replicas, p99): (i64, f64) = conn
        .query_row(
            "SELECT json_extract(params, '$.\"components.api.replicas\"'), \
                    json_extract(metrics, '$.latency_p99') FROM runs \
             WHERE json_extract(metrics, '$.latency_p99') <= 200 \
             ORDER BY json_extract(metrics, '$.cost_per_hour') LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!((3..=10).contains(&replicas), "{replicas}");
    assert!(p99 <= 200.0);
    // One replica fewer misses the target (or answers nothing in time: null).
    let worse: Option<f64> = conn
        .query_row(
            "SELECT json_extract(metrics, '$.latency_p99') FROM runs \
             WHERE json_extract(params, '$.\"components.api.replicas\"') = ?1",
            [replicas - 1],
            |r| r.get(0),
        )
        .unwrap();
    assert!(worse.is_none_or(|w| w > 200.0), "{worse:?}");
}

#[test]
fn pde_example_writes_its_data_sets() {
    let s = Scratch::new();
    copy_example("pde", &s);
    ok(s.simforge(&["run", "study.yaml", "--progress", "none"]));
    let states = state_counts(&s.store_db());
    assert_eq!(states.get("succeeded"), Some(&9), "{states:?}");
    let runs = s.path().join(".simforge/runs/burgers-datasets");
    let n = std::fs::read_dir(&runs)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("data.npz").is_file())
        .count();
    assert_eq!(n, 9);
}

#[test]
fn phasefield_example_coarsens_faster_at_higher_mobility() {
    // Cahn–Hilliard dynamics run on the time scale 1/M: the time for the free
    // energy to halve must fall as the mobility rises (about as 1/M).
    let s = Scratch::new();
    copy_example("phasefield", &s);
    ok(s.simforge(&["run", "study.yaml", "--progress", "none"]));
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let mut st = conn
        .prepare(
            "SELECT json_extract(params, '$.M') AS m, \
                    avg(json_extract(metrics, '$.time_to_energy_drop')) FROM runs \
             WHERE state = 'succeeded' GROUP BY m ORDER BY m",
        )
        .unwrap();
    let rows: Vec<(f64, f64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for w in rows.windows(2) {
        assert!(w[1].1 < w[0].1, "{rows:?}");
    }
    // From M = 1 to M = 10 the time shrinks by well over half an order of magnitude.
    assert!(rows[0].1 / rows[3].1 > 5.0, "{rows:?}");
}
