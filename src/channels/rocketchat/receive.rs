//! The Rocket.Chat channel's way in: its webhook's calls checked, then applied to sessions,
//! and the visitor's answers read from them.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_adapters::SendOutcome;
use rateline_adapters::rocketchat::{self as api, Event, HandedOverFrom, Kind, RocketChatApi};
use rateline_domain::{
    Channel, ClientRef, ClosedBy, Helpdesk, HelpdeskConversation, HelpdeskSettings, Id,
    MessageFrom, RequestStatus, RocketChatSettings, SessionId,
};

use super::send::{RocketChatAdapter, Server};
use crate::channels::dialogue::{Chat, Dialogue};
use crate::channels::helpdesk::{self, Handled, NotApplied, Refusal, Registry};
use crate::engine::{Engine, EngineError};
use crate::store::StoreError;

/// The helpdesk's name in `helpdesk_conversations`.
pub(super) const HELPDESK: &str = Helpdesk::RocketChat.as_str();

/// How a session's room reached Rateline, kept as its conversation's `medium`: handed to
/// the Ratings user, or closed without the hand-over.
pub(super) const HANDED_OVER: &str = "handed_over";
/// See [`HANDED_OVER`].
pub(super) const CLOSED_WITHOUT: &str = "closed_without_hand_over";
/// See [`HANDED_OVER`]: the visitor closed the chat, before any hand-over or while the
/// Ratings user held it; neither is the agent's doing.
pub(super) const CLOSED_BY_VISITOR: &str = "closed_by_visitor";

/// A visitor as Rateline names them: visitor ids are the server's own.
fn client_id(server: &str, visitor: &str) -> String {
    format!("{server}-{visitor}")
}

/// The Rocket.Chat servers of one Rateline, as stored (the config file's and the API's).
pub struct RocketChat {
    pub(super) engine: Engine,
    pub(super) servers: Arc<Registry<RocketChatSettings, Server>>,
    pub(super) dialogue: Dialogue,
    /// Where the webhook posts.
    pub(super) public_url: String,
    /// The client the live check calls Rocket.Chat with.
    pub(super) http: reqwest::Client,
}

