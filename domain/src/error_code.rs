//! Every error code Rateline answers with, in one enum: the API's `{"error": {"code", …}}`,
//! the widget's, the platforms' webhooks' and the connection limits' refusals. A code is
//! stable: clients branch on it, while the message beside it may be reworded. The table of
//! codes in `docs/api.md` is checked against this list by a test.

use std::fmt;

macro_rules! error_codes {
    ($($variant:ident = $name:literal: $meaning:literal,)*) => {
        /// A stable, snake_case error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $variant,)*
        }

        impl ErrorCode {
            /// Every code, in the order of the docs' table.
            pub const ALL: &[ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }

            /// What the code means, for the docs' table.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $meaning,)*
                }
            }
        }
    };
}

error_codes! {
    // The request itself.
    MalformedJson = "malformed_json": "The body is not valid JSON.",
    InvalidField = "invalid_field": "A field has the wrong shape or type (400), or a value Rateline does not accept (422); `field` names it.",
    UnreadableBody = "unreadable_body": "The body could not be read.",
    BodyTooLarge = "body_too_large": "The body is larger than `server.body_limit_bytes`.",
    InvalidPath = "invalid_path": "A path segment cannot be read.",
    InvalidParameter = "invalid_parameter": "A query parameter's value cannot be read.",
    UnknownParameter = "unknown_parameter": "A query parameter this endpoint does not have (a misspelt filter).",
    NoSuchEndpoint = "no_such_endpoint": "No endpoint has this method and path.",
    MethodNotAllowed = "method_not_allowed": "The path exists, not with this method.",
    RequestTimeout = "request_timeout": "The body and its handling took longer than `server.request_timeout_seconds`.",
    // Who is calling.
    KeyRequired = "key_required": "This server has API keys; send one as `Authorization: Bearer <key>`.",
    InvalidKey = "invalid_key": "The key is malformed, or not one of this server's.",
    KeyRevoked = "key_revoked": "The key was revoked.",
    KeyPersonDeactivated = "key_person_deactivated": "The operator key's person is deactivated (or gone); the key works again when they are turned back on.",
    Forbidden = "forbidden": "The key's role or lines do not allow this; the message names the key.",
    OpenModeRefused = "open_mode_refused": "No credential exists yet (the open mode): only requests to a loopback host name, and none from another web page, are taken.",
    InvalidCredentials = "invalid_credentials": "The dashboard's sign-in: no such person, no password set, or a wrong password (not told apart).",
    RateLimited = "rate_limited": "Too many requests from this key or address, or too many refused keys and sign-ins; `Retry-After` says when to come back.",
    // Configuration.
    LineNotFound = "line_not_found": "No such line.",
    PersonNotFound = "person_not_found": "No such person.",
    GroupNotFound = "group_not_found": "No such group.",
    KeyNotFound = "key_not_found": "No such API key.",
    SubscriptionNotFound = "subscription_not_found": "No such event subscription.",
    InvitationNotFound = "invitation_not_found": "No such invitation link (mistyped, or replaced by a newer one).",
    InvitationExpired = "invitation_expired": "The invitation link has expired; an admin makes a new one.",
    InvitationUsed = "invitation_used": "The invitation link has set a password already; sign in, or ask an admin for a new link.",
    PersonManagedByConfig = "person_managed_by_config": "The person is defined in the configuration file, which wins at every start; change them there.",
    GroupManagedByConfig = "group_managed_by_config": "The group is defined in the configuration file, which wins at every start; change it there.",
    LineRetired = "line_retired": "The line is retired (`active: false`) and takes no new sessions.",
    PersonDeactivated = "person_deactivated": "The person is deactivated (`active: false`): no invitation, no password.",
    PreconditionFailed = "precondition_failed": "The line, person, connector or response changed since the version `If-Match` names (for a response, the message says who answered, when and what); the answer's `ETag` is the current one.",
    LineManagedByConfig = "line_managed_by_config": "The line is defined in the configuration file, which wins at every start; change it there.",
    HelpdeskManagedByConfig = "connector_managed_by_config": "The helpdesk connector is defined in the configuration file (`[[chatwoot]]`, `[[zammad]]`), which wins at every start; change it there.",
    // Sessions, requests and ratings.
    SessionNotFound = "session_not_found": "No such session (or none this key may see).",
    SessionIdTaken = "session_id_taken": "A session with this id exists on a line this key may not see.",
    RequestNotFound = "request_not_found": "No such rating request (or none this key may see).",
    RequestNotAnswerable = "request_not_answerable": "The request was never sent, or ended without being answerable.",
    AnswerWindowClosed = "answer_window_closed": "The request's answer window has passed.",
    ChangeLimitReached = "change_limit_reached": "The rating was changed as often as the line allows.",
    ChangeWindowClosed = "change_window_closed": "The time the line allows for changing a rating has passed.",
    RatingNotFound = "rating_not_found": "No such rating (or none this key may see).",
    RatingVoided = "rating_voided": "The rating is voided by an approved appeal: it needs no follow-up, so it is not assigned or closed.",
    // The follow-up loop.
    CannotSendToClient = "cannot_send_to_client": "The response cannot reach the client on this session's channel.",
    ResponseSentAlready = "response_sent_already": "The response was sent to the client already: sending it again gives them a second message, so the write must confirm it with `If-Match` (the dashboard asks with a check box).",
    AlreadyAppealed = "already_appealed": "The rating has an appeal already.",
    AppealNotFound = "appeal_not_found": "No such appeal.",
    AppealDecided = "appeal_decided": "The appeal was decided already.",
    // Channels.
    ChannelNotEnabled = "channel_not_enabled": "The channel is not configured on this server.",
    BadWebhookSecret = "bad_webhook_secret": "Telegram's secret header is missing or wrong.",
    BadSignature = "bad_signature": "A platform's webhook signature (Meta's `X-Hub-Signature-256`, Chatwoot's `X-Chatwoot-Signature`) is missing or does not match.",
    StaleWebhook = "stale_webhook": "A signed webhook's timestamp is more than 5 minutes from the server's clock: a replay, or a clock set wrong.",
    HelpdeskNotFound = "connector_not_found": "No helpdesk connector (Chatwoot account, Zammad instance) with this id is configured on this server.",
    HelpdeskRefused = "helpdesk_refused": "The helpdesk refused, or did not answer, a call Rateline made to set up or remove its side; the message says what it said and how to fix it.",
    HelpdeskSetUpByHand = "helpdesk_set_up_by_hand": "The helpdesk already has a webhook to this Rateline that Rateline did not make; remove it there, or keep setting it up by hand.",
    InvalidUpdate = "invalid_update": "The body is not a Telegram Update.",
    NotAWebchatSession = "not_a_webchat_session": "Web chat tokens are for sessions opened on the webchat channel.",
    InvalidToken = "invalid_token": "The widget's token is malformed or forged.",
    TokenExpired = "token_expired": "The widget's token has expired; the contact center asks for a new one.",
    OriginNotAllowed = "origin_not_allowed": "The page's origin is not in the line's `webchat.allowed_origins`.",
    NotThisSession = "not_this_session": "The request is not the current one of the token's session.",
    TooManyStreams = "too_many_streams": "The token or address holds the most live widget connections allowed.",
    // Pages.
    BadgeNotFound = "badge_not_found": "The line has no public badge.",
    // The server.
    TooManyConnections = "too_many_connections": "This address holds the most connections one address may.",
    ServerBusy = "server_busy": "The server holds its most connections; try again shortly.",
    DatabaseUnavailable = "database_unavailable": "The database is unavailable; nothing was changed, try again shortly.",
    InternalError = "internal_error": "An unexpected error; it was logged with its cause.",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
            .description(Some("A stable snake_case code to branch on."))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_with_a_meaning() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let name = code.as_str();
            assert!(seen.insert(name), "{name} twice");
            assert!(
                name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{name}"
            );
            assert!(code.meaning().ends_with('.'), "{name}");
        }
    }
}
