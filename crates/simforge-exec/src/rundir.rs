//! The run directory: `<runs root>/<run id>/` with rendered inputs, logs,
//! outputs and `result.json`.
//!
//! `result.json` is written by write-then-rename, so a reader sees either the
//! whole file or none (safe on NFS too). It is what makes resume exact: a run
//! whose directory holds a succeeded `result.json` is never executed again, even
//! if the coordinator died before recording it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Name of the result file in a run directory.
pub const RESULT_FILE: &str = "result.json";
/// Standard output of the current attempt.
pub const STDOUT_FILE: &str = "stdout.log";
/// Standard error of the current attempt.
pub const STDERR_FILE: &str = "stderr.log";

/// What `result.json` holds: the outcome of a run's last attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultFile {
    /// Run id; checked on recovery so a misplaced file is never trusted.
    pub run_id: String,
    /// Study name.
    pub study: String,
    /// Attempt number.
    pub attempt: u32,
    /// Outcome of this attempt: `succeeded`, `failed`, `timed_out` or `cancelled`.
    pub state: String,
    /// Where the run went after this attempt: `pending` when another attempt
    /// follows, otherwise its final state. Lets recovery tell a settled failure
    /// from an attempt that was about to be retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_state: Option<String>,
    /// Why the attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Metrics.
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
    /// Parameters of the run.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Seed.
    pub seed: u64,
    /// Exit code, if the command exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Signal that ended the command, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Start, RFC 3339.
    pub started_at: String,
    /// End, RFC 3339.
    pub finished_at: String,
    /// Wall-clock seconds.
    pub duration_s: f64,
    /// Host.
    pub host: String,
    /// Peak resident memory in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rss_kb: Option<i64>,
    /// Hash of the spec the run was executed under.
    pub spec_hash: String,
}

impl ResultFile {
    /// The file for one finished attempt of a run.
    pub fn from_attempt(
        record: &simforge_store::AttemptRecord,
        run_state: simforge_core::RunState,
        study: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        seed: u64,
    ) -> Self {
        ResultFile {
            run_id: record.run_id.clone(),
            study: study.to_string(),
            attempt: record.attempt,
            state: record.state.as_str().into(),
            run_state: Some(run_state.as_str().into()),
            reason: record.reason.clone(),
            metrics: record.metrics.clone(),
            params: params.clone(),
            seed,
            exit_code: record.exit_code,
            signal: record.signal,
            started_at: record.started_at.clone(),
            finished_at: record.finished_at.clone(),
            duration_s: record.duration_s,
            host: record.host.clone(),
            max_rss_kb: record.max_rss_kb,
            spec_hash: record.spec_hash.clone(),
        }
    }

    /// The attempt it records and the state its run went to next, or `None`
    /// when a state does not parse (a file from an unknown version).
    pub fn into_attempt(self) -> Option<(simforge_store::AttemptRecord, simforge_core::RunState)> {
        use simforge_core::RunState;
        let state: RunState = self.state.parse().ok()?;
        let run_state: RunState = match (&self.run_state, state) {
            (_, RunState::Succeeded) => RunState::Succeeded,
            (Some(s), _) => s.parse().ok()?,
            // Files from before `run_state` existed: only success is certain.
            (None, _) => return None,
        };
        Some((
            simforge_store::AttemptRecord {
                run_id: self.run_id,
                attempt: self.attempt,
                state,
                started_at: self.started_at,
                finished_at: self.finished_at,
                duration_s: self.duration_s,
                exit_code: self.exit_code,
                signal: self.signal,
                reason: self.reason,
                host: self.host,
                max_rss_kb: self.max_rss_kb,
                metrics: self.metrics,
                spec_hash: self.spec_hash,
            },
            run_state,
        ))
    }
}

/// Why a `result.json` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultFileError {
    /// No file.
    #[error("no result.json")]
    Missing,
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The file is not a valid result (truncated, edited, or another run's).
    #[error("{path} is not a valid result file ({detail})")]
    Invalid {
        /// File path.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

/// Path of run `id`'s directory under `root`.
pub fn run_dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Writes `result` to `dir/result.json` atomically (temporary file, then rename).
pub fn write_result(dir: &Path, result: &ResultFile) -> std::io::Result<()> {
    let tmp = dir.join(".result.json.tmp");
    let mut f = fs::File::create(&tmp)?;
    let text = serde_json::to_vec(result).map_err(std::io::Error::other)?;
    f.write_all(&text)?;
    f.write_all(b"\n")?;
    drop(f);
    fs::rename(&tmp, dir.join(RESULT_FILE))
}

/// Reads and checks `dir/result.json` for run `expected_id`.
pub fn read_result(dir: &Path, expected_id: &str) -> Result<ResultFile, ResultFileError> {
    let path = dir.join(RESULT_FILE);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ResultFileError::Missing),
        Err(source) => return Err(ResultFileError::Io { path, source }),
    };
    let result: ResultFile =
        serde_json::from_slice(&text).map_err(|e| ResultFileError::Invalid {
            path: path.clone(),
            detail: e.to_string(),
        })?;
    if result.run_id != expected_id {
        return Err(ResultFileError::Invalid {
            path,
            detail: format!("it belongs to run {}, not {expected_id}", result.run_id),
        });
    }
    Ok(result)
}

