//! The `--server URL` forms of `run`, `status`, `results`, `logs` and
//! `cancel`: the same commands, answered by a simforge server through
//! `simforge_exec::remote::client` instead of the local store.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use simforge_exec::remote::client::{self, Client};

use super::UsageError;
use crate::cli::{Command, FormatArg};

/// The global options that choose a server.
#[derive(Debug, Clone, Default)]
pub struct RemoteArgs {
    /// `--server` / SIMFORGE_SERVER.
    pub server: Option<String>,
    /// `--token` / SIMFORGE_TOKEN.
    pub token: Option<String>,
    /// `--token-file` / SIMFORGE_TOKEN_FILE.
    pub token_file: Option<PathBuf>,
    /// `--project` / SIMFORGE_PROJECT.
    pub project: Option<String>,
    /// `--profile`.
    pub profile: Option<String>,
}

/// A resolved server connection.
pub struct Remote {
    client: Client,
    project: Option<String>,
}

impl RemoteArgs {
    /// The server to talk to, or None for the local store. A server is used
    /// when `--server` (or SIMFORGE_SERVER) is given or a client profile is
    /// named (`--profile`, SIMFORGE_PROFILE); the profile file's
    /// `default_profile` then fills in what the options leave out.
    pub fn resolve(&self) -> Result<Option<Remote>> {
        let named = self.profile.clone().or_else(|| {
            std::env::var("SIMFORGE_PROFILE")
                .ok()
                .filter(|p| !p.is_empty())
        });
        if self.server.is_none() && named.is_none() {
            return Ok(None);
        }
        let profile = match client::profile_path() {
            Some(path) => client::load_profile(&path, named.as_deref())?,
            None => client::Profile::default(),
        };
        let Some(server) = self.server.clone().or(profile.server) else {
            return Err(UsageError(format!(
                "profile `{}` names no server; add `server: URL` to it or pass --server",
                named.unwrap_or_default()
            ))
            .into());
        };
        let token = super::server::token(self.token.as_deref(), self.token_file.as_deref())?
            .or(profile.token);
        Ok(Some(Remote {
            client: Client::new(&server, token),
            project: self.project.clone().or(profile.project),
        }))
    }
}

impl Remote {
    fn project(&self) -> Result<&str> {
        self.project.as_deref().ok_or_else(|| {
            UsageError(
                "no project: pass --project P (or SIMFORGE_PROJECT, or `project:` in the client profile)"
                    .into(),
            )
            .into()
        })
    }
}

/// A study argument (file or name) as the study's name: a file's `name:`.
fn study_name(study: Option<&str>) -> Result<String> {
    let Some(s) = study else {
        return Err(UsageError("with --server, name the study (file or name)".into()).into());
    };
    let p = Path::new(s);
    if p.is_file() {
        return Ok(simforge_core::load_study(p)?.spec.name.clone());
    }
    Ok(s.to_string())
}

fn counts_line(v: &Value) -> String {
    let c = &v["counts"];
    let mut parts = Vec::new();
    for k in [
        "pending",
        "running",
        "succeeded",
        "failed",
        "timed_out",
        "cancelled",
    ] {
        if let Some(n) = c[k].as_i64().filter(|n| *n > 0) {
            parts.push(format!("{n} {k}"));
        }
    }
    if parts.is_empty() {
        "no runs".into()
    } else {
        parts.join(", ")
    }
}

