//! `sysdesign` against queueing theory, exact deterministic cases, and its
//! error messages. Durations are in ms, rates per second.

use super::*;
use serde_json::json;

fn design(topology: Value) -> SysDesign {
    let mut o = Map::new();
    o.insert("topology".into(), topology);
    SysDesign::from_options(&o, Path::new(".")).unwrap_or_else(|e| panic!("{e}"))
}

fn run(topology: Value, seed: u64) -> (Summary, Model) {
    let d = design(topology);
    let m = d.model().clone();
    (d.simulate(&m, seed, 2), m)
}

fn est(s: &Summary, k: &str) -> summary::Estimate {
    *s.estimates
        .get(k)
        .unwrap_or_else(|| panic!("no metric `{k}` in {:?}", s.estimates.keys()))
}

fn close(what: &str, got: f64, want: f64, tol: f64) {
    assert!(
        (got / want - 1.0).abs() < tol,
        "{what}: {got} vs {want} (relative tolerance {tol})"
    );
}

/// One station fed by a Poisson source: `concurrency` servers, one queue.
fn station(rate: f64, service: Value, concurrency: u64, horizon: f64, reps: u64) -> Value {
    json!({
        "horizon": horizon, "warmup": horizon / 50.0, "replications": reps,
        "components": {
            "clients": {"type": "source", "arrivals": {"process": "poisson", "rate": rate}, "to": "q"},
            "q": {"type": "service", "concurrency": concurrency, "service_time": service},
        }
    })
}

#[test]
fn mm1_matches_queueing_theory() {
    // M/M/1, λ = 0.9/s, μ = 1/s: W = 1/(μ−λ) = 10 s, Lq = ρ²/(1−ρ) = 8.1,
    // utilisation 0.9. 8 replications of 2·10⁶ customers (ρ = 0.9 relaxes
    // slowly); tolerance 2%, and W inside the reported 95% interval.
    let horizon = 2.0e6 / 0.9 * 1000.0;
    let (s, _) = run(
        station(
            0.9,
            json!({"dist": "exponential", "mean": 1000.0}),
            1,
            horizon,
            8,
        ),
        7,
    );
    let w = est(&s, "latency_mean");
    close("W", w.mean, 10_000.0, 0.02);
    assert!(w.covers(10_000.0), "W {w:?} does not cover 10000");
    close("Lq", est(&s, "q.queue_length").mean, 8.1, 0.02);
    close("utilisation", est(&s, "q.utilisation").mean, 0.9, 0.01);
    // Exponential response time: p99 = W ln 100.
    close(
        "p99",
        est(&s, "latency_p99").mean,
        10_000.0 * 100f64.ln(),
        0.03,
    );
    assert_eq!(s.bottleneck, "q");
}

#[test]
fn mm3_matches_erlang_c() {
    // M/M/3, λ = 0.2/s, μ = 0.1/s (a = 2, ρ = 2/3): Erlang C = 4/9,
    // Wq = C/(cμ − λ) = 4.444 s, W = 14.444 s. Tolerance 2%, inside the interval.
    let horizon = 1.0e6 / 0.2 * 1000.0;
    let (s, _) = run(
        station(
            0.2,
            json!({"dist": "exponential", "mean": 10_000.0}),
            3,
            horizon,
            8,
        ),
        3,
    );
    let w = est(&s, "latency_mean");
    close("W", w.mean, 40_000.0 / 9.0 + 10_000.0, 0.02);
    assert!(w.covers(40_000.0 / 9.0 + 10_000.0), "{w:?}");
    close("Wq", est(&s, "q.mean_wait").mean, 40_000.0 / 9.0, 0.02);
    close(
        "utilisation",
        est(&s, "q.utilisation").mean,
        2.0 / 3.0,
        0.01,
    );
}

