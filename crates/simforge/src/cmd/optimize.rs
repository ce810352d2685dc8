//! `simforge optimize`: the adaptive loop (Bayesian optimisation or active
//! learning) on whichever backend the study names. The loop itself lives in
//! `simforge_exec::adaptive`; this module picks the executor and prints.

use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::{Context, Result};
use simforge_core::adaptive::Goal;
use simforge_core::study::Backend;
use simforge_exec::adaptive::{Iteration, LoopOptions, StopReason, run_adaptive};
use simforge_exec::pool::{Machine, slots};
use simforge_exec::progress::Mode;
use simforge_exec::{RunOptions, RunnableSimulator, run_study};

use super::run::{cluster_setup, write_outputs};
use crate::locate::runs_root;
use crate::{EXIT_INTERRUPTED, EXIT_RUNS_FAILED};

/// Default batch on a cluster backend without `optimize.batch` or `--jobs`.
const CLUSTER_BATCH: usize = 8;

/// Runs the adaptive loop of the study at `file`.
pub fn optimize(
    file: &Path,
    store: crate::locate::StoreArgs<'_>,
    jobs: Option<usize>,
    no_report: bool,
    poll: f64,
) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let Some(adaptive) = study.adaptive.clone() else {
        return Err(crate::cmd::UsageError(format!(
            "{}: the study has no `objective` or `optimize` section, so there is nothing to optimise\n  hint: add `objective: {{minimize: METRIC}}` (or `optimize: {{mode: active_learning, metric: METRIC}}`)",
            file.display()
        ))
        .into());
    };
    if jobs == Some(0) {
        return Err(crate::cmd::UsageError("--jobs must be at least 1".into()).into());
    }
    // Built once, shared by every batch.
    let sim = std::sync::Arc::new(RunnableSimulator::new(&study)?);
    let identity = sim.identity();
    let (dir, db, mut handle, cancel) = cluster_setup(file, store)?;
    let machine = Machine::detect();
    let pilot = match &study.backend {
        Backend::Local => None,
        Backend::Slurm(s) => s.pilot.as_ref(),
        Backend::Kubernetes(k) => k.pilot.as_ref(),
    };
    let default_batch = match &study.backend {
        Backend::Local => slots(&machine, &study.resources, jobs)?.len(),
        _ => jobs.unwrap_or_else(|| pilot.map_or(CLUSTER_BATCH, |p| (p.max * p.slots) as usize)),
    };
    let what = match &adaptive.goal {
        Goal::Optimize(_) => format!(
            "{} `{}`{}",
            if adaptive.maximize {
                "maximising"
            } else {
                "minimising"
            },
            adaptive.metric,
            if adaptive.constraints.is_empty() {
                String::new()
            } else {
                format!(
                    " subject to {}",
                    adaptive
                        .constraints
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        ),
        Goal::Learn(c) => format!("learning a surrogate of `{}` ({c:?})", adaptive.metric),
    };
    println!(
        "study `{}`: {what}; budget {} runs, batches of {}",
        study.spec.name,
        adaptive.budget,
        adaptive.batch.map_or(default_batch, |b| b as usize)
    );
    let runs_dir = runs_root(&dir, &study.spec.name);
    let file_text = std::path::absolute(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    let exe = std::env::current_exe().context("finding the simforge executable")?;
    let mut execute =
        |store: &mut dyn simforge_store::Store| -> Result<(), simforge_exec::ExecError> {
            match &study.backend {
                Backend::Local => {
                    let opts = RunOptions {
                        jobs,
                        retry_failed: false,
                        runs_root: runs_dir.clone(),
                        lock_dir: dir.join("locks"),
                        progress: Mode::Quiet,
                        machine: machine.clone(),
                        guardian_exe: Some(exe.clone()),
                    };
                    run_study(
                        store,
                        &study,
                        sim.clone(),
                        &file_text,
                        &opts,
                        cancel.clone(),
                    )?;
                }
                Backend::Slurm(slurm) => {
                    let opts = simforge_exec::slurm_runner::SlurmRunOptions {
                        runs_root: runs_dir.clone(),
                        store_dir: dir.clone(),
                        exe: exe.clone(),
                        poll: std::time::Duration::from_secs_f64(poll.max(0.05)),
                        retry_failed: false,
                    };
                    simforge_exec::slurm_runner::run_on_slurm(
                        store, &study, slurm, &sim, file, &opts, &cancel,
                    )?;
                }
                Backend::Kubernetes(kube) => {
                    let opts = simforge_exec::kube_runner::KubeRunOptions {
                        runs_root: runs_dir.clone(),
                        store_dir: dir.clone(),
                        poll: std::time::Duration::from_secs_f64(poll.max(0.05)),
                        retry_failed: false,
                    };
                    simforge_exec::kube_runner::run_on_kubernetes(
                        store, &study, kube, &sim, file, &opts, &cancel,
                    )?;
                }
            }
            Ok(())
        };
    let mut report = |it: &Iteration| {
        let mut line = format!(
            "iteration {:>3}: +{} points, {} runs",
            it.number, it.proposed, it.runs
        );
        if let Some(b) = it.best {
            line.push_str(&format!("; best so far {}", fmt(b)));
        }
        if let Some((m, s)) = it.predicted {
            line.push_str(&format!(
                "; predicted at the first new point {} ± {}",
                fmt(m),
                fmt(s)
            ));
        }
        if let Some(cv) = it.cv {
            line.push_str(&format!(
                "; surrogate cross-validated R² {:.3}, RMSE {}",
                cv.r2,
                fmt(cv.rmse)
            ));
        }
        if let Some(why) = &it.random_because {
            line.push_str(&format!(" (random points: {why})"));
        }
        println!("{line}");
    };
    let summary = run_adaptive(
        &mut *handle,
        &study,
        &identity,
        &LoopOptions {
            slots: default_batch,
            lock_dir: dir.join("locks"),
            study_file: file_text.clone(),
        },
        &mut execute,
        &cancel,
        &mut report,
    )?;
    println!(
        "stopped: {}; {} runs in the loop ({} from earlier invocations), {} points failed; {:.1}s",
        summary.stop,
        summary.runs,
        summary.resumed,
        summary.failed_points,
        summary.wall.as_secs_f64()
    );
    if let Some(best) = &summary.best {
        let params: Vec<String> = best
            .params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!(
            "best:    {} = {} at run {} ({})",
            adaptive.metric,
            fmt(best.value),
            best.run_id,
            params.join(", ")
        );
    } else if matches!(adaptive.goal, Goal::Optimize(_)) {
        println!("best:    no feasible run yet");
    }
    if let Some(cv) = summary.cv {
        println!(
            "surrogate of `{}`: cross-validated R² {:.3}, RMSE {} (see `simforge predict`)",
            adaptive.metric,
            cv.r2,
            fmt(cv.rmse)
        );
    }
    let interrupted = summary.stop == StopReason::Interrupted || cancel.load(Ordering::Relaxed);
    if !no_report && !interrupted {
        write_outputs(&dir, &*handle, &study.spec.name, summary.runs, summary.wall)?;
    }
    println!("store:   {db}");
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else if matches!(summary.stop, StopReason::RunsLeftPending(_)) {
        EXIT_RUNS_FAILED
    } else {
        0
    })
}

/// A number for the terminal: 6 significant digits, no noise.
/// A metric value as the adaptive loop's lines print it.
pub fn fmt(v: f64) -> String {
    if v == 0.0 || (1e-3..1e6).contains(&v.abs()) {
        format!("{}", (v * 1e6).round() / 1e6)
    } else {
        format!("{v:.4e}")
    }
}
