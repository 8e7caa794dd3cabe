//! API keys over the API, for admins: `POST /v1/keys` (the key shown once), `GET /v1/keys`,
//! `DELETE /v1/keys/{id}` (revoked, kept in the list), as `rateline keys` does on the host.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::ApiResult;
use super::extract::{ApiJson, ApiPath};
use super::openapi::ErrorBody;
use super::state::AppState;
use crate::engine::KeyRequest;
use crate::policy::Caller;
use crate::store::KeyRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// A key just made: the only time its full text is shown.
#[derive(Serialize, ToSchema)]
struct MadeKey {
    /// `rl_<id>_<secret>`: store it now; Rateline keeps only its hash and cannot show it again.
    key: String,
    id: String,
    name: String,
    role: rateline_domain::Role,
    person_id: Option<String>,
    lines: Option<Vec<String>>,
    created_at: DateTime<Utc>,
}

/// `GET /v1/keys`.
#[derive(Serialize, ToSchema)]
struct KeyList {
    keys: Vec<KeyRecord>,
}

/// Makes an API key for a program: admins. Its text is in this answer only.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys", operation_id = "create_key",
    request_body = KeyRequest,
    responses(
        (status = 201, description = "Made; `key` is shown only now.", body = MadeKey),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (`invalid_field`): an operator key without `person_id`, `lines` on a key that is not a supervisor's, an unknown person.", body = ErrorBody),
    ),
)]
async fn create_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(asked): ApiJson<KeyRequest>,
) -> ApiResult<(StatusCode, Json<MadeKey>)> {
    let minted = state.engine.make_key(&caller, asked).await?;
    // A key exists: the open mode, if it lasted, is over from this call on.
    state.open_mode.end();
    let r = minted.key.record;
    Ok((
        StatusCode::CREATED,
        Json(MadeKey {
            key: minted.text,
            id: r.id,
            name: r.name,
            role: r.role,
            person_id: r.person_id.map(String::from),
            lines: r.lines,
            created_at: r.created_at,
        }),
    ))
}

/// Every API key, oldest first, revoked ones included (never their secrets): admins.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys", operation_id = "list_keys",
    responses(
        (status = 200, description = "The keys.", body = KeyList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_keys(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<KeyList>> {
    Ok(Json(KeyList {
        keys: state.engine.keys(&caller).await?,
    }))
}

/// Revokes a key: from now on it is refused (`401 key_revoked`) and every dashboard sign-in
/// made with it ends. It stays in the list. Admins; revoking it again changes nothing.
#[utoipa::path(
    delete, path = "/v1/keys/{key_id}", tag = "keys", operation_id = "revoke_key",
    params(("key_id" = String, Path, description = "The key's id (the part after `rl_`).")),
    responses(
        (status = 200, description = "Revoked.", body = KeyRecord),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such key (`key_not_found`).", body = ErrorBody),
    ),
)]
async fn revoke_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<KeyRecord>> {
    Ok(Json(state.engine.revoke_key(&caller, &id).await?))
}
