//! The helpdesks over the API, for admins, which names them connectors: `GET /v1/connectors`
//! lists every Chatwoot account and Zammad instance with the webhook URL to give it; `GET`,
//! `PUT`, `PATCH` and `DELETE /v1/connectors/chatwoot/{account}` and
//! `/v1/connectors/zammad/{instance}` read, connect, change and disconnect one, each answer
//! with its version as its `ETag`. Tokens and secrets are write-only. Helpdesks from the
//! config file are read-only here. The Rust names say helpdesk; the paths, operation ids,
//! tag and schema names keep the API's word.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use rateline_domain::{
    ChatwootAccount, ChatwootSettings, Helpdesk, HelpdeskSettings, ManagedBy, NameId,
    RocketChatSettings, ZammadSettings,
};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath};
use super::openapi::{ETagParam, ErrorBody};
use super::state::AppState;
use super::versions::{answered, if_match, merged, tagged};
use crate::channels::helpdesk::setup::SetupReport;
use crate::engine::HelpdeskRecord;
use crate::policy::Caller;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_helpdesks))
        .routes(routes!(
            chatwoot::get_helpdesk,
            chatwoot::put_helpdesk,
            chatwoot::patch_helpdesk,
            chatwoot::delete_helpdesk
        ))
        .routes(routes!(
            zammad::get_helpdesk,
            zammad::put_helpdesk,
            zammad::patch_helpdesk,
            zammad::delete_helpdesk
        ))
        .routes(routes!(
            rocketchat::get_helpdesk,
            rocketchat::put_helpdesk,
            rocketchat::patch_helpdesk,
            rocketchat::delete_helpdesk
        ))
        .routes(routes!(check_setup, set_up))
}

impl AppState {
    /// Sets up helpdesk `id`'s side (see [`crate::channels::helpdesk::setup`]).
    pub async fn set_up_helpdesk(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
    ) -> crate::engine::Result<SetupReport> {
        match helpdesk {
            Helpdesk::Chatwoot => self.chatwoot.set_up(caller, id).await,
            Helpdesk::Zammad => self.zammad.set_up(caller, id).await,
            Helpdesk::RocketChat => self.rocketchat.set_up(caller, id).await,
        }
    }

    /// The live check of helpdesk `id`'s side.
    pub async fn check_helpdesk(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
    ) -> crate::engine::Result<SetupReport> {
        // Each kind's check reads the helpdesk, and refuses a caller who is not an admin and
        // an id that is not connected.
        let lines = self.engine.line_ids().await?;
        match helpdesk {
            Helpdesk::Chatwoot => self.chatwoot.check(caller, id, &lines).await,
            Helpdesk::Zammad => self.zammad.check(caller, id, &lines).await,
            Helpdesk::RocketChat => self.rocketchat.check(caller, id, &lines).await,
        }
    }

    /// Disconnects helpdesk `id`: removes what Rateline made in it (what could not be
    /// removed is logged, and returned in sentences), then deletes the helpdesk.
    pub async fn disconnect(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
        expected: Option<i64>,
    ) -> crate::engine::Result<Vec<String>> {
        // One from the config file is refused below, its helpdesk's side untouched.
        let left = match self
            .engine
            .helpdesk_managed_by(caller, helpdesk, id)
            .await?
        {
            ManagedBy::Config => Vec::new(),
            ManagedBy::Api => match helpdesk {
                Helpdesk::Chatwoot => self.chatwoot.take_down(caller, id).await?,
                Helpdesk::Zammad => self.zammad.take_down(caller, id).await?,
                Helpdesk::RocketChat => self.rocketchat.take_down(caller, id).await?,
            },
        };
        self.engine
            .delete_helpdesk(caller, helpdesk, id, expected)
            .await?;
        for l in &left {
            tracing::warn!(helpdesk = %helpdesk, connector = id, left = %l, "disconnected, but the helpdesk keeps what Rateline made");
        }
        Ok(left)
    }
}

/// The helpdesk in a path (`chatwoot`, `zammad`).
fn helpdesk_in_path(name: &str) -> Result<Helpdesk, ApiError> {
    match name {
        "chatwoot" => Ok(Helpdesk::Chatwoot),
        "zammad" => Ok(Helpdesk::Zammad),
        "rocketchat" => Ok(Helpdesk::RocketChat),
        other => Err(ApiError::new(
            rateline_domain::ErrorCode::InvalidPath,
            format!("no helpdesk '{other}': the path names chatwoot, zammad or rocketchat"),
        )),
    }
}