#[test]
fn md1_matches_pollaczek_khinchine() {
    // M/D/1, λ = 0.8/s, service 1 s: Wq = ρ/(2μ(1−ρ)) = 2 s, W = 3 s. Tolerance 2%.
    let horizon = 1.0e6 / 0.8 * 1000.0;
    let (s, _) = run(station(0.8, json!(1000.0), 1, horizon, 8), 5);
    let w = est(&s, "latency_mean");
    close("W", w.mean, 3000.0, 0.02);
    assert!(w.covers(3000.0), "{w:?}");
    close("Wq", est(&s, "q.mean_wait").mean, 2000.0, 0.02);
}

#[test]
fn open_jackson_network_matches_traffic_equations() {
    // External Poisson arrivals, λ = 1/s, into A (1 server, μ = 4/s). After A:
    // to B with p = 0.5, to C with p = 0.3, out with 0.2. After B (1 server,
    // μ = 1/s): back to A with p = 0.2, out otherwise. C: 2 servers, μ = 1/s.
    // Traffic equations: λA = 1 + 0.2 λB, λB = 0.5 λA, λC = 0.3 λA, so
    // λA = 1/0.9, λB = 0.5/0.9, λC = 0.3/0.9. Jackson's theorem: each station is
    // an independent M/M/c; the sojourn time is W = ΣL / λ (Little).
    let (la, lb, lc) = (1.0 / 0.9, 0.5 / 0.9, 0.3 / 0.9);
    let mm1_l = |rho: f64| rho / (1.0 - rho);
    let (ra, rb) = (la / 4.0, lb / 1.0);
    // M/M/2 with a = λC/μ: P0 = [1 + a + a²/(2(1−ρ))]⁻¹, Lq = P0 a² ρ / (2 (1−ρ)²).
    let a = lc;
    let rho_c: f64 = a / 2.0;
    let p0 = 1.0 / (1.0 + a + a * a / (2.0 * (1.0 - rho_c)));
    let lq_c = p0 * a * a * rho_c / (2.0 * (1.0 - rho_c).powi(2));
    let l_total = mm1_l(ra) + mm1_l(rb) + lq_c + a;
    let w = l_total / 1.0 * 1000.0;
    let topology = json!({
        "horizon": 2.0e9, "warmup": 1.0e7, "replications": 8,
        "components": {
            "in": {"type": "source", "arrivals": {"rate": 1.0}, "to": "a"},
            "a": {"type": "service", "service_time": {"mean": 250.0},
                  "next": [{"to": "b", "p": 0.5}, {"to": "c", "p": 0.3}]},
            "b": {"type": "service", "service_time": {"mean": 1000.0},
                  "next": [{"to": "a", "p": 0.2}]},
            "c": {"type": "service", "concurrency": 2, "service_time": {"mean": 1000.0}},
        }
    });
    let (s, _) = run(topology, 11);
    let got = est(&s, "latency_mean");
    close("W", got.mean, w, 0.02);
    assert!(got.covers(w), "W {got:?} does not cover {w}");
    close("ρA", est(&s, "a.utilisation").mean, ra, 0.02);
    close("ρB", est(&s, "b.utilisation").mean, rb, 0.02);
    close("ρC", est(&s, "c.utilisation").mean, rho_c, 0.02);
    close(
        "LqB",
        est(&s, "b.queue_length").mean,
        rb * rb / (1.0 - rb),
        0.03,
    );
    close("throughput", est(&s, "throughput").mean, 1.0, 0.01);
    assert_eq!(s.bottleneck, "b");
    // The flow along each edge is what the traffic equations route there:
    // in→a 1/s, a→b 0.5 λA, a→c 0.3 λA, b→a 0.2 λB.
    let (s, m) = run(
        json!({
            "horizon": 2.0e8, "warmup": 1.0e6, "replications": 4,
            "components": {
                "in": {"type": "source", "arrivals": {"rate": 1.0}, "to": "a"},
                "a": {"type": "service", "service_time": {"mean": 250.0},
                      "next": [{"to": "b", "p": 0.5}, {"to": "c", "p": 0.3}]},
                "b": {"type": "service", "service_time": {"mean": 1000.0},
                      "next": [{"to": "a", "p": 0.2}]},
                "c": {"type": "service", "concurrency": 2, "service_time": {"mean": 1000.0}},
            }
        }),
        12,
    );
    let flow = |from: &str, to: &str| {
        s.edges
            .iter()
            .find(|(a, b, _)| m.components[*a].name == from && m.components[*b].name == to)
            .map(|(_, _, e)| e.mean)
            .unwrap_or_else(|| panic!("no edge {from}->{to} in {:?}", s.edges))
    };
    close("in→a", flow("in", "a"), 1.0, 0.02);
    close("a→b", flow("a", "b"), 0.5 * la, 0.02);
    close("a→c", flow("a", "c"), 0.3 * la, 0.03);
    close("b→a", flow("b", "a"), 0.2 * lb, 0.04);
    assert_eq!(s.edges.len(), 4, "{:?}", s.edges);
}

