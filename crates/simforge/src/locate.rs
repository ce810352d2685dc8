//! Finding the store and the study a command is about.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use simforge_store::{Store, StoreError};

use crate::cmd::UsageError;

/// File name of the SQLite store inside the store directory.
pub const STORE_FILE: &str = "simforge.db";
/// Name of the store directory beside a study file.
pub const STORE_DIR: &str = ".simforge";

/// Where the store lives, as the global options say. `--store DIR` names the
/// store directory (run directories, results, reports, locks, and the SQLite
/// file); `--database URL` keeps the records in PostgreSQL instead of that
/// file, while everything else stays in the directory.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreArgs<'a> {
    /// `--store DIR`, if given.
    pub dir: Option<&'a Path>,
    /// `--database URL`, if given: a `postgres://` or `postgresql://` URL.
    pub database: Option<&'a str>,
}

impl<'a> StoreArgs<'a> {
    /// The global options (an empty `--database` counts as not given).
    pub fn new(dir: Option<&'a Path>, database: Option<&'a str>) -> Self {
        StoreArgs {
            dir,
            database: database.filter(|d| !d.trim().is_empty()),
        }
    }

    /// The store directory when no study file says where: `--store`, else
    /// `.simforge` in the current directory.
    pub fn default_dir(&self) -> PathBuf {
        self.dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(STORE_DIR))
    }

    /// Where the records of the store directory `dir` are: the database URL,
    /// or the SQLite file in `dir`. May hold a password: show
    /// [`Store::location`] or [`StoreArgs::shown`] instead. `--database` must
    /// be a PostgreSQL URL (an SQLite store is chosen with `--store`); it is
    /// checked here, where a store is opened, so that commands without one
    /// never trip over the environment variable.
    fn location(&self, dir: &Path) -> Result<String> {
        match self.database {
            Some(url) if simforge_store::is_postgres_url(url) => Ok(url.to_string()),
            Some(url) => Err(UsageError(format!(
                "--database `{}`: expected a PostgreSQL URL such as postgres://user@host:5432/simforge?schema=NAME (an SQLite store is chosen with --store DIR)",
                simforge_store::redact_url(url)
            ))
            .into()),
            None => Ok(dir.join(STORE_FILE).display().to_string()),
        }
    }

    /// The records' location for messages (a URL without its password).
    pub fn shown(&self, dir: &Path) -> String {
        match self.database {
            Some(url) => simforge_store::redact_url(url),
            None => dir.join(STORE_FILE).display().to_string(),
        }
    }

    /// Opens the store for the store directory `dir`, creating it if needed.
    pub fn open(&self, dir: &Path) -> Result<Box<dyn Store>> {
        simforge_store::open(&self.location(dir)?)
            .with_context(|| format!("opening the store {}", self.shown(dir)))
    }

    /// Opens the existing store for `dir`; a missing one is an error.
    pub fn open_existing(&self, dir: &Path) -> Result<Box<dyn Store>> {
        simforge_store::open_existing(&self.location(dir)?)
            .with_context(|| format!("opening the store {}", self.shown(dir)))
    }

    /// Opens the existing store for `dir`, or `None` when there is none yet.
    pub fn open_if_exists(&self, dir: &Path) -> Result<Option<Box<dyn Store>>> {
        match simforge_store::open_existing(&self.location(dir)?) {
            Ok(s) => Ok(Some(s)),
            Err(StoreError::NoStore { .. }) => Ok(None),
            Err(e) => {
                Err(anyhow::Error::new(e).context(format!("opening the store {}", self.shown(dir))))
            }
        }
    }
}

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
    pub store: Box<dyn Store>,
    /// Its directory (run directories, results, reports).
    pub dir: PathBuf,
    /// Study name.
    pub study: String,
}

/// Opens the store for `target` (a study file, a study name, or nothing when the
/// store holds exactly one study).
pub fn locate(args: StoreArgs<'_>, target: Option<&str>) -> Result<Located> {
    let (dir, name) = match target {
        Some(t) if Path::new(t).is_file() => {
            let file = Path::new(t);
            let study = simforge_core::load_study(file)?;
            (store_dir_for(file, args.dir), Some(study.spec.name))
        }
        Some(t) => (args.default_dir(), Some(t.to_string())),
        None => (args.default_dir(), None),
    };
    let store = args.open_existing(&dir)?;
    let shown = store.location();
    let study = match name {
        Some(n) => {
            if store.study(&n).is_err() {
                let names: Vec<String> = store.studies()?.into_iter().map(|s| s.name).collect();
                return Err(UsageError(format!(
                    "no study `{n}` in {shown} (studies there: {}); pass a study file or one of those names",
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
                        "the store {shown} holds no study yet; run `simforge run STUDY.yaml` first"
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
