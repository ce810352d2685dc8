//! `simforge push` as a process against `simforge serve` on the real
//! PostgreSQL: a study run locally is pushed and lands on the server with
//! exactly its results; pushing again sends nothing; `--resend-all` changes
//! nothing on the server; an unreachable server is a clear error after
//! `--patience`, and the next push succeeds.
//!
//! Needs SIMFORGE_TEST_POSTGRES_URL; skips without it unless
//! SIMFORGE_REQUIRE_SERVICES=1.

mod common;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Scratch;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_simforge");

fn pg_url() -> Option<String> {
    match std::env::var("SIMFORGE_TEST_POSTGRES_URL") {
        Ok(u) if !u.trim().is_empty() => Some(u),
        _ if std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
            panic!("SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!("skipping: SIMFORGE_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// A `simforge serve` process in a schema of its own.
struct Server {
    pg: String,
    schema: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn new(pg: &str) -> Server {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut s = Server {
            pg: pg.to_string(),
            schema: format!("sf_push_{}_{nanos}", std::process::id()),
            port,
            dir: tempfile::tempdir().expect("tempdir"),
            child: None,
        };
        s.start();
        s
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `simforge` with this server's configuration and no client profile.
    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("SIMFORGE_SERVER")
            .env_remove("SIMFORGE_TOKEN")
            .env_remove("SIMFORGE_TOKEN_FILE")
            .env_remove("SIMFORGE_PROFILE")
            .env_remove("SIMFORGE_PROJECT")
            .env(
                "SIMFORGE_CONFIG",
                self.dir.path().join("no-client-config.yaml"),
            )
            .env("SIMFORGE_SERVER__PROFILE", "test")
            .env("SIMFORGE_SERVER__DATABASE__URL", &self.pg)
            .env("SIMFORGE_SERVER__DATABASE__SCHEMA", &self.schema)
            .env("SIMFORGE_SERVER__DATABASE__POOL_SIZE", "4")
            .env(
                "SIMFORGE_SERVER__LISTEN",
                format!("127.0.0.1:{}", self.port),
            )
            .env(
                "SIMFORGE_SERVER__STORAGE__PATH",
                self.dir.path().join("data"),
            );
        c
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("serve.log"))
            .expect("serve log");
        self.child = Some(
            self.cmd()
                .arg("serve")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn simforge serve"),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !agent
            .get(&format!("{}/readyz", self.url()))
            .call()
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                Instant::now() < deadline,
                "server not ready: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("serve.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn admin(&self, args: &[&str]) -> Output {
        ok(self
            .cmd()
            .arg("admin")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("simforge admin"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if let Ok(mut c) = postgres::Client::connect(&self.pg, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
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

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn get(url: &str, token: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(url)
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let text = r.body_mut().read_to_string().unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The number after `label` in push's summary.
fn figure(out: &str, label: &str) -> u64 {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no `{label}` in:\n{out}"))
}

#[test]
fn push_uploads_a_local_study_once_and_says_what_to_do_when_the_server_is_away() {
    let Some(pg) = pg_url() else { return };
    let mut server = Server::new(&pg);
    server.admin(&["create-user", "alice"]);
    server.admin(&["create-project", "lab"]);
    server.admin(&["add-member", "lab", "alice", "member"]);
    let token = String::from_utf8_lossy(
        &server
            .admin(&["token", "alice", "--scope", "submit"])
            .stdout,
    )
    .trim()
    .to_string();

    let s = Scratch::new();
    s.write(
        "study.yaml",
        "name: sweep\nsimulator: {builtin: analytic, options: {function: branin}}\n\
         parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\n\
         design: {sampler: random, samples: 40, seed: 3}\nmetrics: [y]\n",
    );
    ok(s.simforge(&["run", "study.yaml", "--progress", "none", "--no-report"]));
    let push = |server: &Server, extra: &[&str]| {
        server
            .cmd()
            .current_dir(s.path())
            .args([
                "push",
                "study.yaml",
                "--server",
                &server.url(),
                "--project",
                "lab",
            ])
            .args(extra)
            .env("SIMFORGE_TOKEN", &token)
            .output()
            .expect("simforge push")
    };

    let first = text(&ok(push(&server, &["--batch", "15"])));
    assert!(first.contains("as `lab/sweep`"), "{first}");
    assert_eq!(figure(&first, "sent"), 40, "{first}");
    assert_eq!(figure(&first, "accepted"), 40, "{first}");
    assert_eq!(figure(&first, "quarantined"), 0, "{first}");

    // The server has exactly the local results.
    let local = ok(s.simforge(&["results", "study.yaml", "--format", "json"]));
    let local: Vec<Value> = serde_json::from_slice(&local.stdout).expect("local results");
    let show = get(
        &format!("{}/api/v1/projects/lab/studies/sweep", server.url()),
        &token,
    );
    assert_eq!(show["state"], "external", "{show}");
    assert_eq!(show["counts"]["succeeded"], 40, "{show}");
    let remote = get(
        &format!(
            "{}/api/v1/projects/lab/studies/sweep/results?limit=100",
            server.url()
        ),
        &token,
    );
    let remote = remote["results"].as_array().expect("results").clone();
    assert_eq!(remote.len(), local.len());
    let y_of = |rows: &[Value]| {
        let mut v: Vec<(u64, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["index"].as_u64().expect("index"),
                    format!(
                        "{}",
                        r["y"]
                            .as_f64()
                            .or_else(|| r["metrics"]["y"].as_f64())
                            .expect("y")
                    ),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(y_of(&remote), y_of(&local));

    // Again: nothing to send. Everything again: nothing changes.
    let again = text(&ok(push(&server, &["--batch", "15"])));
    assert_eq!(figure(&again, "sent"), 0, "{again}");
    assert_eq!(figure(&again, "skipped"), 40, "{again}");
    let all = text(&ok(push(&server, &["--resend-all", "--batch", "7"])));
    assert_eq!(figure(&all, "accepted"), 0, "{all}");
    assert_eq!(figure(&all, "duplicates"), 40, "{all}");

    // The server away: a clear error after the patience; back: fine.
    server.stop();
    let t = Instant::now();
    let away = push(&server, &["--resend-all", "--patience", "1"]);
    assert!(!away.status.success());
    let msg = text(&away);
    assert!(
        msg.contains("gave up after") && msg.contains("simforge push"),
        "{msg}"
    );
    assert!(t.elapsed() < Duration::from_secs(30));
    server.start();
    let back = text(&ok(push(&server, &["--resend-all"])));
    assert_eq!(figure(&back, "duplicates"), 40, "{back}");

    // A push without a server is a usage error.
    let o = server
        .cmd()
        .current_dir(s.path())
        .args(["push", "study.yaml", "--project", "lab"])
        .env("SIMFORGE_TOKEN", &token)
        .output()
        .expect("simforge push");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
