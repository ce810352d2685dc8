//! The SQLite store on its own: what only a file-based store does (creating
//! its directory, refusing foreign files, WAL mode, missing files). The
//! behaviour every backend shares is in `conformance.rs`.

mod support;

use simforge_store::{SCHEMA_VERSION, SqliteStore, Store, StoreError};
use support::*;

#[test]
fn a_new_store_creates_its_directory_and_uses_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/er/simforge.db");
    let s = SqliteStore::open(&path).unwrap();
    assert!(path.is_file());
    assert_eq!(s.path(), path.as_path());
    assert_eq!(s.location(), path.display().to_string());
    assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
    drop(s);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_file_that_is_not_a_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simforge.db");
    std::fs::write(
        &path,
        b"this is a text file, not an SQLite database, honest",
    )
    .unwrap();
    let err = SqliteStore::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is a text file, not an SQLite database, honest",
        "left untouched"
    );
}

#[test]
fn a_database_of_something_else_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE invoices (id INTEGER)")
        .unwrap();
    let err = SqliteStore::open(&path).err().expect("refused");
    assert!(
        err.to_string().contains("no simforge `meta` table"),
        "{err}"
    );
}

#[test]
fn a_newer_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simforge.db");
    drop(SqliteStore::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [(SCHEMA_VERSION + 1).to_string()],
        )
        .unwrap();
    match SqliteStore::open(&path) {
        Err(StoreError::TooNew { found, .. }) => assert_eq!(found, SCHEMA_VERSION + 1),
        Err(e) => panic!("expected TooNew, got {e}"),
        Ok(_) => panic!("opened a newer store"),
    }
}

#[test]
fn open_existing_needs_a_file_and_open_dispatches_on_the_location() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("simforge.db");
    let err = SqliteStore::open_existing(&path).err().expect("missing");
    assert!(matches!(err, StoreError::NoStore { .. }), "{err}");
    assert!(!path.exists(), "nothing created");
    let location = path.display().to_string();
    assert!(simforge_store::open_existing(&location).is_err());
    let mut s = simforge_store::open(&location).unwrap();
    s.store_plan(&study("a", "h"), &mut runs(&["aa01"]).into_iter())
        .unwrap();
    drop(s);
    let s = simforge_store::open_existing(&location).unwrap();
    assert_eq!(s.location(), location);
    assert_eq!(s.studies().unwrap().len(), 1);
}
