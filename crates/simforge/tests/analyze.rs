//! `simforge analyze sensitivity` on real studies of the `analytic` builtin,
//! against the closed-form Sobol' indices.

mod common;
use common::*;

const PI: &str = "3.141592653589793";

fn indices(s: &Scratch) -> serde_json::Value {
    let out = s.simforge(&["analyze", "sensitivity", "--json", "--no-surrogate"]);
    serde_json::from_str(&ok(out)).unwrap()
}

#[test]
fn ishigami_indices_from_a_real_saltelli_study() {
    // Reference: Ishigami a=7, b=0.1 (Saltelli et al. 2008): S1 = 0.3139,
    // 0.4424, 0; ST = 0.5576, 0.4424, 0.2437. N = 2048 base samples
    // (10240 runs); tolerance 0.06 absolute, and each reference value inside
    // twice the reported 95% half-width.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "name: ishi\nsimulator: {{builtin: analytic, options: {{function: ishigami}}}}\n\
             parameters:\n  x1: {{range: [-{PI}, {PI}]}}\n  x2: {{range: [-{PI}, {PI}]}}\n  x3: {{range: [-{PI}, {PI}]}}\n\
             design: {{sampler: saltelli, samples: 2048, seed: 11}}\nmetrics: [y]\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let v = indices(&s);
    let want_s1 = [0.3139, 0.4424, 0.0];
    let want_st = [0.5576, 0.4424, 0.2437];
    for i in 0..3 {
        for (key, want) in [("s1", want_s1[i]), ("st", want_st[i])] {
            let got = v[key][i].as_f64().unwrap();
            let half = v[format!("{key}_conf")][i].as_f64().unwrap();
            assert!((got - want).abs() < 0.06, "{key}[{i}] = {got} vs {want}");
            assert!(
                (got - want).abs() < 2.0 * half,
                "{key}[{i}] = {got} ± {half} vs {want}"
            );
        }
    }
    assert_eq!(v["samples"], 2048);
    assert_eq!(v["names"], serde_json::json!(["x1", "x2", "x3"]));
    // The table names every input.
    let table = ok(s.simforge(&["analyze", "sensitivity", "ishi"]));
    assert!(
        table.contains("2048 base samples") && table.contains("x3"),
        "{table}"
    );
    // The HTML report charts S1 and ST per input.
    ok(s.simforge(&["report", "ishi"]));
    let html = std::fs::read_to_string(s.path().join(".simforge/reports/ishi.html")).unwrap();
    assert!(
        html.contains("<h2>Sensitivity</h2>"),
        "no sensitivity section"
    );
    assert!(html.contains("Sobol&#39; indices of y"), "no Sobol chart");
    assert_eq!(
        html.matches("<title>S1 x").count(),
        3,
        "one S1 bar per input"
    );
}

