//! `simforge check`: validate a study without running or writing anything.

use std::path::Path;

use anyhow::Result;
use simforge_core::Plan;
use simforge_exec::RunnableSimulator;

/// Checks the study file, its simulator, templates and design; prints a summary.
pub fn check(file: &Path) -> Result<u8> {
    let study = simforge_core::load_study(file)?;
    let sim = RunnableSimulator::new(&study)?;
    let plan = Plan::new(&study, &sim.identity()).map_err(|e| {
        simforge_core::Diagnostics::from(
            study
                .source
                .error_at("design", format!("cannot generate the design: {e}")),
        )
    })?;
    println!(
        "{}: ok — study `{}`, {} parameters ({} sampled), {} design, {} runs",
        file.display(),
        study.spec.name,
        study.space.params.len(),
        study.space.dims(),
        study.spec.design.sampler.as_str(),
        plan.len()
    );
    Ok(0)
}
