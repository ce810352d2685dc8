//! Tests across the PDE builtins: registration, options, parameter errors,
//! scheduling limits, blow-up reporting, noise and the output layout.

use serde_json::json;

use super::testutil::{metric, read_npz, run_err, run_in, run_ok};
use super::{NAMES, builtin};
use crate::SimError;

/// Small, fast settings per PDE.
fn small(name: &str) -> serde_json::Value {
    match name {
        "reaction_diffusion" => json!({"nx": 16, "ny": 16, "t_end": 1.0, "snapshots": 3}),
        "kuramoto_sivashinsky" => json!({"nx": 64, "t_end": 5.0, "snapshots": 3}),
        _ => json!({"nx": 64, "t_end": 1.0, "snapshots": 3}),
    }
}

/// Every name builds, declares optional parameters with bounds, and a run
/// returns every declared metric, `data.npz` and `meta.json`.
#[test]
fn every_pde_runs_and_reports_its_metrics() {
    assert!(builtin("analytic", &serde_json::Map::new()).is_none());
    for name in NAMES {
        let sim = builtin(name, &serde_json::Map::new())
            .expect("a PDE")
            .expect("builds");
        assert!(sim.identity().starts_with(&format!("pde/{name}(")));
        let decls = sim.parameters();
        assert!(
            decls
                .iter()
                .all(|d| !d.required && !d.description.is_empty())
        );
        for p in ["t_end", "snapshots", "dt", "noise", "noise_seed", "nx"] {
            assert!(decls.iter().any(|d| d.name == p), "{name} lacks {p}");
        }
        let (out, dir) = run_in(name, json!({}), small(name), 3);
        let out = out.unwrap_or_else(|e| panic!("{name}: {e}"));
        for m in sim.metrics() {
            assert!(out.metrics.contains_key(&m), "{name} lacks metric {m}");
        }
        assert_eq!(out.artifacts, vec!["data.npz", "meta.json"]);
        let arrays = read_npz(&dir.path().join("data.npz"));
        assert_eq!(
            arrays["t"].1,
            vec![
                0.0,
                small(name)["t_end"].as_f64().unwrap() / 2.0,
                small(name)["t_end"].as_f64().unwrap()
            ]
        );
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("meta.json")).unwrap())
                .unwrap();
        assert_eq!(meta["pde"], json!(name));
        assert_eq!(meta["steps"].as_f64(), Some(metric(&out, "steps")));
    }
}

/// The PDE-FIND Burgers data set by default: x on [−8, 8) with 256 points,
/// t = 0, 0.1, …, 10, u of shape [101, 256], u₀ = exp(−(x + 2)²).
#[test]
fn burgers_defaults_are_the_pde_find_dataset() {
    let (out, data) = run_ok("burgers", json!({}), json!({}));
    assert_eq!(data["u"].0, vec![101, 256]);
    assert_eq!(data["x"].1[0], -8.0);
    assert!((data["x"].1[255] - (8.0 - 16.0 / 256.0)).abs() < 1e-12);
    assert!((data["t"].1[100] - 10.0).abs() < 1e-12 && (data["t"].1[1] - 0.1).abs() < 1e-12);
    for (x, u) in data["x"].1.iter().zip(&data["u"].1[..256]) {
        assert!((u - (-(x + 2.0f64).powi(2)).exp()).abs() < 1e-12);
    }
    assert!(metric(&out, "mass_drift") < 1e-13);
    assert!(
        metric(&out, "spectral_tail") < 1e-8,
        "{}",
        metric(&out, "spectral_tail")
    );
    assert!(!data.contains_key("y") && !data.contains_key("v"));
}

#[test]
fn unknown_and_malformed_options_are_bad_options() {
    let err = |name: &str, opts: serde_json::Value| match builtin(name, opts.as_object().unwrap()) {
        Some(Err(e)) => e,
        Some(Ok(_)) => panic!("{opts} accepted"),
        None => panic!("not a PDE"),
    };
    let e = err("burgers", json!({"dealais": true}));
    assert!(
        matches!(&e, SimError::BadOption { option, message } if option == "dealais"
            && message.contains("dealias") && message.contains("max_steps")),
        "{e}"
    );
    // heat is linear: nothing to dealias.
    assert!(
        matches!(err("heat", json!({"dealias": false})), SimError::BadOption { option, .. } if option == "dealias")
    );
    assert!(
        matches!(err("kdv", json!({"dealias": "yes"})), SimError::BadOption { option, .. } if option == "dealias")
    );
    assert!(
        matches!(err("kdv", json!({"max_steps": 0})), SimError::BadOption { option, .. } if option == "max_steps")
    );
    assert!(matches!(
        err("kdv", json!({"max_steps": 1.5})),
        SimError::BadOption { .. }
    ));
    // Options that change results change the identity; max_steps does not.
    let id = |opts: serde_json::Value| {
        builtin("kdv", opts.as_object().unwrap())
            .unwrap()
            .unwrap()
            .identity()
    };
    assert_eq!(id(json!({})), "pde/kdv(dealias=true,save_clean=false)");
    assert_ne!(id(json!({})), id(json!({"dealias": false})));
    assert_ne!(id(json!({})), id(json!({"save_clean": true})));
    assert_eq!(id(json!({})), id(json!({"max_steps": 10})));
}

