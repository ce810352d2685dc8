//! The dashboard's server side for the study editor and the system
//! designer, on a real server: `POST /check` answers the CLI checker's
//! diagnostics with line and column, `POST /sysdesign/simulate` runs the
//! builtin simulator on a drawn topology (checked against M/M/1), and
//! `POST /sysdesign/export` writes deployment skeletons.

mod common;

use common::{Http, TestServer, pg_url};
use serde_json::{Value, json};

fn setup() -> Option<(TestServer, Http, String, String)> {
    let pg = pg_url()?;
    let server = TestServer::start(&pg, 30.0);
    let http = Http::new(&server.url);
    simforge_server::admin::create_project(&server.state.db, "lab").unwrap();
    let member = server.user("mia", false, &["submit"]);
    simforge_server::admin::set_member(&server.state.db, "lab", "mia", "member").unwrap();
    let viewer = server.user("vic", false, &["read"]);
    simforge_server::admin::set_member(&server.state.db, "lab", "vic", "viewer").unwrap();
    Some((server, http, member, viewer))
}

#[test]
fn check_answers_the_cli_checkers_diagnostics_with_positions() {
    let Some((_server, http, member, viewer)) = setup() else {
        return;
    };
    let good = "name: ok\nsimulator: {builtin: analytic, options: {function: branin}}\nparameters:\n  x1: {range: [-5, 10]}\n  x2: {range: [0, 15]}\ndesign: {sampler: random, samples: 12, seed: 1}\n";
    let (s, v) = http.post("/api/v1/check", &viewer, json!({"source": good}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["summary"]["runs"], 12, "{v}");
    assert_eq!(v["summary"]["parameters"], 2, "{v}");
    assert_eq!(v["summary"]["queue"], "analytic", "{v}");

    // A misspelled key on line 6: found, with line, column and a hint.
    let bad = good.replace("design:", "desgin:");
    let (s, v) = http.post("/api/v1/check", &member, json!({"source": bad}));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    let d = &v["diagnostics"][0];
    assert_eq!(d["line"], 6, "{v}");
    assert_eq!(d["column"], 1, "{v}");
    assert!(
        d["message"].as_str().unwrap().contains("desgin")
            || d["field"].as_str().unwrap().contains("desgin"),
        "{v}"
    );
    assert!(
        d["hint"].as_str().is_some_and(|h| h.contains("design")),
        "{v}"
    );
    assert_eq!(d["file"], "study.yaml", "paths are the submitter's: {v}");

    // A topology file the study names is checked where it would be.
    let study = "name: sd\nsimulator: {builtin: sysdesign, options: {topology: system.yaml}}\nparameters: {components.api.replicas: {range: [1, 3], type: integer}}\ndesign: {sampler: grid}\n";
    let (_, v) = http.post("/api/v1/check", &member, json!({"source": study}));
    assert_eq!(
        v["ok"], false,
        "a missing topology file is a diagnostic: {v}"
    );
    let topo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/sysdesign/system.yaml"
    ))
    .unwrap();
    let (_, v) = http.post(
        "/api/v1/check",
        &member,
        json!({"source": study, "files": {"system.yaml": topo}}),
    );
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["summary"]["runs"], 3, "{v}");

    // Request mistakes stay errors.
    let (s, e) = http.post(
        "/api/v1/check",
        &member,
        json!({"source": good, "files": {"../x": "y"}}),
    );
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("files.../x")),
        "{e}"
    );
    let (s, _) = http.call(
        "POST",
        "/api/v1/check",
        None,
        Some(&json!({"source": good})),
    );
    assert_eq!(s, 401);
}

/// One M/M/1 station: Poisson arrivals at 50/s, one replica serving one
/// request at a time, exponential service with mean 10 ms. Utilisation
/// rho = 0.5 and mean response time E[S]/(1 - rho) = 20 ms (e.g. Kleinrock,
/// Queueing Systems I, eq. 3.26). Tolerance: 10% on both, several times the
/// 95% half-widths of 4 replications of 200 s.
const MM1: &str = "
name: mm1
horizon: 200000
warmup: 5000
replications: 4
components:
  clients: {type: source, arrivals: {process: poisson, rate: 50}, to: api}
  api: {type: service, replicas: 1, concurrency: 1, service_time: {dist: exponential, mean: 10}, cost_per_hour: 0.5}
";

