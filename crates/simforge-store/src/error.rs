//! Store errors.

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// The file is not a simforge store.
    #[error("{path} is not a simforge store ({detail}); move it away or point --store elsewhere")]
    NotAStore {
        /// Store path.
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