/// `simforge run STUDY --server URL --project P`: submits the study with the
/// files it refers to, then follows its progress until it is finished.
/// Ctrl-C stops following; the study keeps running on the server.
pub fn run(remote: &Remote, file: &Path, queue: Option<&str>) -> Result<u8> {
    let project = remote.project()?;
    let source =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let name = simforge_core::load_study(file)?.spec.name.clone();
    let files = client::study_files(file, &source)?;
    let source_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "study.yaml".into());
    let sub = remote
        .client
        .submit(project, &source, &source_name, &files, queue)?;
    println!(
        "study `{name}` submitted to {} project `{project}`: {} runs planned ({} new), queue `{}`{}",
        remote.client.base(),
        sub["planned"],
        sub["new"],
        sub["queue"].as_str().unwrap_or("?"),
        if files.is_empty() {
            String::new()
        } else {
            format!(
                ", with {}",
                files.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        }
    );
    if sub["adaptive"] == true {
        println!(
            "the server runs its adaptive loop: it adds runs, a batch per iteration, until a stopping rule fires"
        );
    }
    let cancel = super::run::stop_on_signals()?;
    let mut last = String::new();
    let mut iterations_seen = 0;
    loop {
        let v = remote.client.study(project, &name)?;
        let line = counts_line(&v);
        if line != last {
            println!("{name}: {line}");
            last = line;
        }
        let its = v["adaptive"]["iterations"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        for it in its.iter().skip(iterations_seen) {
            let best = it["best"]
                .as_f64()
                .map_or_else(|| "none feasible yet".into(), super::optimize::fmt);
            println!(
                "iteration {:>3}: +{} points, {} runs; best so far {best}",
                it["number"].as_u64().unwrap_or(0),
                it["proposed"],
                it["runs"]
            );
        }
        iterations_seen = iterations_seen.max(its.len());
        if v["finished"].as_bool() == Some(true) {
            let a = &v["adaptive"];
            if let Some(reason) = a["stop_reason"].as_str() {
                println!("stopped: {reason}");
            }
            if let Some(err) = a["error"].as_str() {
                println!("the loop failed: {err}");
            }
            if let Some(value) = a["best"]["value"].as_f64() {
                let params: Vec<String> = a["best"]["params"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                    .unwrap_or_default();
                println!(
                    "best:    {} = {} at run {} ({})",
                    a["metric"].as_str().unwrap_or("?"),
                    super::optimize::fmt(value),
                    a["best"]["run_id"].as_str().unwrap_or("?"),
                    params.join(", ")
                );
            }
            let c = &v["counts"];
            let bad = ["failed", "timed_out", "cancelled"]
                .iter()
                .any(|k| c[*k].as_i64().unwrap_or(0) > 0);
            return Ok(if bad { crate::EXIT_RUNS_FAILED } else { 0 });
        }
        for _ in 0..20 {
            if cancel.load(Ordering::Relaxed) {
                println!(
                    "stopped following; study `{name}` keeps running on the server (`simforge status {name} --server {}`; `simforge cancel` stops it)",
                    remote.client.base()
                );
                return Ok(crate::EXIT_INTERRUPTED);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `simforge status STUDY --server URL`.
pub fn status(remote: &Remote, study: Option<&str>) -> Result<u8> {
    let project = remote.project()?;
    let name = study_name(study)?;
    let v = remote.client.study(project, &name)?;
    println!(
        "{project}/{name}: {}{}",
        counts_line(&v),
        if v["finished"].as_bool() == Some(true) {
            " (finished)"
        } else {
            ""
        }
    );
    Ok(0)
}

/// `simforge results STUDY --server URL [--format F] [--output FILE]`: the
/// same table as on a local store, downloaded (the file is written beside
/// its target and renamed, so it is never seen half-written).
pub fn results(
    remote: &Remote,
    study: Option<&str>,
    format: FormatArg,
    output: Option<&Path>,
) -> Result<u8> {
    let project = remote.project()?;
    let name = study_name(study)?;
    let wire = match format {
        FormatArg::Csv => "csv",
        FormatArg::Parquet => "parquet",
        FormatArg::Json => "json-array",
    };
    match output {
        Some(p) => {
            let tmp = p.with_extension("partial");
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?,
            );
            let n = remote
                .client
                .results_download(project, &name, wire, &mut file);
            let n = match n.map_err(anyhow::Error::from).and_then(|n| {
                file.flush()
                    .with_context(|| format!("writing {}", tmp.display()))?;
                Ok(n)
            }) {
                Ok(n) => n,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e);
                }
            };
            std::fs::rename(&tmp, p)
                .with_context(|| format!("renaming {} to {}", tmp.display(), p.display()))?;
            eprintln!("results of `{name}` written to {} ({n} bytes)", p.display());
        }
        None if format == FormatArg::Parquet => {
            return Err(UsageError("Parquet output is binary: pass -o FILE.parquet".into()).into());
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            remote
                .client
                .results_download(project, &name, wire, &mut lock)?;
            lock.flush()?;
        }
    }
    Ok(0)
}

/// `simforge logs RUN --server URL`.
pub fn logs(remote: &Remote, run: &str, tail: Option<usize>) -> Result<u8> {
    let r = remote.client.run(run)?;
    println!(
        "run {} ({}): {}",
        r["id"].as_str().unwrap_or(run),
        r["study"].as_str().unwrap_or("?"),
        r["state"].as_str().unwrap_or("?")
    );
    let logs = remote.client.logs(run)?;
    for a in logs["attempts"].as_array().into_iter().flatten() {
        if let Value::Object(m) = a {
            for (k, v) in m {
                if k == "attempt" {
                    continue;
                }
                let text = v.as_str().unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let from = tail.map_or(0, |t| lines.len().saturating_sub(t));
                println!("--- attempt {} {k} ---", a["attempt"]);
                for l in &lines[from..] {
                    println!("{l}");
                }
            }
        }
    }
    Ok(0)
}

/// `simforge artifacts RUN --server URL [-o DIR]`: the files remote workers
/// uploaded for the run, the latest attempt's copy of each path.
pub fn artifacts(remote: &Remote, run: &str, output: Option<&Path>) -> Result<u8> {
    let v = remote.client.artifacts(run)?;
    let id = v["run_id"].as_str().unwrap_or(run).to_string();
    // path -> (attempt, size), keeping the latest attempt.
    let mut latest: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for a in v["artifacts"].as_array().into_iter().flatten() {
        let (Some(path), Some(attempt)) = (a["path"].as_str(), a["attempt"].as_i64()) else {
            continue;
        };
        let size = a["size_bytes"].as_i64().unwrap_or(0);
        let e = latest.entry(path.to_string()).or_insert((attempt, size));
        if attempt >= e.0 {
            *e = (attempt, size);
        }
    }
    if latest.is_empty() {
        println!("run {id} has no artifacts");
        return Ok(0);
    }
    for (path, (attempt, size)) in &latest {
        println!("{path}\t{size} bytes\tattempt {attempt}");
    }
    if let Some(dir) = output {
        for (path, (attempt, _)) in &latest {
            let target = super::inspect::artifact_target(dir, path)?;
            let tmp = target.with_extension("partial");
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?,
            );
            let got = remote
                .client
                .artifact_download(&id, path, Some(*attempt), &mut f)
                .map_err(anyhow::Error::from)
                .and_then(|n| {
                    f.flush()
                        .with_context(|| format!("writing {}", tmp.display()))?;
                    Ok(n)
                });
            if let Err(e) = got {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, &target)
                .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))?;
        }
        eprintln!(
            "{} artifact(s) of run {id} written to {}",
            latest.len(),
            dir.display()
        );
    }
    Ok(0)
}

