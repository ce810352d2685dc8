//! `simforge check` and bad input: every invalid study is rejected with
//! file:line:column, what was expected and a hint, exit code 2, and nothing written.

mod common;
use common::*;

const GOOD: &str = r#"name: demo
simulator:
  builtin: analytic
  options: {function: branin}
parameters:
  x1: {range: [-5, 10]}
  x2: {range: [0, 15]}
design:
  sampler: sobol
  samples: 16
"#;

/// Runs `simforge check` on `text` and returns stderr, asserting exit code 2 and
/// that no store was created.
fn rejected(text: &str) -> String {
    let s = Scratch::new();
    s.write("study.yaml", text);
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "stdout: {}\nstderr: {}",
        stdout(&out),
        stderr(&out)
    );
    let run = s.simforge(&["run", "study.yaml"]);
    assert_eq!(
        run.status.code(),
        Some(2),
        "run must reject it too: {}",
        stderr(&run)
    );
    assert!(
        !s.path().join(".simforge").exists(),
        "a rejected study must not create a store"
    );
    stderr(&out)
}

#[test]
fn a_good_study_passes() {
    let s = Scratch::new();
    s.write("study.yaml", GOOD);
    let out = ok(s.simforge(&["check", "study.yaml"]));
    assert!(out.contains("ok"), "{out}");
    assert!(out.contains("16 runs"), "{out}");
    assert!(!s.path().join(".simforge").exists(), "check writes nothing");
}

#[test]
fn unknown_key_gets_location_and_suggestion() {
    let err = rejected(&GOOD.replace("design:", "desing:"));
    assert!(err.contains("study.yaml:8:1"), "{err}");
    assert!(err.contains("unknown key `desing`"), "{err}");
    assert!(err.contains("did you mean `design`?"), "{err}");
}

#[test]
fn nested_unknown_key() {
    let err = rejected(&GOOD.replace("  samples: 16", "  sampels: 16"));
    assert!(err.contains("study.yaml:10:3"), "{err}");
    assert!(err.contains("did you mean `samples`?"), "{err}");
}

#[test]
fn wrong_type_names_the_field() {
    let err = rejected(&GOOD.replace("samples: 16", "samples: many"));
    assert!(err.contains("study.yaml:10:12"), "{err}");
    assert!(err.contains("design.samples"), "{err}");
    assert!(err.contains("expected"), "{err}");
}

#[test]
fn inverted_and_empty_ranges() {
    let err = rejected(&GOOD.replace("x2: {range: [0, 15]}", "x2: {range: [15, 0]}"));
    assert!(err.contains("study.yaml:7:15"), "{err}");
    assert!(err.contains("inverted"), "{err}");
    assert!(err.contains("hint: write [0, 15]"), "{err}");
    let err = rejected(&GOOD.replace("x2: {range: [0, 15]}", "x2: {range: [3, 3]}"));
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn unknown_sampler() {
    let err = rejected(&GOOD.replace("sampler: sobol", "sampler: sobl"));
    assert!(err.contains("study.yaml:9:12"), "{err}");
    assert!(err.contains("unknown value `sobl`"), "{err}");
    assert!(err.contains("did you mean `sobol`?"), "{err}");
}

#[test]
fn bad_template_variable() {
    let s = Scratch::new();
    s.script("sim.sh", "echo y=1");
    s.write(
        "study.yaml",
        "name: t\nsimulator:\n  command: [\"./sim.sh\", \"{{ speeed }}\"]\nparameters:\n  speed: {range: [1, 2]}\ndesign: {sampler: random, samples: 2}\n",
    );
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("study.yaml:3:25"), "{err}");
    assert!(err.contains("template variable `speeed`"), "{err}");
    assert!(err.contains("did you mean `speed`?"), "{err}");
}

#[test]
fn missing_executable() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: t\nsimulator:\n  command: [\"./solver\", \"{{ x }}\"]\nparameters:\n  x: {range: [1, 2]}\ndesign: {sampler: random, samples: 2}\n",
    );
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("study.yaml:3:13"), "{err}");
    assert!(err.contains("`./solver` does not exist"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    let s2 = Scratch::new();
    s2.write("study.yaml", "name: t\nsimulator: {command: [no-such-program-xyz]}\nparameters: {x: {range: [0, 1]}}\ndesign: {sampler: grid}\n");
    let err = stderr(&s2.simforge(&["check", "study.yaml"]));
    assert!(err.contains("not found on PATH"), "{err}");
}

#[test]
fn syntax_errors_and_other_shapes() {
    let err = rejected("name: t\nparameters: [1, 2\n");
    assert!(err.contains("study.yaml:"), "{err}");
    assert!(err.contains("not valid YAML"), "{err}");
    let err = rejected(&GOOD.replace("name: demo\n", ""));
    assert!(err.contains("missing required key `name`"), "{err}");
    let err = rejected(&GOOD.replace("samples: 16", "samples: 0"));
    assert!(err.contains("needs `samples`"), "{err}");
    let err = rejected(&GOOD.replace("{function: branin}", "{function: branin, nosie_sd: 1}"));
    assert!(err.contains("simulator.options"), "{err}");
    let err = rejected(&GOOD.replace("x1: {range: [-5, 10]}", "x1: {range: [-50, 10]}"));
    assert!(err.contains("leaves the simulator's domain"), "{err}");
    let err = rejected(&GOOD.replace("x2: {range: [0, 15]}", "x2: {range: [0, 15], scale: log}"));
    assert!(err.contains("log-scaled range must be positive"), "{err}");
}

#[test]
fn json_studies_are_accepted() {
    let s = Scratch::new();
    s.write(
        "study.json",
        r#"{"name": "j", "simulator": {"builtin": "analytic", "options": {"function": "branin"}},
            "parameters": {"x1": {"range": [-5, 10]}, "x2": {"range": [0, 15]}},
            "design": {"sampler": "lhs", "samples": 5, "maximin": true}}"#,
    );
    assert!(ok(s.simforge(&["check", "study.json"])).contains("5 runs"));
    s.write("bad.json", r#"{"name": "j", "simulator": {"builtin": "analytic"}, "parameters": {}, "design": {"sampler": "grid", "seeed": 1}}"#);
    let out = s.simforge(&["check", "bad.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.json:1:"), "{}", stderr(&out));
}

#[test]
fn schema_is_json_schema() {
    let s = Scratch::new();
    let out = ok(s.simforge(&["schema"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("schema is JSON");
    assert_eq!(v["title"], "StudySpec");
    assert!(v["properties"]["design"].is_object());
    assert_eq!(v["additionalProperties"], false);
}

#[test]
fn a_parameter_inside_another_parameter_is_rejected() {
    // `solver.tol` would be a path inside `solver`: templates could reach
    // only one of them.
    let err = rejected(
        "name: clash\nsimulator: {command: [echo]}\nparameters:\n  solver: {values: [1, 2]}\n  \
         solver.tol: {values: [0.1]}\n  x.1bad: {values: [1]}\ndesign: {sampler: grid}\n",
    );
    assert!(err.contains("study.yaml:5:"), "{err}");
    assert!(
        err.contains("parameter `solver.tol` lies inside parameter `solver`"),
        "{err}"
    );
    assert!(err.contains("invalid parameter name `x.1bad`"), "{err}");
}
