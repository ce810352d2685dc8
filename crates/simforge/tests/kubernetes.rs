//! The Kubernetes backend's manifests (`simforge run --dry-run`). No API
//! server runs here: the manifests are checked against golden files, parsed
//! back through the k8s-openapi types (in simforge-exec's unit tests), and a
//! bundle is executed the way a pod of an Indexed Job would run it. The apply
//! path against a live cluster is not built yet.

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
    // Nothing is recorded as submitted, and a live run says it cannot apply.
    let out = s.simforge(&["run", "study.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not built yet"), "{}", stderr(&out));
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
