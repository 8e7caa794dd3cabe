//! Event subscriptions, for admins: `GET /v1/subscriptions`, `GET`, `PUT`, `PATCH` and
//! `DELETE /v1/subscriptions/{id}` (docs/events.md).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use rateline_domain::{NameId, SubscriptionSettings};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath};
use super::openapi::ErrorBody;
use super::state::AppState;
use super::versions::merged;
use crate::policy::Caller;
use crate::store::SubscriptionRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions))
        .routes(routes!(
            get_subscription,
            put_subscription,
            patch_subscription,
            delete_subscription
        ))
}

/// `GET /v1/subscriptions`.
#[derive(Serialize, ToSchema)]
struct SubscriptionList {
    subscriptions: Vec<SubscriptionRecord>,
}

/// Every event subscription, by id, with how each is doing: admins.
#[utoipa::path(
    get, path = "/v1/subscriptions", tag = "events", operation_id = "list_subscriptions",
    responses(
        (status = 200, description = "The subscriptions.", body = SubscriptionList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_subscriptions(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<SubscriptionList>> {
    Ok(Json(SubscriptionList {
        subscriptions: state.engine.subscriptions(&caller, None).await?,
    }))
}

/// One subscription, never its secret: admins.
#[utoipa::path(
    get, path = "/v1/subscriptions/{subscription_id}", tag = "events", operation_id = "get_subscription",
    params(("subscription_id" = rateline_domain::Id, Path, description = "The subscription.")),
    responses(
        (status = 200, description = "The subscription.", body = SubscriptionRecord),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such subscription (`subscription_not_found`).", body = ErrorBody),
    ),
)]
async fn get_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<SubscriptionRecord>> {
    let mut found = state.engine.subscriptions(&caller, Some(&id)).await?;
    Ok(Json(found.remove(0)))
}

/// Creates or replaces a subscription, and switches it on: a switched-off one sends the
/// events it kept, then new ones. A new subscription needs `secret`; a replacement without
/// it keeps the stored one. Admins.
#[utoipa::path(
    put, path = "/v1/subscriptions/{subscription_id}", tag = "events", operation_id = "put_subscription",
    params(("subscription_id" = rateline_domain::Id, Path, description = "The subscription: lowercase letters, digits, `-` and `_`.")),
    request_body = SubscriptionSettings,
    responses(
        (status = 201, description = "Created.", body = SubscriptionRecord),
        (status = 200, description = "Replaced.", body = SubscriptionRecord),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (`invalid_field`): a URL the outbound policy refuses, a short or missing secret, no events, an unknown line.", body = ErrorBody),
    ),
)]
async fn put_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(settings): ApiJson<SubscriptionSettings>,
) -> ApiResult<(StatusCode, Json<SubscriptionRecord>)> {
    let id = NameId::parse("subscription_id", &id)?;
    let (record, created) = state
        .engine
        .put_subscription(&caller, &id, settings)
        .await?;
    Ok((created_or_ok(created), Json(record)))
}

/// Changes the fields a JSON Merge Patch (RFC 7396) names and keeps every other (`{"events":
/// [...]}` changes the events alone), checked as a `PUT` is, and switches it on. Admins.
#[utoipa::path(
    patch, path = "/v1/subscriptions/{subscription_id}", tag = "events", operation_id = "patch_subscription",
    params(("subscription_id" = rateline_domain::Id, Path, description = "The subscription.")),
    request_body(content = Object, content_type = "application/merge-patch+json", description = "The fields to change, shaped as a subscription's settings."),
    responses(
        (status = 200, description = "Changed.", body = SubscriptionRecord),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such subscription (`subscription_not_found`).", body = ErrorBody),
        (status = 422, description = "The changed settings break a rule; the message names it.", body = ErrorBody),
    ),
)]
async fn patch_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<SubscriptionRecord>> {
    let stored = state.engine.subscriptions(&caller, Some(&id)).await?;
    let settings = merged(&stored[0].settings(), &patch)?;
    let id = NameId::parse("subscription_id", &id)?;
    let (record, _) = state
        .engine
        .put_subscription(&caller, &id, settings)
        .await?;
    Ok(Json(record))
}

/// Deletes a subscription and the events still waiting for it: admins.
#[utoipa::path(
    delete, path = "/v1/subscriptions/{subscription_id}", tag = "events", operation_id = "delete_subscription",
    params(("subscription_id" = rateline_domain::Id, Path, description = "The subscription.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such subscription (`subscription_not_found`).", body = ErrorBody),
    ),
)]
async fn delete_subscription(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<StatusCode> {
    state.engine.delete_subscription(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
