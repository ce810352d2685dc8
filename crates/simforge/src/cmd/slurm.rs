//! `simforge slurm script`: the exact sbatch scripts for a study's pending runs.

use std::path::Path;

use anyhow::{Context, Result};
use simforge_core::Plan;
use simforge_core::study::Backend;
use simforge_exec::RunnableSimulator;
use simforge_exec::bundle::BundleRun;
use simforge_exec::slurm::{
    DEFAULT_MAX_ARRAY_SIZE, ScriptInput, bundle_size, plan_arrays, sbatch_script,
};

use crate::cmd::UsageError;
use crate::locate::{StoreArgs, runs_root, store_dir_for};

/// Prints one sbatch script per array; writes nothing.
pub fn script(file: &Path, store: StoreArgs<'_>) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let Backend::Slurm(slurm) = &study.backend else {
        return Err(UsageError(format!(
            "{} does not use the SLURM backend; add `backend: {{slurm: {{partition: ...}}}}`",
            file.display()
        ))
        .into());
    };
    let sim = RunnableSimulator::new(&study)?;
    let identity = sim.identity();
    let dir = std::path::absolute(store_dir_for(file, store.dir))
        .context("resolving the store directory")?;
    let exe = std::env::current_exe().context("finding the simforge executable")?;
    if let Some(pilot) = &slurm.pilot {
        // Pilot jobs carry no runs: the coordinator submits as many as the
        // backlog needs, up to `max`, each with this script.
        let base = dir.join("slurm").join(&study.spec.name);
        let input = simforge_exec::slurm::PilotScriptInput {
            study: &study.spec.name,
            slurm,
            pilot,
            exe: &exe,
            connection: &base.join("pilot.json"),
            log_dir: &base.join("logs"),
        };
        eprintln!(
            "pilot mode: up to {} pilots of {} slots; `simforge run` starts the coordinator that writes {} and submits:",
            pilot.max,
            pilot.slots,
            base.join("pilot.json").display()
        );
        print!("{}", simforge_exec::slurm::pilot_script(&input, pilot.max));
        return Ok(0);
    }
    let (runs, median) = pending_runs(&study, &identity, store, &dir)?;
    let total = runs.len();
    let bundle = bundle_size(slurm, median);
    let max_array = slurm.spec.max_array_size.unwrap_or(DEFAULT_MAX_ARRAY_SIZE) as usize;
    let (bundles, arrays) = plan_arrays(runs, bundle, max_array);
    let base = dir.join("slurm").join(&study.spec.name);
    let manifest = base.join(format!("{}.json", study.spec_hash));
    let input = ScriptInput {
        study: &study.spec.name,
        slurm,
        resources: &study.resources,
        exe: &exe,
        manifest: &manifest,
        log_dir: &base.join("logs"),
        bundle,
    };
    eprintln!(
        "{total} pending runs in {} tasks of up to {bundle} runs, {} array(s); runs write to {}; manifest {}",
        bundles.len(),
        arrays.len(),
        runs_root(&dir, &study.spec.name).display(),
        manifest.display()
    );
    // One array prints as exactly one submittable script; further arrays follow
    // after a separator line.
    for (k, tasks) in arrays.iter().enumerate() {
        if k > 0 {
            println!(
                "\n# ---- array {k}: bundles {}..{} ----",
                tasks.start, tasks.end
            );
        }
        print!("{}", sbatch_script(&input, tasks));
    }
    Ok(0)
}

/// The study's pending runs, from the store when it holds this exact plan
/// (otherwise every run of a fresh plan), and the median duration of its
/// finished runs. Reads the store; writes nothing.
pub fn pending_runs(
    study: &simforge_core::Study,
    identity: &str,
    store: StoreArgs<'_>,
    dir: &Path,
) -> Result<(Vec<BundleRun>, Option<f64>)> {
    // Pending runs come from the store when it holds this exact plan; otherwise
    // every run of a fresh plan would be submitted.
    let stored = store.open_if_exists(dir)?;
    let current = stored
        .as_ref()
        .and_then(|s| s.study(&study.spec.name).ok())
        .is_some_and(|row| row.spec_hash == study.spec_hash && row.simulator == identity);
    let (runs, median) = match (&stored, current) {
        (Some(s), true) => (
            simforge_exec::bundle::pending_runs(&**s, &study.spec.name)?,
            s.median_duration(&study.spec.name)?,
        ),
        _ => {
            let plan = Plan::new(study, identity)?;
            let runs = plan
                .runs()
                .map(|r| BundleRun {
                    id: r.id,
                    index: r.index,
                    replicate: r.replicate,
                    seed: r.seed,
                    params: r.params.into_iter().collect(),
                    attempts: 0,
                })
                .collect();
            (runs, None)
        }
    };
    Ok((runs, median))
}
