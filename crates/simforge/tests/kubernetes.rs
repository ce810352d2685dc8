//! The Kubernetes backend's manifests (`simforge run --dry-run`). No API
//! server runs here: the manifests are checked against golden files, parsed
//! back through the k8s-openapi types (in simforge-exec's unit tests), and a
//! bundle is executed the way a pod of an Indexed Job would run it. The
//! coordinator's API path runs against a MOCK API server (see `mock_api`); it
//! is untested against a live cluster.

mod common;
use common::*;

const STUDY: &str = "name: Cavity_Sweep\nsimulator: {builtin: analytic, options: {function: branin}}\n\
parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}\ndesign: {sampler: sobol, samples: 25}\n\
resources: {cpus: 0.5, memory: 1GiB, gpus: 1, time: 30s}\n";

fn backend(s: &Scratch, extra: &str) -> String {
    format!(
        "{STUDY}backend:\n  kubernetes:\n    image: ghcr.io/lab/simforge:0.1\n    namespace: science\n    \
         volume: {{claim: shared, mount: {}}}\n    node_selector: {{pool: batch}}\n    \
         tolerations: [{{key: batch, operator: Exists, effect: NoSchedule}}]\n    \
         env: {{OMP_NUM_THREADS: \"1\"}}\n    labels: {{team: cfd}}\n{extra}",
        s.path().display()
    )
}

/// Compares with `tests/golden/NAME`, the scratch path and spec hash replaced
/// by placeholders; SIMFORGE_UPDATE_GOLDEN=1 rewrites the file instead.
fn golden(name: &str, text: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var("SIMFORGE_UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        want == text,
        "{} differs (SIMFORGE_UPDATE_GOLDEN=1 rewrites it):\n--- got\n{text}\n--- want\n{want}",
        path.display()
    );
}

fn normalise(s: &Scratch, text: &str, hash: &str) -> String {
    text.replace(&s.path().display().to_string(), "$SCRATCH")
        .replace(hash, "$SPEC_HASH")
        .replace(&hash[..8], "$HASH8")
}