#[test]
fn erlang_b_blocking_with_no_waiting_room() {
    // M/M/2/2 (no queue), a = λ/μ = 1: Erlang B = (a²/2)/(1 + a + a²/2) = 0.2.
    let topology = json!({
        "horizon": 2.0e8, "replications": 4,
        "components": {
            "in": {"type": "source", "arrivals": {"rate": 1.0}, "to": "q"},
            "q": {"type": "service", "concurrency": 2, "queue_capacity": 0,
                  "service_time": {"mean": 1000.0}},
        }
    });
    let (s, _) = run(topology, 1);
    close("blocking", est(&s, "drop_ratio").mean, 0.2, 0.02);
    close("success", est(&s, "success_ratio").mean, 0.8, 0.01);
}

#[test]
fn sequential_and_parallel_calls_add_up_exactly() {
    // Deterministic times, no queueing (light load, ample concurrency), 0.5 ms
    // each way on every edge. Sequential: 2·0.5 (client↔api) + 1 (api)
    // + 2·(2·0.5 + 5) = 14 ms. Parallel: 2·0.5 + 1 + (2·0.5 + 5) = 8 ms.
    let t = |calls: Value| {
        json!({
            "horizon": 10_000.0, "replications": 2,
            "network": {"default": 0.5},
            "components": {
                "c": {"type": "source", "arrivals": {"process": "constant", "rate": 10.0}, "to": "api"},
                "api": {"type": "service", "concurrency": 100, "service_time": 1.0, "calls": calls},
                "x": {"type": "service", "concurrency": 100, "service_time": 5.0},
                "y": {"type": "database", "pool": 100, "query_time": 5.0},
            }
        })
    };
    let (s, _) = run(t(json!(["x", "y"])), 1);
    close("sequential", est(&s, "latency_p99").mean, 14.0, 1e-9);
    let (s, _) = run(t(json!([{"parallel": ["x", "y"]}])), 1);
    close("parallel", est(&s, "latency_p50").mean, 8.0, 1e-9);
    close("parallel max", est(&s, "latency_p999").mean, 8.0, 1e-9);
}

#[test]
fn cache_hits_and_misses_mix_latencies() {
    // Hit 1 ms; miss 1 ms then the database's 10 ms: mean = 0.8·1 + 0.2·11 = 3 ms.
    let topology = json!({
        "horizon": 1.0e6, "replications": 4,
        "components": {
            "c": {"type": "source", "arrivals": {"rate": 100.0}, "to": "cache"},
            "cache": {"type": "cache", "hit_ratio": 0.8, "hit_time": 1.0, "miss": "db"},
            "db": {"type": "database", "pool": 1000, "query_time": 10.0},
        }
    });
    let (s, _) = run(topology, 2);
    close("mean", est(&s, "latency_mean").mean, 3.0, 0.01);
    close("p50", est(&s, "latency_p50").mean, 1.0, 1e-9);
    close("p99", est(&s, "latency_p99").mean, 11.0, 1e-9);
}