#[test]
fn sobol_g_indices_from_a_real_saltelli_study() {
    // Reference: Sobol G, a = [0, 1, 4.5, 9, 99, 99, 99, 99]: S1 = 0.7162,
    // 0.1790, 0.0237, 0.0072, ~0; ST = 0.7871, 0.2422, 0.0343, 0.0105, ~0.
    // N = 1024 base samples (10240 runs); tolerance 0.06 absolute.
    let s = Scratch::new();
    let params: String = (1..=8)
        .map(|i| format!("  x{i}: {{range: [0, 1]}}\n"))
        .collect();
    s.write(
        "study.yaml",
        &format!(
            "name: gfun\nsimulator: {{builtin: analytic, options: {{function: sobol_g, a: [0, 1, 4.5, 9, 99, 99, 99, 99]}}}}\n\
             parameters:\n{params}design: {{sampler: saltelli, samples: 1024, seed: 5}}\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let v = indices(&s);
    let want_s1 = [0.7162, 0.1790, 0.0237, 0.0072, 0.0, 0.0, 0.0, 0.0];
    let want_st = [0.7871, 0.2422, 0.0343, 0.0105, 0.0, 0.0, 0.0, 0.0];
    for i in 0..8 {
        let (s1, st) = (v["s1"][i].as_f64().unwrap(), v["st"][i].as_f64().unwrap());
        assert!(
            (s1 - want_s1[i]).abs() < 0.06,
            "S1[{i}] = {s1} vs {}",
            want_s1[i]
        );
        assert!(
            (st - want_st[i]).abs() < 0.06,
            "ST[{i}] = {st} vs {}",
            want_st[i]
        );
    }
}

#[test]
fn other_designs_get_rank_measures_and_unknown_metrics_clear_errors() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: rnd\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\ndesign: {sampler: random, samples: 20}\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    // Any other design gets rank measures.
    let table = ok(s.simforge(&["analyze", "sensitivity", "--no-surrogate"]));
    assert!(
        table.contains("Rank measures of `y`") && table.contains("SRRC") && table.contains("x2"),
        "{table}"
    );
    s.write(
        "study.yaml",
        "name: rnd\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\ndesign: {sampler: saltelli, samples: 8}\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let out = s.simforge(&["analyze", "sensitivity", "--metric", "latency"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no numeric metric `latency`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn morris_effects_rank_sobol_g_inputs_from_a_real_study() {
    // Sobol G, a = [0, 1, 4.5, 9, 99]: μ* must rank the inputs in the order of
    // their total indices (0.79, 0.24, 0.034, 0.011, ~0). 100 trajectories on
    // 4 levels (600 runs).
    let s = Scratch::new();
    let params: String = (1..=5)
        .map(|i| format!("  x{i}: {{range: [0, 1]}}\n"))
        .collect();
    s.write(
        "study.yaml",
        &format!(
            "name: gmorris\nsimulator: {{builtin: analytic, options: {{function: sobol_g, a: [0, 1, 4.5, 9, 99]}}}}\n\
             parameters:\n{params}design: {{sampler: morris, samples: 100, levels: 4, seed: 2}}\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let v = indices(&s);
    let mu_star: Vec<f64> = (0..5).map(|i| v["mu_star"][i].as_f64().unwrap()).collect();
    for i in 0..4 {
        assert!(mu_star[i] > mu_star[i + 1], "{mu_star:?}");
    }
    assert_eq!(v["effects"], serde_json::json!([100, 100, 100, 100, 100]));
    let table = ok(s.simforge(&["analyze", "sensitivity"]));
    assert!(
        table.contains("Morris elementary effects") && table.contains("mu*"),
        "{table}"
    );
    ok(s.simforge(&["report"]));
    let html = std::fs::read_to_string(s.path().join(".simforge/reports/gmorris.html")).unwrap();
    assert!(html.contains("Morris effects on y"), "no Morris chart");
}

#[test]
fn morris_groups_rank_groups_of_sobol_g_inputs() {
    // Sobol G, a = [0, 1, 4.5, 9, 99, 99, 99, 99] in groups {lead: x1},
    // {second: x2}, {minor: x3, x4}, {inert: x5..x8}: μ* must rank the groups
    // in that order (total indices 0.79, 0.24, ~0.045, ~0). 60 trajectories of
    // 4 + 1 points (300 runs instead of 540 ungrouped).
    let s = Scratch::new();
    let params: String = (1..=8)
        .map(|i| format!("  x{i}: {{range: [0, 1]}}\n"))
        .collect();
    s.write(
        "study.yaml",
        &format!(
            "name: groups\nsimulator: {{builtin: analytic, options: {{function: sobol_g, a: [0, 1, 4.5, 9, 99, 99, 99, 99]}}}}\n\
             parameters:\n{params}design: {{sampler: morris, samples: 60, levels: 4, seed: 3,\n  \
             groups: {{lead: [x1], second: [x2], minor: [x3, x4], inert: [x5, x6, x7, x8]}}}}\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let status = ok(s.simforge(&["status"]));
    assert!(status.contains("300 runs planned"), "{status}");
    let v = indices(&s);
    assert_eq!(
        v["names"],
        serde_json::json!(["lead", "second", "minor", "inert"])
    );
    let mu_star: Vec<f64> = (0..4).map(|i| v["mu_star"][i].as_f64().unwrap()).collect();
    for i in 0..3 {
        assert!(mu_star[i] > mu_star[i + 1], "{mu_star:?}");
    }
    // A parameter in no group, or in two, is an error naming the field.
    s.write(
        "bad.yaml",
        "name: bad\nsimulator: {builtin: analytic, options: {function: sobol_g, a: [0, 1, 2]}}\n\
         parameters: {x1: {range: [0, 1]}, x2: {range: [0, 1]}, x3: {range: [0, 1]}}\n\
         design: {sampler: morris, samples: 4, groups: {a: [x1, x2], b: [x2, x9]}}\n",
    );
    let out = s.simforge(&["check", "bad.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let err = stderr(&out);
    assert!(err.contains("design.groups"), "{err}");
    assert!(err.contains("`x2` is in more than one group"), "{err}");
    assert!(err.contains("`x9` is not a sampled parameter"), "{err}");
    assert!(err.contains("no group holds x3"), "{err}");
}

#[test]
fn rank_measures_of_a_monotone_model_from_a_real_lhs_study() {
    // Borehole is monotone in its inputs; with 400 LHS points the rank
    // regression explains most of the variance (R² > 0.9), and the known
    // dominant input rw (well radius) has the largest |SRRC| (Morris &
    // Mitchell 1993 rank rw first).
    let s = Scratch::new();
    let params: String = [
        ("rw", "0.05", "0.15"),
        ("r", "100", "50000"),
        ("Tu", "63070", "115600"),
        ("Hu", "990", "1110"),
        ("Tl", "63.1", "116"),
        ("Hl", "700", "820"),
        ("L", "1120", "1680"),
        ("Kw", "9855", "12045"),
    ]
    .iter()
    .map(|(n, lo, hi)| format!("  {n}: {{range: [{lo}, {hi}]}}\n"))
    .collect();
    s.write(
        "study.yaml",
        &format!(
            "name: bh\nsimulator: {{builtin: analytic, options: {{function: borehole}}}}\n\
             parameters:\n{params}design: {{sampler: lhs, samples: 400, seed: 9}}\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let v = indices(&s);
    assert!(v["r2"].as_f64().unwrap() > 0.9, "{v}");
    let srrc: Vec<f64> = (0..8)
        .map(|i| v["srrc"][i].as_f64().unwrap().abs())
        .collect();
    let top = (0..8).max_by(|&a, &b| srrc[a].total_cmp(&srrc[b])).unwrap();
    assert_eq!(v["names"][top], "rw", "{srrc:?}");
}

#[test]
fn a_surrogate_recovers_what_rank_measures_miss_on_a_real_lhs_study() {
    // Ishigami on 150 LHS points: x2 acts through sin², which is not monotone,
    // so its rank measures are near 0 and the rank regression warns; Sobol'
    // indices on the GP surrogate find S1(x2) ≈ 0.44. Reference S1 = 0.3139,
    // 0.4424, 0; ST = 0.5576, 0.4424, 0.2437; tolerance 0.1 (150 points).
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "name: ishilhs\nsimulator: {{builtin: analytic, options: {{function: ishigami}}}}\n\
             parameters:\n  x1: {{range: [-{PI}, {PI}]}}\n  x2: {{range: [-{PI}, {PI}]}}\n  x3: {{range: [-{PI}, {PI}]}}\n\
             design: {{sampler: lhs, samples: 150, seed: 3}}\n"
        ),
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let table = ok(s.simforge(&["analyze", "sensitivity"]));
    assert!(table.contains("warning: R² below 0.7"), "{table}");
    assert!(
        table.contains("Gaussian-process surrogate (150 points"),
        "{table}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&ok(s.simforge(&["analyze", "sensitivity", "--json"]))).unwrap();
    assert!(
        v["srrc"][1].as_f64().unwrap().abs() < 0.2,
        "rank measures miss x2: {v}"
    );
    let gp = &v["surrogate"];
    assert!(gp["cv_r2"].as_f64().unwrap() > 0.8, "{gp}");
    let (s1, st) = ([0.3139, 0.4424, 0.0], [0.5576, 0.4424, 0.2437]);
    for i in 0..3 {
        let (a, b) = (
            gp["sobol"]["s1"][i].as_f64().unwrap(),
            gp["sobol"]["st"][i].as_f64().unwrap(),
        );
        assert!((a - s1[i]).abs() < 0.1 && (b - st[i]).abs() < 0.1, "{gp}");
    }
}

#[test]
fn predict_evaluates_the_surrogate_and_checks_the_point() {
    // Branin on 60 LHS points: the GP mean at a fresh point lies within three
    // standard deviations (and 1.0 absolute) of the true value; Branin(2.5, 7.5)
    // = (7.5 − 5.1·2.5²/(4π²) + 5·2.5/π − 6)² + 10(1 − 1/(8π))cos(2.5) + 10.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: br\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\n\
         design: {sampler: lhs, samples: 60, seed: 4}\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let pi = std::f64::consts::PI;
    let (x1, x2) = (2.5f64, 7.5f64);
    let truth = (x2 - 5.1 * x1 * x1 / (4.0 * pi * pi) + 5.0 * x1 / pi - 6.0).powi(2)
        + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * x1.cos()
        + 10.0;
    let out = ok(s.simforge(&["predict", "--at", "x1=2.5,x2=7.5"]));
    let nums: Vec<f64> = out
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter_map(|w| w.parse::<f64>().ok())
        .collect();
    // "y at x1=2.5, x2=7.5: MEAN ± SD (... 60 succeeded runs)"
    let (mean, sd) = (nums[0], nums[1]);
    assert!(
        sd > 0.0 && (mean - truth).abs() < (3.0 * sd).max(1.0),
        "{out} (truth {truth})"
    );
    assert!(out.contains("fitted to 60 succeeded runs"), "{out}");
    let err = stderr(&s.simforge(&["predict", "--at", "x1=2.5,x3=1"]));
    assert!(
        err.contains("`x3`") && err.contains("(parameters: x1, x2)"),
        "{err}"
    );
    let err = stderr(&s.simforge(&["predict", "--at", "x1=2.5"]));
    assert!(err.contains("missing `x2`"), "{err}");
}
