//! Kubernetes manifests for a study: Indexed Jobs whose pods each execute one
//! bundle of runs (`simforge exec-bundle MANIFEST --task-offset N`, the pod's
//! `JOB_COMPLETION_INDEX` picking the bundle), or, in pilot mode, a Deployment
//! of `simforge worker` pods. Objects are built with the k8s-openapi types, so
//! what is written is what the API server's schema accepts; run directories
//! live on a shared volume mounted at the same path as on the coordinator.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Container, EnvVar, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec,
    ResourceRequirements, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use simforge_core::study::{KubernetesBackend, PilotSettings};

use crate::runner::ExecError;

/// Default pods of one Job running at once.
pub const DEFAULT_PARALLELISM: u32 = 10;
/// Default completions per Job.
pub const DEFAULT_MAX_COMPLETIONS: u32 = 10_000;
/// Default pod retries per index.
pub const DEFAULT_BACKOFF_PER_INDEX: u32 = 2;
/// Label every simforge object carries.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "simforge");
/// Label naming the study.
pub const STUDY_LABEL: &str = "simforge.io/study";
const VOLUME_NAME: &str = "simforge-data";

/// What the manifests of one study need.
pub struct ManifestInput<'a> {
    /// Study name.
    pub study: &'a str,
    /// Spec hash (names Jobs, so a changed study never collides with old Jobs).
    pub spec_hash: &'a str,
    /// Kubernetes settings.
    pub kube: &'a KubernetesBackend,
    /// The store directory (absolute): must lie under the volume's mount.
    pub store_dir: &'a Path,
}

/// A DNS-1123 label from `s`: lower case, `-` for anything else, at most
/// `max` characters, no leading or trailing `-`.
pub fn dns_label(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(max);
    out.trim_matches('-').to_string()
}

/// Checks that the pods will see the store directory where the coordinator
/// sees it: it must lie under the shared volume's mount path.
pub fn check_volume(input: &ManifestInput<'_>) -> Result<(), ExecError> {
    match &input.kube.spec.volume {
        Some(v) if input.store_dir.starts_with(&v.mount) => Ok(()),
        Some(v) => Err(ExecError::Bundle(format!(
            "the store directory {} is not under the volume's mount path {}: pods would not see the run directories; \
             put the study (or --store) under {} on the coordinator too",
            input.store_dir.display(),
            v.mount,
            v.mount
        ))),
        None => Err(ExecError::Bundle(
            "backend.kubernetes has no `volume`: pods need a shared volume for the bundle manifests and run \
             directories; add `volume: {claim: <a ReadWriteMany PVC>, mount: <path>}`"
                .into(),
        )),
    }
}

fn labels(input: &ManifestInput<'_>, role: &str) -> BTreeMap<String, String> {
    let mut l: BTreeMap<String, String> = input
        .kube
        .spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    l.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
    l.insert(STUDY_LABEL.into(), dns_label(input.study, 63));
    l.insert("simforge.io/role".into(), role.into());
    l
}

fn resources(kube: &KubernetesBackend) -> ResourceRequirements {
    let mut requests = BTreeMap::new();
    let mut limits = BTreeMap::new();
    requests.insert(
        "cpu".to_string(),
        Quantity(format!("{}m", (kube.cpus * 1000.0).ceil().max(1.0) as u64)),
    );
    if let Some(m) = kube.memory {
        let q = Quantity(format!("{}Mi", m.div_ceil(1 << 20)));
        requests.insert("memory".to_string(), q.clone());
        limits.insert("memory".to_string(), q);
    }
    if kube.gpus > 0 {
        limits.insert(
            "nvidia.com/gpu".to_string(),
            Quantity(kube.gpus.to_string()),
        );
    }
    ResourceRequirements {
        requests: Some(requests),
        limits: (!limits.is_empty()).then_some(limits),
        ..Default::default()
    }
}

/// The pod every simforge workload runs: one container with `command`, the
/// shared volume, and the placement settings.
fn pod(input: &ManifestInput<'_>, command: Vec<String>, restart: &str) -> PodSpec {
    let spec = &input.kube.spec;
    let env: Vec<EnvVar> = spec
        .env
        .iter()
        .map(|(k, v)| EnvVar {
            name: k.clone(),
            value: Some(v.clone()),
            ..Default::default()
        })
        .collect();
    let container = Container {
        name: "simforge".into(),
        image: Some(input.kube.image.clone()),
        image_pull_policy: spec.image_pull_policy.clone(),
        command: Some(command),
        env: (!env.is_empty()).then_some(env),
        resources: Some(resources(input.kube)),
        volume_mounts: spec.volume.as_ref().map(|v| {
            vec![VolumeMount {
                name: VOLUME_NAME.into(),
                mount_path: v.mount.clone(),
                ..Default::default()
            }]
        }),
        ..Default::default()
    };
    let tolerations: Vec<Toleration> = spec
        .tolerations
        .iter()
        .map(|t| Toleration {
            key: t.key.clone(),
            operator: t.operator.clone(),
            value: t.value.clone(),
            effect: t.effect.clone(),
            toleration_seconds: t.toleration_seconds,
        })
        .collect();
    PodSpec {
        containers: vec![container],
        restart_policy: Some(restart.into()),
        node_selector: (!spec.node_selector.is_empty()).then(|| {
            spec.node_selector
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        tolerations: (!tolerations.is_empty()).then_some(tolerations),
        service_account_name: spec.service_account.clone(),
        volumes: spec.volume.as_ref().map(|v| {
            vec![Volume {
                name: VOLUME_NAME.into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: v.claim.clone(),
                    read_only: None,
                }),
                ..Default::default()
            }]
        }),
        ..Default::default()
    }
}