#[test]
fn timeouts_and_retries_are_counted() {
    // The service always takes 100 ms; callers wait 50 ms, then retry twice
    // after 10 ms and 20 ms: every request times out after 3 attempts.
    let topology = json!({
        "horizon": 100_000.0, "replications": 2,
        "components": {
            "c": {"type": "source", "arrivals": {"rate": 5.0}, "to": "slow"},
            "slow": {"type": "service", "concurrency": 1000, "service_time": 100.0,
                     "timeout": 50.0, "retries": {"max": 2, "backoff": 10.0}},
        }
    });
    let d = design(topology);
    let m = d.model().clone();
    let s = d.simulate(&m, 3, 2);
    close("timeouts", est(&s, "timeout_ratio").mean, 1.0, 1e-9);
    close("retries", est(&s, "retries_per_request").mean, 2.0, 1e-9);
    assert_eq!(est(&s, "throughput").mean, 0.0);
    // With no success at all, the run still reports: latencies are null
    // (a constraint on them is unmet) and the success ratio is 0.
    let dir = tempfile::tempdir().unwrap();
    let out = d
        .run(&RunInput {
            params: &Params::new(),
            seed: 1,
            workdir: dir.path(),
            threads: 1,
        })
        .unwrap();
    assert_eq!(out.metrics["latency_p99"], Value::Null);
    assert_eq!(out.metrics["success_ratio"], json!(0.0));
    assert_eq!(out.metrics["timeout_ratio"], json!(1.0));
    // Through a balancer, callers still use the service's timeout and retries.
    let topology = json!({
        "horizon": 100_000.0, "replications": 2,
        "components": {
            "c": {"type": "source", "arrivals": {"rate": 5.0}, "to": "lb"},
            "lb": {"type": "load_balancer", "targets": ["slow"]},
            "slow": {"type": "service", "replicas": 2, "concurrency": 1000, "service_time": 100.0,
                     "timeout": 50.0, "retries": {"max": 1}},
        }
    });
    let (s, _) = run(topology, 3);
    close("timeouts via lb", est(&s, "timeout_ratio").mean, 1.0, 1e-9);
    close(
        "retries via lb",
        est(&s, "retries_per_request").mean,
        1.0,
        1e-9,
    );
}

#[test]
fn balancer_policies_rank_as_theory_says() {
    // 4 replicas of one slot, ρ = 0.8. Random splitting gives 4 independent
    // M/M/1 queues (Poisson thinning): W = 1/(μ − λ/4) = 5 service times.
    // Round-robin smooths arrivals (Erlang-4 per replica) and least-outstanding
    // approaches one shared queue, so each is better than the last.
    let t = |policy: &str| {
        json!({
            "horizon": 2.0e7, "replications": 4,
            "components": {
                "c": {"type": "source", "arrivals": {"rate": 3.2}, "to": "lb"},
                "lb": {"type": "load_balancer", "policy": policy, "targets": ["api"]},
                "api": {"type": "service", "replicas": 4, "service_time": {"mean": 1000.0}},
            }
        })
    };
    let w = |p: &str| est(&run(t(p), 9).0, "latency_mean").mean;
    let (random, rr, least) = (w("random"), w("round_robin"), w("least_outstanding"));
    close("random", random, 5000.0, 0.03);
    assert!(rr < 0.8 * random, "round robin {rr} vs random {random}");
    assert!(
        least < 0.8 * rr,
        "least outstanding {least} vs round robin {rr}"
    );
}

