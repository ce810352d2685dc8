//! `simforge run` end to end on the embedded default: plan, execute, store,
//! export, report; and resume semantics (only missing or new points run).

mod common;
use common::*;

/// A command simulator that counts its executions and reports y = 2x + k.
fn counting_study(s: &Scratch, design: &str) -> std::path::PathBuf {
    s.script(
        "sim.sh",
        "echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/counter\"\necho \"y=$(awk \"BEGIN{print 2*$SIMFORGE_PARAM_X + $2}\")\"",
    );
    s.write(
        "study.yaml",
        &format!(
            "name: count\nsimulator:\n  command: [\"./sim.sh\", \"{{{{ x }}}}\", \"{{{{ k }}}}\"]\n  outputs: {{keyvalue: stdout}}\nparameters:\n  x: {{range: [0, 1]}}\n  k: 3\n{design}\nmetrics: [y]\n"
        ),
    )
}

fn counter_lines(s: &Scratch) -> Vec<String> {
    std::fs::read_to_string(s.path().join("counter"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn runs_exports_and_resumes() {
    let s = Scratch::new();
    counting_study(&s, "design: {sampler: sobol, samples: 8, seed: 1}");
    let out = ok(s.simforge(&["run", "study.yaml", "--jobs", "2"]));
    assert!(out.contains("8 runs planned (8 new)"), "{out}");
    assert!(out.contains("8 succeeded"), "{out}");
    assert!(out.contains("report:"), "{out}");
    assert_eq!(counter_lines(&s).len(), 8);
    assert_eq!(state_counts(&s.store_db()).get("succeeded"), Some(&8));

    // Results: one row per run with parameters and metrics; y = 2x + 3.
    let json = ok(s.simforge(&["results", "--format", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("results JSON");
    assert_eq!(rows.len(), 8);
    for r in &rows {
        let (x, y) = (r["x"].as_f64().unwrap(), r["y"].as_f64().unwrap());
        assert!((y - (2.0 * x + 3.0)).abs() < 1e-4, "{r}");
        assert_eq!(r["state"], "succeeded");
        assert_eq!(r["k"], 3);
        assert!(r["host"].is_string() && r["spec_hash"].is_string() && r["duration_s"].is_number());
    }
    let csv = ok(s.simforge(&["results", "--format", "csv"]));
    assert_eq!(csv.lines().count(), 9);
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .starts_with("run_id,index,tag,replicate,seed,state,attempts,x,k,y")
    );
    ok(s.simforge(&["results", "--format", "parquet", "-o", "out.parquet"]));
    let file = std::fs::File::open(s.path().join("out.parquet")).unwrap();
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(file).expect("valid parquet");
    use parquet::file::reader::FileReader;
    assert_eq!(reader.metadata().file_metadata().num_rows(), 8);

    // The report is self-contained HTML with plots.
    let html = std::fs::read_to_string(s.path().join(".simforge/reports/count.html")).unwrap();
    assert!(html.contains("<svg"), "report has SVG plots");
    assert!(!html.contains("<script src"), "no external scripts");

    // Status, runs, logs.
    let st = ok(s.simforge(&["status"]));
    assert!(st.contains("succeeded") && st.contains("100.0%"), "{st}");
    let id = rows[0]["run_id"].as_str().unwrap().to_string();
    let runs = ok(s.simforge(&["runs", "--state", "succeeded"]));
    assert!(runs.contains(&id), "{runs}");
    let logs = ok(s.simforge(&["logs", &id[..8]]));
    assert!(logs.contains("y="), "{logs}");
    assert!(logs.contains("attempt 1: succeeded"), "{logs}");

    // Re-running does nothing.
    let again = ok(s.simforge(&["run", "study.yaml"]));
    assert!(again.contains("executed 0 runs"), "{again}");
    assert_eq!(counter_lines(&s).len(), 8);

    // Adding samples runs only the new points (a Sobol' prefix is stable).
    counting_study(&s, "design: {sampler: sobol, samples: 12, seed: 1}");
    let more = ok(s.simforge(&["run", "study.yaml"]));
    assert!(more.contains("12 runs planned (4 new)"), "{more}");
    assert!(more.contains("executed 4 runs"), "{more}");
    let lines = counter_lines(&s);
    assert_eq!(lines.len(), 12);
    let unique: std::collections::HashSet<_> = lines.iter().collect();
    assert_eq!(unique.len(), 12, "no run executed twice");
}

#[test]
fn widening_a_grid_runs_only_new_points() {
    let s = Scratch::new();
    counting_study(&s, "design: {sampler: grid}");
    let study = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &study.replace("x: {range: [0, 1]}", "x: {range: [0, 1], step: 0.25}"),
    );
    assert!(ok(s.simforge(&["run", "study.yaml"])).contains("5 runs planned (5 new)"));
    s.write(
        "study.yaml",
        &study.replace("x: {range: [0, 1]}", "x: {range: [0, 2], step: 0.25}"),
    );
    let out = ok(s.simforge(&["run", "study.yaml"]));
    assert!(out.contains("9 runs planned (4 new)"), "{out}");
    assert!(out.contains("executed 4 runs"), "{out}");
    assert_eq!(counter_lines(&s).len(), 9);
    // Narrowing hides runs that left the plan from status and results.
    s.write(
        "study.yaml",
        &study.replace("x: {range: [0, 1]}", "x: {range: [0, 0.5], step: 0.25}"),
    );
    assert!(ok(s.simforge(&["run", "study.yaml"])).contains("executed 0 runs"));
    let csv = ok(s.simforge(&["results"]));
    assert_eq!(csv.lines().count(), 4, "{csv}");
}

#[test]
fn replicates_get_distinct_seeds() {
    let s = Scratch::new();
    s.script("sim.sh", "echo \"seed=$SIMFORGE_SEED\"");
    s.write(
        "study.yaml",
        "name: reps\nsimulator: {command: [\"./sim.sh\"], outputs: {keyvalue: stdout}}\nparameters: {x: {values: [1, 2]}}\ndesign: {sampler: grid, replicates: 3, seed: 5}\nmetrics: [seed]\n",
    );
    ok(s.simforge(&["run", "study.yaml"]));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(s.simforge(&["results", "--format", "json"]))).unwrap();
    assert_eq!(rows.len(), 6);
    let seeds: std::collections::HashSet<i64> =
        rows.iter().map(|r| r["seed"].as_i64().unwrap()).collect();
    assert_eq!(
        seeds.len(),
        6,
        "every replicate of every point has its own seed"
    );
    for r in &rows {
        assert_eq!(
            r["metric.seed"], r["seed"],
            "the simulator saw the run's seed"
        );
    }
}

#[test]
fn builtin_quickstart_matches_the_formula() {
    let s = Scratch::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart/study.yaml"
    ))
    .unwrap();
    s.write("study.yaml", &text);
    let out = ok(s.simforge(&["run", "study.yaml", "--no-report"]));
    assert!(out.contains("512 succeeded"), "{out}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(s.simforge(&["results", "--format", "json"]))).unwrap();
    assert_eq!(rows.len(), 512);
    for r in rows.iter().take(20) {
        let x: Vec<f64> = ["x1", "x2", "x3"]
            .iter()
            .map(|k| r[*k].as_f64().unwrap())
            .collect();
        // Ishigami with a = 7, b = 0.1 (Ishigami & Homma 1990).
        let expect = x[0].sin() + 7.0 * x[1].sin().powi(2) + 0.1 * x[2].powi(4) * x[0].sin();
        assert!((r["y"].as_f64().unwrap() - expect).abs() < 1e-12, "{r}");
    }
}

#[test]
fn json_logs_on_request() {
    let s = Scratch::new();
    counting_study(&s, "design: {sampler: random, samples: 3}");
    let out = s.simforge(&[
        "-v",
        "--log-format",
        "json",
        "run",
        "study.yaml",
        "--no-report",
        "--progress",
        "none",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "plan stored" && l["fields"]["planned"] == 3),
        "{lines:?}"
    );
}

#[test]
fn plain_progress_lines_when_asked() {
    let s = Scratch::new();
    counting_study(&s, "design: {sampler: random, samples: 4}");
    let out = s.simforge(&["run", "study.yaml", "--no-report", "--progress", "plain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("progress: 4/4 runs (ok 4 failed 0 timed out 0)"),
        "{err}"
    );
    assert!(err.contains("runs/s"), "{err}");
}

/// Copies an example directory into a scratch directory.
fn copy_example(s: &Scratch, name: &str) {
    let src =
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples")).join(name);
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), s.path().join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn projectile_example_renders_inputs_and_matches_the_drag_free_range() {
    let s = Scratch::new();
    copy_example(&s, "projectile");
    let out = ok(s.simforge(&["run", "study.yaml", "--no-report"]));
    assert!(out.contains("75 succeeded"), "{out}");
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(s.simforge(&["results", "--format", "json"]))).unwrap();
    assert_eq!(rows.len(), 75);
    // The rendered input file is in the run directory.
    let id = rows[0]["run_id"].as_str().unwrap();
    let cfg = std::fs::read_to_string(
        s.path()
            .join(".simforge/runs/projectile")
            .join(id)
            .join("input.cfg"),
    )
    .unwrap();
    assert!(
        cfg.contains(&format!("speed={}", rows[0]["speed"])),
        "{cfg}"
    );
    // `simforge artifacts` lists the run's files and copies them out.
    let listed = ok(s.simforge(&["artifacts", &id[..12], "-o", "out"]));
    let names: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split('\t').next())
        .collect();
    assert_eq!(names, ["input.cfg", "metrics.json"], "{listed}");
    assert_eq!(
        std::fs::read_to_string(s.path().join("out/input.cfg")).unwrap(),
        cfg
    );
    for r in rows.iter().filter(|r| r["drag"] == 0.0) {
        // Without drag the range is v² sin 2θ / g; explicit Euler with dt = 1 ms
        // stays within 1 % of it over these speeds and angles.
        let (v, theta) = (
            r["speed"].as_f64().unwrap(),
            r["angle"].as_f64().unwrap().to_radians(),
        );
        let exact = v * v * (2.0 * theta).sin() / 9.81;
        let got = r["range"].as_f64().unwrap();
        assert!((got - exact).abs() / exact < 0.01, "{r}: {got} vs {exact}");
    }
    // Drag shortens every flight.
    let range = |drag: f64, v: f64, a: f64| {
        rows.iter()
            .find(|r| r["drag"] == drag && r["speed"] == v && r["angle"] == a)
            .and_then(|r| r["range"].as_f64())
            .unwrap()
    };
    assert!(range(0.1, 50.0, 45.0) < range(0.0, 50.0, 45.0));
}

#[test]
fn shell_commands_and_output_files() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: sh\nsimulator:\n  shell: true\n  command: \"echo x={{ x }} > out.txt; echo 'a,b' > t.csv; echo \\\"1,{{ x }}\\\" >> t.csv\"\n  outputs: {keyvalue: out.txt, csv: t.csv}\nparameters: {x: {values: [2, 3]}}\ndesign: {sampler: grid}\nmetrics: [x, b]\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--no-report"]));
    let rows: Vec<serde_json::Value> =
        serde_json::from_str(&ok(s.simforge(&["results", "--format", "json"]))).unwrap();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert_eq!(r["metric.x"], r["x"], "{r}");
        assert_eq!(r["b"], r["x"], "{r}");
    }
}
