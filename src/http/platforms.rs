//! The platforms' webhooks: Telegram's updates, Meta's events and the helpdesks' (Chatwoot).
//! Each call is checked (Telegram's secret header, Meta's and Chatwoot's signatures) before
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
use crate::channels::chatwoot::{Handled, Refusal};
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
    match checked {
        Ok(()) => {}
        Err(Refusal::NotConfigured) => return Err(not_configured()),
        Err(Refusal::Unsigned) => {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                "X-Chatwoot-Signature and X-Chatwoot-Timestamp are missing: give the account \
                 webhook a secret in Chatwoot and set it as chatwoot.webhook_secret (a release \
                 that signs nothing needs allow_unsigned = true, which is less safe)",
            ));
        }
        Err(Refusal::BadSignature) => {
            return Err(ApiError::new(
                ErrorCode::BadSignature,
                "X-Chatwoot-Signature does not match: it must be sha256=<hex HMAC-SHA256 of \
                 \"{X-Chatwoot-Timestamp}.{raw body}\" keyed with chatwoot.webhook_secret>; \
                 check that the secret is the webhook's",
            ));
        }
        Err(Refusal::Stale) => {
            return Err(ApiError::new(
                ErrorCode::StaleWebhook,
                "X-Chatwoot-Timestamp is more than 5 minutes from this server's clock: a replayed \
                 call, or a clock set wrong on one side (check NTP)",
            ));
        }
    }
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