/// Checks a connector's side in its helpdesk, live: Rateline calls the helpdesk and says
/// what it found (the webhook exists and points here; a Zammad trigger can fire; each rated
/// Chatwoot inbox's `lock_to_single_conversation` and CSAT survey; an address Chatwoot will
/// not post to; the Rocket.Chat Ratings user's roles and each mapped department's rule for
/// the close) and what Rateline made there. Admins.
#[utoipa::path(
    get, path = "/v1/connectors/{helpdesk}/{id}/setup", tag = "connectors",
    params(
        ("helpdesk" = rateline_domain::Helpdesk, Path, description = "`chatwoot`, `zammad` or `rocketchat`."),
        ("id" = String, Path, description = "The Chatwoot account, Zammad instance or Rocket.Chat server."),
    ),
    responses(
        (status = 200, description = "What the check found.", body = SetupReport),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "Not connected (`connector_not_found`).", body = ErrorBody),
    ),
)]
async fn check_setup(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path((helpdesk, id)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<SetupReport>> {
    let helpdesk = helpdesk_in_path(&helpdesk)?;
    Ok(Json(state.check_helpdesk(&caller, helpdesk, &id).await?))
}

/// Sets up a connector's side in its helpdesk, with its API token: for Chatwoot the account
/// webhook with the events Rateline reads (an administrator's token), its secret kept as the
/// connector's; for Zammad a webhook signed with the connector's token (one is made when it
/// has none) and two triggers, one for every ticket created and one for every ticket
/// updated (`admin.webhook`, `admin.trigger`). What exists is not made twice. Disconnecting
/// removes what it made. For Rocket.Chat, which takes an administrator's right to change,
/// it makes nothing and runs the check. Admins; not for a connector from the config file.
#[utoipa::path(
    post, path = "/v1/connectors/{helpdesk}/{id}/setup", tag = "connectors",
    params(
        ("helpdesk" = rateline_domain::Helpdesk, Path, description = "`chatwoot`, `zammad` or `rocketchat`."),
        ("id" = String, Path, description = "The Chatwoot account, Zammad instance or Rocket.Chat server."),
    ),
    responses(
        (status = 200, description = "Set up: what Rateline made, and what to look at.", body = SetupReport),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "Not connected (`connector_not_found`).", body = ErrorBody),
        (status = 409, description = "From the config file (`connector_managed_by_config`), or the helpdesk has a webhook here a person made (`helpdesk_set_up_by_hand`).", body = ErrorBody),
        (status = 502, description = "The helpdesk refused or did not answer (`helpdesk_refused`): the message says what it said, and which rights the token needs.", body = ErrorBody),
    ),
)]
async fn set_up(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path((helpdesk, id)): axum::extract::Path<(String, String)>,
) -> ApiResult<Json<SetupReport>> {
    let helpdesk = helpdesk_in_path(&helpdesk)?;
    Ok(Json(state.set_up_helpdesk(&caller, helpdesk, &id).await?))
}

/// A connector as the API shows it: its settings without the token and secret, where its
/// webhook must point, and where it stands.
#[derive(Serialize, ToSchema)]
#[schema(as = ConnectorView)]
pub struct HelpdeskView<S> {
    /// `chatwoot` or `zammad`.
    pub helpdesk: Helpdesk,
    /// The Chatwoot account's id, or the Zammad instance's name.
    pub id: String,
    #[serde(flatten)]
    pub settings: S,
    /// Where the helpdesk's webhook must point.
    pub webhook_url: String,
    /// Whether every webhook call must be signed (`false`: `allow_unsigned` and no secret).
    pub signed: bool,
    /// Whether an API token is stored (it is never shown).
    pub has_api_token: bool,
    /// `api`, or `config` for one from the config file (which the API cannot change).
    pub managed_by: ManagedBy,
    /// Raised by every change; the `ETag`, and what `If-Match` names.
    pub version: i64,
    pub updated_at: DateTime<Utc>,
}

impl<S: HelpdeskSettings> HelpdeskView<S> {
    pub fn of(state: &AppState, c: HelpdeskRecord<S>) -> Self {
        let helpdesk = S::HELPDESK;
        Self {
            helpdesk,
            webhook_url: state.link(&helpdesk.webhook_path(&c.id)),
            signed: c.settings.signed(),
            has_api_token: c.settings.api_token().is_some(),
            settings: c.settings.shown(),
            id: c.id,
            managed_by: c.managed_by,
            version: c.version,
            updated_at: c.updated_at,
        }
    }
}

/// `GET /v1/connectors`.
#[derive(Serialize, ToSchema)]
#[schema(as = ConnectorList)]
struct HelpdeskList {
    chatwoot: Vec<HelpdeskView<ChatwootSettings>>,
    zammad: Vec<HelpdeskView<ZammadSettings>>,
    rocketchat: Vec<HelpdeskView<RocketChatSettings>>,
}