/// Prepares a fresh directory for an attempt: creates it, and moves the previous
/// attempt's logs and result aside to `attempt-<n>/` so nothing is lost.
pub fn prepare(dir: &Path, attempt: u32) -> std::io::Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::create_dir_all(dir)?;
            return Ok(());
        }
        Err(e) => return Err(e),
    }
    let old = dir.join(format!("attempt-{}", attempt.saturating_sub(1).max(1)));
    let mut moved = false;
    for name in [STDOUT_FILE, STDERR_FILE, RESULT_FILE] {
        let p = dir.join(name);
        if p.exists() {
            if !moved {
                fs::create_dir_all(&old)?;
                moved = true;
            }
            fs::rename(&p, old.join(name))?;
        }
    }
    Ok(())
}

/// The last `max` bytes of a log file, as text (empty when it is missing):
/// what a run's page shows of its stdout and stderr.
pub fn log_tail(path: &Path, max: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > max {
        let _ = f.seek(SeekFrom::Start(len - max));
    }
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// A run's artifacts: the regular files under its run directory `dir`
/// (outputs, rendered inputs, fields written by builtins), as paths relative
/// to it with `/` separators, sorted — without `result.json` and the logs,
/// which are the run's bookkeeping. Symbolic links are not followed.
pub fn artifact_files(dir: &Path) -> Vec<(String, PathBuf)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let Ok(kind) = e.file_type() else { continue };
            let path = e.path();
            if kind.is_dir() {
                walk(root, &path, out);
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(root) else {
                    continue;
                };
                let Some(rel) = rel.to_str() else { continue };
                if [RESULT_FILE, STDOUT_FILE, STDERR_FILE].contains(&rel) {
                    continue;
                }
                out.push((rel.replace(std::path::MAIN_SEPARATOR, "/"), path));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: &str) -> ResultFile {
        ResultFile {
            run_id: id.into(),
            study: "s".into(),
            attempt: 1,
            state: "succeeded".into(),
            run_state: Some("succeeded".into()),
            reason: None,
            metrics: serde_json::json!({"y": 1.5})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            params: serde_json::Map::new(),
            seed: 7,
            exit_code: Some(0),
            signal: None,
            started_at: "t0".into(),
            finished_at: "t1".into(),
            duration_s: 0.1,
            host: "h".into(),
            max_rss_kb: None,
            spec_hash: "abc".into(),
        }
    }

    #[test]
    fn round_trips_and_rejects_bad_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r1");
        prepare(&dir, 1).unwrap();
        assert!(matches!(
            read_result(&dir, "r1"),
            Err(ResultFileError::Missing)
        ));
        write_result(&dir, &sample("r1")).unwrap();
        assert_eq!(read_result(&dir, "r1").unwrap(), sample("r1"));
        // Another run's file is not trusted.
        assert!(matches!(
            read_result(&dir, "r2"),
            Err(ResultFileError::Invalid { .. })
        ));
        // A truncated file is reported, not a panic.
        let text = fs::read_to_string(dir.join(RESULT_FILE)).unwrap();
        fs::write(dir.join(RESULT_FILE), &text[..text.len() / 2]).unwrap();
        assert!(matches!(
            read_result(&dir, "r1"),
            Err(ResultFileError::Invalid { .. })
        ));
    }

    #[test]
    fn retries_keep_earlier_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        prepare(&dir, 1).unwrap();
        fs::write(dir.join(STDOUT_FILE), "first").unwrap();
        prepare(&dir, 2).unwrap();
        assert!(!dir.join(STDOUT_FILE).exists());
        assert_eq!(
            fs::read_to_string(dir.join("attempt-1").join(STDOUT_FILE)).unwrap(),
            "first"
        );
    }

    #[test]
    fn artifacts_are_the_outputs_not_the_bookkeeping() {
        let d = tempfile::tempdir().expect("tempdir");
        for f in [
            "result.json",
            "stdout.log",
            "stderr.log",
            "out.txt",
            "fields/u.npy",
        ] {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, "x").expect("write");
        }
        std::os::unix::fs::symlink("/etc/passwd", d.path().join("link")).expect("symlink");
        let names: Vec<String> = artifact_files(d.path())
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(names, ["fields/u.npy", "out.txt"]);
    }
}
