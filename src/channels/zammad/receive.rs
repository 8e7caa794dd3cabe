//! The Zammad channel's way in: its webhook's calls checked, then applied to sessions, and
//! the client's answers read from them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rateline_adapters::SendOutcome;
use rateline_adapters::signed::CallbackSigner;
use rateline_adapters::zammad::{self as api, ZammadApi};
use rateline_domain::{
    Channel, ClientRef, ClosedBy, Helpdesk, HelpdeskConversation, HelpdeskSettings, Id,
    MessageFrom, SessionId, ZammadSettings,
};
use serde_json::{Value, json};

use super::send::{Instance, ZammadAdapter, article_to, to_customer};
use crate::channels::dialogue::{Chat, Dialogue};
use crate::channels::helpdesk::{self, Handled, NotApplied, Refusal, Registry};
use crate::engine::Engine;
use crate::store::StoreError;

/// The helpdesk's name in `helpdesk_conversations`.
pub(super) const HELPDESK: &str = Helpdesk::Zammad.as_str();

/// A customer as Rateline names them: customer ids are the instance's own.
fn client_id(instance: &str, customer: u64) -> String {
    format!("{instance}-{customer}")
}

/// The article types after whose close Zammad may file the customer's next message in a
/// new ticket rather than reopening the old one: always on Telegram and SMS
/// (`lib/telegram.rb`, `Channel::Driver::Sms::Base`), and for e-mail in a group whose
/// `follow_up_possible` is `new_ticket`, or `new_ticket_after_certain_time` once its days
/// have passed (`Channel::Filter::FollowUpPossibleCheck`).
const NEW_TICKET_AFTER_CLOSE: [&str; 4] =
    ["telegram personal-message", "sms", api::WHATSAPP, "email"];

/// Zammad's user "-": a ticket owned by it has no owner.
const NOBODY: u64 = 1;

/// The Zammad instances of one server, as stored (the config file's and the API's).
pub struct Zammad {
    pub(super) engine: Engine,
    pub(super) instances: Arc<Registry<ZammadSettings, Instance>>,
    pub(super) dialogue: Dialogue,
    /// Where an internal note links to the session's page, and where the webhook posts.
    pub(super) public_url: String,
    /// The client the setup and the live check call Zammad with.
    pub(super) http: reqwest::Client,
    /// Each instance's ticket states, as last read.
    states: std::sync::Mutex<HashMap<String, States>>,
}

/// An instance's ticket states as last read (or the time a read failed).
struct States {
    read_at: Instant,
    list: Vec<api::TicketState>,
}

/// How long an instance's states are used before they are read again; a state the list
/// does not know is looked up at once (at most once a [`STATES_RETRY`]).
const STATES_TTL: Duration = Duration::from_secs(600);
const STATES_RETRY: Duration = Duration::from_secs(30);

impl Zammad {
    /// The Zammad channel of this server: calls Zammad under `policy`, each within
    /// `send_timeout`; links notes and the webhook to `public_url`.
    pub fn new(
        send_timeout: Duration,
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
        public_url: &str,
    ) -> Self {
        let (http, instances) =
            Registry::connected(engine.clone(), policy, send_timeout, Instance::new);
        // Zammad shows no buttons: nothing is signed, the signer only fills the dialogue.
        let signer = CallbackSigner::new("zammad-shows-no-buttons");
        Self {
            http,
            dialogue: Dialogue::new(engine.clone(), signer),
            engine,
            instances,
            public_url: public_url.trim_end_matches('/').to_owned(),
            states: Default::default(),
        }
    }

    /// The adapter that posts the requests and responses of this server's Zammad sessions,
    /// reading their instances where this channel does.
    pub fn adapter(&self) -> Arc<ZammadAdapter> {
        Arc::new(ZammadAdapter::new(self.instances.clone()))
    }

