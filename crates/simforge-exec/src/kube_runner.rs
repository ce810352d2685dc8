//! `simforge run` on Kubernetes: submit pending runs as Indexed Jobs (one pod
//! per bundle), poll them with one list call per interval, ingest each pod's
//! `result.json` files from the shared volume, and account for indices that
//! ended without results. Job names live in the store, so a restarted
//! coordinator re-attaches instead of submitting again. The API is reached
//! with the kube crate and the usual kubeconfig discovery (`KUBECONFIG`,
//! `~/.kube/config`, or the in-cluster service account).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use simforge_core::study::KubernetesBackend;
use simforge_core::{RunState, Study};
use simforge_store::Store;

use crate::bundle::BundleManifest;
use crate::kubernetes::{
    ManifestInput, STUDY_LABEL, check_volume, deployment_name, dns_label, indexed_job, job_name,
    pilot_deployment, plan_jobs,
};
use crate::pilot::coordinator::{PilotPool, PoolState, run_pilots};
use crate::runner::{ExecError, recover_results, start_cluster_run};
use crate::simulator::RunnableSimulator;
use crate::slurm::{array_task_ids, choose_bundle, plan_arrays};
use crate::slurm_runner::SlurmSummary;

/// How to run a study on Kubernetes.
#[derive(Debug, Clone)]
pub struct KubeRunOptions {
    /// The store directory (absolute; on the shared volume).
    pub store_dir: PathBuf,
    /// Directory of run directories (absolute, shared).
    pub runs_root: PathBuf,
    /// Time between polls (one list call each).
    pub poll: Duration,
    /// Re-run failed runs of earlier invocations.
    pub retry_failed: bool,
}

/// What one coordinator invocation did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KubeSummary {
    /// Runs in the plan.
    pub planned: u64,
    /// Runs new to the store.
    pub new: u64,
    /// Jobs created.
    pub submitted_jobs: u64,
    /// Jobs found already submitted by an earlier coordinator.
    pub reattached_jobs: u64,
    /// Results ingested from run directories.
    pub harvested: u64,
    /// Runs whose pod ended without a result.
    pub lost: u64,
    /// Calls to the API server.
    pub api_calls: u64,
    /// Pilot mode: worker pods asked for (the Deployment's replicas).
    pub pilots: u64,
    /// Pilot mode: worker syncs answered.
    pub pilot_syncs: u64,
    /// Pilot mode: runs held by workers of an earlier coordinator, adopted.
    pub adopted_leases: u64,
    /// Runs per state after the invocation.
    pub totals: Vec<(RunState, u64)>,
    /// Most common failure reasons.
    pub top_reasons: Vec<(String, u64)>,
    /// Stopped by the user (Jobs keep running; run again to re-attach).
    pub interrupted: bool,
    /// Wall time.
    pub wall: Duration,
}

/// A blocking handle on the study's namespace.
struct Kube {
    rt: tokio::runtime::Runtime,
    jobs: Api<Job>,
    deployments: Api<Deployment>,
    calls: u64,
}

fn api_error(what: &str, e: impl std::fmt::Display) -> ExecError {
    ExecError::Bundle(format!("Kubernetes: {what}: {e}"))
}

impl Kube {
    fn connect(namespace: &str) -> Result<Self, ExecError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| ExecError::Io {
                context: "starting the Kubernetes client's runtime".into(),
                source,
            })?;
        let client = rt.block_on(kube::Client::try_default()).map_err(|e| {
            api_error(
                "no usable kubeconfig (KUBECONFIG, ~/.kube/config or in-cluster)",
                e,
            )
        })?;
        Ok(Kube {
            jobs: Api::namespaced(client.clone(), namespace),
            deployments: Api::namespaced(client, namespace),
            rt,
            calls: 0,
        })
    }

    fn create(&mut self, job: &Job) -> Result<(), ExecError> {
        self.calls += 1;
        let name = job.metadata.name.clone().unwrap_or_default();
        self.rt
            .block_on(self.jobs.create(&PostParams::default(), job))
            .map(|_| ())
            .map_err(|e| api_error(&format!("creating Job {name}"), e))
    }

    fn list(&mut self, study: &str) -> Result<HashMap<String, Job>, ExecError> {
        self.calls += 1;
        let lp = ListParams::default().labels(&format!("{STUDY_LABEL}={}", dns_label(study, 63)));
        let list = self
            .rt
            .block_on(self.jobs.list(&lp))
            .map_err(|e| api_error("listing Jobs", e))?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|j| Some((j.metadata.name.clone()?, j)))
            .collect())
    }

    fn delete(&mut self, name: &str) -> Result<(), ExecError> {
        self.calls += 1;
        match self
            .rt
            .block_on(self.jobs.delete(name, &DeleteParams::background()))
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_error(&format!("deleting Job {name}"), e)),
        }
    }
}

impl Kube {
    fn deployment(&mut self, name: &str) -> Result<Option<Deployment>, ExecError> {
        self.calls += 1;
        self.rt
            .block_on(self.deployments.get_opt(name))
            .map_err(|e| api_error(&format!("reading Deployment {name}"), e))
    }

