//! `simforge optimize` end to end: real studies on the `analytic` builtin and
//! on command simulators, through the store and the local executor.

mod common;
use common::*;

/// The `best:` line's value.
fn best_value(out: &str) -> f64 {
    let line = out
        .lines()
        .find(|l| l.starts_with("best:"))
        .unwrap_or_else(|| panic!("no best line in\n{out}"));
    let after = line.split(" = ").nth(1).expect("a value");
    after.split_whitespace().next().unwrap().parse().unwrap()
}

fn sql_i64(db: &std::path::Path, sql: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

const BRANIN: &str = "name: branin\nsimulator: {builtin: analytic, options: {function: branin}}\n\
    parameters:\n  x1: {range: [-5, 10]}\n  x2: {range: [0, 15]}\n\
    design: {sampler: lhs, samples: 8, seed: 1}\nmetrics: [y]\nobjective: {minimize: y}\n";

#[test]
fn branin_reaches_its_minimum_and_resumes_without_repeating_runs() {
    // Branin's minimum is 0.397887 (three global minima). 8 LHS points plus
    // batches of 2 to 30 runs; typical best 0.3979. Tolerance 0.02.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!("{BRANIN}optimize: {{budget: 20, batch: 2}}\n"),
    );
    let out = ok(s.simforge(&["optimize", "study.yaml"]));
    assert!(out.contains("stopped: the run budget is spent"), "{out}");
    assert!(out.contains("iteration   6: +2 points, 20 runs"), "{out}");
    let first = best_value(&out);
    let db = s.store_db();
    assert_eq!(sql_i64(&db, "SELECT count(*) FROM runs"), 20);
    // A bigger budget continues from the store: 10 more runs, none repeated.
    s.write(
        "study.yaml",
        &format!("{BRANIN}optimize: {{budget: 30, batch: 2}}\n"),
    );
    let out = ok(s.simforge(&["optimize", "study.yaml"]));
    assert!(
        out.contains("30 runs in the loop (12 from earlier invocations)"),
        "{out}"
    );
    assert_eq!(sql_i64(&db, "SELECT count(*) FROM runs"), 30);
    assert_eq!(
        sql_i64(&db, "SELECT count(*) FROM attempts"),
        30,
        "every run executed exactly once"
    );
    let best = best_value(&out);
    assert!(best <= first, "{best} > {first}");
    assert!((best - 0.397887).abs() < 0.02, "best {best}\n{out}");
    // The proposals are ordinary runs of the study: status counts them.
    let status = ok(s.simforge(&["status", "branin"]));
    assert!(status.contains("30 runs planned"), "{status}");
    // Nothing left to do: a third invocation runs nothing.
    let out = ok(s.simforge(&["optimize", "study.yaml"]));
    assert!(!out.contains("iteration"), "{out}");
    assert_eq!(sql_i64(&db, "SELECT count(*) FROM attempts"), 30);
    // The report shows the convergence curve.
    let html = std::fs::read_to_string(s.path().join(".simforge/reports/branin.html")).unwrap();
    assert!(
        html.contains("<h2>Convergence</h2>"),
        "no convergence section"
    );
}

