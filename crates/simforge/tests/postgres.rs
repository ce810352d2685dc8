//! `--database URL`: a real study whose store is in PostgreSQL while its run
//! directories, results and reports stay in `.simforge/`. Needs
//! SIMFORGE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test);
//! without it the tests that need a server skip, unless
//! SIMFORGE_REQUIRE_SERVICES=1 makes them fail. Each test keeps its store in a
//! fresh schema (simforge's `?schema=NAME` URL parameter) and drops it after.

mod common;
use common::*;

use std::process::Output;

/// The test server's URL, or None to skip.
fn postgres_url() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") => panic!(
            "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_POSTGRES_URL is not set (e.g. postgres://postgres@127.0.0.1:5432/test)"
        ),
        _ => {
            eprintln!("skipping: SIMFORGE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A schema of the test database for one test, dropped when the test ends.
struct Schema {
    url: String,
    name: String,
}

impl Schema {
    fn new(url: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        Schema {
            url: url.to_string(),
            name: format!("sf_cli_{}_{nanos}", std::process::id()),
        }
    }

    /// The `--database` value that keeps the store in this schema.
    fn store_url(&self) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}schema={}", self.url, self.name)
    }

    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect to the test database")
    }

    fn exists(&self) -> bool {
        self.client()
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[&self.name],
            )
            .expect("query")
            .get(0)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name));
        }
    }
}

/// The quickstart study (Ishigami on the builtin `analytic` simulator), cut
/// to 64 points.
fn quickstart(s: &Scratch) {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/quickstart/study.yaml"
    );
    let text = std::fs::read_to_string(path).expect("examples/quickstart/study.yaml");
    assert!(
        text.contains("samples: 512"),
        "the quickstart changed its design"
    );
    s.write("study.yaml", &text.replace("samples: 512", "samples: 64"));
}

/// simforge with `--database url` in the scratch directory.
fn with_db(s: &Scratch, url: &str, args: &[&str]) -> Output {
    bin()
        .arg("--database")
        .arg(url)
        .args(args)
        .current_dir(s.path())
        .env_remove("SIMFORGE_DATABASE_URL")
        .env_remove("SIMFORGE_STORE")
        .output()
        .expect("run simforge")
}

fn ishigami(x1: f64, x2: f64, x3: f64) -> f64 {
    x1.sin() + 7.0 * x2.sin().powi(2) + 0.1 * x3.powi(4) * x1.sin()
}

#[test]
fn a_study_runs_with_its_store_in_postgresql() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let db = schema.store_url();
    let s = Scratch::new();
    quickstart(&s);

    let out = ok(with_db(&s, &db, &["run", "study.yaml", "--jobs", "2"]));
    assert!(out.contains("64 runs planned (64 new)"), "{out}");
    assert!(out.contains("64 succeeded"), "{out}");
    assert!(
        out.contains(&format!("store:   {db}")),
        "the store line names the database: {out}"
    );
    // The records are in PostgreSQL, in the named schema; the run
    // directories, results and report are local.
    assert!(!s.store_db().exists(), "no SQLite file with --database");
    let runs_dir = s.path().join(".simforge/runs/ishigami-quickstart");
    let with_result = std::fs::read_dir(&runs_dir)
        .expect("run directories")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("result.json").is_file())
        .count();
    assert_eq!(with_result, 64);
    assert!(
        s.path()
            .join(".simforge/results/ishigami-quickstart.csv")
            .is_file()
    );
    assert!(
        s.path()
            .join(".simforge/reports/ishigami-quickstart.html")
            .is_file()
    );
    let mut c = schema.client();
    let rows = c
        .query(
            &format!(
                "SELECT state, count(*) FROM \"{}\".runs GROUP BY state",
                schema.name
            ),
            &[],
        )
        .unwrap();
    let counts: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(counts, [("succeeded".to_string(), 64)]);
    // Parameters and metrics are JSONB: the database can filter on them.
    let positive: i64 = c
        .query_one(
            &format!(
                "SELECT count(*) FROM \"{}\".runs WHERE (params->>'x1')::float8 > 0 AND metrics ? 'y'",
                schema.name
            ),
            &[],
        )
        .unwrap()
        .get(0);

    let status = ok(with_db(&s, &db, &["status"]));
    assert!(status.contains("ishigami-quickstart"), "{status}");
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().eq(["succeeded", "64"])),
        "{status}"
    );
    assert!(status.contains("100.0%"), "{status}");

    let json = ok(with_db(&s, &db, &["results", "--format", "json"]));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).expect("results JSON");
    assert_eq!(rows.len(), 64);
    let mut x1_positive = 0;
    for r in &rows {
        let x = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        assert!(
            (x("y") - ishigami(x("x1"), x("x2"), x("x3"))).abs() < 1e-9,
            "{r}"
        );
        assert_eq!(r["state"], "succeeded");
        if x("x1") > 0.0 {
            x1_positive += 1;
        }
    }
    assert_eq!(positive, x1_positive);
    ok(with_db(
        &s,
        &db,
        &["results", "--format", "csv", "-o", "out.csv"],
    ));
    let csv = std::fs::read_to_string(s.path().join("out.csv")).unwrap();
    assert_eq!(csv.lines().count(), 65);
    assert!(csv.starts_with("run_id,index,tag,replicate,seed,state,attempts,x1,x2,x3,y"));

    // The same study again: every run is done, nothing executes.
    let again = ok(with_db(&s, &db, &["run", "study.yaml"]));
    assert!(
        again.contains("64 runs planned (0 new), 64 already done"),
        "{again}"
    );
    assert!(again.contains("executed 0 runs"), "{again}");

    // The environment variable works as the option does, for lookups too.
    let id = rows[0]["run_id"].as_str().expect("run id").to_string();
    let logs = bin()
        .args(["logs", &id[..10]])
        .current_dir(s.path())
        .env("SIMFORGE_DATABASE_URL", &db)
        .env_remove("SIMFORGE_STORE")
        .output()
        .expect("run simforge");
    let logs = ok(logs);
    assert!(
        logs.contains(&format!("run {id} of study `ishigami-quickstart`")),
        "{logs}"
    );
    assert!(logs.contains("attempt 1: succeeded"), "{logs}");
}

#[test]
fn a_read_only_command_never_creates_a_store() {
    let Some(url) = postgres_url() else { return };
    let schema = Schema::new(&url);
    let s = Scratch::new();
    let out = with_db(&s, &schema.store_url(), &["status"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("no store at"), "{err}");
    assert!(!schema.exists(), "status created the schema");
}

#[test]
fn an_unreachable_database_is_a_clear_error_without_the_password() {
    // Nothing listens on port 1 of the loopback: no server needed.
    let s = Scratch::new();
    quickstart(&s);
    let out = with_db(
        &s,
        "postgres://sim:hunter2@127.0.0.1:1/simforge?connect_timeout=2",
        &["run", "study.yaml"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot connect"), "{err}");
    assert!(err.contains("postgres://sim@127.0.0.1:1/simforge"), "{err}");
    assert!(err.contains("--database"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!s.path().join(".simforge/runs").exists(), "nothing ran");
}

#[test]
fn database_takes_only_postgresql_urls() {
    let s = Scratch::new();
    let out = with_db(&s, "results.db", &["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("expected a PostgreSQL URL"), "{err}");
    assert!(err.contains("--store DIR"), "{err}");
}
