//! `simforge run --dry-run` for `backend: {kubernetes: ...}`: the Indexed Jobs
//! (or the pilot Deployment) as YAML, for `kubectl apply -f`.

use std::path::Path;

use anyhow::{Context, Result};
use simforge_core::study::Backend;
use simforge_exec::RunnableSimulator;
use simforge_exec::bundle::BundleManifest;
use simforge_exec::kubernetes::{
    ManifestInput, check_volume, indexed_job, job_name, pilot_deployment, plan_jobs, to_yaml,
};
use simforge_exec::slurm::{choose_bundle, plan_arrays};

use crate::cmd::UsageError;
use crate::cmd::slurm::pending_runs;
use crate::locate::{runs_root, store_dir_for};

/// Writes the study's manifests: to standard output, or one file per object
/// under `output`. Writes the bundle manifest the Jobs read (the pods need it
/// on the shared volume) but records nothing in the store.
pub fn manifests(
    file: &Path,
    store: crate::locate::StoreArgs<'_>,
    output: Option<&Path>,
) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let Backend::Kubernetes(kube) = &study.backend else {
        return Err(UsageError(format!(
            "{} does not use the Kubernetes backend",
            file.display()
        ))
        .into());
    };
    let sim = RunnableSimulator::new(&study)?;
    let identity = sim.identity();
    let dir = std::path::absolute(store_dir_for(file, store.dir))
        .context("resolving the store directory")?;
    let input = ManifestInput {
        study: &study.spec.name,
        spec_hash: &study.spec_hash,
        kube,
        store_dir: &dir,
    };
    check_volume(&input).map_err(|e| UsageError(e.to_string()))?;
    let base = dir.join("kubernetes").join(&study.spec.name);
    let mut docs: Vec<(String, String)> = Vec::new();
    if let Some(pilot) = &kube.pilot {
        let connection = base.join("pilot.json");
        let d = pilot_deployment(&input, pilot, &connection);
        let name = d.metadata.name.clone().unwrap_or_default();
        docs.push((name, to_yaml(&[d])?));
        eprintln!(
            "pilot mode: a Deployment of {} workers × {} slots; they connect through {} (written by the coordinator)",
            pilot.max,
            pilot.slots,
            connection.display()
        );
    } else {
        let (runs, median) = pending_runs(&study, &identity, store, &dir)?;
        let total = runs.len();
        let bundle = choose_bundle(kube.spec.bundle, kube.spec.task_minutes, median);
        let (bundles, _) = plan_arrays(runs, bundle, usize::MAX);
        let jobs = plan_jobs(bundles.len(), kube);
        std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
        let manifest_path = base.join(format!("{}.json", study.spec_hash));
        let manifest = BundleManifest {
            study_file: std::path::absolute(file).context("resolving the study file")?,
            spec_hash: study.spec_hash.clone(),
            runs_root: runs_root(&dir, &study.spec.name),
            bundles,
        };
        manifest.write(&manifest_path)?;
        for (k, tasks) in jobs.iter().enumerate() {
            let name = job_name(&input, 0, k);
            let job = indexed_job(&input, &name, &manifest_path, tasks);
            docs.push((name, to_yaml(&[job])?));
        }
        eprintln!(
            "{total} pending runs in {} pods of up to {bundle} runs, {} Indexed Job(s) in namespace {}; bundle manifest {}",
            manifest.bundles.len(),
            jobs.len(),
            kube.namespace,
            manifest_path.display()
        );
    }
    match output {
        None => {
            for (_, yaml) in &docs {
                print!("{yaml}");
            }
        }
        Some(out) => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            for (name, yaml) in &docs {
                let path = out.join(format!("{name}.yaml"));
                std::fs::write(&path, yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
    }
    Ok(0)
}
