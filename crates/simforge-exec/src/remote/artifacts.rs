//! Uploading a finished attempt's files from a remote worker's run
//! directory, so they outlive the worker (`GET /runs/{id}/artifacts` on the
//! server).
//!
//! Every regular file under the run directory is sent — outputs, rendered
//! inputs, fields written by builtins — except `result.json` and the logs,
//! which travel in the sync exchange. Uploads happen while the run's lease
//! is held, before the attempt is reported. They are best effort: a file the
//! server refuses (too large) or a server that stays away costs that file,
//! with a warning in the worker's log, never the run's result.

use std::path::Path;
use std::time::Duration;

use super::client::segment;
use crate::rundir::artifact_files as run_files;

/// At most this many files per attempt (a run that writes more is told so).
const MAX_FILES: usize = 1000;
/// Tries per file against a server error or an unreachable server.
const TRIES: u32 = 3;

/// Sends run-directory files to the server a worker pulls from.
#[derive(Clone)]
pub(crate) struct ArtifactUploader {
    agent: ureq::Agent,
    base: String,
    token: String,
}

/// What became of one attempt's files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Uploaded {
    /// Files stored.
    pub files: usize,
    /// Files not stored (refused, or the server unreachable).
    pub skipped: usize,
}

impl ArtifactUploader {
    /// An uploader to the server at `base` with the worker's `token`.
    pub fn new(base: &str, token: &str) -> ArtifactUploader {
        ArtifactUploader {
            agent: ureq::Agent::config_builder()
                .timeout_connect(Some(Duration::from_secs(10)))
                .http_status_as_error(false)
                .build()
                .into(),
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Uploads the files of `dir` as attempt `attempt` of the run `lease`
    /// holds.
    pub fn upload_dir(&self, lease: &str, attempt: u32, dir: &Path) -> Uploaded {
        let mut done = Uploaded::default();
        let files = run_files(dir);
        if files.len() > MAX_FILES {
            tracing::warn!(
                dir = %dir.display(),
                files = files.len(),
                "only the first {MAX_FILES} files of the run directory are uploaded"
            );
        }
        for (rel, path) in files.into_iter().take(MAX_FILES) {
            match self.upload_file(lease, attempt, &rel, &path) {
                Ok(()) => done.files += 1,
                Err(Refusal::LeaseGone(e)) => {
                    // Every later file would be refused the same way.
                    tracing::warn!(lease, "artifacts not uploaded: {e}");
                    done.skipped += 1;
                    return done;
                }
                Err(Refusal::File(e)) => {
                    tracing::warn!(lease, file = %rel, "artifact not uploaded: {e}");
                    done.skipped += 1;
                }
            }
        }
        done
    }

    fn upload_file(
        &self,
        lease: &str,
        attempt: u32,
        rel: &str,
        path: &Path,
    ) -> Result<(), Refusal> {
        let url = format!(
            "{}/api/v1/workers/leases/{}/artifacts?attempt={attempt}&path={}",
            self.base,
            segment(lease),
            segment(rel)
        );
        let mut last = String::new();
        for i in 0..TRIES {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(500 << i));
            }
            let file = std::fs::File::open(path)
                .map_err(|e| Refusal::File(format!("reading {}: {e}", path.display())))?;
            let sent = self
                .agent
                .put(&url)
                .header("Authorization", &format!("Bearer {}", self.token))
                .header("Content-Type", "application/octet-stream")
                .send(file);
            match sent {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(());
                    }
                    let body = resp.body_mut().read_to_string().unwrap_or_default();
                    last = format!("{status}: {body}");
                    match status {
                        404 => return Err(Refusal::LeaseGone(last)),
                        400..=499 if status != 408 && status != 429 => {
                            return Err(Refusal::File(last));
                        }
                        _ => {}
                    }
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(Refusal::File(format!("{TRIES} tries: {last}")))
    }
}

enum Refusal {
    /// The lease is no longer held: nothing more of this attempt is taken.
    LeaseGone(String),
    /// This file was not stored.
    File(String),
}