#[test]
fn simulate_runs_the_builtin_on_a_drawn_design() {
    let Some((_server, http, member, viewer)) = setup() else {
        return;
    };
    let (s, v) = http.post(
        "/api/v1/sysdesign/simulate",
        &member,
        json!({"topology": MM1}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["name"], "mm1");
    assert_eq!(v["bottleneck"], "api", "{v}");
    assert!(
        v["reason"].as_str().is_some_and(|r| r.contains("api")),
        "{v}"
    );
    let rho = v["components"]["api"]["measures"]["utilisation"]["mean"]
        .as_f64()
        .unwrap();
    assert!((rho - 0.5).abs() < 0.05, "utilisation {rho} vs 0.5: {v}");
    assert_eq!(v["components"]["api"]["type"], "service");
    assert_eq!(v["components"]["clients"]["type"], "source");
    let mean = v["measures"]["latency_mean"]["mean"].as_f64().unwrap();
    assert!(
        (mean - 20.0).abs() < 2.0,
        "mean response {mean} ms vs 20: {v}"
    );
    let (p50, p99) = (
        v["measures"]["latency_p50"]["mean"].as_f64().unwrap(),
        v["measures"]["latency_p99"]["mean"].as_f64().unwrap(),
    );
    assert!(p50 < mean && mean < p99, "{p50} {mean} {p99}");
    assert_eq!(v["measures"]["cost_per_hour"]["mean"], 0.5);
    assert!(v["measures"]["latency_p99"]["half_width"].is_f64(), "{v}");
    // Calls per second along the only edge: the arrival rate.
    let edges = v["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 1, "{v}");
    assert_eq!(
        (edges[0]["from"].as_str(), edges[0]["to"].as_str()),
        (Some("clients"), Some("api"))
    );
    let flow = edges[0]["throughput"].as_f64().unwrap();
    assert!((flow - 50.0).abs() < 2.5, "edge throughput {flow} vs 50/s");

    // Bad designs are refused with the simulator's own message.
    let (s, e) = http.post(
        "/api/v1/sysdesign/simulate",
        &member,
        json!({"topology": MM1.replace("replicas: 1,", "replicas: -1,")}),
    );
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("topology")),
        "{e}"
    );
    assert!(
        e["error"]["message"].as_str().unwrap().contains("replicas"),
        "{e}"
    );
    let (s, e) = http.post(
        "/api/v1/sysdesign/simulate",
        &member,
        json!({"topology": "a: [1"}),
    );
    assert_eq!(s, 400, "{e}");
    // So is a design too big to simulate here.
    let (s, e) = http.post(
        "/api/v1/sysdesign/simulate",
        &member,
        json!({"topology": MM1.replace("horizon: 200000", "horizon: 900000000")}),
    );
    assert_eq!(s, 400, "{e}");
    assert!(
        e["error"]["hint"].as_str().unwrap().contains("horizon"),
        "{e}"
    );
    // Simulating is for members; viewers and strangers are refused.
    let (s, _) = http.post(
        "/api/v1/sysdesign/simulate",
        &viewer,
        json!({"topology": MM1}),
    );
    assert_eq!(s, 403);
    let (s, _) = http.call(
        "POST",
        "/api/v1/sysdesign/simulate",
        None,
        Some(&json!({"topology": MM1})),
    );
    assert_eq!(s, 401);
}

#[test]
fn export_writes_compose_and_kubernetes_skeletons() {
    let Some((_server, http, _member, viewer)) = setup() else {
        return;
    };
    let topo = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/sysdesign/system.yaml"
    ))
    .unwrap();
    let (s, compose) = http.call(
        "POST",
        "/api/v1/sysdesign/export?format=compose",
        Some(&viewer),
        Some(&json!({"topology": topo})),
    );
    assert_eq!(s, 200, "{compose}");
    let doc: Value = serde_saphyr::from_str(compose.as_str().unwrap()).expect("YAML");
    assert_eq!(doc["name"], "web-shop");
    assert_eq!(doc["services"]["api"]["deploy"]["replicas"], 5);
    let (s, k8s) = http.call(
        "POST",
        "/api/v1/sysdesign/export?format=kubernetes",
        Some(&viewer),
        Some(&json!({"topology": topo})),
    );
    assert_eq!(s, 200);
    let text = k8s.as_str().unwrap();
    assert!(
        text.contains("kind: Deployment") && text.contains("kind: StatefulSet"),
        "{text}"
    );
    let (s, e) = http.call(
        "POST",
        "/api/v1/sysdesign/export?format=helm",
        Some(&viewer),
        Some(&json!({"topology": topo})),
    );
    assert_eq!(
        (s, e["error"]["field"].as_str()),
        (400, Some("format")),
        "{e}"
    );
}
