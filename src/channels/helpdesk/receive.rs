//! What the Chatwoot and Zammad channels' ways in share: opening a conversation as a session
//! and noting which it is, an agent's message, a rating as a note for agents, how a webhook
//! call's outcome is told, and the steps of a catch-up.

use chrono::{DateTime, Utc};
use rateline_domain::{
    Channel, ClientRef, HelpdeskConversation, HelpdeskSettings, LineId, MessageFrom, NewSession,
    PersonId, SessionId,
};

use super::Registry;
use crate::engine::{Engine, EngineError};
use crate::store::{AnswerTarget, StoreError};

/// Why a webhook call was refused before anything in it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The account or instance the URL names is not connected.
    NotConfigured,
    /// Unsigned, and the account requires signatures.
    Unsigned,
    /// The signature does not match the account's secret.
    BadSignature,
    /// Signed more than 5 minutes from the server's clock (Chatwoot's calls carry their
    /// time; Zammad's do not).
    Stale,
}

/// A helpdesk's conversation as its channel opens it.
pub struct Opening<'a> {
    /// The session's id, made by [`session_id`]: reserved to the helpdesk.
    pub session_id: &'a SessionId,
    /// The line the conversation's inbox (Chatwoot) or group (Zammad) maps to.
    pub line: &'a str,
    /// The helpdesk's channel: `chatwoot` or `zammad`.
    pub channel: Channel,
    /// The helpdesk's contact or customer, as the channel names them.
    pub client: ClientRef,
    /// The person the conversation's agent maps to; `None` while no agent holds it.
    pub operator: Option<&'a str>,
    /// When the helpdesk says the conversation began; now when it does not say.
    pub opened_at: Option<DateTime<Utc>>,
    /// Which conversation it is, noted with the session so that later events and Rateline's posts
    /// find it.
    pub conversation: HelpdeskConversation,
}

/// The session id of a helpdesk's conversation: the channel's prefix (which no other caller
/// may use, see [`Channel::helpdesk_prefix`]), the account or instance, and the
/// conversation's id in the helpdesk.
pub fn session_id(
    channel: Channel,
    account: impl std::fmt::Display,
    conversation: impl std::fmt::Display,
) -> SessionId {
    // Made of a checked account name and the helpdesk's number: a well-formed id by
    // construction, as one read back from the store is.
    SessionId::stored(format!(
        "{}{account}-{conversation}",
        channel.helpdesk_prefix().unwrap_or_default()
    ))
}

/// Opens the conversation's session (the same id again changes nothing) and notes which
/// conversation it is. Says why not when the line takes no session (it does not exist, or
/// is retired), or when the id is held by a session this channel did not open for this
/// conversation (one opened before the helpdesks' ids were reserved): such a session is
/// never taken over.
pub async fn open(engine: &Engine, o: Opening<'_>) -> Result<Option<String>, StoreError> {
    let new_client = o.client.id.as_str().to_owned();
    let new = NewSession {
        id: o.session_id.clone(),
        line_id: LineId::stored(o.line.to_owned()),
        channel: o.channel,
        client: o.client,
        operator_id: o.operator.map(|op| PersonId::stored(op.to_owned())),
        opened_at: o.opened_at,
    };
    match engine.open_session(new).await {
        Ok((_, true)) => {}
        Ok((existing, false)) => {
            // Ours: this conversation's, noted when this channel opened it; or, where no
            // conversation was noted (the open was cut short before the note), one on the
            // very line and client this conversation opens on, which nobody else could
            // have chosen to any gain.
            let noted = engine.conversation_of(o.session_id).await?;
            let ours = existing.channel == o.channel
                && match &noted {
                    Some(n) => {
                        n.helpdesk == o.conversation.helpdesk
                            && n.account == o.conversation.account
                            && n.conversation == o.conversation.conversation
                    }
                    None => existing.line_id == o.line && existing.client.id.as_str() == new_client,
                };
            if !ours {
                tracing::warn!(
                    session_id = %o.session_id,
                    channel = %existing.channel,
                    "a helpdesk conversation's session id is held by a session this helpdesk did \
                     not open: the conversation is not rated"
                );
                return Ok(Some(format!(
                    "session id '{}' is held by a session this helpdesk did not open (on the {} \
                     channel); the conversation is not rated",
                    o.session_id, existing.channel
                )));
            }
        }
        Err(EngineError::Store(e)) => return Err(e),
        Err(e) => return Ok(Some(e.to_string())),
    }
    engine
        .note_conversation(o.session_id, &o.conversation)
        .await?;
    Ok(None)
}