fn spec_hash(s: &Scratch) -> String {
    let out = s.simforge(&["plan", "study.yaml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    rusqlite::Connection::open(s.store_db())
        .unwrap()
        .query_row("SELECT spec_hash FROM studies", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn indexed_jobs_match_the_golden_manifests_and_a_pod_runs_its_bundle() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &backend(
            &s,
            "    bundle: 4\n    max_completions: 5\n    parallelism: 3\n",
        ),
    );
    let hash = spec_hash(&s);
    let out = s.simforge(&["run", "study.yaml", "--dry-run"]);
    let yaml = ok(out.clone());
    assert!(
        stderr(&out).contains(
            "25 pending runs in 7 pods of up to 4 runs, 2 Indexed Job(s) in namespace science"
        ),
        "{}",
        stderr(&out)
    );
    golden("kubernetes-indexed.yaml", &normalise(&s, &yaml, &hash));
    // -o writes one file per Job.
    let out = s.simforge(&["run", "study.yaml", "--dry-run", "-o", "k8s"]);
    ok(out);
    let mut files: Vec<String> = std::fs::read_dir(s.path().join("k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            format!("simforge-cavity-sweep-{}-0-0.yaml", &hash[..8]),
            format!("simforge-cavity-sweep-{}-0-1.yaml", &hash[..8])
        ]
    );
    // What the second Job's pod with index 1 runs: bundle 5 + 1 = 6, the last
    // bundle (runs 25 = 6 × 4 + 1).
    let manifest = s
        .path()
        .join(format!(".simforge/kubernetes/Cavity_Sweep/{hash}.json"));
    let pod = bin()
        .args([
            "exec-bundle",
            &manifest.display().to_string(),
            "--task-offset",
            "5",
        ])
        .env("JOB_COMPLETION_INDEX", "1")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .current_dir(s.path())
        .output()
        .unwrap();
    assert!(
        stdout(&pod).contains("bundle 6: 1 succeeded, 0 failed"),
        "{}{}",
        stdout(&pod),
        stderr(&pod)
    );
    // Without a cluster to talk to, a real run stops before submitting.
    let out = bin()
        .args(["run", "study.yaml"])
        .current_dir(s.path())
        .env("KUBECONFIG", s.path().join("no-such-kubeconfig"))
        .env("HOME", s.path())
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no usable kubeconfig"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pilot_mode_writes_a_worker_deployment() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &backend(&s, "    mode: pilot\n    pilot: {max: 3, slots: 2}\n"),
    );
    let hash = spec_hash(&s);
    let out = s.simforge(&["run", "study.yaml", "--dry-run"]);
    let yaml = ok(out.clone());
    assert!(
        stderr(&out).contains("3 workers × 2 slots"),
        "{}",
        stderr(&out)
    );
    golden("kubernetes-pilot.yaml", &normalise(&s, &yaml, &hash));
}

#[test]
fn kubernetes_settings_are_checked() {
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "{STUDY}backend: {{kubernetes: {{namespace: Science, image_pull_policy: always, parallelism: 0, \
             volume: {{claim: x, mount: data}}, tolerations: [{{operator: Maybe}}], imagee: x}}}}\n"
        ),
    );
    let out = s.simforge(&["check", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("unknown key `imagee`") && err.contains("did you mean `image`?"),
        "{err}"
    );
    s.write(
        "study.yaml",
        &format!(
            "{STUDY}backend: {{kubernetes: {{namespace: Science, image_pull_policy: always, parallelism: 0, \
             volume: {{claim: x, mount: data}}, tolerations: [{{operator: Maybe}}]}}}}\n"
        ),
    );
    let err = stderr(&s.simforge(&["check", "study.yaml"]));
    for want in [
        "no container image",
        "`Science` is not a namespace name",
        "did you mean `Always`?",
        "zero parallelism",
        "`data` is not an absolute path",
        "unknown operator `Maybe`",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
    // The store must be on the shared volume.
    s.write(
        "study.yaml",
        &format!("{STUDY}backend: {{kubernetes: {{image: x, volume: {{claim: x, mount: /elsewhere}}}}}}\n"),
    );
    let out = s.simforge(&["run", "study.yaml", "--dry-run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not under the volume's mount path /elsewhere"),
        "{}",
        stderr(&out)
    );
}

mod mock_api {
    //! A MOCK Kubernetes API server: no real API server can run here. It
    //! serves the part of batch/v1 that simforge's coordinator uses (create,
    //! list by label, delete Jobs) and plays the kubelet: each index of a
    //! created Job runs its container command locally, in order, with
    //! `JOB_COMPLETION_INDEX` set, and the Job gets the status a real
    //! controller would give it (succeeded/failed counts, `failedIndexes`,
    //! a Complete or Failed condition).

    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::Json;
    use axum::extract::{Path, Query, State};
    use axum::http::StatusCode;
    use axum::routing::{delete, get};
    use serde_json::{Value, json};

    #[derive(Clone)]
    struct Shared {
        jobs: Arc<Mutex<BTreeMap<String, Value>>>,
        deployments: Arc<Mutex<BTreeMap<String, Value>>>,
        /// Worker processes standing in for each Deployment's pods.
        pods: Arc<Mutex<BTreeMap<String, Vec<std::process::Child>>>>,
        exe: PathBuf,
        /// The first pod of the first Job fails without running (an image
        /// pull error, say): its runs are lost, not failed.
        lose_first_pod: Arc<AtomicBool>,
    }

    pub struct MockApi {
        pub addr: SocketAddr,
        pub jobs: Arc<Mutex<BTreeMap<String, Value>>>,
        pub deployments: Arc<Mutex<BTreeMap<String, Value>>>,
        /// Deployments ever created, with the largest replica count asked for.
        pub history: History,
    }

    fn kubelet(s: Shared, name: String, job: Value) {
        let spec = &job["spec"];
        let completions = spec["completions"].as_u64().unwrap_or(1);
        let command: Vec<String> = spec["template"]["spec"]["containers"][0]["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let (mut ok, mut failed) = (0, Vec::new());
        for i in 0..completions {
            if s.lose_first_pod.swap(false, Ordering::SeqCst) {
                failed.push(i.to_string());
                continue;
            }
            let status = std::process::Command::new(&s.exe)
                .args(&command[1..])
                .env("JOB_COMPLETION_INDEX", i.to_string())
                .env_remove("SLURM_ARRAY_TASK_ID")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .unwrap();
            if status.success() {
                ok += 1;
            } else {
                failed.push(i.to_string());
            }
        }
        let condition = if failed.is_empty() {
            "Complete"
        } else {
            "Failed"
        };
        if let Some(j) = s.jobs.lock().unwrap().get_mut(&name) {
            j["status"] = json!({
                "succeeded": ok,
                "failed": failed.len(),
                "failedIndexes": failed.join(","),
                "conditions": [{"type": condition, "status": "True"}],
            });
        }
    }

    async fn create(
        State(s): State<Shared>,
        Path(ns): Path<String>,
        Json(mut job): Json<Value>,
    ) -> (StatusCode, Json<Value>) {
        let name = job["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        job["metadata"]["namespace"] = json!(ns);
        job["status"] = json!({});
        s.jobs.lock().unwrap().insert(name.clone(), job.clone());
        let (s2, j2) = (s.clone(), job.clone());
        std::thread::spawn(move || kubelet(s2, name, j2));
        (StatusCode::CREATED, Json(job))
    }

    async fn list(
        State(s): State<Shared>,
        Query(q): Query<BTreeMap<String, String>>,
    ) -> Json<Value> {
        let selector = q.get("labelSelector").cloned().unwrap_or_default();
        let (k, v) = selector.split_once('=').unwrap_or(("", ""));
        let items: Vec<Value> = s
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| k.is_empty() || j["metadata"]["labels"][k] == v)
            .cloned()
            .collect();
        Json(json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": items}))
    }

    async fn remove(
        State(s): State<Shared>,
        Path((_, name)): Path<(String, String)>,
    ) -> Json<Value> {
        s.jobs.lock().unwrap().remove(&name);
        Json(json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success"}))
    }

    /// Largest replica count asked for, per Deployment ever created.
    type History = Arc<Mutex<BTreeMap<String, i64>>>;
    /// State of the apps/v1 routes.
    type AppsState = (Shared, History);

    /// Starts worker processes until `name` has `replicas` pods.
    fn reconcile(s: &Shared, name: &str, replicas: usize) {
        let command: Vec<String> = s.deployments.lock().unwrap()[name]["spec"]["template"]["spec"]
            ["containers"][0]["command"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let mut pods = s.pods.lock().unwrap();
        let list = pods.entry(name.to_string()).or_default();
        while list.len() < replicas {
            let n = list.len();
            list.push(
                std::process::Command::new(&s.exe)
                    .args(&command[1..])
                    .args(["--id", &format!("{name}-{n}")])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
    }

    fn stop_pods(s: &Shared, name: &str) {
        for mut child in s.pods.lock().unwrap().remove(name).unwrap_or_default() {
            // Pod deletion: SIGTERM, as the kubelet sends it.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    async fn create_deployment(
        State((s, history)): State<AppsState>,
        body: axum::body::Bytes,
    ) -> (StatusCode, Json<Value>) {
        let mut d: Value = serde_json::from_slice(&body).unwrap();
        let name = d["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let replicas = d["spec"]["replicas"].as_i64().unwrap_or(1);
        d["status"] = json!({"replicas": replicas});
        s.deployments
            .lock()
            .unwrap()
            .insert(name.clone(), d.clone());
        history.lock().unwrap().insert(name.clone(), replicas);
        reconcile(&s, &name, replicas as usize);
        (StatusCode::CREATED, Json(d))
    }

    async fn get_deployment(
        State((s, _)): State<AppsState>,
        Path((_, name)): Path<(String, String)>,
    ) -> Result<Json<Value>, (StatusCode, Json<Value>)> {
        match s.deployments.lock().unwrap().get(&name) {
            Some(d) => Ok(Json(d.clone())),
            None => Err((
                StatusCode::NOT_FOUND,
                Json(
                    json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Failure",
                    "message": format!("deployments.apps \"{name}\" not found"), "reason": "NotFound", "code": 404}),
                ),
            )),
        }
    }

    async fn patch_deployment(
        State((s, history)): State<AppsState>,
        Path((_, name)): Path<(String, String)>,
        body: axum::body::Bytes,
    ) -> Json<Value> {
        let patch: Value = serde_json::from_slice(&body).unwrap();
        let replicas = patch["spec"]["replicas"].as_i64().unwrap_or(1);
        let d = {
            let mut all = s.deployments.lock().unwrap();
            let d = all.get_mut(&name).unwrap();
            d["spec"]["replicas"] = json!(replicas);
            d["status"] = json!({"replicas": replicas});
            d.clone()
        };
        let mut h = history.lock().unwrap();
        let e = h.entry(name.clone()).or_insert(0);
        *e = (*e).max(replicas);
        drop(h);
        reconcile(&s, &name, replicas as usize);
        Json(d)
    }

    async fn delete_deployment(
        State((s, _)): State<AppsState>,
        Path((_, name)): Path<(String, String)>,
    ) -> Json<Value> {
        s.deployments.lock().unwrap().remove(&name);
        stop_pods(&s, &name);
        Json(json!({"apiVersion": "v1", "kind": "Status", "metadata": {}, "status": "Success"}))
    }

    impl MockApi {
        pub fn start(exe: PathBuf, lose_first_pod: bool) -> MockApi {
            let jobs = Arc::new(Mutex::new(BTreeMap::new()));
            let deployments = Arc::new(Mutex::new(BTreeMap::new()));
            let history = Arc::new(Mutex::new(BTreeMap::new()));
            let shared = Shared {
                deployments: deployments.clone(),
                pods: Arc::new(Mutex::new(BTreeMap::new())),
                jobs: jobs.clone(),
                exe,
                lose_first_pod: Arc::new(AtomicBool::new(lose_first_pod)),
            };
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.set_nonblocking(true).unwrap();
            let addr = listener.local_addr().unwrap();
            let app = axum::Router::new()
                .route(
                    "/apis/batch/v1/namespaces/{ns}/jobs",
                    get(list).post(create),
                )
                .route("/apis/batch/v1/namespaces/{ns}/jobs/{name}", delete(remove))
                .with_state(shared.clone());
            let apps = axum::Router::new()
                .route(
                    "/apis/apps/v1/namespaces/{ns}/deployments",
                    axum::routing::post(create_deployment),
                )
                .route(
                    "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
                    get(get_deployment)
                        .patch(patch_deployment)
                        .delete(delete_deployment),
                )
                .with_state((shared, history.clone()));
            let app = app.merge(apps);
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let l = tokio::net::TcpListener::from_std(listener).unwrap();
                    axum::serve(l, app).await.unwrap();
                });
            });
            MockApi {
                addr,
                jobs,
                deployments,
                history,
            }
        }

        /// A kubeconfig pointing at the mock.
        pub fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
            let path = dir.join("kubeconfig");
            std::fs::write(
                &path,
                format!(
                    "apiVersion: v1\nkind: Config\nclusters:\n- name: mock\n  cluster: {{server: \"http://{}\"}}\n\
                     users:\n- name: u\n  user: {{token: t}}\ncontexts:\n- name: c\n  context: {{cluster: mock, user: u, namespace: science}}\n\
                     current-context: c\n",
                    self.addr
                ),
            )
            .unwrap();
            path
        }
    }
}

fn k8s_study(s: &Scratch, runs: u32, retries: u32) {
    s.script(
        "sim.sh",
        "case $SIMFORGE_PARAM_I in 3) echo broken >&2; exit 5;; esac\n\
         echo \"$SIMFORGE_RUN_ID\" >> \"$SIMFORGE_STUDY_DIR/done\"\necho y=$SIMFORGE_PARAM_I",
    );
    s.write(
        "study.yaml",
        &format!(
            "name: kj\nsimulator: {{command: [\"./sim.sh\"], outputs: {{keyvalue: stdout}}}}\n\
             parameters: {{i: {{range: [1, {runs}], type: integer}}}}\ndesign: {{sampler: grid}}\n\
             resources: {{retries: {retries}, backoff: 10ms}}\n\
             backend: {{kubernetes: {{image: simforge:test, namespace: science, bundle: 2, max_completions: 2, \
             volume: {{claim: shared, mount: {}}}}}}}\n",
            s.path().display()
        ),
    );
}

fn kube_run(s: &Scratch, kubeconfig: &std::path::Path, args: &[&str]) -> std::process::Output {
    bin()
        .args(args)
        .current_dir(s.path())
        .env("KUBECONFIG", kubeconfig)
        .env_remove("SLURM_ARRAY_TASK_ID")
        .output()
        .unwrap()
}

#[test]
fn indexed_jobs_run_through_the_api_and_results_are_ingested_mock_api_server() {
    let s = Scratch::new();
    k8s_study(&s, 6, 0);
    let api = mock_api::MockApi::start(assert_cmd::cargo::cargo_bin("simforge"), false);
    let kc = api.kubeconfig(s.path());
    let out = kube_run(&s, &kc, &["run", "study.yaml", "--poll", "0.1"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("namespace science"), "{text}");
    assert!(
        text.contains("2 Indexed Jobs created"),
        "6 runs, 2 per pod, at most 2 pods per Job: {text}"
    );
    assert!(text.contains("study now: 5 succeeded, 1 failed"), "{text}");
    assert!(text.contains("exit code 5: broken"), "{text}");
    assert_eq!(
        std::fs::read_to_string(s.path().join("done"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    let csv = std::fs::read_to_string(s.path().join(".simforge/results/kj.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        7,
        "a header and one row per run:\n{csv}"
    );
    assert!(s.path().join(".simforge/reports/kj.html").is_file());
    let jobs = api.jobs.lock().unwrap().clone();
    assert_eq!(jobs.len(), 2);
    let completions: Vec<i64> = jobs
        .values()
        .map(|j| j["spec"]["completions"].as_i64().unwrap())
        .collect();
    assert_eq!(completions, vec![2, 1]);
    for j in jobs.values() {
        assert_eq!(j["metadata"]["namespace"], "science");
        assert_eq!(j["spec"]["completionMode"], "Indexed");
    }
    let again = stdout(&kube_run(&s, &kc, &["run", "study.yaml", "--poll", "0.1"]));
    assert!(again.contains("0 Indexed Jobs created"), "{again}");
}

#[test]
fn optimize_runs_its_batches_as_indexed_jobs_mock_api_server() {
    // The adaptive loop on the Kubernetes backend: 4 initial points, then
    // batches of 2, each batch its own Indexed Job, to a budget of 8 runs.
    let s = Scratch::new();
    s.write(
        "study.yaml",
        &format!(
            "name: bo-k8s\nsimulator: {{builtin: analytic, options: {{function: branin}}}}\n\
             parameters: {{x1: {{range: [-5, 10]}}, x2: {{range: [0, 15]}}}}\n\
             design: {{sampler: lhs, samples: 4, seed: 2}}\nmetrics: [y]\nobjective: {{minimize: y}}\n\
             optimize: {{budget: 8, batch: 2}}\n\
             backend: {{kubernetes: {{image: simforge:test, namespace: science, volume: {{claim: shared, mount: {}}}}}}}\n",
            s.path().display()
        ),
    );
    let api = mock_api::MockApi::start(assert_cmd::cargo::cargo_bin("simforge"), false);
    let kc = api.kubeconfig(s.path());
    let out = kube_run(
        &s,
        &kc,
        &["optimize", "study.yaml", "--poll", "0.1", "--no-report"],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("stopped: the run budget is spent"), "{text}");
    assert!(text.contains("iteration   2: +2 points, 8 runs"), "{text}");
    assert!(text.contains("best:    y = "), "{text}");
    assert_eq!(
        api.jobs.lock().unwrap().len(),
        3,
        "one Indexed Job for the initial design and one per batch"
    );
}

#[test]
fn runs_of_a_pod_that_never_ran_are_resubmitted_mock_api_server() {
    let s = Scratch::new();
    k8s_study(&s, 4, 1);
    let api = mock_api::MockApi::start(assert_cmd::cargo::cargo_bin("simforge"), true);
    let kc = api.kubeconfig(s.path());
    let out = kube_run(&s, &kc, &["run", "study.yaml", "--poll", "0.1"]);
    let text = stdout(&out);
    assert!(
        text.contains("study now: 3 succeeded, 1 failed"),
        "{text}\n{}",
        stderr(&out)
    );
    assert!(text.contains("2 runs lost by their pods"), "{text}");
    assert!(
        text.contains("2 Indexed Jobs created"),
        "the lost bundle went out again: {text}"
    );
    let conn = rusqlite::Connection::open(s.store_db()).unwrap();
    let lost: i64 = conn
        .query_row(
            "SELECT count(*) FROM attempts WHERE reason LIKE 'the pod of index 0 failed (Job simforge-kj-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        lost, 2,
        "both runs of the pod that never ran carry its reason"
    );
    // Cancel deletes what is still active (nothing now) and says so.
    let out = kube_run(&s, &kc, &["cancel", "study.yaml"]);
    assert!(
        stdout(&out).contains("has no submitted jobs"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn pilot_workers_of_a_deployment_run_the_study_mock_api_server() {
    let s = Scratch::new();
    k8s_study(&s, 8, 0);
    let text = std::fs::read_to_string(s.path().join("study.yaml")).unwrap();
    s.write(
        "study.yaml",
        &text.replace(
            "bundle: 2, max_completions: 2,",
            "mode: pilot, pilot: {max: 2, slots: 2, heartbeat: 500ms},",
        ),
    );
    let api = mock_api::MockApi::start(assert_cmd::cargo::cargo_bin("simforge"), false);
    let kc = api.kubeconfig(s.path());
    let out = kube_run(&s, &kc, &["run", "study.yaml", "--poll", "0.2"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("study now: 7 succeeded, 1 failed"), "{text}");
    assert!(
        text.contains("2 worker pods asked for"),
        "8 runs / 2 slots, at most 2: {text}"
    );
    let lines: Vec<String> = std::fs::read_to_string(s.path().join("done"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let unique: std::collections::HashSet<&String> = lines.iter().collect();
    assert_eq!(
        (lines.len(), unique.len()),
        (7, 7),
        "each run once: {lines:?}"
    );
    let history = api.history.lock().unwrap().clone();
    assert_eq!(history.len(), 1, "one Deployment: {history:?}");
    assert_eq!(history.values().next(), Some(&2));
    assert!(
        api.deployments.lock().unwrap().is_empty(),
        "the Deployment is removed once the study is done"
    );
}
