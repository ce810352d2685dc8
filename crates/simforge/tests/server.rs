//! `simforge serve`, `simforge admin`, `simforge worker --server` and the
//! remote CLI as processes, on the real PostgreSQL: a worker killed with
//! SIGKILL mid-run loses nothing (its leases lapse and a second worker runs
//! them, each run succeeding exactly once), a server killed and restarted
//! while a worker holds runs orphans nothing, and `serve` exits 0 on SIGTERM.
//!
//! Needs SIMFORGE_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test);
//! skips without it unless SIMFORGE_REQUIRE_SERVICES=1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::serve::{Server, pg_url};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_simforge");

impl Server {
    /// `simforge ARGS --server URL --project lab` as a client holding
    /// `token`, run in `dir`.
    fn remote(&self, token: &str, dir: &Path, args: &[&str]) -> Output {
        self.cmd()
            .args(args)
            .args(["--server", &self.url(), "--project", "lab"])
            .env("SIMFORGE_TOKEN", token)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .expect("simforge")
    }

    /// Bootstrap through `simforge admin`: an administrator token and a
    /// worker token file.
    fn bootstrap(&self) -> (String, PathBuf) {
        ok(self.admin(&["create-user", "root", "--admin"]));
        ok(self.admin(&["create-project", "lab"]));
        ok(self.admin(&["create-project", "lab", "--if-missing"]));
        let again = self.admin(&["create-project", "lab"]);
        assert!(
            !again.status.success(),
            "a second create without --if-missing fails"
        );
        ok(self.admin(&["add-member", "lab", "root", "admin"]));
        let out = ok(self.admin(&["token", "root", "--scope", "admin"]));
        let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(token.starts_with("sfk_"), "{token}");
        ok(self.admin(&["create-user", "robot", "--if-missing"]));
        let file = self.dir.path().join("worker.token");
        let f = file.to_str().expect("utf-8 path");
        ok(self.admin(&[
            "token", "robot", "--scope", "worker", "--name", "t", "--output", f,
        ]));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        (token, file)
    }

    fn worker(&self, name: &str, extra: &[&str]) -> Child {
        let token = self.dir.path().join("worker.token");
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).expect("log");
        self.cmd()
            .args(["worker", "--server", &self.url(), "--queue", "command:sh"])
            .args(["--slots", "2", "--name", name, "--patience", "60"])
            .arg("--token-file")
            .arg(&token)
            .arg("--workdir")
            .arg(self.dir.path().join(name))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn worker")
    }
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn get(url: &str, token: &str) -> Value {
    let mut r = http()
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let text = r.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// A command study whose runs each sleep about a second.
fn sleepy(name: &str, runs: usize) -> String {
    let values: Vec<String> = (1..=runs).map(|i| i.to_string()).collect();
    format!(
        "name: {name}\nsimulator:\n  command: [\"sh\", \"-c\", \"sleep 1; echo '{{\\\"y\\\": 1}}' > out.json\"]\n  outputs: {{json: out.json}}\nparameters: {{x: {{values: [{}]}}}}\ndesign: {{sampler: grid}}\nmetrics: [y]\n",
        values.join(", ")
    )
}

fn submit(server: &Server, token: &str, source: &str) {
    let mut r = http()
        .post(&format!("{}/api/v1/projects/lab/studies", server.url()))
        .header("Authorization", &format!("Bearer {token}"))
        .send_json(json!({"source": source}))
        .expect("submit");
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 201, "{body}");
    assert!(body.contains("command:sh"), "{body}");
}

fn study(server: &Server, token: &str, name: &str) -> Value {
    get(
        &format!("{}/api/v1/projects/lab/studies/{name}", server.url()),
        token,
    )
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every run of the study succeeded, each with exactly one succeeded attempt.
fn assert_each_run_succeeded_once(server: &Server, token: &str, name: &str, runs: usize) {
    let page = get(
        &format!(
            "{}/api/v1/projects/lab/studies/{name}/runs?limit=1000",
            server.url()
        ),
        token,
    );
    let list = page["runs"].as_array().expect("runs");
    assert_eq!(list.len(), runs, "{page}");
    for r in list {
        let id = r["id"].as_str().expect("id");
        let run = get(&format!("{}/api/v1/runs/{id}", server.url()), token);
        assert_eq!(run["state"], "succeeded", "{run}");
        let ok = run["attempt_history"]
            .as_array()
            .expect("attempt_history")
            .iter()
            .filter(|a| a["state"] == "succeeded")
            .count();
        assert_eq!(ok, 1, "run {id}: {run}");
    }
}

fn wait_exit(child: &mut Child, secs: u64) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st;
        }
        assert!(Instant::now() < deadline, "process did not exit");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigterm(child: &Child) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

