//! The Chatwoot channel's way in: its webhook's calls checked, then applied to sessions, and
//! the client's answers read from them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use rateline_adapters::SendOutcome;
use rateline_adapters::chatwoot::{self as api, ChatwootApi};

use super::send::{Account, ChatwootAdapter};
use rateline_adapters::signed::CallbackSigner;
use rateline_domain::{
    Channel, ChatwootSettings, ClientRef, ClosedBy, Helpdesk, HelpdeskConversation,
    HelpdeskSettings, Id, MessageFrom, RequestId, SessionId,
};
use serde_json::Value;

use crate::channels::dialogue::{Chat, Dialogue};
use crate::channels::helpdesk::{self, Handled, NotApplied, Refusal, Registry};
use crate::engine::Engine;
use crate::store::{AnswerTarget, StoreError};

/// The helpdesk's name in `helpdesk_conversations`.
pub(super) const HELPDESK: &str = Helpdesk::Chatwoot.as_str();

/// The name of the server key that signs the channel's buttons.
pub const CALLBACK_KEY_NAME: &str = "chatwoot-callbacks";

/// The Chatwoot accounts of one server, as stored (the config file's and the API's).
pub struct Chatwoot {
    pub(super) engine: Engine,
    pub(super) accounts: Arc<Registry<ChatwootSettings, Account>>,
    pub(super) dialogue: Dialogue,
    /// Where a private note links to the session's page, and where the webhook posts.
    pub(super) public_url: String,
    /// The client the setup and the live check call Chatwoot with.
    pub(super) http: reqwest::Client,
}

