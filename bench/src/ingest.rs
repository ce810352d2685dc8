//! The ingestion bench's driver (see `bench/ingest.sh`): registers a study of
//! N random-design runs on a running `simforge serve`, uploads N synthetic
//! finished results through `simforge push`'s client code
//! (`simforge_exec::remote::push::Uploader`: spool, idempotency key, retries)
//! with several uploaders, and meanwhile submits a tiny study every 100 ms to
//! time single submissions under that load and samples the server's memory.
//!
//! Usage: `ingest-bench --server URL --token T --project P --pid SERVER_PID
//! --work DIR [--records N] [--batch B] [--uploaders K] [--csv FILE]`.
//! Prints `key=value` lines; `--csv` also writes the same rows as CSV for the
//! `COPY` floor (before anything is timed).

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use simforge_core::{Plan, PlannedRun};
use simforge_exec::RunnableSimulator;
use simforge_exec::remote::push::{Client, IngestRecord, Registration, Spool, Uploader};

fn arg(args: &HashMap<String, String>, key: &str) -> Option<String> {
    args.get(key).cloned()
}

fn need(args: &HashMap<String, String>, key: &str) -> String {
    arg(args, key).unwrap_or_else(|| {
        eprintln!("ingest-bench: --{key} is required");
        std::process::exit(2);
    })
}

fn num(args: &HashMap<String, String>, key: &str, default: usize) -> usize {
    arg(args, key).map_or(default, |v| {
        v.parse().unwrap_or_else(|_| {
            eprintln!("ingest-bench: --{key} {v}: not a number");
            std::process::exit(2);
        })
    })
}

/// Peak and current resident memory of a process, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// CPU seconds (user + system) a process has used.
fn cpu_s(pid: u32) -> f64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which is in parentheses.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (ticks(11) + ticks(12)) / hz.max(1.0)
}

/// CPU seconds of every PostgreSQL process on the machine.
fn postgres_cpu_s() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(cpu_s)
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[k.min(sorted.len() - 1)]
}

/// The finished result a local store would hold for `r`.
fn record(r: &PlannedRun, spec_hash: &str) -> IngestRecord {
    let a = r.params["a"].as_f64().unwrap_or(1.0);
    let b = r.params["b"].as_f64().unwrap_or(0.0);
    let mut metrics = Map::new();
    metrics.insert("y".into(), json!(a.ln() * b + r.index as f64 * 1e-6));
    metrics.insert("z".into(), json!(a * 2.0));
    IngestRecord {
        run_id: r.id.clone(),
        index: r.index,
        replicate: r.replicate,
        seed: r.seed,
        params: r.params.clone().into_iter().collect(),
        state: "succeeded".into(),
        metrics,
        attempts: 1,
        started_at: Some("2026-11-29T10:00:00.000Z".into()),
        finished_at: Some("2026-11-29T10:00:00.125Z".into()),
        duration_s: Some(0.125),
        host: Some("node-17".into()),
        reason: None,
        exit_code: Some(0),
        spec_hash: spec_hash.to_string(),
    }
}

/// One row of the COPY floor: the same fields as a record, as CSV.
fn csv_row(out: &mut impl Write, r: &PlannedRun, rec: &IngestRecord) -> std::io::Result<()> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let params = serde_json::to_string(&rec.params).unwrap_or_default();
    let metrics = serde_json::to_string(&rec.metrics).unwrap_or_default();
    writeln!(
        out,
        "{},{},{},{},{},succeeded,1,{},2026-11-29T10:00:00.000Z,2026-11-29T10:00:00.125Z,0.125,node-17,{}",
        r.id,
        r.index,
        r.replicate,
        r.seed,
        q(&params),
        q(&metrics),
        rec.spec_hash
    )
}