/// Every helpdesk connector, by helpdesk and id, with the webhook URL to give it: admins.
/// Tokens and secrets are never shown.
#[utoipa::path(
    get, path = "/v1/connectors", tag = "connectors", operation_id = "list_connectors",
    responses(
        (status = 200, description = "The connectors.", body = HelpdeskList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_helpdesks(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<HelpdeskList>> {
    Ok(Json(HelpdeskList {
        chatwoot: views(&state, &caller).await?,
        zammad: views(&state, &caller).await?,
        rocketchat: views(&state, &caller).await?,
    }))
}

async fn views<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
) -> ApiResult<Vec<HelpdeskView<S>>> {
    let found = state.engine.helpdesks::<S>(caller, None).await?;
    Ok(found
        .into_iter()
        .map(|c| HelpdeskView::of(state, c))
        .collect())
}

/// `GET` of one helpdesk: it, tagged with its version.
async fn get_one<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<Response> {
    let found = state.engine.helpdesks::<S>(caller, Some(id)).await?;
    let c = found.into_iter().next().expect("one helpdesk was found");
    Ok(tagged(c.version, Json(HelpdeskView::of(state, c))))
}

/// `PUT` of one helpdesk: connected or replaced, tagged with its version.
async fn put_one<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    settings: S,
) -> Response {
    let result = async {
        let expected = if_match(headers, &S::HELPDESK.named(id))?;
        let (c, created) = state
            .engine
            .put_helpdesk(caller, id, settings, expected)
            .await?;
        let version = c.version;
        let body = (created_or_ok(created), Json(HelpdeskView::of(state, c)));
        Ok::<_, ApiError>(tagged(version, body))
    };
    answered(result.await, current_version::<S>(state, id)).await
}

/// `PATCH` of one helpdesk: the fields a JSON Merge Patch names changed over what is stored
/// (the token and secret kept unless named), checked as a `PUT`.
async fn patch_one<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
    patch: serde_json::Value,
) -> Response {
    let result = async {
        let asked = if_match(headers, &S::HELPDESK.named(id))?;
        let stored = state.engine.helpdesks::<S>(caller, Some(id)).await?;
        let stored = stored.into_iter().next().expect("one helpdesk was found");
        let settings: S = merged(&stored.settings.shown(), &patch)?;
        // Without If-Match the change is to the helpdesk as read here; a write in between
        // is refused rather than silently undone.
        let expected = Some(asked.unwrap_or(stored.version));
        let (c, _) = state
            .engine
            .put_helpdesk(caller, id, settings, expected)
            .await?;
        let version = c.version;
        Ok::<_, ApiError>(tagged(version, Json(HelpdeskView::of(state, c))))
    };
    answered(result.await, current_version::<S>(state, id)).await
}

/// `DELETE` of one helpdesk.
async fn delete_one<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    headers: &HeaderMap,
) -> Response {
    let result = async {
        let expected = if_match(headers, &S::HELPDESK.named(id))?;
        state.disconnect(caller, S::HELPDESK, id, expected).await?;
        Ok::<_, ApiError>(StatusCode::NO_CONTENT.into_response())
    };
    answered(result.await, current_version::<S>(state, id)).await
}

/// The helpdesk's version now, for the `ETag` of a refusal as stale.
async fn current_version<S: HelpdeskSettings>(state: &AppState, id: &str) -> Option<i64> {
    let stored = state.engine.helpdesk_settings::<S>().await.ok()?;
    stored.into_iter().find(|c| c.id == id).map(|c| c.version)
}