impl Chatwoot {
    /// The Chatwoot channel of this server: calls Chatwoot under `policy`, each within
    /// `send_timeout`; signs its buttons with `signer`; links notes and the webhook to
    /// `public_url`.
    pub fn new(
        send_timeout: Duration,
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
        signer: CallbackSigner,
        public_url: &str,
    ) -> Self {
        let (http, accounts) =
            Registry::connected(engine.clone(), policy, send_timeout, Account::new);
        Self {
            http,
            dialogue: Dialogue::new(engine.clone(), signer),
            engine,
            accounts,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The adapter that posts the requests and responses of this server's Chatwoot
    /// sessions, reading their accounts where this channel does.
    pub fn adapter(&self) -> Arc<ChatwootAdapter> {
        Arc::new(ChatwootAdapter::new(
            self.accounts.clone(),
            self.dialogue.signer().clone(),
        ))
    }

    /// Checks a webhook call of account `account` before its body is read (the account is
    /// connected, the call is signed with its secret or it takes unsigned calls, and it is
    /// fresh), then applies its event. Only an unreachable database is the call's: it is
    /// then refused with a 503. Chatwoot does not post it again; the next catch-up applies
    /// it. Anything else would fail again the same way, so it is logged and let go.
    pub async fn receive<'h>(
        &self,
        account: &str,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<Handled, NotApplied> {
        let a = self
            .accounts
            .get(account)
            .await?
            .ok_or(Refusal::NotConfigured)?;
        let (timestamp, signature) = (
            header("x-chatwoot-timestamp"),
            header("x-chatwoot-signature"),
        );
        match (&a.settings.webhook_secret, timestamp, signature) {
            (None, _, _) => helpdesk::unsigned_taken(&a.settings)?,
            (Some(secret), Some(timestamp), Some(signature)) => {
                if !api::signed(secret.as_bytes(), timestamp, body, signature) {
                    return Err(Refusal::BadSignature.into());
                }
                if !api::fresh(timestamp, self.engine.now()) {
                    return Err(Refusal::Stale.into());
                }
            }
            (Some(_), _, _) => return Err(Refusal::Unsigned.into()),
        }
        let event = helpdesk::json(body)?;
        Ok(helpdesk::settle(
            self.handle_one(&a, &event).await,
            HELPDESK,
        )?)
    }

    /// Applies one event, from a webhook or a catch-up, unless its message (or the tap on
    /// it) was applied already: a client's answer read again would otherwise count as the
    /// client writing. A conversation's state applied again changes nothing (a session
    /// opens once, a resolve closes it once).
    pub(super) async fn handle_one(
        &self,
        a: &Account,
        event: &Value,
    ) -> Result<Handled, StoreError> {
        let account = a.id.to_string();
        let item = applied_item(event);
        if let Some(item) = &item
            && self.engine.applied_item(HELPDESK, &account, item).await?
        {
            return Ok(Handled::Ignored(
                "this message was applied already (by its webhook or a catch-up)".into(),
            ));
        }
        let handled = self.apply(a, event).await?;
        if let Some(item) = &item {
            self.engine
                .note_applied_item(HELPDESK, &account, item)
                .await?;
        }
        Ok(handled)
    }

    async fn apply(&self, a: &Account, event: &Value) -> Result<Handled, StoreError> {
        let kind = event.get("event").and_then(Value::as_str).unwrap_or("");
        let conversation = match kind {
            "message_created" | "message_updated" => event.get("conversation"),
            "conversation_created" | "conversation_status_changed" | "conversation_updated" => {
                Some(event)
            }
            other => return Ok(Handled::Ignored(format!("event {other:?} is not used"))),
        };
        let Some(c) = conversation.and_then(Conversation::read) else {
            return Ok(Handled::Ignored(
                "the event carries no conversation with an id, inbox_id and contact".into(),
            ));
        };
        let account = a.id;
        let line = a.settings.line_of(c.inbox);
        let session_id = helpdesk::session_id(Channel::Chatwoot, account, c.id);
        // A conversation Chatwoot opened for an answer: what its client writes answers there.
        let (account_s, conversation) = (account.to_string(), c.id.to_string());
        if let Some(asked) = self
            .engine
            .answer_ticket_of(HELPDESK, &account_s, &conversation)
            .await?
        {
            self.in_answer_conversation(a, &c, &asked, kind, event)
                .await?;
            return Ok(Handled::Applied);
        }
        if self.engine.conversation_of(&session_id).await?.is_none() {
            match self.answers_elsewhere(a, &c, kind, event).await? {
                Elsewhere::Answers(asked, rated) => {
                    // Noted before anything else, so the conversation is never rated itself.
                    self.engine
                        .note_answer_ticket(HELPDESK, &account_s, &conversation, &asked)
                        .await?;
                    self.introduce(a, &c, &asked, &rated).await;
                    self.in_answer_conversation(a, &c, &asked, kind, event)
                        .await?;
                    return Ok(Handled::Applied);
                }
                Elsewhere::MayAnswer => {
                    return Ok(Handled::Ignored(
                        "a new conversation of a contact whose rating request waits for an \
                         answer: its first client message tells whether it is the answer"
                            .into(),
                    ));
                }
                Elsewhere::No => {}
            }
        }
        let operator = c.assignee.map(|holder| match holder {
            Holder::Agent(agent) => a.settings.operator_of(agent),
            Holder::Bot(bot) => format!("{HELPDESK}-bot-{bot}"),
        });
        if let Some(why) = self
            .open(a, &c, &line, &session_id, operator.as_deref())
            .await?
        {
            tracing::info!(
                account,
                inbox = c.inbox,
                %line,
                %why,
                "a Chatwoot conversation is not rated: map its inbox with chatwoot.inboxes to a line that takes sessions"
            );
            return Ok(Handled::Ignored(format!(
                "inbox {} maps to line '{line}': {why}",
                c.inbox
            )));
        }
        match kind {
            "conversation_status_changed" | "conversation_updated" | "conversation_created" => {
                if !helpdesk::fresh(&self.engine, &session_id, c.updated_at).await? {
                    return Ok(Handled::Ignored(helpdesk::STALE.into()));
                }
                // Unassigned, it is credited to nobody: the operator is the one at the close.
                self.engine
                    .assign_operator(&session_id, operator.as_deref())
                    .await?;
                if kind == "conversation_status_changed" && c.status == "resolved" {
                    self.resolved(a, &session_id, &c).await?;
                }
            }
            "message_created" => self.message(a, &c, &session_id, event).await?,
            "message_updated" => self.submitted(a, &c, &session_id, event).await?,
            _ => {}
        }
        Ok(Handled::Applied)
    }

    /// Opens the conversation's session (the same id again changes nothing) and notes which
    /// conversation it is. Says why not when the line takes no session (it does not exist,
    /// or is retired).
    async fn open(
        &self,
        a: &Account,
        c: &Conversation,
        line: &str,
        session_id: &SessionId,
        operator: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        let conversation = HelpdeskConversation {
            helpdesk: HELPDESK.into(),
            account: a.id.to_string(),
            conversation: c.id.to_string(),
            medium: c.medium.clone(),
            address: None,
        };
        let opening = helpdesk::Opening {
            session_id,
            line,
            channel: Channel::Chatwoot,
            client: ClientRef {
                id: Id::stored(client_of(a, c)),
                name: c.contact_name.clone(),
            },
            operator,
            opened_at: c.created_at,
            conversation,
        };
        helpdesk::open(&self.engine, opening).await
    }

    /// The conversation was resolved: the session closes, credited to its assignee, and the
    /// line's delay starts; held by an AgentBot, only where the account rates bots'
    /// conversations. Resolving again changes nothing.
    async fn resolved(
        &self,
        a: &Account,
        session_id: &SessionId,
        c: &Conversation,
    ) -> Result<(), StoreError> {
        let closed = match c.assignee {
            Some(Holder::Bot(_)) if !a.settings.rate_bot_conversations => {
                self.engine
                    .close_session_unasked(
                        session_id,
                        ClosedBy::Operator,
                        &c.labels,
                        "skipped by chatwoot.rate_bot_conversations: an AgentBot held the \
                         conversation at the resolve",
                    )
                    .await
            }
            _ => {
                self.engine
                    .close_session(session_id, ClosedBy::Operator, None, &c.labels)
                    .await
            }
        };
        helpdesk::let_go(
            closed,
            session_id,
            "a Chatwoot resolve did not close its session",
        )
    }

    /// A message in the conversation: the client's answers go to the dialogue, their other
    /// messages count as the client writing; agents' messages keep an open session alive.
    async fn message(
        &self,
        a: &Account,
        c: &Conversation,
        session_id: &SessionId,
        event: &Value,
    ) -> Result<(), StoreError> {
        let at = self.written_at(event);
        match Message::read(c, event) {
            Message::Client(content) => {
                if !self.answer(a, c, session_id, content, at).await? {
                    self.client_wrote(session_id, at).await?;
                }
                Ok(())
            }
            Message::Stranger => {
                tracing::info!(%session_id, "a message from another contact: not the client's answer");
                Ok(())
            }
            Message::Agent => helpdesk::agent_wrote(&self.engine, session_id, at).await,
            Message::Other => Ok(()),
        }
    }

    /// When a message event's message was written: its `created_at`, never later than now.
    fn written_at(&self, event: &Value) -> DateTime<Utc> {
        let now = self.engine.now();
        event
            .get("created_at")
            .and_then(read_time)
            .unwrap_or(now)
            .min(now)
    }

    /// An event in conversation `c`, which Chatwoot opened for an answer to session
    /// `asked`'s request: the client's answers go to that session's dialogue, spoken into `c`.
    /// Anything else there is left to the agents: `c` is never a session of its own.
    async fn in_answer_conversation(
        &self,
        a: &Account,
        c: &Conversation,
        asked: &SessionId,
        kind: &str,
        event: &Value,
    ) -> Result<(), StoreError> {
        match kind {
            "message_created" => {
                if let Message::Client(content) = Message::read(c, event)
                    && !self
                        .answer(a, c, asked, content, self.written_at(event))
                        .await?
                {
                    tracing::info!(session_id = %asked, conversation = c.id, "a client message in a conversation opened for an answer answers nothing: left to the agents");
                }
                Ok(())
            }
            "message_updated" => self.submitted(a, c, asked, event).await,
            _ => Ok(()),
        }
    }

    /// For conversation `c`, which has no session yet: whether its event answers the request
    /// of another conversation of the same contact, on the same kind of inbox rated on the
    /// same line in this account.
    /// Chatwoot opens a new conversation for a message after the resolve on most channels
    /// (`lock_to_single_conversation` is off by default), so an answer to a request posted in
    /// the resolved conversation arrives in a new one.
    async fn answers_elsewhere(
        &self,
        a: &Account,
        c: &Conversation,
        kind: &str,
        event: &Value,
    ) -> Result<Elsewhere, StoreError> {
        let client = client_of(a, c);
        let Some(latest) = self
            .engine
            .latest_answer_target(Channel::Chatwoot, &client)
            .await?
        else {
            return Ok(Elsewhere::No);
        };
        let text = match kind {
            "message_created" => match Message::read(c, event) {
                Message::Client(content) => Some(content.trim()),
                _ => None,
            },
            "message_updated" => event
                .pointer("/content_attributes/submitted_values/0/value")
                .and_then(Value::as_str),
            _ => None,
        };
        let at = self.written_at(event);
        // A tap names its request; anything else answers the contact's latest one.
        let target = match text.map(|t| self.dialogue.signer().decode(t)) {
            Some(Ok((request_id, _))) => match self.engine.answer_target(&request_id).await? {
                Some(t) if t.client_id == client && self.dialogue.waits(&t, at) => t,
                _ => return Ok(Elsewhere::No),
            },
            Some(Err(_)) if self.dialogue.answers(&latest, text.unwrap_or(""), at) => latest,
            Some(Err(_)) => return Ok(Elsewhere::No),
            None if self.dialogue.waits(&latest, at) => latest,
            None => return Ok(Elsewhere::No),
        };
        // The same kind of inbox, rated on the same line: the contact's conversation in
        // another inbox (or another account) is never taken for this one's answer.
        let same_line = *target.request.line_id == a.settings.line_of(c.inbox);
        let asked = target.request.session_id;
        let rated = if same_line {
            self.engine.conversation_of(&asked).await?.filter(|o| {
                o.helpdesk == HELPDESK && o.account == a.id.to_string() && o.medium == c.medium
            })
        } else {
            None
        };
        Ok(match (rated, text) {
            (None, _) => Elsewhere::No,
            (Some(rated), Some(_)) => Elsewhere::Answers(asked, rated.conversation),
            (Some(_), None) => Elsewhere::MayAnswer,
        })
    }

    /// A private note in conversation `c`, opened for an answer to session `asked`'s request
    /// (Chatwoot conversation `rated`), that tells the agents why Rateline resolves it; where
    /// the account asks for notes.
    async fn introduce(&self, a: &Account, c: &Conversation, asked: &str, rated: &str) {
        if !a.settings.private_note {
            return;
        }
        let resolved = if a.settings.resolve_after_answer {
            "is resolved after each answer and "
        } else {
            ""
        };
        let text = format!(
            "Rateline: the client's answer to the rating request of conversation #{rated} \
             ({}/dashboard/sessions/{asked}). This conversation {resolved}is not rated itself.",
            self.public_url
        );
        match a
            .api
            .post_message(&c.id.to_string(), &api::private_note(&text))
            .await
        {
            SendOutcome::Accepted { .. } => {}
            other => {
                tracing::warn!(outcome = ?other, session_id = %asked, "could not note in Chatwoot why a conversation is an answer")
            }
        }
    }

    async fn client_wrote(
        &self,
        session_id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record(session_id, MessageFrom::Client, at).await
    }

    async fn record(
        &self,
        session_id: &SessionId,
        from: MessageFrom,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let recorded = self.engine.record_message(session_id, from, Some(at)).await;
        helpdesk::let_go(recorded, session_id, "a Chatwoot message was not recorded")
    }

    /// A tapped button's value, or a typed answer, given to session `session_id`'s dialogue
    /// and spoken into conversation `c`. Returns whether the text answered something (a tap
    /// refused counts: it is not the client writing).
    async fn answer(
        &self,
        a: &Account,
        c: &Conversation,
        session_id: &SessionId,
        content: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let chat = ChatwootChat {
            api: &a.api,
            conversation: c.id.to_string(),
            medium: &c.medium,
        };
        let before;
        if let Ok((request_id, action)) = self.dialogue.signer().decode(content.trim()) {
            // A button's value (Telegram sends it back as the message).
            let Some(target) = self.tap_target(session_id, &request_id).await? else {
                return Ok(true);
            };
            before = target.rating.clone();
            self.dialogue.on_action(&chat, &target, action, at).await?;
        } else {
            let Some(target) = self.engine.session_answer_target(session_id).await? else {
                return Ok(false);
            };
            before = target.rating.clone();
            if !self.dialogue.on_text(&chat, &target, content, at).await? {
                return Ok(false);
            }
        }
        self.after_answer(a, c, session_id, before.map(|r| r.updated_at))
            .await?;
        // An answer is not the client writing again, but it does open Meta's 24-hour window
        // for a response to it.
        self.engine
            .client_wrote(Channel::Chatwoot, &client_of(a, c), at)
            .await?;
        Ok(true)
    }

    /// The web widget's tap: the same message, updated with what was submitted.
    async fn submitted(
        &self,
        a: &Account,
        c: &Conversation,
        session_id: &SessionId,
        event: &Value,
    ) -> Result<(), StoreError> {
        let Some(value) = event
            .pointer("/content_attributes/submitted_values/0/value")
            .and_then(Value::as_str)
        else {
            return Ok(());
        };
        let Ok((request_id, action)) = self.dialogue.signer().decode(value) else {
            tracing::debug!(%session_id, "a submitted value Rateline did not sign: ignored");
            return Ok(());
        };
        let Some(target) = self.tap_target(session_id, &request_id).await? else {
            return Ok(());
        };
        let chat = ChatwootChat {
            api: &a.api,
            conversation: c.id.to_string(),
            medium: &c.medium,
        };
        let before = target.rating.as_ref().map(|r| r.updated_at);
        self.dialogue
            .on_action(&chat, &target, action, self.engine.now())
            .await?;
        self.after_answer(a, c, session_id, before).await
    }

    /// The request a tapped button names, if it is this conversation's.
    async fn tap_target(
        &self,
        session_id: &SessionId,
        request_id: &RequestId,
    ) -> Result<Option<AnswerTarget>, StoreError> {
        let Some(target) = self.engine.answer_target(request_id).await? else {
            return Ok(None);
        };
        if &target.request.session_id != session_id {
            tracing::warn!(%request_id, %session_id, "a button of another conversation: refused, nothing stored");
            return Ok(None);
        }
        Ok(Some(target))
    }

    /// After an answer: the rating as a private note where the account asks for one (once
    /// it is complete, and only when this answer changed it), and the conversation resolved
    /// again when the answer reopened it.
    async fn after_answer(
        &self,
        a: &Account,
        c: &Conversation,
        session_id: &SessionId,
        before: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let conversation = c.id.to_string();
        if a.settings.private_note
            && let Some(text) = helpdesk::completed_note(
                &self.engine,
                session_id,
                before,
                &self.public_url,
                helpdesk::NoteText::Markdown,
            )
            .await?
        {
            match a
                .api
                .post_message(&conversation, &api::private_note(&text))
                .await
            {
                SendOutcome::Accepted { .. } => {}
                other => {
                    tracing::warn!(outcome = ?other, %session_id, "could not write the rating into Chatwoot as a private note")
                }
            }
        }
        if a.settings.resolve_after_answer && c.status == "open" {
            match a.api.resolve(&conversation).await {
                SendOutcome::Accepted { .. } => {}
                other => {
                    tracing::warn!(outcome = ?other, %session_id, "could not resolve the conversation the answer reopened")
                }
            }
        }
        Ok(())
    }
}

/// The conversation as a webhook names it.
struct Conversation {
    /// The id Chatwoot's API addresses it by.
    id: u64,
    inbox: u64,
    /// The inbox's `channel_type`.
    medium: String,
    status: String,
    contact: u64,
    contact_name: Option<String>,
    assignee: Option<Holder>,
    labels: Vec<String>,
    created_at: Option<DateTime<Utc>>,
    /// When the conversation's state last changed: what orders its events.
    updated_at: Option<DateTime<Utc>>,
}

/// What a new conversation's event says of another conversation's waiting request.
enum Elsewhere {
    /// It answers session `.0`'s request, whose conversation is `.1`.
    Answers(SessionId, String),
    /// It carries no client message, and the contact's request waits: the first one will tell.
    MayAnswer,
    /// It has nothing to do with a request.
    No,
}

/// A `message_created` event's message, by who wrote it.
enum Message<'e> {
    /// The conversation's contact, in public: its content.
    Client(&'e str),
    /// Another contact (a group's other members): neither answers nor counts as the client.
    Stranger,
    /// An agent's public reply.
    Agent,
    /// A private note, or a message of a bot or of Rateline itself.
    Other,
}

impl<'e> Message<'e> {
    fn read(c: &Conversation, event: &'e Value) -> Self {
        let private = event.get("private").and_then(Value::as_bool) == Some(true);
        let sender = event.get("sender");
        let sender_id = sender.and_then(|s| s.get("id")).and_then(Value::as_u64);
        let sender_type = sender.and_then(|s| s.get("type")).and_then(Value::as_str);
        match (event.get("message_type").and_then(Value::as_str), private) {
            (Some("incoming"), false) => {
                if sender_type.is_some_and(|t| t != "contact") || sender_id != Some(c.contact) {
                    Message::Stranger
                } else {
                    Message::Client(event.get("content").and_then(Value::as_str).unwrap_or(""))
                }
            }
            (Some("outgoing"), false) if sender_type == Some("user") => Message::Agent,
            _ => Message::Other,
        }
    }
}

/// What marks a message event as applied: `m{id}` a new message, `u{id}` the choice tapped
/// on it (the web widget's `submitted_values`). Other updates of a message (its delivery
/// status, an edit) mark nothing, so the tap that may follow them still counts.
fn applied_item(event: &Value) -> Option<String> {
    let id = event.get("id").and_then(Value::as_u64)?;
    match event.get("event").and_then(Value::as_str)? {
        "message_created" => Some(format!("m{id}")),
        "message_updated"
            if event
                .pointer("/content_attributes/submitted_values")
                .and_then(Value::as_array)
                .is_some_and(|v| !v.is_empty()) =>
        {
            Some(format!("u{id}"))
        }
        _ => None,
    }
}

/// The client of conversation `c` of account `a`: contact ids are the account's own.
fn client_of(a: &Account, c: &Conversation) -> String {
    format!("{}-{}", a.id, c.contact)
}

/// Who holds a conversation: a user (an agent), or an AgentBot. Their ids are separate
/// sequences (`Conversation#assigned_entity` is `assignee_agent_bot || assignee`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Agent(u64),
    Bot(u64),
}

impl Holder {
    /// `meta.assignee` of a conversation's payload (`EventDataPresenter#push_meta`): a bot
    /// where `meta.assignee_type` is `AgentBot`, or, from releases that send no
    /// `assignee_type`, where the assignee's own `type` is `agent_bot`.
    fn read(meta: &Value) -> Option<Self> {
        let assignee = meta.get("assignee")?;
        let id = assignee.get("id")?.as_u64()?;
        let bot = meta.get("assignee_type").and_then(Value::as_str) == Some("AgentBot")
            || assignee.get("type").and_then(Value::as_str) == Some("agent_bot");
        Some(if bot {
            Holder::Bot(id)
        } else {
            Holder::Agent(id)
        })
    }
}

impl Conversation {
    fn read(v: &Value) -> Option<Self> {
        let sender = v.pointer("/meta/sender")?;
        let name = sender
            .get("name")
            .and_then(Value::as_str)
            .map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect())
            .filter(|n: &String| !n.trim().is_empty());
        Some(Self {
            id: v.get("id")?.as_u64()?,
            inbox: v.get("inbox_id")?.as_u64()?,
            // A webhook's top-level `channel`; the API's conversations carry it in `meta`.
            medium: v
                .get("channel")
                .or_else(|| v.pointer("/meta/channel"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            status: v
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            contact: sender.get("id")?.as_u64()?,
            contact_name: name,
            assignee: v.get("meta").and_then(Holder::read),
            // The labels a close may carry for `survey.skip_tags`: those a close takes.
            labels: v
                .get("labels")
                .and_then(Value::as_array)
                .map(|l| {
                    l.iter()
                        .filter_map(Value::as_str)
                        .filter(|t| {
                            rateline_domain::check_tags("labels", &[(*t).to_owned()]).is_ok()
                        })
                        .take(rateline_domain::MAX_TAGS)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            created_at: v.get("created_at").and_then(read_time),
            // `updated_at.to_f` (`EventDataPresenter#push_timestamps`): microseconds count,
            // since two changes often fall in one second.
            updated_at: v
                .get("updated_at")
                .and_then(Value::as_f64)
                .and_then(|s| Utc.timestamp_micros((s * 1e6).round() as i64).single())
                .or_else(|| v.get("updated_at").and_then(read_time)),
        })
    }
}

/// A time as Chatwoot writes it: unix seconds (conversations) or ISO 8601 (messages).
pub(super) fn read_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => Utc.timestamp_opt(n.as_f64()? as i64, 0).single(),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        _ => None,
    }
}

/// One conversation, as the dialogue speaks into it.
struct ChatwootChat<'a> {
    api: &'a ChatwootApi,
    conversation: String,
    medium: &'a str,
}

#[async_trait]
impl Chat for ChatwootChat<'_> {
    async fn choices(
        &self,
        text: &str,
        choices: &[(String, String)],
        _list_label: &str,
    ) -> SendOutcome {
        let message = api::choices_message(text, choices, self.medium);
        self.api.post_message(&self.conversation, &message).await
    }

    async fn say(&self, text: &str) -> SendOutcome {
        self.api
            .post_message(&self.conversation, &api::text_message(text))
            .await
    }
}