    fn create_deployment(&mut self, d: &Deployment) -> Result<(), ExecError> {
        self.calls += 1;
        let name = d.metadata.name.clone().unwrap_or_default();
        self.rt
            .block_on(self.deployments.create(&PostParams::default(), d))
            .map(|_| ())
            .map_err(|e| api_error(&format!("creating Deployment {name}"), e))
    }

    fn scale_deployment(&mut self, name: &str, replicas: u32) -> Result<(), ExecError> {
        self.calls += 1;
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        self.rt
            .block_on(
                self.deployments
                    .patch(name, &PatchParams::default(), &Patch::Merge(&patch)),
            )
            .map(|_| ())
            .map_err(|e| api_error(&format!("scaling Deployment {name}"), e))
    }

    fn delete_deployment(&mut self, name: &str) -> Result<(), ExecError> {
        self.calls += 1;
        match self
            .rt
            .block_on(self.deployments.delete(name, &DeleteParams::background()))
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => Err(api_error(&format!("deleting Deployment {name}"), e)),
        }
    }
}

/// Pilots as a Deployment of `simforge worker` pods. Dead pods show up as
/// silent workers (their leases lapse); the Deployment replaces them.
struct KubePilots<'a> {
    client: &'a mut Kube,
    deployment: Deployment,
    name: String,
    connection: PathBuf,
    /// Replicas asked for; `None` while no Deployment exists.
    replicas: Option<u32>,
}

impl PilotPool for KubePilots<'_> {
    fn connection_file(&self) -> PathBuf {
        self.connection.clone()
    }

    fn poll(
        &mut self,
        _store: &mut dyn Store,
        _summary: &mut SlurmSummary,
    ) -> Result<PoolState, ExecError> {
        let found = self.client.deployment(&self.name)?;
        self.replicas = found.map(|d| d.spec.replicas.unwrap_or(1).max(0) as u32);
        Ok(PoolState {
            pilots: u64::from(self.replicas.unwrap_or(0)),
            gone: vec![],
        })
    }

    fn scale(
        &mut self,
        _store: &mut dyn Store,
        want: u32,
        current: u64,
        summary: &mut SlurmSummary,
    ) -> Result<(), ExecError> {
        if current >= u64::from(want) {
            return Ok(());
        }
        match self.replicas {
            None => {
                let mut d = self.deployment.clone();
                d.spec.replicas = Some(want as i32);
                self.client.create_deployment(&d)?;
            }
            Some(_) => self.client.scale_deployment(&self.name, want)?,
        }
        summary.pilots_submitted += u64::from(want) - current;
        self.replicas = Some(want);
        tracing::info!(deployment = %self.name, replicas = want, "scaled the workers");
        Ok(())
    }

    fn busy_elsewhere(&self) -> bool {
        false
    }

    fn pilots_left(&self) -> bool {
        self.replicas.is_some()
    }

    fn finish(&mut self, _store: &mut dyn Store) -> Result<(), ExecError> {
        if self.replicas.take().is_some() {
            self.client.delete_deployment(&self.name)?;
        }
        Ok(())
    }
}

/// Whether a Job has finished (condition Complete or Failed).
fn finished(job: &Job) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| {
            cs.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        })
}

