//! The platforms' webhooks: Telegram's updates, Meta's events and the helpdesks' (Chatwoot,
//! Zammad, Rocket.Chat). Each call is checked (Telegram's secret header, the others' signatures) before
//! its body is parsed; what an update or event means is [`crate::channels`]' to decide.

use rateline_domain::{ErrorCode, Helpdesk};
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use rateline_adapters::meta::parse_webhook;
use teloxide_core::types::Update;

use super::error::ApiError;
use super::state::AppState;
use crate::channels::helpdesk::{Handled, NotApplied, Refusal};
use crate::channels::meta::Meta;

/// The header Telegram repeats the webhook's `secret_token` in.
const TELEGRAM_SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// `POST /channels/telegram/webhook`.
pub async fn telegram(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let Some(telegram) = &state.telegram else {
        return Err(ApiError::new(
            ErrorCode::ChannelNotEnabled,
            "the telegram channel is not enabled on this server: set [telegram] token",
        ));
    };
    let secret = headers.get(TELEGRAM_SECRET_HEADER).map(|v| v.as_bytes());
    if !telegram.authorized(secret) {
        return Err(ApiError::new(
            ErrorCode::BadWebhookSecret,
            "X-Telegram-Bot-Api-Secret-Token is missing or wrong: send the telegram.webhook_secret \
             given to setWebhook as secret_token",
        ));
    }
    // An unknown update kind still parses (teloxide keeps it as an error kind) and is
    // answered 200 below: a 4xx would make Telegram deliver it again and again.
    let update: Update = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidUpdate,
            format!("the body is not a Telegram Update: {e}"),
        )
    })?;
    telegram.handle(&update).await?;
    Ok(StatusCode::OK)
}

fn meta_of(state: &AppState) -> Result<&Arc<Meta>, ApiError> {
    state.meta.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ChannelNotEnabled,
            "no Meta channel is enabled on this server: set [meta] with an account's id and token",
        )
    })
}