    /// Instance `z`'s ticket states: as last read, unless older than [`STATES_TTL`] or
    /// (`need`) lacking a state, and read no more often than [`STATES_RETRY`]. A read that
    /// fails leaves what was known (perhaps nothing), and says so in the log.
    async fn states(&self, z: &Instance, need: Option<u64>) -> Vec<api::TicketState> {
        let held = {
            let states = self.states.lock().unwrap_or_else(|e| e.into_inner());
            states.get(&z.id).map(|s| (s.read_at, s.list.clone()))
        };
        if let Some((at, list)) = &held {
            let lacking = need.is_some_and(|id| !list.iter().any(|s| s.id == id));
            let age = at.elapsed();
            if age < STATES_RETRY || (age < STATES_TTL && !lacking) {
                return list.clone();
            }
        }
        let list = match z.api.ticket_states().await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(instance = %z.id, error = %e, "Zammad's ticket states could not be read: a ticket counts as closed by the state's name `closed` only");
                held.map(|(_, list)| list).unwrap_or_default()
            }
        };
        self.states
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                z.id.clone(),
                States {
                    read_at: Instant::now(),
                    list: list.clone(),
                },
            );
        list
    }

    /// Whether ticket `t` is closed: its state is of type `closed`. Where the state is not
    /// known (its list could not be read), by the name `closed`.
    async fn closed(&self, z: &Instance, t: &Ticket) -> bool {
        if let Some(id) = t.state_id
            && let Some(state) = self.states(z, Some(id)).await.iter().find(|s| s.id == id)
        {
            return state.closed;
        }
        t.state == "closed"
    }

    /// Checks a webhook call of `instance` before its body is read (the instance is
    /// connected, and the call is signed with its token or it takes unsigned calls), then
    /// applies it. Only an unreachable database is the call's: it is then refused with a
    /// 503, and Zammad tries it again (five tries in about two minutes); the catch-up
    /// applies what all five missed.
    pub async fn receive<'h>(
        &self,
        instance: &str,
        header: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<Handled, NotApplied> {
        let z = self
            .instances
            .get(instance)
            .await?
            .ok_or(Refusal::NotConfigured)?;
        match (header("x-hub-signature"), &z.settings.webhook_token) {
            (_, None) => helpdesk::unsigned_taken(&z.settings)?,
            (Some(sig), Some(token)) if api::signed(token.as_bytes(), body, sig) => {}
            (Some(_), Some(_)) => return Err(Refusal::BadSignature.into()),
            (None, Some(_)) => return Err(Refusal::Unsigned.into()),
        }
        let payload = helpdesk::json(body)?;
        Ok(helpdesk::settle(
            self.handle_one(&z, &payload).await,
            HELPDESK,
        )?)
    }

    /// Applies one call, from the trigger or a catch-up. An article applied already (by its
    /// call or a catch-up) is left out, so a customer's answer read again never counts as
    /// the customer writing; the ticket's state applied again changes nothing.
    pub(super) async fn handle_one(
        &self,
        z: &Instance,
        payload: &Value,
    ) -> Result<Handled, StoreError> {
        let item = payload
            .pointer("/article/id")
            .and_then(Value::as_u64)
            .map(|id| format!("a{id}"));
        let Some(item) = item else {
            return self.apply(z, payload).await;
        };
        if self.engine.applied_item(HELPDESK, &z.id, &item).await? {
            let mut without = payload.clone();
            without["article"] = json!({});
            return self.apply(z, &without).await;
        }
        let handled = self.apply(z, payload).await?;
        self.engine
            .note_applied_item(HELPDESK, &z.id, &item)
            .await?;
        Ok(handled)
    }

    /// One piece: one match over Zammad's trigger payloads, each arm what it means for a
    /// session.
    async fn apply(&self, z: &Instance, payload: &Value) -> Result<Handled, StoreError> {
        let Some(t) = payload.get("ticket").and_then(Ticket::read) else {
            return Ok(Handled::Ignored(
                "the call carries no ticket with an id, group_id and customer_id: use the \
                 webhook's default payload"
                    .into(),
            ));
        };
        let article = payload
            .get("article")
            .and_then(Article::read)
            .filter(|a| !a.internal);
        let instance = &z.id;
        let line = z.settings.line_of(t.group);
        let session_id = helpdesk::session_id(Channel::Zammad, instance, t.id);
        // The customer's own article, the only one that may answer.
        let by_customer = article
            .as_ref()
            .filter(|a| a.sender == "Customer" && a.created_by == Some(t.customer));
        // A ticket Zammad opened for an answer to an earlier ticket's request belongs to
        // that ticket's session: what the customer writes in it answers there.
        let ticket = t.id.to_string();
        if let Some(asked) = self
            .engine
            .answer_ticket_of(HELPDESK, instance, &ticket)
            .await?
        {
            if let Some(a) = by_customer {
                self.answer_for(z, &t, &asked, a).await?;
            }
            return Ok(Handled::Applied);
        }
        // On Telegram and SMS (and e-mail, in some groups) a message after the close opens a
        // new ticket: the first one seen of a customer whose request waits for an answer may
        // be that answer.
        if let Some(a) = by_customer.filter(|a| NEW_TICKET_AFTER_CLOSE.contains(&a.kind.as_str()))
            && self.engine.conversation_of(&session_id).await?.is_none()
            && let Some(asked) = self
                .waiting_for(
                    instance,
                    t.customer,
                    &api::reply_of(&a.body, &a.content_type),
                    self.at(a),
                )
                .await?
        {
            // Noted before anything else, so a retry after a crash finds it.
            self.engine
                .note_answer_ticket(HELPDESK, instance, &ticket, &asked)
                .await?;
            if !self.answer_for(z, &t, &asked, a).await?
                && z.settings.close_after_answer
                && !self.closed(z, &t).await
            {
                // The answer was stored before a crash: the ticket is still closed again.
                self.close_ticket(z, &ticket, &asked).await;
            }
            return Ok(Handled::Applied);
        }
        let operator = t.owner.map(|o| z.settings.operator_of(o));
        // The channel the customer wrote in, if an article there reaches them; otherwise
        // (a phone call logged, a note) e-mail when Zammad knows their address.
        let wrote_in = article
            .as_ref()
            .filter(|a| a.sender == "Customer")
            .map(|a| a.kind.clone())
            .or_else(|| t.created_in.clone());
        let medium = match wrote_in {
            Some(kind) if api::REACHES_CUSTOMER.contains(&kind.as_str()) => kind,
            _ if t.customer_email.is_some() => "email".to_owned(),
            other => other.unwrap_or_else(|| "email".into()),
        };
        if let Some(why) = self
            .open(z, &t, &line, &session_id, operator.as_deref(), &medium)
            .await?
        {
            tracing::info!(
                instance = %instance,
                group = t.group,
                %line,
                %why,
                "a Zammad ticket is not rated: map its group with zammad.groups to a line that takes sessions"
            );
            return Ok(Handled::Ignored(format!(
                "group {} maps to line '{line}': {why}",
                t.group
            )));
        }
        // A call older than one applied (Zammad retries a failed delivery later, while newer
        // ones go through) still brings its article, but not its owner or state.
        if !helpdesk::fresh(&self.engine, &session_id, t.updated_at).await? {
            let Some(a) = &article else {
                return Ok(Handled::Ignored(helpdesk::STALE.into()));
            };
            self.article(z, &t, &session_id, a).await?;
            return Ok(Handled::Applied);
        }
        // Unowned, it is credited to nobody: the operator is the one at the close.
        self.engine
            .assign_operator(&session_id, operator.as_deref())
            .await?;
        if let Some(a) = &article {
            self.article(z, &t, &session_id, a).await?;
        }
        if self.closed(z, &t).await {
            let closed = self
                .engine
                .close_session(&session_id, ClosedBy::Operator, None, &[])
                .await;
            helpdesk::let_go(
                closed,
                &session_id,
                "a Zammad close did not close its session",
            )?;
        }
        Ok(Handled::Applied)
    }

    /// Opens the ticket's session (the same id again changes nothing) and notes which
    /// ticket it is. Says why not when the line takes no session.
    async fn open(
        &self,
        z: &Instance,
        t: &Ticket,
        line: &str,
        session_id: &SessionId,
        operator: Option<&str>,
        medium: &str,
    ) -> Result<Option<String>, StoreError> {
        let conversation = HelpdeskConversation {
            helpdesk: HELPDESK.into(),
            account: z.id.clone(),
            conversation: t.id.to_string(),
            medium: medium.to_owned(),
            // Zammad addresses an e-mail and an SMS by `to`; WhatsApp by the ticket's own
            // number (`preferences.whatsapp.from`), so nothing is kept for it.
            address: match medium {
                "sms" => t.customer_mobile.clone(),
                api::WHATSAPP => None,
                _ => t.customer_email.clone(),
            },
        };
        let opening = helpdesk::Opening {
            session_id,
            line,
            channel: Channel::Zammad,
            client: ClientRef {
                id: Id::stored(client_id(&z.id, t.customer)),
                name: t.customer_name.clone(),
            },
            operator,
            opened_at: t.created_at,
            conversation,
        };
        helpdesk::open(&self.engine, opening).await
    }

    /// An article the call carries: the customer's answers go to the dialogue, their other
    /// articles count as the client writing; agents' keep an open session alive.
    async fn article(
        &self,
        z: &Instance,
        t: &Ticket,
        session_id: &SessionId,
        a: &Article,
    ) -> Result<(), StoreError> {
        let at = self.at(a);
        match a.sender.as_str() {
            "Customer" => {
                // The ticket's customer is the client; an article from anyone else (someone
                // in Cc) neither answers nor counts as the client.
                if a.created_by != Some(t.customer) {
                    tracing::info!(%session_id, "an article from someone other than the customer: not the answer");
                    return Ok(());
                }
                let answered = self.answer_for(z, t, session_id, a).await?;
                if !answered {
                    let wrote = self
                        .engine
                        .record_message(session_id, MessageFrom::Client, Some(at))
                        .await;
                    helpdesk::let_go(wrote, session_id, "a Zammad article was not recorded")?;
                }
                Ok(())
            }
            "Agent" => helpdesk::agent_wrote(&self.engine, session_id, at).await,
            _ => Ok(()),
        }
    }

    fn at(&self, a: &Article) -> DateTime<Utc> {
        let now = self.engine.now();
        a.created_at.unwrap_or(now).min(now)
    }

    /// The session of this instance whose request waits for customer `customer`'s answer
    /// (sent, or answered with a follow-up to come), when `text` gives that answer: the
    /// rating, "resolved?" or the reasons. A comment does not count: a new ticket that
    /// could be one is more likely the customer's next problem.
    async fn waiting_for(
        &self,
        instance: &str,
        customer: u64,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<SessionId>, StoreError> {
        let target = self
            .engine
            .latest_answer_target(Channel::Zammad, &client_id(instance, customer))
            .await?;
        let Some(target) = target.filter(|t| self.dialogue.answers_a_question(t, text, at)) else {
            return Ok(None);
        };
        let session = target.request.session_id;
        let ours = self
            .engine
            .conversation_of(&session)
            .await?
            .is_some_and(|c| c.helpdesk == HELPDESK && c.account == instance);
        Ok(ours.then_some(session))
    }

    /// The customer's article `a` in ticket `t`, read as an answer to session `session_id`'s
    /// request through the dialogue (which speaks into that session's ticket). Returns
    /// whether it answered something; then the ticket `t`, which the article reopened or
    /// opened, is closed again.
    async fn answer_for(
        &self,
        z: &Instance,
        t: &Ticket,
        session_id: &SessionId,
        a: &Article,
    ) -> Result<bool, StoreError> {
        let Some(target) = self.engine.session_answer_target(session_id).await? else {
            return Ok(false);
        };
        let Some(conversation) = self.engine.conversation_of(session_id).await? else {
            return Ok(false);
        };
        let chat = ZammadChat {
            api: &z.api,
            to: &conversation,
        };
        let reply = api::reply_of(&a.body, &a.content_type);
        let before = target.rating.as_ref().map(|r| r.updated_at);
        if !self
            .dialogue
            .on_text(&chat, &target, &reply, self.at(a))
            .await?
        {
            return Ok(false);
        }
        if z.settings.internal_note
            && let Some(note) = helpdesk::completed_note(
                &self.engine,
                session_id,
                before,
                &self.public_url,
                helpdesk::NoteText::Plain,
            )
            .await?
        {
            match z
                .api
                .post_article(&article_to(&conversation), &note, true)
                .await
            {
                SendOutcome::Accepted { .. } => {}
                other => {
                    tracing::warn!(outcome = ?other, %session_id, "could not write the rating into Zammad as an internal note")
                }
            }
        }
        if z.settings.close_after_answer && !self.closed(z, t).await {
            self.close_ticket(z, &t.id.to_string(), session_id).await;
        }
        Ok(true)
    }

    /// Closes the ticket an answer reopened (or opened): into the state named `closed` where
    /// it is of type `closed`, else the first active state of that type, else (no state
    /// known) by the name `closed`.
    async fn close_ticket(&self, z: &Instance, ticket: &str, session_id: &SessionId) {
        let states = self.states(z, None).await;
        let into = states
            .iter()
            .find(|s| s.closed && s.name == "closed")
            .or_else(|| states.iter().find(|s| s.closed && s.active))
            .map(|s| s.id);
        match z.api.close(ticket, into).await {
            SendOutcome::Accepted { .. } => {}
            other => {
                tracing::warn!(outcome = ?other, %session_id, "could not close the ticket the answer reopened")
            }
        }
    }
}