/// Runs `study` on Kubernetes until every run is settled or the user stops.
pub fn run_on_kubernetes(
    store: &mut dyn Store,
    study: &Study,
    kube: &KubernetesBackend,
    sim: &RunnableSimulator,
    study_file: &Path,
    opts: &KubeRunOptions,
    cancel: &AtomicBool,
) -> Result<KubeSummary, ExecError> {
    let name = study.spec.name.clone();
    let input = ManifestInput {
        study: &name,
        spec_hash: &study.spec_hash,
        kube,
        store_dir: &opts.store_dir,
    };
    check_volume(&input)?;
    let started = Instant::now();
    let start = start_cluster_run(
        store,
        study,
        sim,
        study_file,
        &opts.store_dir,
        opts.retry_failed,
    )?;
    let abs_file = start.study_file.clone();
    let mut summary = KubeSummary {
        planned: start.planned,
        new: start.new,
        ..Default::default()
    };
    let base = opts.store_dir.join("kubernetes").join(&name);
    for dir in [&base, &opts.runs_root] {
        std::fs::create_dir_all(dir).map_err(|source| ExecError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
    }
    let mut client = Kube::connect(&kube.namespace)?;
    if let Some(pilot) = &kube.pilot {
        let connection = base.join("pilot.json");
        let mut pool = KubePilots {
            deployment: pilot_deployment(&input, pilot, &connection),
            name: deployment_name(&input),
            client: &mut client,
            connection,
            replicas: None,
        };
        let mut counts = SlurmSummary::default();
        run_pilots(
            store,
            study,
            pilot,
            &abs_file,
            &opts.runs_root,
            opts.poll,
            &mut pool,
            cancel,
            &mut counts,
        )?;
        summary.pilots = counts.pilots_submitted;
        summary.pilot_syncs = counts.pilot_syncs;
        summary.adopted_leases = counts.adopted_leases;
        summary.lost = counts.lost;
        summary.harvested += counts.harvested + recover_results(store, study, &opts.runs_root)?;
        summary.interrupted = counts.interrupted;
        summary.api_calls = client.calls;
        summary.wall = started.elapsed();
        summary.totals = store.state_counts(&name)?.into_iter().collect();
        summary.top_reasons = store.failure_reasons(&name, 3)?;
        return Ok(summary);
    }
    let mut active: Vec<String> = store.active_submissions(&name)?;
    summary.reattached_jobs = active.len() as u64;
    let max_attempts = study.resources.retries + 1;
    let mut last_poll: Option<Instant> = None;
    loop {
        if cancel.load(Ordering::Relaxed) {
            summary.interrupted = true;
            break;
        }
        summary.harvested += recover_results(store, study, &opts.runs_root)?;
        if !active.is_empty() {
            if let Some(t) = last_poll {
                let until = t + opts.poll;
                while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            last_poll = Some(Instant::now());
            let jobs = client.list(&name)?;
            let mut still = Vec::new();
            for job in active {
                match jobs.get(&job) {
                    Some(j) if !finished(j) => still.push(job),
                    found => {
                        summary.harvested += recover_results(store, study, &opts.runs_root)?;
                        let failed: HashSet<usize> = found
                            .and_then(|j| j.status.as_ref())
                            .and_then(|s| s.failed_indexes.as_deref())
                            .map(array_task_ids)
                            .unwrap_or_default()
                            .into_iter()
                            .collect();
                        let task_of = crate::bundle::tasks_of_job(store, &job);
                        let gone = found.is_none();
                        let reason_for = |id: &str| {
                            let task = task_of.get(id).copied();
                            Some(match task {
                                _ if gone => {
                                    format!("Job {job} was deleted before this run finished")
                                }
                                Some(t) if failed.contains(&t) => format!(
                                    "the pod of index {t} failed (Job {job}; `kubectl logs job/{job}` for details)"
                                ),
                                _ => format!("Job {job} ended without a result for this run"),
                            })
                        };
                        summary.lost +=
                            store.close_submission(&job, "done", &reason_for, max_attempts)?;
                    }
                }
            }
            active = still;
        }
        let runs = crate::bundle::pending_runs(store, &name)?;
        if !runs.is_empty() {
            let bundle = choose_bundle(
                kube.spec.bundle,
                kube.spec.task_minutes,
                store.median_duration(&name)?,
            );
            let (bundles, _) = plan_arrays(runs, bundle, usize::MAX);
            let chunks = plan_jobs(bundles.len(), kube);
            let n = store.submission_count(&name)? as usize;
            let manifest_path = base.join(format!("{}-{n}.json", study.spec_hash));
            let manifest = BundleManifest {
                study_file: abs_file.clone(),
                spec_hash: study.spec_hash.clone(),
                runs_root: opts.runs_root.clone(),
                bundles,
            };
            manifest.write(&manifest_path)?;
            for (k, tasks) in chunks.iter().enumerate() {
                let job_id = job_name(&input, n, k);
                client.create(&indexed_job(&input, &job_id, &manifest_path, tasks))?;
                let ids: Vec<String> = manifest.bundles[tasks.clone()]
                    .iter()
                    .flatten()
                    .map(|r| r.id.clone())
                    .collect();
                store.record_submission(
                    &name,
                    &job_id,
                    &manifest_path.display().to_string(),
                    tasks.start,
                    &ids,
                )?;
                tracing::info!(job = %job_id, runs = ids.len(), pods = tasks.len(), "created an Indexed Job");
                active.push(job_id);
                summary.submitted_jobs += 1;
            }
            last_poll = Some(Instant::now());
        }
        if active.is_empty() {
            break;
        }
    }
    summary.harvested += recover_results(store, study, &opts.runs_root)?;
    summary.api_calls = client.calls;
    summary.wall = started.elapsed();
    summary.totals = store.state_counts(&name)?.into_iter().collect();
    summary.top_reasons = store.failure_reasons(&name, 3)?;
    Ok(summary)
}

/// Deletes every Job the store lists as active for `study` and closes them;
/// their unfinished runs go back to pending. Returns the Job names.
pub fn cancel_kube_jobs(
    store: &mut dyn Store,
    study: &str,
    kube: &KubernetesBackend,
) -> Result<Vec<String>, ExecError> {
    let mut jobs = store.active_submissions(study)?;
    let mut client = Kube::connect(&kube.namespace)?;
    for job in &jobs {
        client.delete(job)?;
    }
    for job in &jobs {
        store.close_submission(job, "cancelled", &|_| None, u32::MAX)?;
    }
    if kube.pilot.is_some() {
        // The worker Deployment of this study's current spec, if any.
        let row = store.study(study)?;
        let input = ManifestInput {
            study,
            spec_hash: &row.spec_hash,
            kube,
            store_dir: Path::new("/"),
        };
        let name = deployment_name(&input);
        if client.deployment(&name)?.is_some() {
            client.delete_deployment(&name)?;
            jobs.push(name);
        }
        store.release_pilot_held(study)?;
    }
    Ok(jobs)
}