#[test]
fn topics_deliver_in_order_and_drop_beyond_retention() {
    // 100 msg/s into 4 partitions read by 2 consumers of 5 ms each: lightly
    // loaded, every message reaches the sink.
    let t = |rate: f64, retention: Value| {
        json!({
            "horizon": 200_000.0, "replications": 2,
            "components": {
                "c": {"type": "source", "arrivals": {"rate": rate}, "to": "api"},
                "api": {"type": "service", "concurrency": 1000, "service_time": 1.0, "calls": ["events"]},
                "events": {"type": "topic", "partitions": 4, "group_size": 2,
                           "retention": retention, "consumer": "worker"},
                "worker": {"type": "stream_processor", "process_time": 5.0, "next": "done"},
                "done": {"type": "sink"},
            }
        })
    };
    let (s, _) = run(t(100.0, json!(1_000_000)), 4);
    close(
        "sink throughput",
        est(&s, "done.throughput").mean,
        100.0,
        0.02,
    );
    close("sync latency", est(&s, "latency_p99").mean, 1.0, 1e-9);
    assert!(est(&s, "done.latency_p50").mean >= 6.0);
    assert_eq!(est(&s, "events.dropped").mean, 0.0);
    // 1000 msg/s against a capacity of 2 × 200/s: the consumers are the
    // bottleneck, they deliver 400/s, and retention drops the rest.
    let (s, _) = run(t(1000.0, json!(10)), 4);
    close(
        "sink throughput",
        est(&s, "done.throughput").mean,
        400.0,
        0.02,
    );
    close("dropped", est(&s, "events.dropped").mean, 600.0, 0.03);
    assert_eq!(s.bottleneck, "worker");
    assert!(s.reason.contains("topic `events`"), "{}", s.reason);
}

#[test]
fn arrival_processes_have_their_mean_rates() {
    // MMPP: (50·20 s + 400·5 s)/25 s = 120/s. Trace: 10 arrivals per 100 ms = 100/s.
    let t = |arrivals: Value| {
        json!({
            "horizon": 2.0e6, "replications": 4,
            "components": {
                "c": {"type": "source", "arrivals": arrivals, "to": "s"},
                "s": {"type": "service", "concurrency": 10_000, "service_time": 1.0},
            }
        })
    };
    let (s, _) = run(
        t(json!({"process": "mmpp", "rates": [50.0, 400.0], "durations": [20_000.0, 5_000.0]})),
        5,
    );
    close("mmpp", est(&s, "offered_rate").mean, 120.0, 0.03);
    let times: Vec<f64> = (0..10).map(|k| f64::from(k) * 10.0).collect();
    let (s, _) = run(
        t(json!({"process": "trace", "times": times, "period": 100.0})),
        5,
    );
    close("trace", est(&s, "offered_rate").mean, 100.0, 0.001);
    let (s, _) = run(t(json!({"process": "constant", "rate": 40.0})), 5);
    close("constant", est(&s, "offered_rate").mean, 40.0, 0.001);
}