impl RocketChat {
    /// The Rocket.Chat channel of this server: calls Rocket.Chat under `policy`, each within
    /// `send_timeout`; the webhook is at `public_url`.
    pub fn new(
        send_timeout: Duration,
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
        public_url: &str,
    ) -> Self {
        let (http, servers) =
            Registry::connected(engine.clone(), policy, send_timeout, Server::new);
        // The widget shows no buttons: nothing is signed, the signer only fills the dialogue.
        let signer = rateline_adapters::signed::CallbackSigner::new("rocketchat-shows-no-buttons");
        Self {
            http,
            dialogue: Dialogue::new(engine.clone(), signer),
            engine,
            servers,
            public_url: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The adapter that writes the requests and responses of this server's Rocket.Chat
    /// sessions, reading their servers where this channel does.
    pub fn adapter(&self) -> Arc<RocketChatAdapter> {
        Arc::new(RocketChatAdapter::new(self.servers.clone()))
    }

    /// Checks a webhook call of `server` from its headers alone, before its body is read:
    /// the server is connected, and the call carries its Secret Token (compared in constant
    /// time) or it takes calls without one. Its body may be as large as a long chat's history,
    /// so nobody without the token gets that far. The server, to [`Self::take`] the body.
    pub async fn admit<'h>(
        &self,
        server: &str,
        header: impl Fn(&str) -> Option<&'h str>,
    ) -> Result<Arc<Server>, NotApplied> {
        let s = self
            .servers
            .get(server)
            .await?
            .ok_or(Refusal::NotConfigured)?;
        match (header(api::TOKEN_HEADER), &s.settings.webhook_token) {
            (_, None) => helpdesk::unsigned_taken(&s.settings)?,
            (Some(given), Some(token))
                if crate::channels::secret_matches(token, given.as_bytes()) => {}
            (Some(_), Some(_)) => return Err(Refusal::BadSignature.into()),
            (None, Some(_)) => return Err(Refusal::Unsigned.into()),
        }
        Ok(s)
    }

    /// Applies the body of a call [`Self::admit`] let in. Only an unreachable database is
    /// the call's: it is then refused with a 503, and Rocket.Chat tries it again (five tries,
    /// 20 s apart).
    pub async fn take(&self, s: &Server, body: &[u8]) -> Result<Handled, NotApplied> {
        let event = match api::parse_event(body) {
            Ok(event) => event,
            Err(why) => return Err(NotApplied::NotJson(why)),
        };
        let body = String::from_utf8_lossy(body);
        Ok(helpdesk::settle(
            self.apply(s, &event, &body).await,
            HELPDESK,
        )?)
    }

    /// One call, from the webhook or a catch-up: one match over the events Rateline acts on.
    pub(super) async fn apply(
        &self,
        s: &Server,
        event: &Event,
        body: &str,
    ) -> Result<Handled, StoreError> {
        let ratings = s.settings.user_id.as_str();
        match event.kind() {
            Kind::Forwarded if event.served_by.as_ref().is_some_and(|b| b.id == ratings) => {
                self.handed_over(s, event).await
            }
            Kind::Message => self.message(s, event, body).await,
            Kind::Closed => self.closed(s, event).await,
            _ => Ok(Handled::Ignored(format!(
                "a {} event: Rateline acts on a hand-over to the Ratings user, a visitor's \
                 message and a close",
                event.type_name.chars().take(64).collect::<String>()
            ))),
        }
    }

    /// The line room `event` goes to: its department's, else the server's own.
    fn line_of(s: &Server, event: &Event) -> String {
        match &event.department_id {
            Some(d) if !d.is_empty() => s.settings.line_of(d),
            _ => format!("{HELPDESK}-{}", s.id),
        }
    }

    /// Opens the room's session (the same id again changes nothing) and notes which room it
    /// is, how it reached Rateline (`medium`) and the Rocket.Chat user id of its operator
    /// (to hand it back to). Says why not when the line takes no session.
    async fn open(
        &self,
        s: &Server,
        event: &Event,
        operator: Option<(&str, &str)>,
        medium: &str,
    ) -> Result<Result<SessionId, String>, StoreError> {
        let session_id = helpdesk::session_id(Channel::RocketChat, &s.id, &event.room_id);
        let line = Self::line_of(s, event);
        let person = operator.map(|(_, username)| s.settings.operator_of(username));
        let name: String = event
            .visitor
            .name
            .as_deref()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let opening = helpdesk::Opening {
            session_id: &session_id,
            line: &line,
            channel: Channel::RocketChat,
            client: ClientRef {
                id: Id::stored(client_id(&s.id, &event.visitor.id)),
                name: (!name.trim().is_empty()).then_some(name),
            },
            operator: person.as_deref(),
            opened_at: event.created_at,
            conversation: HelpdeskConversation {
                helpdesk: HELPDESK.into(),
                account: s.id.clone(),
                conversation: event.room_id.clone(),
                medium: medium.to_owned(),
                address: operator.map(|(id, _)| id.to_owned()),
            },
        };
        Ok(match helpdesk::open(&self.engine, opening).await? {
            None => Ok(session_id),
            Some(why) => {
                tracing::info!(server = %s.id, %line, %why, "a Rocket.Chat chat is not rated: map its department with rocketchat.departments to a line that takes sessions");
                Err(format!("the chat goes to line '{line}': {why}"))
            }
        })
    }

    /// A chat handed to the Ratings user: its session opens and closes at once (the line's
    /// delay starts), credited to the agent who handed it over; then the visitor's messages
    /// held for it are applied.
    async fn handed_over(&self, s: &Server, event: &Event) -> Result<Handled, StoreError> {
        let ratings = s.settings.user_id.as_str();
        let operator = match event.handed_over_from() {
            Some(HandedOverFrom::Agent(a)) => a.username.as_deref().map(|u| (a.id.as_str(), u)),
            // Through a department: the last agent but the Ratings user who wrote.
            _ => event
                .messages
                .iter()
                .rev()
                .filter(|m| m.agent_id.as_deref().is_some_and(|a| a != ratings) && !m.closing)
                .find_map(|m| Some((m.agent_id.as_deref()?, m.username.as_deref()?))),
        };
        self.hand_over(s, event, operator).await
    }

    /// Applies a hand-over to the Ratings user (from its event, or from a catch-up that
    /// found the room held without one): see [`Self::handed_over`].
    pub(super) async fn hand_over(
        &self,
        s: &Server,
        event: &Event,
        operator: Option<(&str, &str)>,
    ) -> Result<Handled, StoreError> {
        let session_id = match self.open(s, event, operator, HANDED_OVER).await? {
            Ok(id) => id,
            Err(why) => return Ok(Handled::Ignored(why)),
        };
        let person = operator.map(|(_, username)| s.settings.operator_of(username));
        self.engine
            .assign_operator(&session_id, person.as_deref())
            .await?;
        // Closed at the hand-over: a message the visitor wrote after it, however late it
        // arrives, is after the close.
        let at = event.served_by.as_ref().and_then(|b| b.ts);
        let closed = self
            .engine
            .close_session(&session_id, ClosedBy::Operator, at, &[])
            .await;
        helpdesk::let_go(closed, &session_id, "a hand-over did not close its session")?;
        // Nothing will be asked (the line's survey skips the chat, or the line asks
        // nothing): the room is closed now rather than left with the Ratings user.
        if let Some(comment) = self.done_with(&session_id).await? {
            close_room(&s.api, &session_id, &event.room_id, &comment).await;
        }
        for (item, body) in self
            .engine
            .held_events(HELPDESK, &s.id, &event.room_id)
            .await?
        {
            if let Ok(held) = api::parse_event(body.as_bytes()) {
                self.message(s, &held, &body).await?;
            }
            self.engine.release_event(HELPDESK, &s.id, &item).await?;
        }
        Ok(Handled::Applied)
    }

    /// A `Message` event: the visitor's (an answer, or the client writing again) or an
    /// agent's (keeps an open session alive).
    async fn message(&self, s: &Server, event: &Event, body: &str) -> Result<Handled, StoreError> {
        let ratings = s.settings.user_id.as_str();
        let Some(m) = event.messages.last() else {
            return Ok(Handled::Ignored(
                "a Message event without its message".into(),
            ));
        };
        let session_id = helpdesk::session_id(Channel::RocketChat, &s.id, &event.room_id);
        let now = self.engine.now();
        let at = m.ts.min(now);
        if !m.from_visitor() {
            if m.agent_id.as_deref() == Some(ratings) {
                return Ok(Handled::Ignored("the Ratings user's own message".into()));
            }
            helpdesk::agent_wrote(&self.engine, &session_id, at).await?;
            return Ok(Handled::Applied);
        }
        // A message Rocket.Chat delivers again (its try timed out while Rateline applied it)
        // is applied once: read again, an answer would be no answer and hand the chat back.
        let item = format!("m{}", m.id);
        if self.engine.applied_item(HELPDESK, &s.id, &item).await? {
            return Ok(Handled::Ignored("a message applied already".into()));
        }
        let handled = self
            .visitor_message(s, event, body, m, &session_id, at)
            .await?;
        if handled == Handled::Applied {
            self.engine
                .note_applied_item(HELPDESK, &s.id, &item)
                .await?;
        }
        Ok(handled)
    }

    /// The visitor's message `m`, the last `event` carries, in the room of session
    /// `session_id`, written at `at`, not applied before.
    async fn visitor_message(
        &self,
        s: &Server,
        event: &Event,
        body: &str,
        m: &api::Message,
        session_id: &SessionId,
        at: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let ratings = s.settings.user_id.as_str();
        let text = m.msg.as_deref().unwrap_or_default();
        let session = match self.engine.session(session_id).await {
            Ok(session) => Some(session),
            Err(EngineError::Store(e)) => return Err(e),
            Err(_) => None,
        };
        let Some(session) = session else {
            // Written while the Ratings user held the room, yet here before the hand-over.
            if event.agent.as_ref().is_some_and(|a| a.id == ratings) {
                let item = format!("h{}", m.id);
                self.engine
                    .hold_event(HELPDESK, &s.id, &event.room_id, &item, &without_token(body))
                    .await?;
                return Ok(Handled::Ignored(
                    "held until the hand-over it follows arrives".into(),
                ));
            }
            return self.new_room(s, event, text, at).await;
        };
        if session.closed_at.is_none() {
            let wrote = self
                .engine
                .record_message(session_id, MessageFrom::Client, Some(at))
                .await;
            helpdesk::let_go(wrote, session_id, "a visitor's message was not recorded")?;
            return Ok(Handled::Applied);
        }
        let room = event.room_id.as_str();
        if let Some(target) = self.engine.session_answer_target(session_id).await? {
            let chat = RoomChat { api: &s.api, room };
            if self.dialogue.on_text(&chat, &target, text, at).await? {
                self.close_if_rated(s, session_id, room).await?;
                return Ok(Handled::Applied);
            }
        }
        // Not an answer: the client was not done. Only a room the Ratings user holds goes
        // back; one closed without the hand-over is the SMS visitor's, and stays closed.
        if event.agent.as_ref().is_none_or(|a| a.id != ratings) {
            return Ok(Handled::Ignored(
                "a visitor's message in a room the Ratings user does not hold".into(),
            ));
        }
        let wrote = self
            .engine
            .record_message(session_id, MessageFrom::Client, Some(at))
            .await;
        helpdesk::let_go(wrote, session_id, "a visitor's message was not recorded")?;
        self.engine
            .withdraw_request(session_id)
            .await
            .or_else(|e| match e {
                EngineError::Store(e) => Err(e),
                _ => Ok(false),
            })?;
        self.hand_back(s, session_id, room).await?;
        Ok(Handled::Applied)
    }

    /// Hands room `room` back to the agent who handed it over. When that agent is offline,
    /// or not known (a hand-over only the catch-up saw), the chat goes to its department,
    /// whose routing gives it to an available agent, so that the visitor is not left with
    /// the Ratings user. What fails is said in the log; the next catch-up tries again.
    pub(super) async fn hand_back(
        &self,
        s: &Server,
        session_id: &SessionId,
        room: &str,
    ) -> Result<(), StoreError> {
        let to = self
            .engine
            .conversation_of(session_id)
            .await?
            .and_then(|c| c.address);
        if let Some(agent) = to {
            match s.api.forward(room, &agent).await {
                SendOutcome::Accepted { .. } => return Ok(()),
                SendOutcome::Failed { reason } if reason.contains(api::AGENT_OFFLINE) => {}
                other => {
                    tracing::warn!(outcome = ?other, %session_id, "the visitor wrote again, but the chat could not be handed back to its agent");
                    return Ok(());
                }
            }
        }
        let department = match s.api.room(room).await {
            Ok(info) => info.department,
            Err(reason) => {
                tracing::warn!(%reason, %session_id, "the visitor wrote again, but the chat's department could not be read to hand it back");
                return Ok(());
            }
        };
        let Some(department) = department else {
            tracing::warn!(%session_id, "the visitor wrote again, but neither its agent nor a department can take the chat: it stays with the Ratings user");
            return Ok(());
        };
        match s.api.forward_to_department(room, &department).await {
            SendOutcome::Accepted { .. } => {}
            other => {
                tracing::warn!(outcome = ?other, %session_id, "the visitor wrote again while its agent is offline, and no agent of its department could take the chat: it stays with the Ratings user");
            }
        }
        Ok(())
    }

    /// Closes room `room` once session `session_id`'s rating is complete, with the rating as
    /// the closing comment (Rocket.Chat asks for one by default).
    async fn close_if_rated(
        &self,
        s: &Server,
        session_id: &SessionId,
        room: &str,
    ) -> Result<(), StoreError> {
        let Some(target) = self.engine.session_answer_target(session_id).await? else {
            return Ok(());
        };
        let Some(r) = target
            .rating
            .as_ref()
            .filter(|r| crate::channels::dialogue::finished(&target.line.rating, r))
        else {
            return Ok(());
        };
        let comment = format!(
            "Rated {}",
            rateline_adapters::signed::rating_label(target.request.scale, r.value)
        );
        close_room(&s.api, session_id, room, &comment).await;
        Ok(())
    }

    /// A close. Of a room the Ratings user closed, or one handed over already: nothing new,
    /// but for the visitor leaving a room the Ratings user held, which is noted.
    /// Otherwise a chat closed without the hand-over: its session opens and closes, and the
    /// request is asked where the closed room still reaches the visitor (see `send`).
    pub(super) async fn closed(&self, s: &Server, event: &Event) -> Result<Handled, StoreError> {
        let ratings = s.settings.user_id.as_str();
        if event.closed_by.as_ref().is_some_and(|b| b.id == ratings) {
            return Ok(Handled::Ignored("closed by the Ratings user".into()));
        }
        let session_id = helpdesk::session_id(Channel::RocketChat, &s.id, &event.room_id);
        let exists = match self.engine.session(&session_id).await {
            Ok(session) => Some(session.closed_at.is_some()),
            Err(EngineError::Store(e)) => return Err(e),
            Err(_) => None,
        };
        if exists == Some(true) {
            // The visitor left the room the Ratings user held: the website widget shows
            // nothing written in a closed room, so the question, if not asked yet, is not
            // sent into it (see `send`), and the chat is not the agent's to answer for.
            let left = event.closer == Some(api::Closer::Visitor)
                && self
                    .engine
                    .change_medium(&session_id, HANDED_OVER, CLOSED_BY_VISITOR)
                    .await?;
            return Ok(if left {
                Handled::Applied
            } else {
                Handled::Ignored("the chat was handed over already".into())
            });
        }
        if exists.is_none() {
            let operator = event
                .served_by
                .as_ref()
                .and_then(|a| Some((a.id.as_str(), a.username.as_deref()?)));
            let medium = match event.closer {
                Some(api::Closer::Visitor) => CLOSED_BY_VISITOR,
                _ => CLOSED_WITHOUT,
            };
            if let Err(why) = self.open(s, event, operator, medium).await? {
                return Ok(Handled::Ignored(why));
            }
        }
        let by = match event.closer {
            Some(api::Closer::Visitor) => ClosedBy::Client,
            _ => ClosedBy::Operator,
        };
        let closed = self
            .engine
            .close_session(&session_id, by, event.closed_at, &[])
            .await;
        helpdesk::let_go(
            closed,
            &session_id,
            "a Rocket.Chat close did not close its session",
        )?;
        Ok(Handled::Applied)
    }

    /// A visitor's message in a room no session knows: a new room, which on SMS may carry the
    /// answer to the request asked in the visitor's closed room. Then it is read there, and
    /// the new room closed so that it leaves the agents' queue.
    async fn new_room(
        &self,
        s: &Server,
        event: &Event,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<Handled, StoreError> {
        let room = event.room_id.as_str();
        let asked = match self.engine.answer_ticket_of(HELPDESK, &s.id, room).await? {
            Some(asked) => Some(asked),
            None => {
                let client = client_id(&s.id, &event.visitor.id);
                let target = self
                    .engine
                    .latest_answer_target(Channel::RocketChat, &client)
                    .await?;
                match target.filter(|t| self.dialogue.answers_a_question(t, text, at)) {
                    Some(t) => {
                        let session = t.request.session_id;
                        // Noted before anything else, so a retry after a crash finds it.
                        self.engine
                            .note_answer_ticket(HELPDESK, &s.id, room, &session)
                            .await?;
                        Some(session)
                    }
                    None => None,
                }
            }
        };
        let Some(session_id) = asked else {
            return Ok(Handled::Ignored(
                "a visitor's message in a chat not handed to the Ratings user".into(),
            ));
        };
        let Some(target) = self.engine.session_answer_target(&session_id).await? else {
            return Ok(Handled::Applied);
        };
        // The answer is said in the new room: the visitor is reading it.
        let chat = RoomChat { api: &s.api, room };
        if self.dialogue.on_text(&chat, &target, text, at).await? {
            let done = self.engine.session_answer_target(&session_id).await?;
            let finished = done.as_ref().is_some_and(|t| {
                t.rating
                    .as_ref()
                    .is_some_and(|r| crate::channels::dialogue::finished(&t.line.rating, r))
            });
            if finished {
                close_room(&s.api, &session_id, room, "Rated by SMS").await;
            }
        }
        Ok(Handled::Applied)
    }

    /// Whether session `session_id`'s room, held by the Ratings user, is done with: its
    /// request ended, or its rating complete (or left incomplete for the follow-ups' window).
    pub(super) async fn done_with(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<String>, StoreError> {
        let found = self.engine.session_request_status(session_id).await?;
        Ok(self.closing_comment(found))
    }

    /// The closing comment of a room whose request is `found` (its status and when it last
    /// changed), if the room is done with: see [`Self::done_with`].
    pub(super) fn closing_comment(
        &self,
        found: Option<(RequestStatus, DateTime<Utc>)>,
    ) -> Option<String> {
        let Some((status, at)) = found else {
            return Some("Not rated".into());
        };
        match status {
            RequestStatus::Scheduled
            | RequestStatus::Sending
            | RequestStatus::Sent
            | RequestStatus::Delivered
            | RequestStatus::Cancelled => None,
            RequestStatus::Answered => {
                let idle = self.engine.now() - at > crate::channels::FOLLOW_UP_WINDOW;
                idle.then(|| "Rated".to_owned())
            }
            RequestStatus::Expired => Some("No rating: the client did not answer".into()),
            RequestStatus::WindowClosed
            | RequestStatus::Undeliverable
            | RequestStatus::Failed
            | RequestStatus::Skipped => Some("Not rated".into()),
        }
    }
}

/// A call's body as it is held: without the visitor's token, a credential nothing here
/// needs.
fn without_token(body: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    if let Some(visitor) = v.get_mut("visitor").and_then(|v| v.as_object_mut()) {
        visitor.insert("token".into(), serde_json::Value::String(String::new()));
    }
    v.to_string()
}

/// Closes `room` with `comment` as the Ratings user; what went wrong goes to the log (the
/// catch-up tries again while the Ratings user holds the room).
pub(super) async fn close_room(
    api: &RocketChatApi,
    session_id: &SessionId,
    room: &str,
    comment: &str,
) {
    match api.close_room(room, comment).await {
        SendOutcome::Accepted { .. } => {}
        other => {
            tracing::warn!(outcome = ?other, %session_id, "could not close the Rocket.Chat room");
        }
    }
}

/// One room, as the dialogue speaks into it: messages from the Ratings user, choices typed.
struct RoomChat<'a> {
    api: &'a RocketChatApi,
    room: &'a str,
}

#[async_trait]
impl Chat for RoomChat<'_> {
    async fn choices(
        &self,
        text: &str,
        choices: &[(String, String)],
        _list_label: &str,
    ) -> SendOutcome {
        let labels: Vec<&str> = choices.iter().map(|(l, _)| l.as_str()).collect();
        let text = rateline_adapters::text::choices_text(text, &labels);
        self.api.send_message(self.room, &text).await
    }

    /// The visitor just wrote in this room, so it reaches them: no need to look.
    async fn say(&self, text: &str) -> SendOutcome {
        self.api.send_message(self.room, text).await
    }
}
