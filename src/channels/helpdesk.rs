//! What the helpdesk connectors (Chatwoot, Zammad) share: opening a conversation as a
//! session and noting which it is, an agent's message, a rating as a note for agents, and
//! how a webhook call's outcome is told.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rateline_domain::{Channel, ClientRef, Id, MessageFrom, NameId, NewSession};
use serde::Serialize;

use crate::engine::{Engine, EngineError};
use crate::store::{AnswerTarget, HelpdeskConversation, StoreError};

/// Why a webhook call was refused before anything in it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `[[chatwoot]]` or `[[zammad]]` has the account or instance the URL names.
    NotConfigured,
    /// Unsigned, and the account requires signatures.
    Unsigned,
    /// The signature does not match the account's secret.
    BadSignature,
    /// Signed more than 5 minutes from the server's clock (Chatwoot's calls carry their
    /// time; Zammad's do not).
    Stale,
}

/// A configured helpdesk account or instance as admins see it: never its token or secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConnectorView {
    /// `chatwoot` or `zammad`.
    pub helpdesk: String,
    /// The Chatwoot account's id, or the Zammad instance's name.
    pub id: String,
    /// The helpdesk's address.
    pub url: String,
    /// Where the helpdesk's webhook must point.
    pub webhook_url: String,
    /// Whether every webhook call must be signed (`false`: `allow_unsigned` and no secret).
    pub signed: bool,
    /// Inbox (Chatwoot) or group (Zammad) id → line, as configured.
    pub lines: BTreeMap<String, String>,
    /// The line of an inbox or group not listed, with `{id}` for its id.
    pub default_line: String,
    /// Agent id → person, as configured.
    pub agents: BTreeMap<String, String>,
    /// The person an agent not listed is credited as, with `{id}` for the agent's id.
    pub default_operator: String,
    /// Each rating is written into its conversation as a note for agents.
    pub note_for_agents: bool,
    /// A conversation the client's answer reopened is resolved (closed) again.
    pub closed_again: bool,
}

/// A helpdesk's conversation as a connector opens it.
pub struct Opening<'a> {
    pub session_id: &'a str,
    pub line: &'a str,
    pub channel: Channel,
    pub client: ClientRef,
    pub operator: Option<&'a str>,
    pub opened_at: Option<DateTime<Utc>>,
    pub conversation: HelpdeskConversation,
}

/// Opens the conversation's session (the same id again changes nothing) and notes which
/// conversation it is. Says why not when the line takes no session (it does not exist, or
/// is retired).
pub async fn open(engine: &Engine, o: Opening<'_>) -> Result<Option<String>, StoreError> {
    let new = NewSession {
        id: Id::stored(o.session_id.to_owned()),
        line_id: NameId::stored(o.line.to_owned()),
        channel: o.channel,
        client: o.client,
        operator_id: o.operator.map(|op| NameId::stored(op.to_owned())),
        opened_at: o.opened_at,
    };
    match engine.open_session(new).await {
        Ok(_) => {}
        Err(EngineError::Store(e)) => return Err(e),
        Err(e) => return Ok(Some(e.to_string())),
    }
    engine
        .note_conversation(o.session_id, &o.conversation)
        .await?;
    Ok(None)
}

/// An agent wrote in the conversation at `at`. Rateline posts only after the close, so an
/// agent's message into an open session is the agent's own and keeps it alive; into a
/// closed one it is not recorded (it may be Rateline's own, coming back).
pub async fn agent_wrote(
    engine: &Engine,
    session_id: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    match engine.session(session_id).await {
        Ok(s) if s.closed_at.is_none() => {
            let wrote = engine
                .record_message(session_id, MessageFrom::Operator, Some(at))
                .await;
            let_go(wrote, session_id, "an agent's message was not recorded")
        }
        Ok(_) => Ok(()),
        Err(EngineError::Store(e)) => Err(e),
        Err(_) => Ok(()),
    }
}

/// The note for agents of the rating an answer just completed, if it did: the rating is
/// complete (nothing more to ask) and the answer changed it since `before`.
pub async fn completed_note(
    engine: &Engine,
    session_id: &str,
    before: Option<DateTime<Utc>>,
    public_url: &str,
) -> Result<Option<String>, StoreError> {
    let Some(target) = engine.session_answer_target(session_id).await? else {
        return Ok(None);
    };
    Ok(target
        .rating
        .as_ref()
        .filter(|r| before != Some(r.updated_at))
        .filter(|r| super::dialogue::finished(&target.line.rating, r))
        .map(|_| rating_note(&target, public_url, session_id)))
}

/// An engine call made for a webhook event: only the store's failure is the call's (it is
/// then refused, and the platform delivers it again); any other refusal would repeat on every
/// delivery, so it is logged and let go.
pub fn let_go<T>(
    result: Result<T, EngineError>,
    session_id: &str,
    what: &str,
) -> Result<(), StoreError> {
    match result {
        Ok(_) => Ok(()),
        Err(EngineError::Store(e)) => Err(e),
        Err(e) => {
            tracing::info!(error = %e, %session_id, "{what}");
            Ok(())
        }
    }
}

/// What one webhook call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The event was applied (or was a repeat that changed nothing).
    Applied,
    /// Not Rateline's business, and why.
    Ignored(String),
}

/// A rating as a note for agents in the helpdesk (Chatwoot's private note, Zammad's
/// internal note): the value, the reasons, "resolved?", the comment unless flagged, and a
/// link to the session's page.
pub fn rating_note(target: &AnswerTarget, public_url: &str, session_id: &str) -> String {
    let Some(r) = &target.rating else {
        return String::new();
    };
    let line = &target.line.rating;
    let mut note = format!(
        "Rateline: the client rated {}",
        rateline_adapters::signed::rating_label(target.request.scale, r.value)
    );
    if let Some(ids) = r.reasons.as_ref().filter(|ids| !ids.is_empty()) {
        let texts: Vec<&str> = ids
            .iter()
            .filter_map(|id| line.low_reasons.iter().find(|l| &l.id == id))
            .map(|l| l.text.as_str())
            .collect();
        note.push_str(&format!("\nWhy: {}", texts.join(", ")));
    }
    if let Some(resolved) = r.resolved {
        note.push_str(if resolved {
            "\nResolved: yes"
        } else {
            "\nResolved: no"
        });
    }
    if let Some(comment) = r.comment.as_ref().filter(|_| !r.comment_flagged) {
        note.push_str(&format!("\nComment: {comment}"));
    }
    note.push_str(&format!("\n{public_url}/dashboard/sessions/{session_id}"));
    note
}

/// A webhook call's outcome as the helpdesk hears it: only an unreachable database is the
/// call's (refused with a 503, the helpdesk delivers it again); any other failure would
/// repeat on every delivery, so it is logged and the call let go.
pub fn settle(result: Result<Handled, StoreError>, helpdesk: &str) -> Result<Handled, StoreError> {
    match result {
        Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e)),
        Err(e) => {
            tracing::error!(error = %e, helpdesk, "a helpdesk's call could not be handled; it is skipped");
            Ok(Handled::Ignored(
                "it could not be handled; the log says why".into(),
            ))
        }
        Ok(h) => Ok(h),
    }
}