#[test]
fn a_killed_loop_resumes_and_finishes_its_budget() {
    // A slow command simulator; the loop is killed (SIGKILL, no clean-up)
    // mid-way and started again: it must reach its budget with every run
    // succeeded exactly once.
    let s = Scratch::new();
    s.script(
        "sim.sh",
        "sleep 0.4\nawk -v x=\"$1\" 'BEGIN { printf \"y=%.10g\\n\", (x - 0.3)^2 }'",
    );
    s.write(
        "study.yaml",
        "name: slow\nsimulator: {command: [\"./sim.sh\", \"{{ x }}\"], outputs: {keyvalue: stdout}}\n\
         parameters: {x: {range: [0, 1]}}\ndesign: {sampler: lhs, samples: 4, seed: 2}\nmetrics: [y]\n\
         objective: {minimize: y}\noptimize: {budget: 14, batch: 2}\n",
    );
    let mut child = bin()
        .current_dir(s.path())
        .args(["optimize", "study.yaml", "--jobs", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let db = s.store_db();
    let before = sql_i64(&db, "SELECT count(*) FROM runs WHERE state = 'succeeded'");
    assert!(
        (4..14).contains(&before),
        "{before} runs done before the kill"
    );
    let out = ok(s.simforge(&["optimize", "study.yaml", "--jobs", "2"]));
    assert!(out.contains("stopped: the run budget is spent"), "{out}");
    assert_eq!(
        sql_i64(&db, "SELECT count(*) FROM runs WHERE state = 'succeeded'"),
        14
    );
    assert_eq!(
        sql_i64(
            &db,
            "SELECT count(*) FROM (SELECT run_id FROM attempts WHERE state = 'succeeded' GROUP BY run_id HAVING count(*) > 1)"
        ),
        0,
        "a finished run was executed again"
    );
}

#[test]
fn constraints_failures_and_a_mixed_space() {
    // y = offset(kind) + (x − 0.3)² + ((n − 7)/10)², offsets a: 1, b: 0, c: 2;
    // the run fails for x > 0.85; constraint c = x + n/10 <= 0.9. The
    // constrained optimum is 0.01 (kind b with n = 6, x = 0.3 or n = 7,
    // x = 0.2). Tolerance: best feasible below 0.05, kind b.
    let s = Scratch::new();
    s.script(
        "sim.sh",
        "awk -v x=\"$1\" -v n=\"$2\" -v k=\"$3\" 'BEGIN {\n\
           if (x > 0.85) exit 3\n\
           off = (k == \"b\") ? 0 : ((k == \"a\") ? 1 : 2)\n\
           printf \"y=%.10g\\nc=%.10g\\n\", off + (x - 0.3)^2 + ((n - 7) / 10)^2, x + n / 10\n\
         }'",
    );
    s.write(
        "study.yaml",
        "name: mixed\nsimulator: {command: [\"./sim.sh\", \"{{ x }}\", \"{{ n }}\", \"{{ kind }}\"], outputs: {keyvalue: stdout}}\n\
         parameters:\n  x: {range: [0, 1]}\n  n: {range: [0, 10], type: integer}\n  kind: {choice: [a, b, c]}\n\
         design: {sampler: lhs, samples: 10, seed: 4}\nmetrics: [y, c]\n\
         objective: {minimize: y, constraints: [\"c <= 0.9\"]}\noptimize: {budget: 40, batch: 2}\n",
    );
    let out = ok(s.simforge(&["optimize", "study.yaml", "--no-report"]));
    assert!(out.contains("subject to c <= 0.9"), "{out}");
    let best = best_value(&out);
    assert!(best < 0.05, "best {best}\n{out}");
    let line = out.lines().find(|l| l.starts_with("best:")).unwrap();
    assert!(line.contains("kind=\"b\""), "{line}");
    let param = |name: &str| -> f64 {
        let after = line.split(&format!("{name}=")).nth(1).unwrap();
        after.split([',', ')']).next().unwrap().parse().unwrap()
    };
    let (n, x) = (param("n"), param("x"));
    assert_eq!(n.fract(), 0.0, "n must stay an integer: {line}");
    assert!(x + n / 10.0 <= 0.9 + 1e-9, "infeasible best: {line}");
    // Failed runs were recorded as such, and the loop still finished.
    let db = s.store_db();
    assert_eq!(sql_i64(&db, "SELECT count(*) FROM runs"), 40);
    let failed = sql_i64(&db, "SELECT count(*) FROM runs WHERE state = 'failed'");
    assert!(failed < 10, "{failed} of 40 runs failed\n{out}");
}

#[test]
fn active_learning_reports_the_surrogate_accuracy() {
    // Integrated-variance active learning of Branin: 8 LHS points + 22 chosen;
    // cross-validated R² of the GP surrogate typically 0.99. Floor 0.9.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "{}optimize: {{mode: active_learning, criterion: integrated_variance, budget: 30, batch: 2}}\n",
            BRANIN.replace("objective: {minimize: y}\n", "")
        )
        .replace("optimize: {mode", "optimize: {metric: y, mode"),
    );
    let out = ok(s.simforge(&["optimize", "study.yaml", "--no-report"]));
    assert!(out.contains("learning a surrogate of `y`"), "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("surrogate of `y`"))
        .unwrap_or_else(|| panic!("{out}"));
    let r2: f64 = line
        .split("R² ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r2 > 0.9, "{line}");
    // The fitted surrogate is what `simforge predict` evaluates.
    let p = ok(s.simforge(&["predict", "branin", "--at", "x1=3.14159,x2=2.275"]));
    assert!(p.contains("y"), "{p}");
}

#[test]
fn patience_and_max_time_stop_the_loop() {
    // A flat objective never improves: with patience 2 and batches of 1 the
    // loop stops after the 4 initial points and 2 proposals.
    let s = Scratch::new();
    s.script("sim.sh", "echo y=1");
    let study = |extra: &str| {
        format!(
            "name: flat\nsimulator: {{command: [\"./sim.sh\", \"{{{{ x }}}}\"], outputs: {{keyvalue: stdout}}}}\n\
             parameters: {{x: {{range: [0, 1]}}}}\ndesign: {{sampler: lhs, samples: 4, seed: 1}}\nmetrics: [y]\n\
             objective: {{minimize: y}}\noptimize: {{budget: 50, batch: 1, {extra}}}\n"
        )
    };
    s.write("study.yaml", &study("patience: 2"));
    let out = ok(s.simforge(&["optimize", "study.yaml", "--no-report"]));
    assert!(
        out.contains("stopped: no improvement in 2 iterations"),
        "{out}"
    );
    assert!(out.contains("6 runs in the loop"), "{out}");
    // max_time: the first check after the initial design is already late.
    let t = Scratch::new();
    t.script("sim.sh", "sleep 0.2; echo y=$1");
    t.write(
        "study.yaml",
        &study("max_time: 100ms").replace("flat", "timed"),
    );
    let out = ok(t.simforge(&["optimize", "study.yaml", "--no-report"]));
    assert!(out.contains("stopped: max_time passed"), "{out}");
    assert!(out.contains("4 runs in the loop"), "{out}");
}

#[test]
fn bad_adaptive_settings_are_clear_errors() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &BRANIN.replace(
            "objective: {minimize: y}",
            "objective: {minimize: y, constraints: [\"y ~ 3\"]}\noptimize: {acquisition: thompson}",
        ),
    );
    let out = s.simforge(&["optimize", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("study.yaml:"), "{err}");
    assert!(err.contains("has no comparison"), "{err}");
    assert!(err.contains("METRIC <= NUMBER"), "{err}");
    assert!(
        err.contains("unknown acquisition function `thompson`"),
        "{err}"
    );
    // A study without objective: nothing to optimise, with a hint.
    s.write(
        "plain.yaml",
        &BRANIN
            .replace("objective: {minimize: y}\n", "")
            .replace("name: branin", "name: plain"),
    );
    let out = s.simforge(&["optimize", "plain.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("nothing to optimise"),
        "{}",
        stderr(&out)
    );
    assert!(
        !s.store_db().exists(),
        "a refused study must not create a store"
    );
}
