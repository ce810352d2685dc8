//! `simforge ui` as a process on a local store: the dashboard's API answers
//! from the SQLite store and the run directories without login, the
//! explorer agrees with the runs, server-only pages say so, and a study
//! submitted from the editor runs on this machine.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_simforge");

struct Ui(Child);

impl Drop for Ui {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `simforge ui --port 0` in `dir`; the process (killed when
/// dropped) and the base URL it printed.
fn start_ui(dir: &std::path::Path) -> (Ui, String) {
    let mut child = Command::new(BIN)
        .args(["ui", "--port", "0"])
        .current_dir(dir)
        .env_remove("SIMFORGE_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("simforge ui");
    let stdout = child.stdout.take().expect("stdout");
    let ui = Ui(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the address line");
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split("/ui/").next())
        .map(|addr| format!("http://{addr}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (ui, base)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(base: &str, path: &str) -> (u16, Value) {
    let mut r = agent().get(&format!("{base}{path}")).call().expect("GET");
    let s = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let mut r = agent()
        .post(&format!("{base}{path}"))
        .send_json(body)
        .expect("POST");
    let s = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn study(name: &str, samples: u32) -> String {
    format!(
        "name: {name}\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\nparameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\ndesign: {{sampler: random, samples: {samples}, seed: 5}}\n"
    )
}

#[test]
fn the_local_dashboard_serves_a_store_without_login() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("study.yaml"), study("local-sweep", 40)).expect("study");
    let out = Command::new(BIN)
        .args(["run", "study.yaml", "--no-report", "--progress", "none"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (ui, base) = start_ui(dir.path());
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let (s, me) = get(&base, "/api/v1/me");
    assert_eq!((s, me["local"].as_bool()), (200, Some(true)), "{me}");
    let (_, list) = get(&base, "/api/v1/studies?project=local");
    let row = &list["studies"][0];
    assert_eq!(row["name"], "local-sweep", "{list}");
    assert_eq!(row["counts"]["succeeded"], 40, "{list}");
    let (_, show) = get(&base, "/api/v1/projects/local/studies/local-sweep");
    assert_eq!(show["finished"], true, "{show}");
    // Its spec: the study file the runs were planned from.
    let (s, src) = get(&base, "/api/v1/projects/local/studies/local-sweep/source");
    assert_eq!(s, 200, "{src}");
    assert_eq!(src["source"], study("local-sweep", 40), "{src}");
    assert_eq!(src["source_name"], "study.yaml");
    assert_eq!(src["files"], json!({}));

    // Runs in design order with a cursor, one run with its attempt and log.
    let (_, page) = get(
        &base,
        "/api/v1/projects/local/studies/local-sweep/runs?limit=15",
    );
    assert_eq!(page["runs"].as_array().unwrap().len(), 15);
    let next = page["next"].as_str().expect("a cursor").to_string();
    let (_, rest) = get(
        &base,
        &format!("/api/v1/projects/local/studies/local-sweep/runs?limit=100&after={next}"),
    );
    assert_eq!(rest["runs"].as_array().unwrap().len(), 25);
    assert_eq!(rest["next"], Value::Null);
    let id = page["runs"][0]["id"].as_str().unwrap().to_string();
    let (_, run) = get(&base, &format!("/api/v1/runs/{}", &id[..10]));
    assert_eq!(run["attempt_history"].as_array().unwrap().len(), 1, "{run}");
    let (s, _) = get(&base, &format!("/api/v1/runs/{id}/logs"));
    assert_eq!(s, 200);

    // The explorer, checked against the runs.
    let mut ys: Vec<f64> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["runs"].as_array().unwrap())
        .map(|r| r["metrics"]["y"].as_f64().unwrap())
        .collect();
    ys.sort_by(f64::total_cmp);
    let (_, sorted) = get(
        &base,
        "/api/v1/projects/local/studies/local-sweep/explore/runs?sort=metric.y&order=desc&limit=3",
    );
    let top: Vec<f64> = sorted["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["y"].as_f64().unwrap())
        .collect();
    assert_eq!(top, [ys[39], ys[38], ys[37]]);
    let below = ys.iter().filter(|y| **y < 30.0).count();
    let (_, h) = get(
        &base,
        "/api/v1/projects/local/studies/local-sweep/explore/histogram?col=metric.y&bins=7&where=metric.y:lt:30",
    );
    let sum: u64 = h["bins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        (sum, h["matching"].as_u64()),
        (below as u64, Some(below as u64)),
        "{h}"
    );
    let (_, cols) = get(
        &base,
        "/api/v1/projects/local/studies/local-sweep/explore/columns",
    );
    assert_eq!(cols["runs"]["succeeded"], 40, "{cols}");
    let mut r = agent()
        .get(&format!("{base}/api/v1/projects/local/studies/local-sweep/results?format=csv&where=metric.y:lt:30"))
        .call()
        .expect("csv");
    let csv = r.body_mut().read_to_string().unwrap();
    assert_eq!(csv.lines().count(), below + 1);

    // The app itself, and what belongs to server mode.
    let (s, page) = get(&base, "/ui/projects/local");
    assert!(
        s == 200 && page.as_str().is_some_and(|p| p.contains("<div")),
        "{page}"
    );
    let (s, e) = get(&base, "/api/v1/users");
    assert_eq!(s, 404);
    assert!(
        e["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("simforge serve")),
        "{e}"
    );

    // The editor's check, then a submission that runs here.
    let (_, c) = post(
        &base,
        "/api/v1/check",
        json!({"source": study("from-editor", 8).replace("design:", "desing:")}),
    );
    assert_eq!(c["ok"], false, "{c}");
    let (s, v) = post(
        &base,
        "/api/v1/projects/local/studies",
        json!({"source": study("from-editor", 8)}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["planned"], 8);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, show) = get(&base, "/api/v1/projects/local/studies/from-editor");
        if show["counts"]["succeeded"] == 8 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the submitted study did not finish: {show}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(ui);
}

/// The same app in headless Chromium against `simforge ui` (LOCAL=1 in
/// crates/simforge-server/ui/e2e/dashboard.mjs): no sign-in, the store's
/// study listed, the explorer over it (y = x for x = 1..6), a study written
/// and submitted in the editor, a design simulated. Needs
/// SIMFORGE_TEST_CHROMIUM and `npm ci` in the ui directory; skips without
/// them unless SIMFORGE_REQUIRE_SERVICES=1.
#[test]
fn the_local_dashboard_works_in_a_real_browser() {
    let required = std::env::var("SIMFORGE_REQUIRE_SERVICES").as_deref() == Ok("1");
    let ui_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../simforge-server/ui");
    let chromium = std::env::var("SIMFORGE_TEST_CHROMIUM")
        .ok()
        .filter(|c| !c.is_empty());
    let ready = ui_dir.join("node_modules/playwright-core").is_dir();
    let Some(chromium) = chromium.filter(|_| ready) else {
        assert!(
            !required,
            "SIMFORGE_REQUIRE_SERVICES=1 but SIMFORGE_TEST_CHROMIUM is unset or `npm ci` was not run in {}",
            ui_dir.display()
        );
        eprintln!("note: no Chromium or playwright-core; the local browser test is skipped");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("study.yaml"),
        "name: watched\nsimulator:\n  command: [\"sh\", \"-c\", \"echo y=$SIMFORGE_PARAM_X\"]\n  outputs: {keyvalue: stdout}\nparameters: {x: {values: [1, 2, 3, 4, 5, 6]}}\ndesign: {sampler: grid}\nmetrics: [y]\n",
    )
    .expect("study");
    let out = Command::new(BIN)
        .args(["run", "study.yaml", "--no-report", "--progress", "none"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ui, base) = start_ui(dir.path());
    let out = Command::new("node")
        .arg(ui_dir.join("e2e/dashboard.mjs"))
        .current_dir(&ui_dir)
        .env("LOCAL", "1")
        .env("BASE", &base)
        .env("PROJECT", "local")
        .env("STUDY", "watched")
        .env("RUNS", "6")
        .env("CHROMIUM", &chromium)
        .env("EXPLORE", "1")
        .env("EDITOR", "1")
        .env("DESIGNER", "1")
        // The designer's sweep and its cheapest-design search (the adaptive
        // loop on this machine's pool), the explorer's sensitivity bars of
        // the store's study, and the phone-sized layout.
        .env("SWEEP", "1")
        .env("OPTIMIZE", "1")
        .env("ANALYSIS", "1")
        .env("ANALYSIS_STUDY", "watched")
        .env("PHONE", "1")
        .output()
        .expect("node");
    drop(ui);
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
