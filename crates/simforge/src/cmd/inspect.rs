//! `simforge status`, `simforge runs`, `simforge logs`, `simforge artifacts`:
//! read-only views of the store and the run directories.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simforge_core::RunState;
use simforge_exec::rundir;
use simforge_store::RunFilter;

use crate::cmd::UsageError;
use crate::locate::{StoreArgs, locate, runs_root};

/// Prints the run counts per state of a study.
pub fn status(store: StoreArgs<'_>, study: Option<&str>) -> Result<u8> {
    let loc = locate(store, study)?;
    let row = loc.store.study(&loc.study)?;
    let counts = loc.store.state_counts(&loc.study)?;
    let total: u64 = counts.values().sum();
    let done = counts.get(&RunState::Succeeded).copied().unwrap_or(0);
    println!(
        "study `{}` ({} runs planned, spec {})",
        row.name, total, row.spec_hash
    );
    for st in RunState::ALL {
        let n = counts.get(&st).copied().unwrap_or(0);
        if n > 0
            || matches!(
                st,
                RunState::Pending | RunState::Succeeded | RunState::Failed
            )
        {
            println!("  {:<10} {n:>10}", st.as_str());
        }
    }
    if total > 0 {
        println!(
            "  {:<10} {:>9.1}%",
            "complete",
            100.0 * done as f64 / total as f64
        );
    }
    Ok(0)
}

/// Lists runs, optionally of one state.
pub fn runs(
    store: StoreArgs<'_>,
    study: Option<&str>,
    state: Option<&str>,
    limit: u64,
    json: bool,
) -> Result<u8> {
    let loc = locate(store, study)?;
    let state = match state {
        Some(s) => Some(
            s.parse::<RunState>()
                .map_err(|e| UsageError(format!("--state: {e}")))?,
        ),
        None => None,
    };
    let rows = loc.store.runs(
        &loc.study,
        &RunFilter {
            state,
            limit: Some(limit),
            all_plans: false,
        },
    )?;
    if json {
        for r in &rows {
            println!("{}", serde_json::to_string(r)?);
        }
        return Ok(0);
    }
    println!(
        "{:<20} {:>7} {:<10} {:>3} {:>9}  parameters / reason",
        "run", "index", "state", "att", "seconds"
    );
    for r in &rows {
        let params = serde_json::to_string(&r.params)?;
        let secs = r.duration_s.map(|d| format!("{d:.3}")).unwrap_or_default();
        println!(
            "{:<20} {:>7} {:<10} {:>3} {:>9}  {}",
            r.id,
            r.index,
            r.state.as_str(),
            r.attempts,
            secs,
            params
        );
        if let Some(reason) = &r.reason
            && r.state != RunState::Succeeded
        {
            println!("{:>54}↳ {reason}", "");
        }
    }
    if rows.len() as u64 == limit {
        println!("(first {limit} shown; --limit N for more)");
    }
    Ok(0)
}

/// Shows the attempts, result and logs of one run.
pub fn logs(
    store: StoreArgs<'_>,
    study: Option<&str>,
    run: &str,
    tail: Option<usize>,
) -> Result<u8> {
    let loc = match locate(store, study) {
        Ok(l) => l,
        Err(e) if study.is_none() && e.downcast_ref::<UsageError>().is_some() => {
            // Several studies: search all of them for the id.
            let dir = store.default_dir();
            let s = store.open_existing(&dir)?;
            let r = s
                .find_run(None, run)
                .map_err(|e| UsageError(e.to_string()))?;
            let name = s.run_study(&r.id)?;
            crate::locate::Located {
                store: s,
                dir,
                study: name,
            }
        }
        Err(e) => return Err(e),
    };
    let r = loc
        .store
        .find_run(Some(&loc.study), run)
        .map_err(|e| UsageError(e.to_string()))?;
    let dir = rundir::run_dir(&runs_root(&loc.dir, &loc.study), &r.id);
    println!(
        "run {} of study `{}` — {} after {} attempt(s)",
        r.id, loc.study, r.state, r.attempts
    );
    println!("directory: {}", dir.display());
    println!("parameters: {}", serde_json::to_string(&r.params)?);
    if !r.metrics.is_empty() {
        println!("metrics: {}", serde_json::to_string(&r.metrics)?);
    }
    for a in loc.store.attempts(&r.id)? {
        println!(
            "attempt {}: {} on {} at {} ({:.3}s){}",
            a.attempt,
            a.state,
            a.host,
            a.started_at,
            a.duration_s,
            a.reason.map(|x| format!(" — {x}")).unwrap_or_default()
        );
    }
    for name in [rundir::STDOUT_FILE, rundir::STDERR_FILE] {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                println!("──── {name} ({} bytes) ────", bytes.len());
                let lines: Vec<&str> = text.lines().collect();
                let start = tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
                for l in &lines[start..] {
                    println!("{l}");
                }
            }
            Err(_) if dir.is_dir() => {
                println!("──── {name}: empty (the command wrote nothing) ────")
            }
            Err(_) => println!(
                "──── {name}: not written (the run has not started, or its directory was removed) ────"
            ),
        }
    }
    if let Err(e) = rundir::read_result(&dir, &r.id)
        && !matches!(e, rundir::ResultFileError::Missing)
    {
        println!("warning: {e}");
    }
    Ok(0)
}

/// Where artifact `rel` (a relative path with `/`) goes under `dir`; its
/// parent directories are created. A path that would leave `dir` is refused.
pub fn artifact_target(dir: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if !p
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        anyhow::bail!("artifact path `{rel}` is not a plain relative path; not written");
    }
    let target = dir.join(p);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    Ok(target)
}

/// `simforge artifacts RUN [-o DIR]` on a local store: the files in the
/// run's directory, copied to `DIR` when given.
pub fn artifacts(
    store: StoreArgs<'_>,
    study: Option<&str>,
    run: &str,
    output: Option<&Path>,
) -> Result<u8> {
    let loc = match locate(store, study) {
        Ok(l) => l,
        Err(e) if study.is_none() && e.downcast_ref::<UsageError>().is_some() => {
            let dir = store.default_dir();
            let s = store.open_existing(&dir)?;
            let r = s
                .find_run(None, run)
                .map_err(|e| UsageError(e.to_string()))?;
            let name = s.run_study(&r.id)?;
            crate::locate::Located {
                store: s,
                dir,
                study: name,
            }
        }
        Err(e) => return Err(e),
    };
    let r = loc
        .store
        .find_run(Some(&loc.study), run)
        .map_err(|e| UsageError(e.to_string()))?;
    let dir = rundir::run_dir(&runs_root(&loc.dir, &loc.study), &r.id);
    let files = rundir::artifact_files(&dir);
    if files.is_empty() {
        println!("run {} has no artifacts in {}", r.id, dir.display());
        return Ok(0);
    }
    for (rel, path) in &files {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("{rel}\t{size} bytes");
    }
    if let Some(out) = output {
        for (rel, path) in &files {
            let target = artifact_target(out, rel)?;
            let tmp = target.with_extension("partial");
            std::fs::copy(path, &tmp)
                .with_context(|| format!("copying {} to {}", path.display(), tmp.display()))?;
            std::fs::rename(&tmp, &target)
                .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))?;
        }
        eprintln!(
            "{} artifact(s) of run {} copied to {}",
            files.len(),
            r.id,
            out.display()
        );
    }
    Ok(0)
}