/// The four routes of one kind's helpdesks, each with its OpenAPI description (in the API's
/// words, which call a helpdesk a connector).
macro_rules! helpdesk_routes {
    ($module:ident, $settings:ty, $id:ident, $path:literal, $param:literal, $tag:literal, $title:literal) => {
        mod $module {
            use super::*;

            #[doc = concat!("Shows one ", $title, " connector, without its token and secret: admins.")]
            #[utoipa::path(
                get, path = $path, tag = "connectors", operation_id = concat!("get_", $tag, "_connector"),
                params(($param = $id, Path, description = concat!("The ", $title, " ", $param, "."))),
                responses(
                    (status = 200, description = "The connector.", body = HelpdeskView<$settings>, headers(("ETag" = String, description = "Its version, for If-Match."))),
                    (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
                    (status = 404, description = "Not connected (`connector_not_found`).", body = ErrorBody),
                ),
            )]
            pub async fn get_helpdesk(
                State(state): State<AppState>,
                caller: Caller,
                ApiPath(id): ApiPath,
            ) -> ApiResult<Response> {
                get_one::<$settings>(&state, &caller, &id).await
            }

            #[doc = concat!("Connects a ", $title, " ", $param, ", or replaces its settings whole (a setting left out takes its default; `PATCH` changes only what it names). The API token and webhook secret are write-only: left out, the stored ones are kept. It applies to webhook calls and sends at once in this process, within 5 seconds in others. With `If-Match`, only the connector at that version is replaced. Admins.")]
            #[utoipa::path(
                put, path = $path, tag = "connectors", operation_id = concat!("put_", $tag, "_connector"),
                params(
                    ($param = $id, Path, description = concat!("The ", $title, " ", $param, ".")),
                    ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the connector has changed since."),
                ),
                request_body = $settings,
                responses(
                    (status = 201, description = "Connected.", body = HelpdeskView<$settings>, headers(("ETag" = String, description = "The new version."))),
                    (status = 200, description = "Replaced.", body = HelpdeskView<$settings>, headers(("ETag" = String, description = "The new version."))),
                    (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
                    (status = 409, description = "Defined in the config file (`connector_managed_by_config`).", body = ErrorBody),
                    (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
                    (status = 422, description = "A setting breaks a rule (`invalid_field`): no token, no secret without `allow_unsigned`, a URL the outbound policy refuses, a mapping that names no line or person.", body = ErrorBody),
                ),
            )]
            pub async fn put_helpdesk(
                State(state): State<AppState>,
                caller: Caller,
                ApiPath(id): ApiPath,
                headers: HeaderMap,
                ApiJson(settings): ApiJson<$settings>,
            ) -> Response {
                put_one(&state, &caller, &id, &headers, settings).await
            }

            #[doc = concat!("Changes the settings a JSON Merge Patch (RFC 7396) names and keeps every other (`{\"private_note\": true}` changes that alone; a map's entry set to `null` is removed), checked as a `PUT` is. Admins.")]
            #[utoipa::path(
                patch, path = $path, tag = "connectors", operation_id = concat!("patch_", $tag, "_connector"),
                params(
                    ($param = $id, Path, description = concat!("The ", $title, " ", $param, ".")),
                    ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the connector has changed since."),
                ),
                request_body(content = Object, content_type = "application/merge-patch+json", description = "The settings to change, shaped as the connector's settings."),
                responses(
                    (status = 200, description = "Changed.", body = HelpdeskView<$settings>, headers(("ETag" = String, description = "The new version."))),
                    (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
                    (status = 404, description = "Not connected (`connector_not_found`).", body = ErrorBody),
                    (status = 409, description = "Defined in the config file (`connector_managed_by_config`).", body = ErrorBody),
                    (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
                    (status = 422, description = "The changed settings break a rule; the message names it.", body = ErrorBody),
                ),
            )]
            pub async fn patch_helpdesk(
                State(state): State<AppState>,
                caller: Caller,
                ApiPath(id): ApiPath,
                headers: HeaderMap,
                ApiJson(patch): ApiJson<serde_json::Value>,
            ) -> Response {
                patch_one::<$settings>(&state, &caller, &id, &headers, patch).await
            }

            #[doc = concat!("Disconnects a ", $title, " ", $param, ": its webhook calls are refused from then on (`connector_not_found`), and requests still to be sent through it end `failed` saying so. Its sessions, ratings and reports stay. Admins.")]
            #[utoipa::path(
                delete, path = $path, tag = "connectors", operation_id = concat!("delete_", $tag, "_connector"),
                params(
                    ($param = $id, Path, description = concat!("The ", $title, " ", $param, ".")),
                    ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the deletion is for; refused with 412 if the connector has changed since."),
                ),
                responses(
                    (status = 204, description = "Disconnected."),
                    (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
                    (status = 404, description = "Not connected (`connector_not_found`).", body = ErrorBody),
                    (status = 409, description = "Defined in the config file (`connector_managed_by_config`).", body = ErrorBody),
                    (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`).", body = ErrorBody),
                ),
            )]
            pub async fn delete_helpdesk(
                State(state): State<AppState>,
                caller: Caller,
                ApiPath(id): ApiPath,
                headers: HeaderMap,
            ) -> Response {
                delete_one::<$settings>(&state, &caller, &id, &headers).await
            }
        }
    };
}

helpdesk_routes!(
    chatwoot,
    ChatwootSettings,
    ChatwootAccount,
    "/v1/connectors/chatwoot/{account}",
    "account",
    "chatwoot",
    "Chatwoot"
);
helpdesk_routes!(
    zammad,
    ZammadSettings,
    NameId,
    "/v1/connectors/zammad/{instance}",
    "instance",
    "zammad",
    "Zammad"
);
helpdesk_routes!(
    rocketchat,
    RocketChatSettings,
    NameId,
    "/v1/connectors/rocketchat/{server}",
    "server",
    "rocketchat",
    "Rocket.Chat"
);