/// Submits a tiny study every 100 ms until `done`, recording each latency
/// (ms); study names count up from `first`.
fn submissions(
    server: &str,
    token: &str,
    project: &str,
    first: u64,
    done: &AtomicBool,
    out: &Mutex<Vec<f64>>,
) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let mut i = first;
    while !done.load(Ordering::Relaxed) {
        let next = Instant::now() + Duration::from_millis(100);
        let body = json!({"source": format!(
            "name: probe-{i}\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\nparameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\ndesign: {{sampler: random, samples: 1, seed: {i}}}\n"
        )});
        let t = Instant::now();
        let r = agent
            .post(&format!("{server}/api/v1/projects/{project}/studies"))
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(&body);
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        match r {
            Ok(resp) if resp.status().as_u16() == 201 => {
                if let Ok(mut v) = out.lock() {
                    v.push(ms);
                }
            }
            Ok(resp) => eprintln!("probe {i}: HTTP {}", resp.status()),
            Err(e) => eprintln!("probe {i}: {e}"),
        }
        i += 1;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut args = HashMap::new();
    for pair in raw.chunks(2) {
        match pair {
            [k, v] if k.starts_with("--") => {
                args.insert(k.trim_start_matches("--").to_string(), v.clone());
            }
            _ => {
                eprintln!(
                    "usage: ingest-bench --server URL --token T --project P --pid PID --work DIR [--records N] [--batch B] [--uploaders K] [--csv FILE]"
                );
                std::process::exit(2);
            }
        }
    }
    let server = need(&args, "server");
    let token = need(&args, "token");
    let project = need(&args, "project");
    let pid: u32 = need(&args, "pid").parse().unwrap_or(0);
    let work = std::path::PathBuf::from(need(&args, "work"));
    let n = num(&args, "records", 1_000_000);
    let batch = num(&args, "batch", 5_000);
    let uploaders = num(&args, "uploaders", 2).max(1);

    let study_file = work.join("million.yaml");
    let source = format!(
        "name: million\nsimulator: {{command: [\"true\"]}}\nparameters:\n  a: {{range: [0.1, 10], scale: log}}\n  b: {{range: [0, 1]}}\n  c: {{range: [1, 64], type: integer}}\n  d: {{choice: [red, green, blue]}}\ndesign: {{sampler: random, samples: {n}, seed: 1}}\nmetrics: [y]\n"
    );
    std::fs::write(&study_file, &source).expect("writing the study");
    let study = simforge_core::load_study(&study_file).expect("the study");
    let sim = RunnableSimulator::new(&study).expect("the simulator");

    let t = Instant::now();
    let plan = Plan::new(&study, &sim.identity()).expect("the plan");
    let runs: Vec<PlannedRun> = plan.runs().collect();
    println!("generate_s={:.2}", t.elapsed().as_secs_f64());
    if let Some(csv) = arg(&args, "csv") {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).expect("the CSV"));
        for r in &runs {
            csv_row(&mut out, r, &record(r, &study.spec_hash)).expect("writing the CSV");
        }
        out.flush().expect("writing the CSV");
    }

    let client = Client::new(&server, &token, Duration::from_secs(600));
    let spool = Spool::open(&work.join("store"), "million", &server, &project).expect("the spool");
    let up = Uploader::new(client, spool, &project, "million");
    let t = Instant::now();
    let reg = up
        .register(&Registration {
            source: source.clone(),
            source_name: Some("million.yaml".into()),
            files: Default::default(),
        })
        .expect("registration");
    println!(
        "register_plan_s={:.2} planned={}",
        t.elapsed().as_secs_f64(),
        reg.planned
    );
    assert_eq!(reg.planned as usize, n, "the server plans every run");

    // Submissions every 100 ms with the server idle, for reference.
    let idle: Mutex<Vec<f64>> = Mutex::default();
    {
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| submissions(&server, &token, &project, 0, &stop, &idle));
            std::thread::sleep(Duration::from_secs(5));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let mut idle = idle.into_inner().expect("latencies");
    idle.sort_by(|a, b| a.total_cmp(b));
    println!(
        "idle_submissions={} idle_submit_p50_ms={:.1} idle_submit_p99_ms={:.1}",
        idle.len(),
        percentile(&idle, 50.0),
        percentile(&idle, 99.0)
    );

    // Submissions every 100 ms while the upload runs, and memory samples.
    let done = Arc::new(AtomicBool::new(false));
    let latencies: Arc<Mutex<Vec<f64>>> = Arc::default();
    let rss_max = Arc::new(Mutex::new(0u64));
    let probe = {
        let (done, latencies, server, token, project) = (
            done.clone(),
            latencies.clone(),
            server.clone(),
            token.clone(),
            project.clone(),
        );
        std::thread::spawn(move || {
            submissions(&server, &token, &project, 1_000_000, &done, &latencies)
        })
    };
    let sampler = {
        let (done, rss_max) = (done.clone(), rss_max.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some((_, rss)) = memory(pid) {
                    let mut m = rss_max.lock().expect("rss");
                    *m = (*m).max(rss);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    let next = AtomicUsize::new(0);
    let accepted = AtomicUsize::new(0);
    let cpu0 = (cpu_s(pid), cpu_s(std::process::id()), postgres_cpu_s());
    let t = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..uploaders {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let from = i * batch;
                    if from >= n {
                        break;
                    }
                    let records: Vec<IngestRecord> = runs[from..(from + batch).min(n)]
                        .iter()
                        .map(|r| record(r, &study.spec_hash))
                        .collect();
                    let reply = up.upload(&records).expect("a batch");
                    assert!(
                        reply.quarantined.is_empty(),
                        "quarantined: {:?}",
                        reply.quarantined.first()
                    );
                    accepted.fetch_add(reply.accepted as usize, Ordering::Relaxed);
                }
            });
        }
    });
    let upload_s = t.elapsed().as_secs_f64();
    let cpu1 = (cpu_s(pid), cpu_s(std::process::id()), postgres_cpu_s());
    done.store(true, Ordering::Relaxed);
    let _ = probe.join();
    let _ = sampler.join();
    let accepted = accepted.into_inner();
    assert_eq!(accepted, n, "every result accepted once");

    let mut lat = latencies.lock().expect("latencies").clone();
    lat.sort_by(|a, b| a.total_cmp(b));
    let (hwm, _) = memory(pid).unwrap_or((0, 0));
    let rss_upload = *rss_max.lock().expect("rss");
    let check: Value = {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut r = agent
            .get(&format!(
                "{server}/api/v1/projects/{project}/studies/million"
            ))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("the study");
        serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
            .unwrap_or(Value::Null)
    };
    println!("uploaders={uploaders} batch={batch} records={n} accepted={accepted}");
    println!("server_succeeded={}", check["counts"]["succeeded"]);
    println!(
        "upload_s={upload_s:.2} results_per_s={:.0}",
        n as f64 / upload_s
    );
    println!(
        "submissions={} submit_p50_ms={:.1} submit_p99_ms={:.1} submit_max_ms={:.1}",
        lat.len(),
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "cpu_during_upload_s: server={:.1} driver={:.1} postgres={:.1}",
        cpu1.0 - cpu0.0,
        cpu1.1 - cpu0.1,
        cpu1.2 - cpu0.2
    );
    println!(
        "server_peak_rss_mib={:.1} server_max_rss_during_upload_mib={:.1}",
        hwm as f64 / 1024.0,
        rss_upload as f64 / 1024.0
    );
}