#[test]
fn a_worker_killed_mid_run_loses_nothing_and_serve_exits_0_on_sigterm() {
    let Some(pg) = pg_url() else { return };
    let mut server = Server::new(&pg, "sf_serve");
    let (token, _) = server.bootstrap();
    let ping = Command::new(BIN)
        .args(["ping", &format!("{}/readyz", server.url())])
        .output()
        .expect("ping");
    assert!(ping.status.success(), "{ping:?}");
    assert!(String::from_utf8_lossy(&ping.stdout).contains("200"));
    let n = 12;
    submit(&server, &token, &sleepy("sleepy", n));

    let mut w1 = server.worker("w1", &[]);
    wait_for("w1 to finish some runs and hold others", 60, || {
        let v = study(&server, &token, "sleepy");
        v["counts"]["succeeded"].as_i64().unwrap_or(0) >= 2
            && v["counts"]["running"].as_i64().unwrap_or(0) >= 1
    });
    w1.kill().expect("kill -9 w1");
    let _ = w1.wait();

    let mut w2 = server.worker("w2", &["--idle-exit", "3"]);
    wait_for("the study to finish", 120, || {
        study(&server, &token, "sleepy")["finished"].as_bool() == Some(true)
    });
    let v = study(&server, &token, "sleepy");
    assert_eq!(v["counts"]["succeeded"], n as i64, "{v}");
    assert_each_run_succeeded_once(&server, &token, "sleepy", n);

    let metrics = http()
        .get(&format!("{}/metrics", server.url()))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    let expired: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("simforge_leases_expired_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(expired > 0.0, "lease expiries: {metrics}");

    let st = wait_exit(&mut w2, 30);
    assert!(
        st.success(),
        "w2: {st}: {}",
        read(&server.dir.path().join("w2.log"))
    );

    let child = server.child.take().expect("server");
    sigterm(&child);
    let mut child = child;
    let st = wait_exit(&mut child, 30);
    assert_eq!(st.code(), Some(0), "serve on SIGTERM: {}", server.log());
}

#[test]
fn a_worker_carries_on_through_a_server_restart() {
    let Some(pg) = pg_url() else { return };
    let mut server = Server::new(&pg, "sf_serve");
    let (token, _) = server.bootstrap();
    let n = 8;
    submit(&server, &token, &sleepy("restart", n));

    let mut w = server.worker("w", &["--idle-exit", "4"]);
    wait_for("the worker to hold runs", 60, || {
        study(&server, &token, "restart")["counts"]["running"]
            .as_i64()
            .unwrap_or(0)
            >= 1
    });
    server.kill9();
    std::thread::sleep(Duration::from_millis(1500));
    server.start();
    wait_for("the study to finish after the restart", 120, || {
        study(&server, &token, "restart")["finished"].as_bool() == Some(true)
    });
    let v = study(&server, &token, "restart");
    assert_eq!(v["counts"]["succeeded"], n as i64, "{v}");
    assert_each_run_succeeded_once(&server, &token, "restart", n);
    let st = wait_exit(&mut w, 60);
    assert!(
        st.success(),
        "worker: {st}: {}",
        read(&server.dir.path().join("w.log"))
    );
}

#[test]
fn worker_needs_exactly_one_of_connection_and_server() {
    let out = Command::new(BIN)
        .env_remove("SIMFORGE_SERVER")
        .args(["worker", "--queue", "analytic"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exactly one"));
    let out = Command::new(BIN)
        .args([
            "worker",
            "--connection",
            "x.json",
            "--server",
            "http://127.0.0.1:9",
        ])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    // A SLURM pilot inherits SIMFORGE_SERVER from whoever submitted it: the
    // variable alone does not make it a server worker (here it goes on to
    // read its connection file, which is missing).
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .env("SIMFORGE_SERVER", "http://127.0.0.1:9")
        .args(["worker", "--patience", "0.5", "--connection"])
        .arg(dir.path().join("missing.json"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("exactly one"), "{err}");
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn a_bad_server_config_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("server.yaml");
    std::fs::write(&f, "listen: 1\nleases: {ttl_s: soon}\n").expect("write");
    let out = Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(&f)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.yaml") && err.contains("hint"), "{err}");
}

#[test]
fn ping_exits_0_only_on_2xx() {
    let out = Command::new(BIN)
        .args(["ping", "http://127.0.0.1:9/readyz", "--timeout", "2"])
        .output()
        .expect("run");
    assert!(!out.status.success());
}

#[test]
fn the_remote_cli_submits_follows_and_reads_back_a_study() {
    let Some(pg) = pg_url() else { return };
    let server = Server::new(&pg, "sf_serve");
    let (token, _) = server.bootstrap();
    let mut w = server.worker("rw", &["--idle-exit", "5"]);

    // A study with an input template beside it: `run` must send it along.
    let proj = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(proj.path().join("templates")).expect("mkdir");
    std::fs::write(proj.path().join("templates/in.txt.j2"), "y={{ x * 10 }}\n").expect("template");
    let study = proj.path().join("study.yaml");
    std::fs::write(
        &study,
        "name: remote\nsimulator:\n  command: [\"sh\", \"-c\", \"cat in.txt\"]\n  inputs: {in.txt: templates/in.txt.j2}\n  outputs: {keyvalue: stdout}\nparameters: {x: {values: [1, 2, 3]}}\ndesign: {sampler: grid}\nmetrics: [y]\n",
    )
    .expect("study");
    let client = |args: &[&str]| server.remote(&token, proj.path(), args);
    let out = ok(client(&["run", study.to_str().expect("utf-8")]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("submitted") && text.contains("templates/in.txt.j2"),
        "{text}"
    );
    assert!(text.contains("3 succeeded"), "{text}");

    let out = ok(client(&["status", "remote"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 succeeded"));
    let out = ok(client(&["status", study.to_str().expect("utf-8")]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(finished)"));

    let csv = proj.path().join("r.csv");
    ok(client(&[
        "results",
        "remote",
        "-o",
        csv.to_str().expect("utf-8"),
    ]));
    let csv = std::fs::read_to_string(&csv).expect("csv");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    for y in ["10", "20", "30"] {
        assert!(csv.contains(y), "{csv}");
    }
    let out = ok(client(&["results", "remote"]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 4);

    // The same table as a local store gives, as JSON and as Parquet.
    let out = ok(client(&["results", "remote", "--format", "json"]));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let mut ys: Vec<f64> = rows
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["y"].as_f64().expect("y is a number"))
        .collect();
    ys.sort_by(f64::total_cmp);
    assert_eq!(ys, [10.0, 20.0, 30.0], "{rows}");
    let pq = proj.path().join("r.parquet");
    ok(client(&[
        "results",
        "remote",
        "--format",
        "parquet",
        "-o",
        pq.to_str().expect("utf-8"),
    ]));
    {
        use parquet::file::reader::FileReader;
        let reader = parquet::file::serialized_reader::SerializedFileReader::new(
            std::fs::File::open(&pq).expect("parquet file"),
        )
        .expect("valid Parquet");
        assert_eq!(reader.metadata().file_metadata().num_rows(), 3);
        let fields = reader
            .metadata()
            .file_metadata()
            .schema()
            .get_fields()
            .to_vec();
        assert!(fields.iter().any(|f| f.name() == "y"), "{fields:?}");
    }
    assert!(!proj.path().join("r.partial").exists());

    // `simforge etl run` on the server's database fills the study's report:
    // y over its three runs is 10, 20, 30.
    let out = ok(server
        .cmd()
        .args(["etl", "run", "--json"])
        .output()
        .expect("etl run"));
    let report: Value = serde_json::from_slice(&out.stdout).expect("the ETL report as JSON");
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["trigger"], "cli", "{report}");
    let rep = get(
        &format!("{}/api/v1/reports/studies/lab/remote", server.url()),
        &token,
    );
    let y = rep["metrics"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["metric"] == "y"))
        .unwrap_or_else(|| panic!("a summary of y: {rep}"));
    assert_eq!(
        (y["n"].as_i64(), y["mean"].as_f64()),
        (Some(3), Some(20.0)),
        "{y}"
    );
    assert_eq!(
        (y["min"].as_f64(), y["max"].as_f64()),
        (Some(10.0), Some(30.0)),
        "{y}"
    );
    let out = ok(server.cmd().args(["etl", "run"]).output().expect("etl run"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ETL run ") && text.contains("succeeded"),
        "{text}"
    );

    let runs = get(
        &format!("{}/api/v1/projects/lab/studies/remote/runs", server.url()),
        &token,
    );
    let id = runs["runs"][0]["id"].as_str().expect("id").to_string();
    let out = ok(client(&["logs", &id[..12]]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("succeeded") && text.contains("y="), "{text}");

    // The worker uploaded the rendered input of each run; it comes back.
    let out = ok(client(&["artifacts", &id[..12], "-o", "dl"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("in.txt\t"), "{text}");
    let got = std::fs::read_to_string(proj.path().join("dl/in.txt")).expect("downloaded");
    assert!(
        got.starts_with("y=") && got[2..].trim().parse::<f64>().is_ok(),
        "{got:?}"
    );
    assert!(!proj.path().join("dl/in.partial").exists());

    // A profile instead of options.
    let cfg = proj.path().join("client.yaml");
    std::fs::write(
        &cfg,
        format!(
            "default_profile: other\nprofiles:\n  lab: {{server: \"{}\", token: {token}, project: lab}}\n  other: {{server: \"http://127.0.0.1:9\"}}\n",
            server.url()
        ),
    )
    .expect("client config");
    let out = server
        .cmd()
        .args(["status", "remote", "--profile", "lab"])
        .env("SIMFORGE_CONFIG", &cfg)
        .output()
        .expect("status");
    let out = ok(out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 succeeded"));

    // Cancelling a finished study changes nothing; an unknown one is an error.
    ok(client(&["cancel", "remote"]));
    let out = client(&["status", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));

    let st = wait_exit(&mut w, 60);
    assert!(st.success(), "worker: {st}");
}

/// The dashboard in headless Chromium (crates/simforge-server/ui/e2e/
/// dashboard.mjs, playwright-core) against this real server: sign in, follow
/// a study to its end without reloading, filter its runs, read a run's logs,
/// see the worker, a phone-sized viewport, sign out. Needs
/// SIMFORGE_TEST_CHROMIUM (a Chromium binary; `.ci/run` installs Debian's)
/// and `npm ci` in the ui directory; skips without them unless
/// SIMFORGE_REQUIRE_SERVICES=1. SIMFORGE_UI_SHOTS=dir keeps screenshots.
/// `simforge run --server` of a study with `optimize:` hands its loop to the
/// server: the CLI follows the iterations, and the server proposes exactly
/// the points `simforge optimize` proposes on one machine (same initial
/// design, same batches, same surrogate), so both end with the same runs.
#[test]
fn an_optimize_study_runs_on_the_server_as_it_runs_locally() {
    let Some(pg) = pg_url() else { return };
    let server = Server::new(&pg, "sf_serve");
    let (token, _) = server.bootstrap();
    let mut w = server.worker("ow", &["--queue", "analytic"]);
    let proj = tempfile::tempdir().expect("tempdir");
    let study = proj.path().join("study.yaml");
    std::fs::write(
        &study,
        "name: opt\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\n\
         design: {sampler: lhs, samples: 6, seed: 1}\nmetrics: [y]\n\
         objective: {minimize: y}\noptimize: {budget: 12, batch: 2}\n",
    )
    .expect("study");
    let remote = |args: &[&str]| server.remote(&token, proj.path(), args);
    let out = ok(remote(&["run", study.to_str().expect("utf-8")]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the server runs its adaptive loop"), "{text}");
    assert!(text.contains("iteration   3: +2 points, 12 runs"), "{text}");
    assert!(text.contains("stopped: the run budget is spent"), "{text}");
    assert!(text.contains("best:    y = "), "{text}");
    let _ = w.kill();
    let _ = w.wait();
    let csv = proj.path().join("server.csv");
    ok(remote(&[
        "results",
        "opt",
        "-o",
        csv.to_str().expect("utf-8"),
    ]));

    // The same file on one machine.
    let local = tempfile::tempdir().expect("tempdir");
    std::fs::copy(&study, local.path().join("study.yaml")).expect("copy");
    ok(server
        .cmd()
        .env_remove("SIMFORGE_SERVER")
        .args(["optimize", "study.yaml", "--no-report"])
        .current_dir(local.path())
        .output()
        .expect("simforge optimize"));
    let local_csv = local.path().join("local.csv");
    ok(server
        .cmd()
        .env_remove("SIMFORGE_SERVER")
        .args(["results", "opt", "-o", local_csv.to_str().expect("utf-8")])
        .current_dir(local.path())
        .output()
        .expect("simforge results"));
    // (x1, x2, y) of every run, in design order, from a results CSV.
    let points = |p: &Path| -> Vec<(String, String, String)> {
        let text = read(p);
        let mut lines = text.lines();
        let head: Vec<&str> = lines.next().expect("header").split(',').collect();
        let col = |n: &str| {
            head.iter()
                .position(|h| *h == n)
                .unwrap_or_else(|| panic!("{n} in {head:?}"))
        };
        let (a, b, y, i) = (col("x1"), col("x2"), col("y"), col("index"));
        let mut rows: Vec<(u64, (String, String, String))> = lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (
                    f[i].parse().expect("index"),
                    (f[a].into(), f[b].into(), f[y].into()),
                )
            })
            .collect();
        rows.sort_by_key(|r| r.0);
        rows.into_iter().map(|r| r.1).collect()
    };
    let (on_server, on_one_machine) = (points(&csv), points(&local_csv));
    assert_eq!(on_server.len(), 12);
    assert_eq!(
        on_server, on_one_machine,
        "the server proposes what simforge optimize does"
    );
}

#[test]
fn the_dashboard_follows_a_study_in_a_real_browser() {
    let Some(pg) = pg_url() else { return };
    let required = std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1");
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../simforge-server/ui");
    let chromium = std::env::var("SIMFORGE_TEST_CHROMIUM")
        .ok()
        .filter(|c| !c.is_empty());
    let ready = ui.join("node_modules/playwright-core").is_dir();
    let Some(chromium) = chromium.filter(|_| ready) else {
        assert!(
            !required,
            "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_CHROMIUM is unset or `npm ci` was not run in {}",
            ui.display()
        );
        eprintln!(
            "note: SIMFORGE_TEST_CHROMIUM unset or no playwright-core; the browser test is skipped"
        );
        return;
    };
    let server = Server::new(&pg, "sf_serve");
    let (token, _) = server.bootstrap();
    let password = "a long dashboard password 42";
    let mut create = server
        .cmd()
        .args(["admin", "create-user", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("create-user");
    {
        use std::io::Write;
        let mut stdin = create.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("password");
    }
    ok(create.wait_with_output().expect("create-user"));
    ok(server.admin(&["add-member", "lab", "alice", "member"]));
    // The designer's sweeps and optimisations run on the `sysdesign` queue.
    let mut w = server.worker("ui-w", &["--queue", "sysdesign"]);

    // Six runs of two seconds on two slots: the page sees them progress.
    let runs = 6;
    let values: Vec<String> = (1..=runs).map(|i| i.to_string()).collect();
    let source = format!(
        "name: watched\nsimulator:\n  command: [\"sh\", \"-c\", \"sleep 2; echo y=$SIMFORGE_PARAM_X\"]\n  outputs: {{keyvalue: stdout}}\nparameters: {{x: {{values: [{}]}}}}\ndesign: {{sampler: grid}}\nmetrics: [y]\n",
        values.join(", ")
    );
    submit(&server, &token, &source);

    // Once the study is done, the ETL runs (as `simforge etl run` would on
    // a schedule), so the reports page has its runs.
    let etl = {
        let (url, token, mut cmd) = (server.url(), token.clone(), server.cmd());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let s = get(
                    &format!("{url}/api/v1/projects/lab/studies/watched"),
                    &token,
                );
                if s["counts"]["succeeded"] == 6 {
                    return cmd
                        .args(["etl", "run"])
                        .output()
                        .map(|o| o.status.success());
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Ok(false)
        })
    };
    let shots = std::env::var("SIMFORGE_UI_SHOTS").ok();
    let mut node = Command::new("node");
    node.arg(ui.join("e2e/dashboard.mjs"))
        .current_dir(&ui)
        .env("BASE", server.url())
        .env("USER", "alice")
        .env("PASSWORD", password)
        .env("PROJECT", "lab")
        .env("STUDY", "watched")
        .env("RUNS", runs.to_string())
        .env("CHROMIUM", &chromium)
        // Also write a study in the editor and simulate a drawn design.
        .env("EDITOR", "1")
        .env("DESIGNER", "1")
        // And explore the followed study's results (y = x for x = 1..6),
        // read the reports, and upload and download a dataset.
        .env("EXPLORE", "1")
        .env("REPORTS", "1")
        .env("DATASETS", "1")
        // The designer sweeps a property and finds the cheapest design
        // (the server's adaptive loop); the explorer shows the followed
        // study's sensitivity; the main pages at phone size.
        .env("SWEEP", "1")
        .env("OPTIMIZE", "1")
        .env("ANALYSIS", "1")
        .env("ANALYSIS_STUDY", "watched")
        .env("PHONE", "1");
    if let Some(dir) = &shots {
        std::fs::create_dir_all(dir).expect("screenshot dir");
        node.env("SHOTS", dir);
    }
    let out = node.output().expect("node");
    assert!(
        matches!(etl.join(), Ok(Ok(true))),
        "the ETL ran once the study was done"
    );
    let _ = w.kill();
    let _ = w.wait();
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}\nserver log: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    assert_each_run_succeeded_once(&server, &token, "watched", runs);
}
