//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL reported an error (the message carries the server's detail
    /// and hint when it sent them).
    #[error("PostgreSQL error: {}", describe_pg(.0))]
    Postgres(#[from] postgres::Error),
    /// The PostgreSQL server could not be reached, or refused the connection.
    #[error(
        "cannot connect to the PostgreSQL store at {location}: {detail}; check that the server is running and reachable and that --database (or SIMFORGE_DATABASE_URL) names the right host, port, database and user"
    )]
    Connect {
        /// The database URL, without its password.
        location: String,
        /// What went wrong.
        detail: String,
    },
    /// There is no store where an existing one was expected.
    #[error(
        "no store at {location} (run `simforge run STUDY` first, or pass --store or --database)"
    )]
    NoStore {
        /// Where the store was looked for (a file path, or a URL without its password).
        location: String,
    },
    /// The store was written by a newer simforge.
    #[error(
        "the store at {path} has schema version {found}, newer than this simforge understands ({supported}); upgrade simforge"
    )]
    TooNew {
        /// Store path.
        path: String,
        /// Version found.
        found: i64,
        /// Newest version this build supports.
        supported: i64,
    },
    /// The file (or PostgreSQL schema) holds something other than a simforge store.
    #[error(
        "{path} is not a simforge store ({detail}); move it away or point --store (or --database) elsewhere"
    )]
    NotAStore {
        /// Store path, or database URL without its password.
        path: String,
        /// What was found.
        detail: String,
    },
    /// The store is locked by another process for longer than the timeout.
    #[error("the store is busy (another simforge process holds it): {0}")]
    Busy(String),
    /// A study is not in the store.
    #[error("no study named `{0}` in this store")]
    UnknownStudy(String),
    /// No run, or more than one run, matches an id prefix.
    #[error("{0}")]
    RunLookup(String),
    /// A stored value could not be decoded.
    #[error("corrupt store row: {0}")]
    Corrupt(String),
    /// Filesystem error around the store.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// One line describing a PostgreSQL error: for an error the server sent, its
/// severity, SQLSTATE code, message, detail and hint (the client library's own
/// `Display` says only "db error"); otherwise the error and its cause.
pub(crate) fn describe_pg(e: &postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
        if let Some(detail) = db.detail() {
            s.push_str("; detail: ");
            s.push_str(detail);
        }
        if let Some(hint) = db.hint() {
            s.push_str("; hint: ");
            s.push_str(hint);
        }
        return s;
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}