/// `GET /channels/meta/webhook`: Meta's subscription check.
pub async fn meta_verify(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<String, (StatusCode, &'static str)> {
    let meta =
        meta_of(&state).map_err(|_| (StatusCode::NOT_FOUND, "no Meta channel is enabled"))?;
    let token_ok = q
        .get("hub.verify_token")
        .is_some_and(|t| meta.verify_token_matches(t));
    match (
        q.get("hub.mode").map(String::as_str),
        q.get("hub.challenge"),
    ) {
        (Some("subscribe"), Some(challenge)) if token_ok => Ok(challenge.clone()),
        _ => Err((
            StatusCode::FORBIDDEN,
            "hub.mode must be subscribe and hub.verify_token must match meta.verify_token",
        )),
    }
}

/// `POST /channels/meta/webhook`.
pub async fn meta(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let meta = meta_of(&state)?;
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !meta.signed(&body, signature) {
        return Err(ApiError::new(
            ErrorCode::BadSignature,
            "X-Hub-Signature-256 is missing or does not match: it must be sha256=<hex HMAC-SHA256 \
             of the raw body keyed with the app secret> (meta.app_secret)",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let events = parse_webhook(&value);
    let count = events.len();
    meta.handle(events).await?;
    Ok(Json(serde_json::json!({ "events": count })))
}

/// `POST /connectors/chatwoot/{account}/webhook`: an account webhook's event.
pub async fn chatwoot(
    State(state): State<AppState>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let received = state.chatwoot.receive(&account, header, &body).await;
    answered(received, Helpdesk::Chatwoot, &account)
}

/// `POST /connectors/zammad/{instance}/webhook`: a Zammad trigger's webhook call.
pub async fn zammad(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let received = state.zammad.receive(&instance, header, &body).await;
    answered(received, Helpdesk::Zammad, &instance)
}

/// `POST /connectors/rocketchat/{server}/webhook`: a Rocket.Chat Omnichannel webhook call.
/// Its token is checked before its body, which may be up to
/// [`rateline_adapters::rocketchat::MAX_EVENT_BYTES`] (every event but a message carries the
/// room's history), is read. Once stored it is answered 200 with an empty body: Rocket.Chat
/// keeps the body of a 200 as the room's `crmData` and sends it back in every later call
/// (`apps/meteor/app/livechat/server/lib/webhooks.ts`), so nothing is said there.
pub async fn rocketchat(
    State(state): State<AppState>,
    Path(server): Path<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<StatusCode, ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let limit = rateline_adapters::rocketchat::MAX_EVENT_BYTES;
    let received = match state.rocketchat.admit(&server, header).await {
        Ok(s) => match axum::body::to_bytes(body, limit).await {
            Ok(body) => state.rocketchat.take(&s, &body).await,
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::BodyTooLarge,
                    format!(
                        "the body is larger than the {limit} bytes a Rocket.Chat call may carry"
                    ),
                ));
            }
        },
        Err(refused) => Err(refused),
    };
    if let Ok(Handled::Ignored(why)) = &received {
        tracing::debug!(%server, %why, "a Rocket.Chat call was not Rateline's business");
    }
    answered(received, Helpdesk::RocketChat, &server).map(|_| StatusCode::OK)
}

/// A helpdesk webhook call's answer: what it did, or why it was refused, in words that
/// say what to set where.
fn answered(
    received: Result<Handled, NotApplied>,
    helpdesk: Helpdesk,
    id: &str,
) -> Result<Json<serde_json::Value>, ApiError> {
    let refusal = match received {
        Ok(Handled::Applied) => return Ok(Json(serde_json::json!({ "applied": true }))),
        Ok(Handled::Ignored(why)) => {
            return Ok(Json(
                serde_json::json!({ "applied": false, "ignored": why }),
            ));
        }
        Err(NotApplied::Store(e)) => return Err(e.into()),
        Err(NotApplied::NotJson(e)) => {
            return Err(ApiError::new(
                ErrorCode::MalformedJson,
                format!("the body is not JSON: {e}"),
            ));
        }
        Err(NotApplied::Refused(r)) => r,
    };
    let (unit, secret) = (helpdesk.unit(), helpdesk.secret_field());
    let (unsigned, mismatch) = match helpdesk {
        Helpdesk::Chatwoot => (
            format!(
                "X-Chatwoot-Signature and X-Chatwoot-Timestamp are missing: give the account \
                 webhook a secret in Chatwoot and set it as the connector's {secret} (a release \
                 that signs nothing needs allow_unsigned and no secret, which is less safe)"
            ),
            format!(
                "X-Chatwoot-Signature does not match: it must be sha256=<hex HMAC-SHA256 of \
                 \"{{X-Chatwoot-Timestamp}}.{{raw body}}\" keyed with the connector's {secret}>; \
                 check that the secret is the webhook's"
            ),
        ),
        Helpdesk::Zammad => (
            format!(
                "X-Hub-Signature is missing: give the Zammad webhook an HMAC SHA1 signature \
                 token and set it as the connector's {secret} (allow_unsigned and no token takes \
                 unsigned calls, which is less safe)"
            ),
            format!(
                "X-Hub-Signature does not match: it must be sha1=<hex HMAC-SHA1 of the raw body \
                 keyed with the connector's {secret}>; check that the token is the webhook's"
            ),
        ),
        Helpdesk::RocketChat => (
            format!(
                "X-RocketChat-Livechat-Token is missing: set the Secret Token on Rocket.Chat's \
                 Omnichannel → Webhooks page and the same text as the connector's {secret} \
                 (allow_unsigned and no token takes calls without it, which is less safe)"
            ),
            format!(
                "X-RocketChat-Livechat-Token does not match the connector's {secret}: set the \
                 same text on Rocket.Chat's Omnichannel → Webhooks page (Secret Token)"
            ),
        ),
    };
    Err(match refusal {
        Refusal::NotConfigured => ApiError::new(
            ErrorCode::HelpdeskNotFound,
            format!(
                "no {} {unit} '{id}' is connected to this server: connect it on the Helpdesks \
                 page, with PUT /v1/connectors/{helpdesk}/{id} or a [[{helpdesk}]] with {unit} \
                 = {id:?} in the config file, or point the webhook at the {unit}'s own URL",
                helpdesk.title()
            ),
        ),
        Refusal::Unsigned => ApiError::new(ErrorCode::BadSignature, unsigned),
        Refusal::BadSignature => ApiError::new(ErrorCode::BadSignature, mismatch),
        Refusal::Stale => ApiError::new(
            ErrorCode::StaleWebhook,
            "the webhook's timestamp is more than 5 minutes from this server's clock: a \
             replayed call, or a clock set wrong on one side (check NTP)",
        ),
    })
}