/// Splits `bundles` bundles into Jobs of at most `max_completions` indices.
pub fn plan_jobs(bundles: usize, kube: &KubernetesBackend) -> Vec<Range<usize>> {
    let per = kube
        .spec
        .max_completions
        .unwrap_or(DEFAULT_MAX_COMPLETIONS)
        .max(1) as usize;
    (0..bundles)
        .step_by(per)
        .map(|s| s..(s + per).min(bundles))
        .collect()
}

/// The name of the `k`-th Job of a submission.
pub fn job_name(input: &ManifestInput<'_>, submission: usize, k: usize) -> String {
    let hash: String = input.spec_hash.chars().take(8).collect();
    let suffix = format!("-{hash}-{submission}-{k}");
    format!(
        "simforge-{}{suffix}",
        dns_label(input.study, 63 - "simforge-".len() - suffix.len())
    )
}

/// The Indexed Job running bundles `tasks` of `manifest` (index `i` runs bundle
/// `tasks.start + i`).
pub fn indexed_job(
    input: &ManifestInput<'_>,
    name: &str,
    manifest: &Path,
    tasks: &Range<usize>,
) -> Job {
    let spec = &input.kube.spec;
    let labels = labels(input, "bundle");
    let command = vec![
        "simforge".to_string(),
        "exec-bundle".to_string(),
        manifest.display().to_string(),
        "--task-offset".to_string(),
        tasks.start.to_string(),
    ];
    let completions = tasks.len() as i32;
    Job {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(input.kube.namespace.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".into()),
            completions: Some(completions),
            parallelism: Some(
                (spec.parallelism.unwrap_or(DEFAULT_PARALLELISM) as i32).min(completions.max(1)),
            ),
            backoff_limit_per_index: Some(
                spec.backoff_limit_per_index
                    .unwrap_or(DEFAULT_BACKOFF_PER_INDEX) as i32,
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(pod(input, command, "Never")),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The name of the study's worker Deployment.
pub fn deployment_name(input: &ManifestInput<'_>) -> String {
    let hash: String = input.spec_hash.chars().take(8).collect();
    format!(
        "simforge-{}-workers-{hash}",
        dns_label(input.study, 63 - "simforge--workers-".len() - hash.len())
    )
}

/// The Deployment of `pilot.max` worker pods, `pilot.slots` runs each, that
/// pull runs from the coordinator named in `connection` (on the shared volume).
pub fn pilot_deployment(
    input: &ManifestInput<'_>,
    pilot: &PilotSettings,
    connection: &Path,
) -> Deployment {
    let labels = labels(input, "worker");
    let selector: BTreeMap<String, String> = labels
        .iter()
        .filter(|(k, _)| k.as_str() == STUDY_LABEL || k.as_str() == "simforge.io/role")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let command = vec![
        "simforge".to_string(),
        "worker".to_string(),
        "--connection".to_string(),
        connection.display().to_string(),
        "--slots".to_string(),
        pilot.slots.to_string(),
        // A Deployment restarts pods that exit: workers wait for work instead.
        "--idle-exit".to_string(),
        "31536000".to_string(),
    ];
    Deployment {
        metadata: ObjectMeta {
            name: Some(deployment_name(input)),
            namespace: Some(input.kube.namespace.clone()),
            labels: Some(labels.clone()),
            ..Default::default()
        },
        spec: DeploymentSpec {
            replicas: Some(pilot.max as i32),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(pod(input, command, "Always")),
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Objects as one multi-document YAML stream (`kubectl apply -f` reads it).
pub fn to_yaml<T: serde::Serialize>(objects: &[T]) -> Result<String, ExecError> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(
            &serde_saphyr::to_string(o)
                .map_err(|e| ExecError::Bundle(format!("cannot write YAML: {e}")))?,
        );
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use simforge_core::spec::{KubernetesSpec, KubernetesToleration, KubernetesVolume};

    fn kube() -> KubernetesBackend {
        KubernetesBackend {
            spec: KubernetesSpec {
                parallelism: Some(4),
                max_completions: Some(3),
                volume: Some(KubernetesVolume {
                    claim: "shared".into(),
                    mount: "/data".into(),
                }),
                node_selector: [("pool".to_string(), "cpu".to_string())]
                    .into_iter()
                    .collect(),
                tolerations: vec![KubernetesToleration {
                    key: Some("batch".into()),
                    operator: Some("Exists".into()),
                    effect: Some("NoSchedule".into()),
                    ..Default::default()
                }],
                env: [("OMP_NUM_THREADS".to_string(), "2".to_string())]
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
            image: "ghcr.io/lab/solver:1.4".into(),
            namespace: "science".into(),
            cpus: 1.5,
            memory: Some(3 << 29),
            gpus: 1,
            pilot: None,
        }
    }

    fn input(k: &KubernetesBackend) -> ManifestInput<'_> {
        ManifestInput {
            study: "Cavity_Sweep.v2",
            spec_hash: "0123456789abcdef",
            kube: k,
            store_dir: Path::new("/data/cavity/.simforge"),
        }
    }

    #[test]
    fn jobs_round_trip_through_yaml_and_the_api_types() {
        let k = kube();
        let i = input(&k);
        let chunks = plan_jobs(7, &k);
        assert_eq!(chunks, vec![0..3, 3..6, 6..7]);
        let jobs: Vec<Job> = chunks
            .iter()
            .enumerate()
            .map(|(n, t)| indexed_job(&i, &job_name(&i, 0, n), Path::new("/data/m.json"), t))
            .collect();
        let yaml = to_yaml(&jobs).unwrap();
        let back: Vec<Job> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str(d).unwrap())
            .collect();
        assert_eq!(back, jobs, "YAML → k8s-openapi Job gives the same objects");
        let j = &back[2];
        assert_eq!(
            j.metadata.name.as_deref(),
            Some("simforge-cavity-sweep-v2-01234567-0-2")
        );
        let spec = j.spec.as_ref().unwrap();
        assert_eq!(spec.completion_mode.as_deref(), Some("Indexed"));
        assert_eq!((spec.completions, spec.parallelism), (Some(1), Some(1)));
        let pod = spec.template.spec.as_ref().unwrap();
        let c = &pod.containers[0];
        assert_eq!(
            c.command.as_deref().unwrap(),
            [
                "simforge",
                "exec-bundle",
                "/data/m.json",
                "--task-offset",
                "6"
            ]
        );
        let r = c.resources.as_ref().unwrap();
        assert_eq!(
            r.requests.as_ref().unwrap()["cpu"],
            Quantity("1500m".into())
        );
        assert_eq!(
            r.limits.as_ref().unwrap()["memory"],
            Quantity("1536Mi".into())
        );
        assert_eq!(
            r.limits.as_ref().unwrap()["nvidia.com/gpu"],
            Quantity("1".into())
        );
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        assert!(
            yaml.contains("apiVersion: batch/v1") && yaml.contains("kind: Job"),
            "{yaml}"
        );
    }

    #[test]
    fn the_pilot_deployment_selects_its_own_pods() {
        let mut k = kube();
        k.pilot = Some(PilotSettings {
            max: 3,
            slots: 2,
            time: std::time::Duration::from_secs(3600),
            idle_exit: std::time::Duration::from_secs(60),
            heartbeat: std::time::Duration::from_secs(5),
            listen: "0.0.0.0:0".parse().unwrap(),
            advertise: None,
        });
        let i = input(&k);
        let d = pilot_deployment(&i, k.pilot.as_ref().unwrap(), Path::new("/data/pilot.json"));
        let yaml = to_yaml(&[&d]).unwrap();
        let back: Deployment = serde_saphyr::from_str(yaml.trim_start_matches("---\n")).unwrap();
        assert_eq!(back, d);
        let spec = d.spec;
        assert_eq!(spec.replicas, Some(3));
        let sel = spec.selector.match_labels.unwrap();
        let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
        assert!(sel.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
        assert_eq!(
            spec.template.spec.unwrap().restart_policy.as_deref(),
            Some("Always")
        );
    }

    #[test]
    fn the_store_must_be_on_the_shared_volume() {
        let k = kube();
        let mut i = input(&k);
        assert!(check_volume(&i).is_ok());
        i.store_dir = Path::new("/home/me/.simforge");
        let e = check_volume(&i).unwrap_err().to_string();
        assert!(e.contains("not under the volume's mount path /data"), "{e}");
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(dns_label("Cavity_Sweep.v2", 63), "cavity-sweep-v2");
        assert_eq!(dns_label("--x--", 63), "x");
        assert_eq!(dns_label(&"a".repeat(100), 10).len(), 10);
    }
}