#[test]
fn parameters_are_property_paths() {
    let d = design(station(0.5, json!({"mean": 1000.0}), 1, 4.0e7, 2));
    let names: Vec<String> = d.parameters().into_iter().map(|p| p.name).collect();
    for want in [
        "components.q.replicas",
        "components.q.concurrency",
        "components.q.service_time.mean",
        "components.clients.arrivals.rate",
        "components.q.timeout",
        "horizon",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let mut p = Params::new();
    p.insert("components.q.concurrency".into(), json!(2));
    let m = d.model_with(&p).unwrap();
    let s1 = d.simulate(&d.model().clone(), 1, 2);
    let s2 = d.simulate(&m, 1, 2);
    let (u1, u2) = (
        est(&s1, "q.utilisation").mean,
        est(&s2, "q.utilisation").mean,
    );
    close("utilisation halves", u2, u1 / 2.0, 0.05);
    p.insert("components.q.concurrency".into(), json!(2.5));
    let e = d.model_with(&p).unwrap_err();
    assert!(
        matches!(&e, SimError::BadParam { param, message }
            if param == "components.q.concurrency" && message.contains("whole number")),
        "{e:?}"
    );
    let mut p = Params::new();
    p.insert("components.qq.replicas".into(), json!(2));
    let e = d.model_with(&p).unwrap_err().to_string();
    assert!(
        e.contains("no component `qq`") && e.contains("did you mean `q`"),
        "{e}"
    );
}

#[test]
fn results_depend_on_the_seed_not_on_threads() {
    let t = station(0.5, json!({"mean": 1000.0}), 1, 1.0e6, 4);
    let mut o = Map::new();
    o.insert("topology".into(), t);
    let one = {
        let mut o = o.clone();
        o.insert("threads".into(), json!(1));
        SysDesign::from_options(&o, Path::new(".")).unwrap()
    };
    let four = {
        let mut o = o.clone();
        o.insert("threads".into(), json!(4));
        SysDesign::from_options(&o, Path::new(".")).unwrap()
    };
    let m = one.model().clone();
    let a = one.simulate(&m, 42, 2).estimates;
    let b = four.simulate(&m, 42, 2).estimates;
    assert_eq!(a, b);
    // Without the option, the run's share of cores decides; same results.
    let free = design(station(0.5, json!({"mean": 1000.0}), 1, 1.0e6, 4));
    assert_eq!(free.simulate(&m, 42, 1).estimates, a);
    assert_eq!(free.simulate(&m, 42, 3).estimates, a);
    let c = one.simulate(&m, 43, 2).estimates;
    assert_ne!(a["latency_mean"], c["latency_mean"]);
}

#[test]
fn overloaded_design_reports_saturation_and_its_bottleneck() {
    // Web tier fine, database pool of 2 at 10 ms against 400 req/s: the pool
    // can serve 200/s.
    let topology = json!({
        "horizon": 20_000.0, "replications": 2,
        "components": {
            "c": {"type": "source", "arrivals": {"rate": 400.0}, "to": "web"},
            "web": {"type": "service", "replicas": 4, "concurrency": 100, "service_time": {"mean": 2.0},
                    "calls": ["db"], "cost_per_hour": 0.5},
            "db": {"type": "database", "pool": 2, "query_time": 10.0, "cost_per_hour": 2.0},
        }
    });
    let (s, m) = run(topology, 8);
    assert_eq!(s.bottleneck, "db");
    assert!(s.reason.contains("saturated"), "{}", s.reason);
    assert!(
        s.reason.contains("`web` holds all its slots"),
        "{}",
        s.reason
    );
    assert!(est(&s, "db.utilisation").mean > 0.99);
    assert!(est(&s, "web.utilisation").mean < 0.01);
    assert!(est(&s, "web.occupancy").mean > 0.99);
    assert_eq!(m.cost_per_hour(), 4.0 * 0.5 + 2.0);
}

#[test]
fn run_writes_metrics_and_a_detailed_file() {
    let d = design(station(0.5, json!({"mean": 100.0}), 1, 1.0e5, 3));
    let dir = tempfile::tempdir().unwrap();
    let mut p = Params::new();
    p.insert("components.q.service_time.mean".into(), json!(200.0));
    let out = d
        .run(&RunInput {
            params: &p,
            seed: 9,
            workdir: dir.path(),
            threads: 1,
        })
        .unwrap();
    for m in d.metrics() {
        assert!(out.metrics.contains_key(&m), "missing {m}");
    }
    assert!(out.metrics.contains_key("latency_p99_ci"));
    // ρ = 0.5/s · 0.2 s = 0.1.
    let u = out.metrics["q.utilisation"].as_f64().unwrap();
    assert!((u - 0.1).abs() < 0.02, "{u}");
    let detail: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sysdesign.json")).unwrap())
            .unwrap();
    assert_eq!(detail["replications"].as_array().unwrap().len(), 3);
    assert_eq!(out.artifacts, ["sysdesign.json"]);
}

fn parse_err(t: Value) -> String {
    let mut o = Map::new();
    o.insert("topology".into(), t);
    SysDesign::from_options(&o, Path::new("."))
        .unwrap_err()
        .to_string()
}

#[test]
fn topology_errors_name_the_field_and_suggest() {
    let base = |api: Value| {
        json!({"components": {
            "c": {"type": "source", "arrivals": {"rate": 1.0}, "to": "api"},
            "api": api,
            "db": {"type": "database", "query_time": 1.0},
        }})
    };
    let e = parse_err(base(json!({"type": "servce", "service_time": 1.0})));
    assert!(
        e.contains("topology.components.api.type") && e.contains("did you mean `service`"),
        "{e}"
    );
    let e = parse_err(base(json!({"type": "service"})));
    assert!(e.contains("missing field `service_time`"), "{e}");
    let e = parse_err(base(
        json!({"type": "service", "service_time": 1.0, "calls": ["dbb"]}),
    ));
    assert!(
        e.contains("topology.components.api.calls[0]") && e.contains("did you mean `db`"),
        "{e}"
    );
    let e = parse_err(base(
        json!({"type": "service", "service_time": 1.0, "replica": 2}),
    ));
    assert!(
        e.contains("unknown field `replica`") && e.contains("did you mean `replicas`"),
        "{e}"
    );
    let e = parse_err(base(
        json!({"type": "service", "service_time": {"dist": "gamma", "mean": 1}}),
    ));
    assert!(e.contains("unknown distribution `gamma`"), "{e}");
    let e = parse_err(base(
        json!({"type": "service", "service_time": 1.0, "calls": ["c"]}),
    ));
    assert!(e.contains("`c` is a source"), "{e}");
    let e = parse_err(base(json!({"type": "service", "service_time": 1.0,
        "next": [{"to": "db", "p": 0.7}, {"to": "db", "p": 0.6}]})));
    assert!(e.contains("sum to 1.3"), "{e}");
    let e = parse_err(json!({"components": {
        "c": {"type": "source", "arrivals": {"rate": 1.0}, "to": "a"},
        "a": {"type": "service", "service_time": 1.0, "calls": ["b"]},
        "b": {"type": "service", "service_time": 1.0, "calls": ["a"]},
    }}));
    assert!(e.contains("cycle: a -> b -> a"), "{e}");
    let e = parse_err(json!({"components": {
        "c": {"type": "source", "arrivals": {"rate": 1.0}, "to": "a"},
        "a": {"type": "service", "service_time": 0.0, "next": "b"},
        "b": {"type": "service", "service_time": 0.0, "next": [{"to": "a", "p": 1.0}]},
    }}));
    assert!(e.contains("can never leave"), "{e}");
    let e = parse_err(json!({"components": {"s": {"type": "sink"}}}));
    assert!(e.contains("no `source`"), "{e}");
    let e = parse_err(json!({"horizon": -1, "components": {}}));
    assert!(
        e.contains("topology.horizon") && e.contains("out of range"),
        "{e}"
    );
}

#[test]
fn traces_and_samples_come_from_files() {
    // A trace of 4 arrivals per 100 ms (40/s) with a CSV header and a
    // comment; service times resampled from {2, 4} ms: mean latency 3 ms
    // at this light load (no queueing: ample concurrency).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("arrivals.csv"),
        "t_ms,source\n# warm\n0,a\n25,b\n50,a\n\n75,c\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("service.txt"), "2\n4\n").unwrap();
    let t = json!({
        "horizon": 200_000.0, "replications": 2,
        "components": {
            "c": {"type": "source", "arrivals": {"process": "trace", "file": "arrivals.csv", "period": 100.0}, "to": "s"},
            "s": {"type": "service", "concurrency": 100, "service_time": {"dist": "empirical", "file": "service.txt"}},
        }
    });
    let mut o = Map::new();
    o.insert("topology".into(), t.clone());
    let d = SysDesign::from_options(&o, dir.path()).unwrap();
    let m = d.model().clone();
    let s = d.simulate(&m, 1, 2);
    close("rate", est(&s, "offered_rate").mean, 40.0, 1e-3);
    close("mean", est(&s, "latency_mean").mean, 3.0, 0.02);
    // A bad line is named with its file and line number.
    std::fs::write(dir.path().join("service.txt"), "2\nfast\n").unwrap();
    let e = SysDesign::from_options(&o, dir.path())
        .unwrap_err()
        .to_string();
    assert!(e.contains("service.txt` line 2: `fast`"), "{e}");
    assert!(e.contains("topology.components.s.service_time.file"), "{e}");
}
