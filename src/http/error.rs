//! Every error the API answers with, and the one place that maps errors to statuses.
//!
//! Errors are `{"error": {"code", "message", "field"?}}`: a stable snake_case code to
//! branch on and a message that says what is wrong and how to fix it. Unexpected errors
//! are logged with their cause and answered as an opaque 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rateline_domain::{ErrorCode, Invalid};
use serde_json::json;

use crate::engine::EngineError;
use crate::policy::Forbidden;
use crate::store::StoreError;

/// What a handler answers: its body, or the error the client is told.
pub type ApiResult<T> = Result<T, ApiError>;

/// An error as the API answers it: a status, a stable code and a message that says how to
/// fix it, sent as `{"error": {"code", "message", "field"?}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status, as `status_of` gives it for the code.
    pub status: StatusCode,
    /// The stable snake_case code clients branch on.
    pub code: ErrorCode,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The input field at fault, when one is.
    pub field: Option<String>,
    /// Seconds for `Retry-After` (a 429 or a 503 that knows when to come back).
    pub retry_after: Option<u64>,
}

/// The status each code is answered with: the one place that decides. `invalid_field` is
/// 422, a value Rateline does not accept; a body of the wrong shape is 400 with the same
/// code ([`ApiError::wrong_shape`]).
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        MalformedJson | UnreadableBody | InvalidPath | InvalidParameter | UnknownParameter
        | InvalidUpdate => StatusCode::BAD_REQUEST,
        KeyRequired | InvalidKey | KeyRevoked | KeyPersonDeactivated | InvalidCredentials
        | BadWebhookSecret | BadSignature | StaleWebhook | InvalidToken | TokenExpired => {
            StatusCode::UNAUTHORIZED
        }
        Forbidden | OpenModeRefused | OriginNotAllowed | NotThisSession => StatusCode::FORBIDDEN,
        NoSuchEndpoint | LineNotFound | SessionNotFound | RequestNotFound | RatingNotFound
        | AppealNotFound | PersonNotFound | GroupNotFound | KeyNotFound | InvitationNotFound
        | SubscriptionNotFound | ChannelNotEnabled | BadgeNotFound | HelpdeskNotFound => {
            StatusCode::NOT_FOUND
        }
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        RequestTimeout => StatusCode::REQUEST_TIMEOUT,
        LineManagedByConfig
        | PersonManagedByConfig
        | GroupManagedByConfig
        | HelpdeskManagedByConfig
        | LineRetired
        | PersonDeactivated
        | SessionIdTaken
        | RequestNotAnswerable
        | ChangeLimitReached
        | ChangeWindowClosed
        | CannotSendToClient
        | AlreadyAppealed
        | AppealDecided
        | RatingVoided
        | NotAWebchatSession
        | HelpdeskSetUpByHand => StatusCode::CONFLICT,
        AnswerWindowClosed | InvitationExpired | InvitationUsed => StatusCode::GONE,
        PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ResponseSentAlready => StatusCode::PRECONDITION_REQUIRED,
        BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        InvalidField => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited | TooManyStreams | TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        HelpdeskRefused => StatusCode::BAD_GATEWAY,
        ServerBusy | DatabaseUnavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The statuses a code is answered with, as the docs' table of codes shows them.
pub fn documented_status(code: ErrorCode) -> String {
    match code {
        ErrorCode::InvalidField => "400, 422".to_owned(),
        other => status_of(other).as_u16().to_string(),
    }
}

impl ApiError {
    /// An error with `code`, answered with the code's status ([`status_of`]).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status: status_of(code),
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// `400 invalid_field`: a body of the wrong shape (a wrong type, a missing or unknown
    /// field), naming the field when there is one.
    pub fn wrong_shape(message: impl Into<String>, field: Option<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            field,
            ..Self::new(ErrorCode::InvalidField, message)
        }
    }

    fn invalid(i: Invalid) -> Self {
        Self {
            field: Some(i.field.clone()),
            ..Self::new(ErrorCode::InvalidField, i.to_string())
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(error = %cause, "database unavailable");
                ApiError::new(
                    ErrorCode::DatabaseUnavailable,
                    "the database is unavailable; nothing was changed, try again shortly",
                )
            }
            other => {
                tracing::error!(error = ?other, "unexpected store error");
                ApiError::new(
                    ErrorCode::InternalError,
                    "an unexpected error occurred; it has been logged",
                )
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound { code, message }
            | EngineError::Conflict { code, message }
            | EngineError::Gone { code, message }
            | EngineError::Elsewhere { code, message } => ApiError::new(code, message),
            EngineError::Invalid(i) => ApiError::invalid(i),
            EngineError::Forbidden(f) => f.into(),
            EngineError::Store(s) => s.into(),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(i: Invalid) -> Self {
        ApiError::invalid(i)
    }
}

impl From<Forbidden> for ApiError {
    fn from(e: Forbidden) -> Self {
        ApiError::new(ErrorCode::Forbidden, e.message)
    }
}

/// What an error response said, kept on the response for the layers around a route (the
/// dashboard shows it as a page instead of JSON).
#[derive(Debug, Clone)]
pub struct Explained {
    /// The error's code.
    pub code: ErrorCode,
    /// The error's message.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let explained = Explained {
            code: self.code,
            message: self.message.clone(),
        };
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            error["field"] = f.into();
        }
        let mut response = (self.status, Json(json!({ "error": error }))).into_response();
        response.extensions_mut().insert(explained);
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(seconds),
            );
        }
        response
    }
}

/// 201 for what a call made, 200 for what it replaced.
pub(super) fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}