/// The ticket as a webhook names it.
struct Ticket {
    id: u64,
    group: u64,
    /// The state's name: `new`, `open`, `closed`, `pending reminder`…
    state: String,
    /// The state's id, whose type says whether the ticket is closed.
    state_id: Option<u64>,
    customer: u64,
    customer_name: Option<String>,
    customer_email: Option<String>,
    customer_mobile: Option<String>,
    owner: Option<u64>,
    /// The article type the ticket was created with, e.g. `email`.
    created_in: Option<String>,
    created_at: Option<DateTime<Utc>>,
    /// When the ticket last changed (ISO 8601 with milliseconds): what orders its calls.
    updated_at: Option<DateTime<Utc>>,
}

impl Ticket {
    fn read(v: &Value) -> Option<Self> {
        let customer = v.get("customer").filter(|c| c.is_object());
        let field = |c: Option<&Value>, k: &str| {
            c.and_then(|c| c.get(k))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let name = [field(customer, "firstname"), field(customer, "lastname")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        let name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
        Some(Self {
            id: v.get("id")?.as_u64()?,
            group: v.get("group_id")?.as_u64()?,
            state: match v.get("state") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Object(o)) => o.get("name")?.as_str()?.to_owned(),
                _ => String::new(),
            },
            state_id: v.get("state_id").and_then(Value::as_u64),
            customer: v.get("customer_id")?.as_u64()?,
            customer_name: (!name.is_empty()).then_some(name),
            customer_email: field(customer, "email"),
            customer_mobile: field(customer, "mobile"),
            owner: v
                .get("owner_id")
                .and_then(Value::as_u64)
                .filter(|o| *o != NOBODY),
            created_in: match v.get("create_article_type") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_owned),
                _ => None,
            },
            created_at: v.get("created_at").and_then(read_time),
            updated_at: v.get("updated_at").and_then(read_time),
        })
    }
}

