//! The `sysdesign` builtin end to end: a topology file swept by a study with
//! property-path parameters, `simforge sim` on its own, and errors that
//! point into the topology file.

mod common;
use common::*;

const SYSTEM: &str = "\
horizon: 200000
warmup: 10000
replications: 3
components:
  users: {type: source, arrivals: {process: poisson, rate: 150}, to: lb}
  lb: {type: load_balancer, policy: least_outstanding, targets: [api]}
  api:
    type: service
    replicas: 2
    concurrency: 2
    service_time: {dist: exponential, mean: 10}
    calls: [db]
    cost_per_hour: 0.5
  db: {type: database, pool: 8, query_time: {dist: lognormal, mean: 4, cv: 1}, cost_per_hour: 2}
";

fn sql_f64(db: &std::path::Path, sql: &str) -> Vec<f64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, f64>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_study_sweeps_replicas_by_property_path() {
    // 150 req/s at 10 ms of own work: 1.5 busy threads of api; with 2 replicas
    // × 2 threads the api is loaded at ~0.375 plus the time threads wait on the
    // database. More replicas must lower the p99 and raise the cost by 0.5/h each.
    let s = Scratch::new();
    s.write("system.yaml", SYSTEM);
    s.write(
        "study.yaml",
        "name: capacity\nsimulator: {builtin: sysdesign, options: {topology: system.yaml}}\n\
         parameters:\n  components.api.replicas: {values: [1, 2, 4]}\n\
         design: {sampler: grid}\n\
         metrics: [latency_p99, cost_per_hour, api.utilisation, bottleneck]\n\
         objective: {minimize: cost_per_hour, constraints: [\"latency_p99 <= 100\"]}\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none"]));
    let db = s.store_db();
    let p99 = sql_f64(
        &db,
        "SELECT json_extract(metrics, '$.latency_p99') FROM runs \
         ORDER BY json_extract(params, '$.\"components.api.replicas\"')",
    );
    assert_eq!(p99.len(), 3, "{p99:?}");
    assert!(
        p99[0] > p99[1] && p99[1] > p99[2],
        "p99 by replicas: {p99:?}"
    );
    let cost = sql_f64(
        &db,
        "SELECT json_extract(metrics, '$.cost_per_hour') FROM runs \
         ORDER BY json_extract(params, '$.\"components.api.replicas\"')",
    );
    assert_eq!(cost, [2.5, 3.0, 4.0]);
    // One replica of 2 threads is saturated: 1.5 busy threads of work plus
    // the database calls; the bottleneck is named.
    let names: Vec<String> = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let mut st = conn
            .prepare(
                "SELECT json_extract(metrics, '$.bottleneck') FROM runs \
                 ORDER BY json_extract(params, '$.\"components.api.replicas\"')",
            )
            .unwrap();
        st.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(names[0], "api");
}

#[test]
fn errors_in_the_topology_file_point_at_its_line() {
    let s = Scratch::new();
    s.write(
        "system.yaml",
        &SYSTEM.replace("    calls: [db]\n", "    calls: [dbb]\n"),
    );
    s.write(
        "study.yaml",
        "name: bad\nsimulator: {builtin: sysdesign, options: {topology: system.yaml}}\n\
         parameters:\n  components.api.replicas: {values: [1, 2]}\ndesign: {sampler: grid}\nmetrics: [latency_p99]\n",
    );
    let out = s.simforge(&["run", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("system.yaml:12:13"), "{err}");
    assert!(err.contains("no component named `dbb`"), "{err}");
    assert!(err.contains("did you mean `db`"), "{err}");
    // A parameter path the topology does not have is caught before any run.
    s.write("system.yaml", SYSTEM);
    s.write(
        "study.yaml",
        "name: bad\nsimulator: {builtin: sysdesign, options: {topology: system.yaml}}\n\
         parameters:\n  components.api.replica: {values: [1, 2]}\ndesign: {sampler: grid}\nmetrics: [latency_p99]\n",
    );
    let out = s.simforge(&["run", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("study.yaml:4"), "{err}");
    assert!(
        err.contains("did you mean `components.api.replicas`"),
        "{err}"
    );
}

#[test]
fn sim_runs_one_point_of_a_builtin() {
    let s = Scratch::new();
    s.write("system.yaml", SYSTEM);
    let out = ok(s.simforge(&[
        "sim",
        "sysdesign",
        "--option",
        "topology=system.yaml",
        "--params",
        "components.api.replicas=3",
        "--json",
        "--out",
        "out",
    ]));
    let m: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(m["cost_per_hour"], 3.5);
    // 150/s over 3 replicas × 2 threads of 10 ms: own-work utilisation 0.25.
    let u = m["api.utilisation"].as_f64().unwrap();
    assert!((u - 0.25).abs() < 0.02, "{u}");
    assert!(s.path().join("out/result.json").is_file());
    assert!(s.path().join("out/sysdesign.json").is_file());
    // Same seed, same answer.
    let again = ok(s.simforge(&[
        "sim",
        "sysdesign",
        "--option",
        "topology=system.yaml",
        "--params",
        "components.api.replicas=3",
        "--json",
        "--out",
        "out2",
    ]));
    assert_eq!(out, again);
    let listed = ok(s.simforge(&[
        "sim",
        "sysdesign",
        "--option",
        "topology=system.yaml",
        "--list",
    ]));
    assert!(listed.contains("components.db.pool: integer"), "{listed}");
    let bad = s.simforge(&[
        "sim",
        "sysdesign",
        "--option",
        "topology=system.yaml",
        "--params",
        "components.api.replicaz=3",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("did you mean `components.api.replicas`"),
        "{}",
        stderr(&bad)
    );
    let names = ok(s.simforge(&["sim"]));
    assert!(
        names.contains("sysdesign") && names.contains("analytic"),
        "{names}"
    );
}

#[test]
fn dotted_parameters_reach_command_templates_and_environment() {
    // A command simulator sees `a.b` as {{ a.b }} and SIMFORGE_PARAM_A_B.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        r#"name: dotted
simulator:
  command: [sh, -c, 'printf "y=%s\nz=%s\n" {{ solver.tol }} "$SIMFORGE_PARAM_SOLVER_TOL"']
  outputs: {keyvalue: stdout}
parameters:
  solver.tol: {values: [0.5]}
design: {sampler: grid}
metrics: [y, z]
"#,
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none"]));
    let ys = sql_f64(
        &s.store_db(),
        "SELECT json_extract(metrics, '$.y') FROM runs",
    );
    let zs = sql_f64(
        &s.store_db(),
        "SELECT json_extract(metrics, '$.z') FROM runs",
    );
    assert_eq!((ys, zs), (vec![0.5], vec![0.5]));
}
