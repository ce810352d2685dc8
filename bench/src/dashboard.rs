//! The dashboard bench's driver (see `bench/dashboard.sh`): times the API
//! requests behind each dashboard page and interaction on a study already
//! loaded in a running `simforge serve` (the 1,000,000-run study the
//! ingestion bench pushes: parameters `a`, `b`, `c`, `d`, metrics `y`, `z`).
//! The explorer's first request, by a direct link before the study page
//! has warmed anything, is timed on its own line (it loads the study's
//! copy); then each request runs `--repeat` times after one warm-up call
//! (the sensitivity's first call, which estimates, on its own line); prints one
//! `key=value` line per request with the median and the slowest, against
//! the targets (first load of a page 1 s; an interaction 200 ms).
//!
//! Usage: `dashboard-bench --server URL --token T --project P --study S [--repeat N]`.

use std::collections::HashMap;
use std::time::Instant;

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut args = HashMap::new();
    for pair in raw.chunks(2) {
        if let [k, v] = pair {
            args.insert(k.trim_start_matches("--").to_string(), v.clone());
        }
    }
    let need = |k: &str| {
        args.get(k).cloned().unwrap_or_else(|| {
            eprintln!(
                "usage: dashboard-bench --server URL --token T --project P --study S [--repeat N]"
            );
            std::process::exit(2);
        })
    };
    let (server, token, project, study) = (
        need("server"),
        need("token"),
        need("project"),
        need("study"),
    );
    let repeat: usize = args.get("repeat").and_then(|r| r.parse().ok()).unwrap_or(7);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("/api/v1/projects/{project}/studies/{study}");
    // (what, page or interaction, path)
    let requests: Vec<(&str, &str, String)> = vec![
        (
            "studies page: project's studies with counts",
            "page",
            format!("/api/v1/studies?project={project}"),
        ),
        (
            "study page: progress and failure reasons",
            "page",
            base.clone(),
        ),
        (
            "study page: first page of runs",
            "page",
            format!("{base}/runs?limit=50"),
        ),
        (
            "study page: runs filtered by state",
            "interaction",
            format!("{base}/runs?limit=50&state=succeeded"),
        ),
        (
            "explorer: columns",
            "page",
            format!("{base}/explore/columns"),
        ),
        (
            "explorer: scatter sample (2,000 rows)",
            "interaction",
            format!("{base}/explore/sample?n=2000"),
        ),
        (
            "explorer: filtered sample",
            "interaction",
            format!("{base}/explore/sample?n=2000&where=param.b:lt:0.5"),
        ),
        (
            "explorer: histogram of a metric (exact)",
            "interaction",
            format!("{base}/explore/histogram?col=metric.y&bins=40"),
        ),
        (
            "explorer: filtered histogram",
            "interaction",
            format!("{base}/explore/histogram?col=metric.y&bins=40&where=param.c:gte:32"),
        ),
        (
            "explorer: sensitivity bars (rank measures)",
            "page",
            format!("{base}/explore/sensitivity?metric=y"),
        ),
        (
            "explorer: runs sorted by a metric",
            "interaction",
            format!("{base}/explore/runs?sort=metric.y&order=desc&limit=50"),
        ),
        (
            "explorer: sorted and filtered runs",
            "interaction",
            format!("{base}/explore/runs?sort=metric.z&where=param.a:lt:1&limit=50"),
        ),
        (
            "explorer: next page of sorted runs",
            "interaction",
            format!("{base}/explore/runs?sort=metric.y&order=desc&limit=50&offset=50"),
        ),
    ];
    println!("| request | kind | median ms | slowest ms | target ms | median ÷ target |");
    println!("|---|---|---:|---:|---:|---:|");
    let call_url = |url: &str| {
        let t = Instant::now();
        let mut r = agent
            .get(url)
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        assert_eq!(status, 200, "GET {url}: {body}");
        t.elapsed().as_secs_f64() * 1000.0
    };
    // The explorer opened by a link, before any study page has warmed its
    // copy: the whole load is in this request.
    let cold = call_url(&format!("{server}{base}/explore/columns"));
    println!(
        "| **explorer: first visit by a direct link (loads the study's copy)** | page | **{cold:.0}** | {cold:.0} | 1000 | **{:.2}** |",
        cold / 1000.0
    );
    for (what, kind, path) in requests {
        let url = format!("{server}{path}");
        let call = || call_url(&url);
        let first = call();
        if what.starts_with("explorer: sensitivity") {
            // The first request estimates; later ones are cached until the
            // study changes.
            println!(
                "| explorer: sensitivity bars, first request (estimates them) | page | {first:.0} | {first:.0} | 1000 | {:.2} |",
                first / 1000.0
            );
        }
        let mut ms: Vec<f64> = (0..repeat).map(|_| call()).collect();
        ms.sort_by(f64::total_cmp);
        let median = ms[ms.len() / 2];
        let target = if kind == "page" { 1000.0 } else { 200.0 };
        println!(
            "| {what} | {kind} | {median:.0} | {:.0} | {target:.0} | {:.2} |",
            ms[ms.len() - 1],
            median / target
        );
    }
}
