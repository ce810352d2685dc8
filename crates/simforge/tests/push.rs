//! `simforge push` as a process against `simforge serve` on the real
//! PostgreSQL: a study run locally is pushed and lands on the server with
//! exactly its results; pushing again sends nothing; `--resend-all` changes
//! nothing on the server; an unreachable server is a clear error after
//! `--patience`, and the next push succeeds.
//!
//! Needs SIMFORGE_TEST_POSTGRES_URL; skips without it unless
//! SIMFORGE_REQUIRE_SERVICES=1.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::Scratch;
use common::serve::{Server, pg_url};
use serde_json::Value;

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
    let mut server = Server::new(&pg, "sf_push");
    ok(server.admin(&["create-user", "alice"]));
    ok(server.admin(&["create-project", "lab"]));
    ok(server.admin(&["add-member", "lab", "alice", "member"]));
    let token =
        String::from_utf8_lossy(&ok(server.admin(&["token", "alice", "--scope", "submit"])).stdout)
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
    server.kill9();
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
