//! What can go wrong in the store, sorted by what the caller can do about it.

/// What went wrong in the store, by what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now; the operation changed nothing. Try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: a bug or a corrupt row.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// A stored value that does not read back (e.g. settings JSON written by a newer version).
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        // A stored word that no longer parses (a channel, a status, a role read as its
        // type) is a corrupt row, not a failing database.
        if let sqlx::Error::ColumnDecode { .. } = e {
            return StoreError::Corrupt(e.to_string());
        }
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Other(e)
        }
    }
}

/// Connection loss, pool exhaustion and server shutdown are "unavailable"; constraint
/// violations and syntax errors are not.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: class 08 connection exceptions, 57P01..57P03 shutdown and
            // "cannot connect now", 55000 when connections are not allowed; SQLite: BUSY, LOCKED.
            code.starts_with("08")
                || code.starts_with("57P0")
                || code == "55000"
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}

/// A store operation's outcome.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
