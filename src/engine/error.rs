//! Why an engine operation changed nothing, and the not-found answers several rooms give.

use rateline_domain::{ErrorCode, Invalid};

use crate::store::StoreError;

/// Why an operation changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{message}")]
    Conflict { code: ErrorCode, message: String },
    #[error("{message}")]
    Gone { code: ErrorCode, message: String },
    /// Another system (a helpdesk) refused or did not answer what this needed.
    #[error("{message}")]
    Elsewhere { code: ErrorCode, message: String },
    /// The caller may not do this (see [`crate::policy`]).
    #[error(transparent)]
    Forbidden(#[from] crate::policy::Forbidden),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// The answer for a line that does not exist.
pub(crate) fn line_not_found(id: &str) -> EngineError {
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
