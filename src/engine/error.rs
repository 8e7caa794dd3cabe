//! Why an engine operation changed nothing, and the not-found answers several rooms give.

use rateline_domain::{ErrorCode, Invalid};

use crate::store::StoreError;

/// Why an operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// What the call names does not exist, or the caller may not see it (`404`).
    #[error("{message}")]
    NotFound {
        /// The error code the API answers with.
        code: ErrorCode,
        /// What is missing and how to make it, in the caller's words.
        message: String,
    },
    /// The input breaks a rule; it names the field and how to fix it (`422`).
    #[error("{0}")]
    Invalid(#[from] Invalid),
    /// The call is sound but clashes with what is stored now (`409`).
    #[error("{message}")]
    Conflict {
        /// The error code the API answers with.
        code: ErrorCode,
        /// What it clashes with and what to do instead.
        message: String,
    },
    /// What the call names is past its time: an answer or change window closed, an
    /// invitation expired or was used (`410`).
    #[error("{message}")]
    Gone {
        /// The error code the API answers with.
        code: ErrorCode,
        /// What ended, and when.
        message: String,
    },
    /// Another system (a helpdesk) refused or did not answer what this needed.
    #[error("{message}")]
    Elsewhere {
        /// The error code the API answers with.
        code: ErrorCode,
        /// What the other system said, without its secrets.
        message: String,
    },
    /// The caller may not do this (see [`crate::policy`]).
    #[error(transparent)]
    Forbidden(#[from] crate::policy::Forbidden),
    /// The store failed; nothing was changed (see [`StoreError`]).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An engine operation's outcome.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The answer for a person who does not exist.
pub fn person_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::PersonNotFound,
        message: format!("person '{id}' does not exist; create them with PUT /v1/people/{id}"),
    }
}

/// The answer for a line that does not exist.
pub fn line_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::LineNotFound,
        message: format!("line '{id}' does not exist; create it with PUT /v1/lines/{id}"),
    }
}

/// The answer for a session that does not exist, or that the caller may not see.
pub fn session_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::SessionNotFound,
        message: format!("session '{id}' does not exist; open it with POST /v1/sessions"),
    }
}

/// The answer for a rating request that does not exist, or that the caller may not see.
pub fn request_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::RequestNotFound,
        message: format!("rating request '{id}' does not exist; use the request_id Rateline sent"),
    }
}