/// Whether an event carrying the conversation's state as of the helpdesk's `updated_at`
/// may change the session (its operator, its close): not when a newer state was applied
/// already, since the helpdesk delivered it out of order. An event without the time is
/// taken as it comes.
pub async fn fresh(
    engine: &Engine,
    session_id: &SessionId,
    updated_at: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    match updated_at {
        Some(at) => engine.note_seen(session_id, at).await,
        None => Ok(true),
    }
}

/// What a stale event is told.
pub const STALE: &str = "an older state of the conversation than one already applied (the \
                         helpdesk delivered its events out of order): its assignee and status \
                         are not applied";

/// An agent wrote in the conversation at `at`. Rateline posts only after the close, so an
/// agent's message into an open session is the agent's own and keeps it alive; into a
/// closed one it is not recorded (it may be Rateline's own, coming back).
pub async fn agent_wrote(
    engine: &Engine,
    session_id: &SessionId,
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

/// How a helpdesk shows a note for agents: Chatwoot renders Markdown, Zammad's internal notes
/// are sent as plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteText {
    /// Markdown, for Chatwoot's private notes.
    Markdown,
    /// Plain text, for Zammad's internal notes.
    Plain,
}

/// The note for agents of the rating an answer just completed, if it did: the rating is
/// complete (nothing more to ask) and the answer changed it since `before`.
pub async fn completed_note(
    engine: &Engine,
    session_id: &SessionId,
    before: Option<DateTime<Utc>>,
    public_url: &str,
    text: NoteText,
) -> Result<Option<String>, StoreError> {
    let Some(target) = engine.session_answer_target(session_id).await? else {
        return Ok(None);
    };
    Ok(target
        .rating
        .as_ref()
        .filter(|r| before != Some(r.updated_at))
        .filter(|r| crate::channels::dialogue::finished(&target.line.rating, r))
        .map(|_| rating_note(&target, public_url, session_id, text)))
}

