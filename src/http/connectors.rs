//! The helpdesk connectors over the API, for admins: `GET /v1/connectors` lists each
//! configured Chatwoot account and Zammad instance with the webhook URL to give it, never
//! its token or secret. They are configured in the file (`[[chatwoot]]`, `[[zammad]]`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiResult, AppState, ErrorBody};
use crate::channels::helpdesk::ConnectorView;
use crate::policy::Caller;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_connectors))
}

/// `GET /v1/connectors`.
#[derive(Serialize, ToSchema)]
struct ConnectorList {
    connectors: Vec<ConnectorView>,
}

/// Every helpdesk connector this server runs, as configured: admins. Tokens and secrets
/// are never shown.
#[utoipa::path(
    get, path = "/v1/connectors", tag = "connectors", operation_id = "list_connectors",
    responses(
        (status = 200, description = "The connectors.", body = ConnectorList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_connectors(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<ConnectorList>> {
    caller.admin("list the helpdesk connectors")?;
    Ok(Json(ConnectorList {
        connectors: state.connectors(),
    }))
}
