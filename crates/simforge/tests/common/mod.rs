//! Helpers shared by the CLI integration tests: a scratch study directory and a
//! handle on the real `simforge` binary.
#![allow(dead_code)]

pub mod serve;

use std::path::{Path, PathBuf};
use std::process::Output;

/// A scratch directory holding one study file.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `name` with `text` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }

    /// Writes an executable shell script.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.write(name, &format!("#!/bin/sh\n{body}\n"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    pub fn store_db(&self) -> PathBuf {
        self.dir.path().join(".simforge").join("simforge.db")
    }

    /// Runs simforge with `args` in this directory.
    pub fn simforge(&self, args: &[&str]) -> Output {
        bin()
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("run simforge")
    }
}

/// The simforge binary under test.
pub fn bin() -> std::process::Command {
    std::process::Command::new(assert_cmd::cargo::cargo_bin!("simforge"))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Run counts per state straight from the store.
pub fn state_counts(db: &Path) -> std::collections::BTreeMap<String, i64> {
    let conn = rusqlite::Connection::open(db).expect("open store");
    let mut stmt = conn
        .prepare("SELECT state, count(*) FROM runs GROUP BY state")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}