/// An engine call made for a webhook event: only the store's failure is the call's (it is
/// then refused, and the platform delivers it again); any other refusal would repeat on every
/// delivery, so it is logged and let go.
pub fn let_go<T>(
    result: Result<T, EngineError>,
    session_id: &SessionId,
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

/// Why a webhook call was not applied.
#[derive(Debug)]
pub enum NotApplied {
    /// Refused before its body was read.
    Refused(Refusal),
    /// The body is not JSON; what the parser said.
    NotJson(String),
    /// The store could not be used: the helpdesk delivers the call again.
    Store(StoreError),
}

impl From<StoreError> for NotApplied {
    fn from(e: StoreError) -> Self {
        NotApplied::Store(e)
    }
}

impl From<Refusal> for NotApplied {
    fn from(r: Refusal) -> Self {
        NotApplied::Refused(r)
    }
}

/// A checked webhook call's body, as JSON.
pub fn json(body: &[u8]) -> Result<serde_json::Value, NotApplied> {
    serde_json::from_slice(body).map_err(|e| NotApplied::NotJson(e.to_string()))
}

/// Whether a call that carries no signature may be taken: only from a helpdesk with no
/// secret that takes unsigned calls. With a secret every call must be signed, whatever
/// `allow_unsigned` says: it only lets a helpdesk without one take calls at all.
pub fn unsigned_taken(settings: &impl HelpdeskSettings) -> Result<(), Refusal> {
    if settings.secret().is_none() && settings.allow_unsigned() {
        Ok(())
    } else {
        Err(Refusal::Unsigned)
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
/// internal note): the value, the reasons, "resolved?", a link to the session's page and,
/// last, the comment unless flagged, quoted line by line (escaped for Markdown where the
/// helpdesk renders it), so that nothing the client wrote passes for Rateline's words.
pub fn rating_note(
    target: &AnswerTarget,
    public_url: &str,
    session_id: &SessionId,
    text: NoteText,
) -> String {
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
    note.push_str(&format!("\n{public_url}/dashboard/sessions/{session_id}"));
    if let Some(comment) = r.comment.as_ref().filter(|_| !r.comment_flagged) {
        let words = match text {
            NoteText::Markdown => rateline_adapters::markup::markdown(comment),
            NoteText::Plain => comment.clone(),
        };
        note.push_str("\nComment:\n");
        note.push_str(&rateline_adapters::markup::quoted(&words));
    }
    note
}

/// A webhook call's outcome as the helpdesk hears it: only an unreachable database is the
/// call's (refused with a 503: Zammad tries again, Chatwoot does not, and the catch-up
/// applies what was missed); any other failure would repeat on every delivery, so it is
/// logged and the call let go.
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

/// A catch-up reads again this far before where the last one ended: for the helpdesk's
/// clock against this server's, and for events that were in flight when it ended.
pub const CATCH_UP_MARGIN: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

/// A catch-up never reads further back than this: a conversation resolved a day before
/// Rateline came back is not asked about any more.
pub const CATCH_UP_LOOKBACK: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// What one catch-up of an account (instance) read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaughtUp {
    /// Conversations (tickets) active since the last catch-up.
    pub conversations: usize,
    /// Their events, each applied (again, for those the webhooks brought: no change).
    pub events: usize,
}

/// One account's catch-up under way.
pub type CatchingUp<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<CaughtUp, String>> + Send + 'a>>;

/// Catches up each account (instance) of `channel`'s `registry` with `each`, and logs how
/// each went. A failure leaves the next catch-up of that account to start from the same
/// point.
pub async fn catch_up_all<C, S: HelpdeskSettings, A>(
    channel: &C,
    registry: &Registry<S, A>,
    helpdesk: &str,
    each: impl for<'a> Fn(&'a C, &'a A) -> CatchingUp<'a>,
) {
    let accounts = match registry.all().await {
        Ok(accounts) => accounts,
        Err(e) => {
            tracing::warn!(%helpdesk, error = %e, "could not read the accounts to catch up");
            return;
        }
    };
    for (id, a) in accounts.iter() {
        match each(channel, a).await {
            Ok(c) => {
                tracing::debug!(%helpdesk, account = %id, conversations = c.conversations, events = c.events, "caught up");
            }
            Err(e) => {
                tracing::warn!(%helpdesk, account = %id, error = %e, "could not catch up: the next catch-up tries again from the same point");
            }
        }
    }
}

/// Where a catch-up of `account` reads from: where the last one ended, less
/// [`CATCH_UP_MARGIN`], at most [`CATCH_UP_LOOKBACK`] back. `None` the first time: nothing
/// before the account was connected is read, and this pass only marks where the next begins.
pub async fn catch_up_from(
    engine: &Engine,
    helpdesk: &str,
    account: &str,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let now = engine.now();
    match engine.caught_up_until(helpdesk, account).await? {
        Some(until) => Ok(Some((until - CATCH_UP_MARGIN).max(now - CATCH_UP_LOOKBACK))),
        None => {
            engine
                .note_caught_up(helpdesk, account, now, now - CATCH_UP_LOOKBACK)
                .await?;
            Ok(None)
        }
    }
}

/// Notes that a catch-up of `account` read everything up to `until`.
pub async fn caught_up(
    engine: &Engine,
    helpdesk: &str,
    account: &str,
    until: DateTime<Utc>,
) -> Result<(), String> {
    // Items older than any catch-up reads again are of no use any more.
    let forget = until - CATCH_UP_LOOKBACK - CATCH_UP_MARGIN * 2;
    engine
        .note_caught_up(helpdesk, account, until, forget)
        .await
        .map_err(|e| e.to_string())
}

/// Whether an event a catch-up applied changed something. Only an unreachable database
/// stops the catch-up (it starts again from the same point); anything else would fail the
/// same way every time, so it is logged and the event let go, as a webhook call's is.
pub fn caught(result: Result<Handled, StoreError>, helpdesk: &str) -> Result<bool, String> {
    settle(result, helpdesk)
        .map(|h| h == Handled::Applied)
        .map_err(|e| e.to_string())
}

/// Whether conversation (ticket) `conversation` of `account` is a session, or one opened for
/// an answer to a session's request.
pub async fn known(
    engine: &Engine,
    helpdesk: &str,
    account: &str,
    conversation: &str,
    session_id: &SessionId,
) -> Result<bool, String> {
    let store = |e: StoreError| e.to_string();
    Ok(engine
        .conversation_of(session_id)
        .await
        .map_err(store)?
        .is_some()
        || engine
            .answer_ticket_of(helpdesk, account, conversation)
            .await
            .map_err(store)?
            .is_some())
}

/// Whether a catch-up applies the close (resolve) of session `session_id`'s conversation,
/// opened at `opened`: its session is still open, or it has none and the conversation was
/// opened since `since`. One opened before that, none of whose events ever reached Rateline,
/// is no session Rateline knew, and is not asked about now.
pub async fn close_missed(
    engine: &Engine,
    session_id: &SessionId,
    opened: Option<DateTime<Utc>>,
    since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match engine.session(session_id).await {
        Ok(s) => Ok(s.closed_at.is_none()),
        Err(EngineError::Store(e)) => Err(e),
        Err(_) => Ok(opened.is_some_and(|t| t >= since)),
    }
}
