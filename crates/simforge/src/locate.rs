//! Finding the store and the study a command is about.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simforge_store::SqliteStore;

use crate::cmd::UsageError;

/// File name of the SQLite store inside the store directory.
pub const STORE_FILE: &str = "simforge.db";
/// Name of the store directory beside a study file.
pub const STORE_DIR: &str = ".simforge";

/// The store directory for a study file: `--store`, else `.simforge` beside it.
pub fn store_dir_for(study_file: &Path, global: Option<&Path>) -> PathBuf {
    match global {
        Some(g) => g.to_path_buf(),
        None => study_file
            .parent()
            .map(|d| {
                if d.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    d
                }
            })
            .unwrap_or(Path::new("."))
            .join(STORE_DIR),
    }
}

/// Run directories of a study.
pub fn runs_root(store_dir: &Path, study: &str) -> PathBuf {
    store_dir.join("runs").join(study)
}

/// An opened store and the study a command works on.
pub struct Located {
    /// The store.
    pub store: SqliteStore,
    /// Its directory.
    pub dir: PathBuf,
    /// Study name.
    pub study: String,
}

/// Opens the store for `target` (a study file, a study name, or nothing when the
/// store holds exactly one study).
pub fn locate(global: Option<&Path>, target: Option<&str>) -> Result<Located> {
    let (dir, name) = match target {
        Some(t) if Path::new(t).is_file() => {
            let file = Path::new(t);
            let study = simforge_core::load_study(file)?;
            (store_dir_for(file, global), Some(study.spec.name))
        }
        Some(t) => (
            global
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(STORE_DIR)),
            Some(t.to_string()),
        ),
        None => (
            global
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(STORE_DIR)),
            None,
        ),
    };
    let path = dir.join(STORE_FILE);
    let store = SqliteStore::open_existing(&path)
        .with_context(|| format!("opening the store {}", path.display()))?;
    let study = match name {
        Some(n) => {
            if store.study(&n).is_err() {
                let names: Vec<String> = store.studies()?.into_iter().map(|s| s.name).collect();
                return Err(UsageError(format!(
                    "no study `{n}` in {} (studies there: {}); pass a study file or one of those names",
                    path.display(),
                    if names.is_empty() { "none".into() } else { names.join(", ") }
                ))
                .into());
            }
            n
        }
        None => {
            let mut names: Vec<String> = store.studies()?.into_iter().map(|s| s.name).collect();
            match names.len() {
                1 => names.remove(0),
                0 => {
                    return Err(UsageError(format!(
                        "the store {} holds no study yet; run `simforge run STUDY.yaml` first",
                        path.display()
                    ))
                    .into());
                }
                _ => {
                    return Err(UsageError(format!(
                        "the store holds several studies ({}); name one, e.g. `simforge status {}`",
                        names.join(", "),
                        names[0]
                    ))
                    .into());
                }
            }
        }
    };
    Ok(Located { store, dir, study })
}