/// The article a webhook carries (`{}` when the change had none).
struct Article {
    /// Its type: `email`, `web`, `note`…
    kind: String,
    /// `Customer`, `Agent` or `System`.
    sender: String,
    internal: bool,
    body: String,
    content_type: String,
    created_by: Option<u64>,
    created_at: Option<DateTime<Utc>>,
}

impl Article {
    fn read(v: &Value) -> Option<Self> {
        let name = |k: &str| match v.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("name").and_then(Value::as_str).map(str::to_owned),
            _ => None,
        };
        Some(Self {
            kind: name("type")?,
            sender: name("sender")?,
            internal: v.get("internal").and_then(Value::as_bool).unwrap_or(false),
            body: v
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            content_type: v
                .get("content_type")
                .and_then(Value::as_str)
                .unwrap_or("text/plain")
                .to_owned(),
            created_by: v.get("created_by_id").and_then(Value::as_u64),
            created_at: v.get("created_at").and_then(read_time),
        })
    }
}

pub(super) fn read_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// One ticket, as the dialogue speaks into it: articles in its channel, choices typed.
struct ZammadChat<'a> {
    api: &'a ZammadApi,
    to: &'a HelpdeskConversation,
}

#[async_trait]
impl Chat for ZammadChat<'_> {
    async fn choices(
        &self,
        text: &str,
        choices: &[(String, String)],
        _list_label: &str,
    ) -> SendOutcome {
        let labels: Vec<&str> = choices.iter().map(|(l, _)| l.as_str()).collect();
        to_customer(
            self.api,
            self.to,
            &rateline_adapters::text::choices_text(text, &labels),
        )
        .await
    }

    async fn say(&self, text: &str) -> SendOutcome {
        to_customer(self.api, self.to, text).await
    }
}