/// `simforge cancel STUDY --server URL`.
pub fn cancel(remote: &Remote, study: &Path) -> Result<u8> {
    let project = remote.project()?;
    let name = study_name(Some(&study.to_string_lossy()))?;
    let v = remote.client.cancel(project, &name)?;
    println!("study `{project}/{name}` cancelled: {v}");
    Ok(0)
}

/// Whether `command` has a `--server` form.
pub fn applies(command: &Command) -> bool {
    matches!(
        command,
        Command::Run { dry_run: false, .. }
            | Command::Status { .. }
            | Command::Results { .. }
            | Command::Logs { .. }
            | Command::Artifacts { .. }
            | Command::Cancel { .. }
    )
}

/// Runs the `--server` form of `command` (one for which [`applies`] holds).
pub fn dispatch(remote: &Remote, command: Command) -> Result<u8> {
    match command {
        Command::Run { study, .. } => run(remote, &study, None),
        Command::Status { study } => status(remote, study.as_deref()),
        Command::Results {
            study,
            format,
            output,
        } => results(remote, study.as_deref(), format, output.as_deref()),
        Command::Logs { run, tail, .. } => logs(remote, &run, tail),
        Command::Artifacts { run, output, .. } => artifacts(remote, &run, output.as_deref()),
        Command::Cancel { study } => cancel(remote, &study),
        _ => Err(UsageError("this command has no --server form".into()).into()),
    }
}
