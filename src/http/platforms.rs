//! The platforms' webhooks: Telegram's updates, Meta's events and the helpdesks' (Chatwoot,
//! Zammad). Each call is checked (Telegram's secret header, the others' signatures) before
//! its body is parsed; what an update or event means is [`crate::channels`]' to decide.

use rateline_domain::ErrorCode;
use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use rateline_adapters::meta::parse_webhook;
use teloxide_core::types::Update;

use super::{ApiError, AppState};
use crate::channels::helpdesk::{Handled, Refusal};
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
    let not_configured = || {
        ApiError::new(
            ErrorCode::ConnectorNotFound,
            format!(
                "no Chatwoot account {account} is configured on this server: add a [[chatwoot]] \
                 with account = {account}, or point the webhook at the account's own URL"
            ),
        )
    };
    let (Some(chatwoot), Ok(id)) = (&state.chatwoot, account.parse::<u64>()) else {
        return Err(not_configured());
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let checked = chatwoot.check(
        id,
        header("x-chatwoot-timestamp"),
        header("x-chatwoot-signature"),
        &body,
    );
    checked.map_err(|r| {
        refused(
            r,
            not_configured(),
            "X-Chatwoot-Signature and X-Chatwoot-Timestamp are missing: give the account \
             webhook a secret in Chatwoot and set it as chatwoot.webhook_secret (a release \
             that signs nothing needs allow_unsigned = true, which is less safe)",
            "X-Chatwoot-Signature does not match: it must be sha256=<hex HMAC-SHA256 of \
             \"{X-Chatwoot-Timestamp}.{raw body}\" keyed with chatwoot.webhook_secret>; \
             check that the secret is the webhook's",
        )
    })?;
    let event: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not JSON: {e}"),
        )
    })?;
    Ok(Json(match chatwoot.handle(id, &event).await? {
        Handled::Applied => serde_json::json!({ "applied": true }),
        Handled::Ignored(why) => serde_json::json!({ "applied": false, "ignored": why }),
    }))
}

/// `POST /connectors/zammad/{instance}/webhook`: a Zammad trigger's webhook call.
pub async fn zammad(
    State(state): State<AppState>,
    Path(instance): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let not_configured = || {
        ApiError::new(
            ErrorCode::ConnectorNotFound,
            format!(
                "no Zammad instance '{instance}' is configured on this server: add a [[zammad]] \
                 with instance = \"{instance}\", or point the webhook at the instance's own URL"
            ),
        )
    };
    let Some(zammad) = &state.zammad else {
        return Err(not_configured());
    };
    let signature = headers.get("x-hub-signature").and_then(|v| v.to_str().ok());
    zammad.check(&instance, signature, &body).map_err(|r| {
        refused(
            r,
            not_configured(),
            "X-Hub-Signature is missing: give the Zammad webhook an HMAC SHA1 signature \
             token and set it as zammad.webhook_token (allow_unsigned = true takes unsigned \
             calls, which is less safe)",
            "X-Hub-Signature does not match: it must be sha1=<hex HMAC-SHA1 of the raw body \
             keyed with zammad.webhook_token>; check that the token is the webhook's",
        )
    })?;
    let payload: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedJson,
            format!("the body is not JSON: {e}"),
        )
    })?;
    Ok(Json(match zammad.handle(&instance, &payload).await? {
        Handled::Applied => serde_json::json!({ "applied": true }),
        Handled::Ignored(why) => serde_json::json!({ "applied": false, "ignored": why }),
    }))
}

/// A helpdesk webhook call refused before its body was read, as the API answers it.
fn refused(r: Refusal, not_configured: ApiError, unsigned: &str, mismatch: &str) -> ApiError {
    match r {
        Refusal::NotConfigured => not_configured,
        Refusal::Unsigned => ApiError::new(ErrorCode::BadSignature, unsigned),
        Refusal::BadSignature => ApiError::new(ErrorCode::BadSignature, mismatch),
        Refusal::Stale => ApiError::new(
            ErrorCode::StaleWebhook,
            "the webhook's timestamp is more than 5 minutes from this server's clock: a \
             replayed call, or a clock set wrong on one side (check NTP)",
        ),
    }
}