fn bad_param(e: &SimError) -> (&str, &str) {
    match e {
        SimError::BadParam { param, message } => (param, message),
        other => panic!("expected BadParam, got {other:?}"),
    }
}

#[test]
fn bad_parameters_are_named() {
    let cases = [
        ("burgers", json!({"nu": -1.0}), "nu", "outside"),
        ("burgers", json!({"nu": "0.1"}), "nu", "number"),
        ("burgers", json!({"nx": 100.5}), "nx", "whole"),
        ("burgers", json!({"nx": 101}), "nx", "even"),
        ("burgers", json!({"nx": 4}), "nx", "outside"),
        (
            "burgers",
            json!({"Nu": 0.1}),
            "Nu",
            "unknown parameter of burgers",
        ),
        ("burgers", json!({"ic": "square"}), "ic", "gaussian, sine"),
        (
            "burgers",
            json!({"ic": "sine", "mode": 40, "nx": 64}),
            "mode",
            "grid points",
        ),
        ("burgers", json!({"t_end": 0.0}), "t_end", "(0,"),
        ("burgers", json!({"snapshots": 1}), "snapshots", "outside"),
        ("kdv", json!({"alpha": 0.0}), "alpha", "soliton"),
        ("kdv", json!({"beta": -1.0}), "beta", "outside"),
        ("heat", json!({"noise": 11.0}), "noise", "outside"),
        ("heat", json!({"noise_seed": -1}), "noise_seed", "outside"),
        ("reaction_diffusion", json!({"ny": 2000}), "ny", "outside"),
        ("kuramoto_sivashinsky", json!({"beta": 0.0}), "beta", "(0,"),
    ];
    for (name, params, param, text) in cases {
        let e = run_err(name, json!({}), params.clone());
        let (p, m) = bad_param(&e);
        assert_eq!(p, param, "{name} {params}: {e}");
        assert!(m.contains(text), "{name} {params}: {m}");
    }
    // Integers may come as floats and reals as integers.
    run_ok(
        "heat",
        json!({}),
        json!({"nx": 32.0, "alpha": 1, "snapshots": 2.0, "t_end": 1}),
    );
}

/// A snapshot interval shorter than the given dt would mean more snapshots
/// than steps; runs past `max_steps`, or data sets past 25 M values, are
/// refused before they start.
#[test]
fn schedules_that_cannot_work_are_refused() {
    let e = run_err(
        "burgers",
        json!({}),
        json!({"dt": 0.05, "t_end": 1.0, "snapshots": 101}),
    );
    let (p, m) = bad_param(&e);
    assert_eq!(p, "snapshots");
    assert!(m.contains("more snapshots than steps"), "{m}");
    let e = run_err(
        "burgers",
        json!({"max_steps": 1000}),
        json!({"dt": 0.001, "t_end": 10.0}),
    );
    let (p, m) = bad_param(&e);
    assert_eq!(p, "dt");
    assert!(
        m.contains("10000 steps") && m.contains("max_steps = 1000"),
        "{m}"
    );
    let e = run_err("burgers", json!({"max_steps": 100}), json!({}));
    assert_eq!(bad_param(&e).0, "t_end");
    let e = run_err("heat", json!({}), json!({"nx": 65536, "snapshots": 1000}));
    let (p, m) = bad_param(&e);
    assert_eq!(p, "snapshots");
    assert!(m.contains("more than the 25000000"), "{m}");
    // dt is shortened to fit the interval: 0.3 → 0.25 for an interval of 1.
    let (out, _) = run_ok(
        "burgers",
        json!({}),
        json!({"dt": 0.3, "t_end": 2.0, "snapshots": 3, "nx": 32}),
    );
    assert_eq!(metric(&out, "dt"), 0.25);
    assert_eq!(metric(&out, "steps"), 8.0);
}

