//! `DELETE /v1/clients/{channel}/{id}`: forgetting a client.

use axum::Json;
use axum::extract::{Path, State};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult};
use super::openapi::ErrorBody;
use super::state::AppState;
use crate::policy::Caller;
use crate::store::Erased;
use rateline_domain::{Channel, ErrorCode};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(erase_client))
}

/// What the erasure did.
#[derive(Serialize, ToSchema)]
struct ErasedClient {
    /// The id the client's rows carry now (the audit log's subject); `null` when there was
    /// nothing left to erase.
    erased_as: Option<String>,
    #[serde(flatten)]
    erased: Erased,
}

/// Erases a client's personal data: their id (replaced by a pseudonym), name, comments and
/// the texts of responses to their ratings. Their ratings stay as anonymous counts, so
/// reports do not change. Admins only; erasing again changes nothing.
#[utoipa::path(
    delete, path = "/v1/clients/{channel}/{id}", tag = "clients", operation_id = "erase_client",
    params(
        ("channel" = Channel, Path, description = "The client's channel."),
        ("id" = rateline_domain::Id, Path, description = "The client's id on that channel, as sessions name it."),
    ),
    responses(
        (status = 200, description = "Erased, or nothing (left) to erase.", body = ErasedClient),
        (status = 400, description = "An unknown channel (`invalid_path`).", body = ErrorBody),
        (status = 403, description = "Not an admin.", body = ErrorBody),
        (status = 422, description = "An id that no client of the channel can have.", body = ErrorBody),
    ),
)]
async fn erase_client(
    State(state): State<AppState>,
    caller: Caller,
    Path((channel, id)): Path<(String, String)>,
) -> ApiResult<Json<ErasedClient>> {
    let channel: Channel = channel
        .parse()
        .map_err(|e: rateline_domain::UnknownChannel| {
            ApiError::new(ErrorCode::InvalidPath, e.to_string())
        })?;
    let (pseudonym, erased) = state.engine.erase_client(&caller, channel, &id).await?;
    Ok(Json(ErasedClient {
        erased_as: erased.anything().then_some(pseudonym),
        erased,
    }))
}
