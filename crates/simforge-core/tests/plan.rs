//! Planning from study text: design sizes, value mapping, stable ids and seeds.

use std::path::Path;

use simforge_core::{Plan, PlannedRun, parse_study};

fn plan(text: &str) -> Vec<PlannedRun> {
    let study =
        parse_study(Path::new("study.yaml"), text).unwrap_or_else(|d| panic!("{}", d.render()));
    let plan = Plan::new(&study, "sim-v1").unwrap();
    let runs: Vec<PlannedRun> = plan.runs().collect();
    assert_eq!(runs.len() as u64, plan.len());
    runs
}

const HEAD: &str = "name: p\nsimulator: {command: [\"true\"]}\n";

#[test]
fn grid_is_a_product_in_declaration_order() {
    let runs = plan(&format!(
        "{HEAD}parameters:\n  a: {{values: [1, 2]}}\n  b: {{choice: [x, y, z]}}\n  c: 7\ndesign: {{sampler: grid}}\n"
    ));
    assert_eq!(runs.len(), 6);
    let pts: Vec<(f64, String)> = runs
        .iter()
        .map(|r| {
            (
                r.params["a"].as_f64().unwrap(),
                r.params["b"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(pts[0], (1.0, "x".into()));
    assert_eq!(pts[1], (1.0, "y".into()), "last parameter varies fastest");
    assert_eq!(pts[5], (2.0, "z".into()));
    assert!(
        runs.iter().all(|r| r.params["c"] == 7),
        "constants are in every run"
    );
    let ids: std::collections::HashSet<_> = runs.iter().map(|r| r.id.clone()).collect();
    assert_eq!(ids.len(), 6);
    assert!(
        runs.iter()
            .all(|r| r.id.len() == 20 && r.id.chars().all(|c| c.is_ascii_hexdigit()))
    );
}

#[test]
fn grid_levels_on_linear_log_and_integer_scales() {
    let runs = plan(&format!(
        "{HEAD}parameters:\n  lin: {{range: [0, 1], levels: 3}}\n  log: {{range: [1, 100], scale: log, levels: 3}}\n  n: {{range: [1, 3], type: integer}}\ndesign: {{sampler: grid}}\n"
    ));
    assert_eq!(runs.len(), 27);
    let mut lin: Vec<f64> = runs
        .iter()
        .map(|r| r.params["lin"].as_f64().unwrap())
        .collect();
    lin.dedup();
    let mut logs: Vec<f64> = runs
        .iter()
        .map(|r| r.params["log"].as_f64().unwrap())
        .collect();
    logs.sort_by(f64::total_cmp);
    logs.dedup();
    assert_eq!(logs, vec![1.0, 10.0, 100.0], "log levels are geometric");
    assert!(runs.iter().all(|r| r.params["n"].is_i64()));
}

#[test]
fn ids_depend_on_point_replicate_and_simulator_only() {
    let text = format!(
        "{HEAD}parameters:\n  x: {{range: [0, 1]}}\ndesign: {{sampler: sobol, samples: 8, replicates: 2, seed: 3}}\n"
    );
    let a = plan(&text);
    let b = plan(&text);
    assert_eq!(a, b, "planning is deterministic");
    assert_eq!(a.len(), 16);
    assert_eq!(
        a[0].params, a[1].params,
        "replicates of a point are together"
    );
    assert_ne!(a[0].seed, a[1].seed, "replicates get distinct seeds");
    assert_ne!(a[0].id, a[1].id);
    // More samples keep the earlier runs (Sobol' prefixes are stable).
    let more = plan(&text.replace("samples: 8", "samples: 16"));
    assert_eq!(&more[..16], &a[..]);
    // A different simulator identity gives different ids for the same points.
    let study = parse_study(Path::new("study.yaml"), &text).unwrap();
    let other: Vec<PlannedRun> = Plan::new(&study, "sim-v2").unwrap().runs().collect();
    assert_eq!(other[0].params, a[0].params);
    assert_ne!(other[0].id, a[0].id);
}

#[test]
fn widening_a_stepped_range_keeps_old_points() {
    let narrow = plan(&format!(
        "{HEAD}parameters:\n  x: {{range: [0, 1], step: 0.1}}\ndesign: {{sampler: grid}}\n"
    ));
    let wide = plan(&format!(
        "{HEAD}parameters:\n  x: {{range: [0, 2], step: 0.1}}\ndesign: {{sampler: grid}}\n"
    ));
    assert_eq!(narrow.len(), 11);
    assert_eq!(wide.len(), 21);
    let wide_ids: std::collections::HashSet<_> = wide.iter().map(|r| &r.id).collect();
    assert!(narrow.iter().all(|r| wide_ids.contains(&r.id)));
    assert_eq!(
        narrow[3].params["x"],
        serde_json::json!(0.3),
        "levels are tidy decimals"
    );
}

#[test]
fn structured_designs_have_the_published_sizes_and_tags() {
    let d3 = "parameters:\n  a: {range: [0, 1]}\n  b: {range: [0, 1]}\n  c: {range: [0, 1]}\n";
    let s = plan(&format!(
        "{HEAD}{d3}design: {{sampler: saltelli, samples: 4}}\n"
    ));
    assert_eq!(s.len(), 4 * (3 + 2));
    assert_eq!(s[0].tag.as_deref(), Some("A:0"));
    let s2 = plan(&format!(
        "{HEAD}{d3}design: {{sampler: saltelli, samples: 4, second_order: true}}\n"
    ));
    assert_eq!(s2.len(), 4 * (2 * 3 + 2));
    let m = plan(&format!(
        "{HEAD}{d3}design: {{sampler: morris, samples: 5, levels: 4}}\n"
    ));
    assert_eq!(m.len(), 5 * 4);
    assert_eq!(
        m[1].tag.as_deref().map(|t| t.starts_with("t0:s1:x")),
        Some(true)
    );
    for sampler in ["random", "lhs", "halton"] {
        assert_eq!(
            plan(&format!(
                "{HEAD}{d3}design: {{sampler: {sampler}, samples: 7}}\n"
            ))
            .len(),
            7
        );
    }
}

#[test]
fn table_designs_are_read_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pts.csv"), "x,k\n0.5,a\n1.5,b\n").unwrap();
    let text = format!(
        "{HEAD}parameters:\n  x: {{range: [0, 2]}}\n  k: {{choice: [a, b]}}\n  c: 1\ndesign: {{sampler: table, file: pts.csv}}\n"
    );
    let study = parse_study(&dir.path().join("study.yaml"), &text).unwrap();
    let runs: Vec<PlannedRun> = Plan::new(&study, "s").unwrap().runs().collect();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[1].params["x"], serde_json::json!(1.5));
    assert_eq!(runs[1].params["c"], serde_json::json!(1));
    std::fs::write(dir.path().join("pts.csv"), "x,k\n0.5,a\n9,b\n").unwrap();
    let err = parse_study(&dir.path().join("study.yaml"), &text).unwrap_err();
    let d = &err.0[0];
    assert!(d.file.ends_with("pts.csv"));
    assert_eq!(
        d.location.map(|l| l.line),
        Some(3),
        "the CSV line of the bad value"
    );
    assert!(d.expected.as_deref().unwrap_or("").contains("[0, 2]"));
    std::fs::write(dir.path().join("pts.csv"), "x,kk\n0.5,a\n").unwrap();
    let err = parse_study(&dir.path().join("study.yaml"), &text).unwrap_err();
    assert!(
        err.render().contains("did you mean `k`?"),
        "{}",
        err.render()
    );
}

#[test]
fn oversized_designs_are_refused_before_planning() {
    let text = format!(
        "{HEAD}parameters:\n  a: {{range: [0, 1], step: 0.0001}}\n  b: {{range: [0, 1], step: 0.0001}}\ndesign: {{sampler: grid}}\n"
    );
    let err = parse_study(Path::new("study.yaml"), &text).unwrap_err();
    assert!(
        err.render().contains("the design has 100020001 runs"),
        "{}",
        err.render()
    );
}