/// Inviscid Burgers with a far too large step blows up; that is a `Failed`
/// with a message naming the PDE, the time and the remedy, not a panic.
#[test]
fn blow_up_is_a_clear_failure() {
    let e = run_err(
        "burgers",
        json!({}),
        json!({"nu": 0.0, "amplitude": 5.0, "dt": 1.0, "t_end": 10.0, "snapshots": 11}),
    );
    match e {
        SimError::Failed(m) => {
            assert!(m.starts_with("burgers blew up at t"), "{m}");
            assert!(m.contains("lower dt"), "{m}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// Noise: standard deviation = level × RMS of the clean field (checked on
/// 101 × 256 values: within 2 %, the sampling error being ≈ 0.4 %), mean
/// ≈ 0; the same seed gives the same file, another seed another; `noise_seed`
/// overrides the run's seed; the metrics come from the clean solution.
#[test]
fn noise_is_relative_seeded_and_only_on_the_written_data() {
    let params = json!({"noise": 0.1});
    let (clean_out, clean) = run_ok("burgers", json!({}), json!({}));
    let (noisy_out, dir) = run_in("burgers", json!({"save_clean": true}), params.clone(), 7);
    let noisy_out = noisy_out.unwrap();
    let noisy = read_npz(&dir.path().join("data.npz"));
    let (u, c) = (&noisy["u"].1, &clean["u"].1);
    assert_eq!(&noisy["u_clean"].1, c);
    let rms = (c.iter().map(|v| v * v).sum::<f64>() / c.len() as f64).sqrt();
    let diffs: Vec<f64> = u.iter().zip(c).map(|(a, b)| a - b).collect();
    let n = diffs.len() as f64;
    let mean = diffs.iter().sum::<f64>() / n;
    let sd = (diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!(
        (sd / (0.1 * rms) - 1.0).abs() < 0.02,
        "sd {sd} vs {}",
        0.1 * rms
    );
    assert!(mean.abs() < 4.0 * sd / n.sqrt(), "mean {mean}");
    assert!((metric(&noisy_out, "noise_sd") - 0.1 * rms).abs() < 1e-12);
    assert_eq!(metric(&clean_out, "noise_sd"), 0.0);
    for m in [
        "mass_start",
        "mass_end",
        "l2_end",
        "max_abs_final",
        "max_gradient_final",
    ] {
        assert_eq!(metric(&clean_out, m), metric(&noisy_out, m), "{m}");
    }
    let file = |seed: u64, params: serde_json::Value| {
        let (out, dir) = run_in("burgers", json!({}), params, seed);
        out.unwrap();
        std::fs::read(dir.path().join("data.npz")).unwrap()
    };
    assert_eq!(file(7, params.clone()), file(7, params.clone()));
    assert_ne!(file(7, params.clone()), file(8, params.clone()));
    let seeded = json!({"noise": 0.1, "noise_seed": 42});
    assert_eq!(file(7, seeded.clone()), file(8, seeded));
    // x and t are never noisy; without save_clean only u is written.
    let (_, dir) = run_in("burgers", json!({}), params, 7);
    let a = read_npz(&dir.path().join("data.npz"));
    assert_eq!(a["x"], clean["x"]);
    assert_eq!(a["t"], clean["t"]);
    assert!(!a.contains_key("u_clean"));
}

/// The `dealias` option changes results (it is in the identity for that
/// reason): without it, under-resolved inviscid Burgers piles energy into
/// aliased modes, with it the spectrum tail stays smaller.
#[test]
fn dealias_option_changes_results() {
    let params = json!({"nu": 0.0, "nx": 64, "t_end": 1.5, "snapshots": 4});
    let (on, _) = run_ok("burgers", json!({}), params.clone());
    let (off, _) = run_ok("burgers", json!({"dealias": false}), params);
    assert_ne!(metric(&on, "l2_end"), metric(&off, "l2_end"));
    // The dealiased Galerkin system conserves ∫u² exactly in time (up to the
    // ETDRK4 error); the aliased one does not.
    let drift = |o: &crate::RunOutput| (metric(o, "l2_end") / metric(o, "l2_start") - 1.0).abs();
    assert!(
        drift(&on) < drift(&off),
        "{} vs {}",
        drift(&on),
        drift(&off)
    );
}

/// `examples/pde/study.yaml` stays runnable: its builtin, options, parameter
/// names and metrics exist, and every point of its grid runs (quickly) with
/// a resolved spectrum.
#[test]
fn example_study_runs() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/pde/study.yaml");
    let text = std::fs::read_to_string(path).expect("example study");
    let study: serde_json::Value = serde_saphyr::from_str(&text).expect("YAML");
    let name = study["simulator"]["builtin"].as_str().expect("builtin");
    let options = study["simulator"]["options"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let sim = builtin(name, &options).expect("a PDE").expect("options");
    for m in study["metrics"].as_array().expect("metrics") {
        assert!(sim.metrics().iter().any(|s| m == s), "unknown metric {m}");
    }
    // Expand the grid: `values` lists are dimensions, scalars constants.
    let mut points = vec![serde_json::Map::new()];
    for (param, spec) in study["parameters"].as_object().expect("parameters") {
        let levels: Vec<serde_json::Value> = match spec.get("values") {
            Some(v) => v.as_array().expect("values").clone(),
            None => vec![spec.clone()],
        };
        points = points
            .into_iter()
            .flat_map(|p| {
                levels.iter().map(move |l| {
                    let mut p = p.clone();
                    p.insert(param.clone(), l.clone());
                    p
                })
            })
            .collect();
    }
    assert_eq!(points.len(), 9);
    for p in points {
        let (out, _) = run_ok(
            name,
            serde_json::Value::Object(options.clone()),
            serde_json::Value::Object(p.clone()),
        );
        assert!(metric(&out, "spectral_tail") < 1e-4, "{p:?}");
    }
}
