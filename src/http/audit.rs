//! `GET /v1/audit`: the audit log of changes to lines, people, groups and keys, and of what
//! people did that matters to security, for admins.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::extract::ApiQuery;
use super::openapi::ErrorBody;
use super::report::{count_param, id_param};
use super::state::AppState;
use crate::policy::Caller;
use crate::store::{AuditFilter, AuditRecord};
use rateline_domain::ErrorCode;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit))
}

/// `GET /v1/audit`.
#[derive(Serialize, ToSchema)]
struct AuditList {
    entries: Vec<AuditRecord>,
}

/// The kinds of thing the log records.
pub const KINDS: [&str; 13] = [
    "line",
    "person",
    "alert_pace",
    "group",
    "key",
    "client",
    "retention",
    "subscription",
    "connector",
    "sign_in",
    "rating",
    "session",
    "appeal",
];

/// The filter `GET /v1/audit` and the dashboard's audit page read from a query.
pub fn audit_filter(query: &ApiQuery) -> Result<AuditFilter, ApiError> {
    query.only("kind, subject, limit")?;
    let kind = query.0.get("kind").cloned();
    if let Some(k) = &kind
        && !KINDS.contains(&k.as_str())
    {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("kind: '{k}' is not {}", KINDS.join(", ")),
        ));
    }
    Ok(AuditFilter {
        kind,
        subject: id_param(&query.0, "subject")?,
        limit: count_param(&query.0, "limit", 1..=1000, 100, "a number")?,
    })
}

/// Every change to lines, people, groups, API keys and event subscriptions, and what people
/// did that matters to security (invitations, passwords set, sign-ins and failed ones,
/// sign-outs, responses, comment flags, evaluations, appeals and decisions), newest first:
/// who (a person's id, `key <id>`, `config file`, `no key`, or `nobody` for failed
/// sign-ins), when, and each field before and after. A secret's value is never kept: a
/// changed one shows as `"(secret)"`. Admins.
#[utoipa::path(
    get, path = "/v1/audit", tag = "people", operation_id = "audit_log",
    params(
        ("kind" = Option<String>, Query, description = "line, person, group, key, client, retention, subscription, connector, sign_in, rating, session or appeal."),
        ("subject" = Option<String>, Query, description = "The line's, person's, group's, key's, rating's, session's or appeal's id."),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "100 when absent."),
    ),
    responses(
        (status = 200, description = "The entries, newest first.", body = AuditList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    query: ApiQuery,
) -> ApiResult<Json<AuditList>> {
    let filter = audit_filter(&query)?;
    Ok(Json(AuditList {
        entries: state.engine.audit_log(&caller, &filter).await?,
    }))
}
