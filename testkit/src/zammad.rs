//! A local Zammad for the Zammad channel's tests: the part of its REST API that Rateline
//! calls, and the webhooks a trigger would post to Rateline.
//!
//! A real Zammad needs Rails, PostgreSQL, Redis, Elasticsearch and its background workers,
//! too much for CI, and it would still not tell Rateline that an article it accepted never
//! reached the client: Zammad stores any article on any ticket and leaves delivery to the
//! channel's job, which sends only some types and skips others silently. This fake serves on
//! `127.0.0.1:0`:
//!
//! - `GET /api/v1/users/me`, `GET /api/v1/groups` and `GET /api/v1/ticket_states` (with
//!   `?expand=true`, each state's type by name: `TicketStatesController#index`,
//!   `attributes_with_association_names`);
//! - `POST /api/v1/ticket_articles` (201 with the article);
//! - `POST /api/v1/tickets/search` (by `condition`, as without Elasticsearch; see
//!   `Zammad::search`), `GET /api/v1/tickets/{id}`,
//!   `GET /api/v1/ticket_articles/by_ticket/{id}` and `GET /api/v1/users/{id}`;
//! - `PUT /api/v1/tickets/{id}` (200 with the ticket; its state only);
//! - `GET`, `POST` and `DELETE /api/v1/webhooks` and `/api/v1/triggers` (`admin.webhook`,
//!   `admin.trigger`; [`FakeZammad::make_token_an_agent`] takes them away: 403). A trigger
//!   is taken or refused by Zammad's rules ([`crate::zammad_rules`]), with the columns'
//!   defaults (`activator: action`, `execution_condition_mode: selective`); a webhook a
//!   trigger names cannot be removed (422, `EnsuresNoRelatedObjects`);
//!
//! each behind `Authorization: Token token=…` (or `Bearer …`) with [`API_TOKEN`]. As in
//! Zammad's `ApplicationController::Authenticates` and `HandlesErrors`, no credentials at all
//! is 403 `Authentication required`, a wrong or revoked token 401 `Can't find User for Token`,
//! and every error is `{"error": …, "error_human": …}` (401 and 403 with `X-Failure` too); an
//! unknown path is 404 `This page doesn't exist.`. It is strict where Zammad is: an unknown
//! ticket is 404 `Couldn't find Ticket with 'id'=…`; an article without `body` or with an
//! empty one, an unknown `type` or `sender`, an `email` without a valid `to`, an unknown
//! state are 422 with Zammad's messages. Where Zammad is lenient the fake refuses too (422),
//! since what it would store is not what the test meant: a `content_type` other than
//! `text/plain` and `text/html`, non-string fields, ticket changes other than the state, and
//! states other than `open` and `closed` (pending states need a `pending_time`, merging has
//! its own endpoint). A JSON body sent without `Content-Type: application/json` is read as no
//! body, as Rails reads it.
//!
//! WhatsApp tickets (`whatsapp message`, Zammad 6.3 and later) carry the customer's number
//! and latest message time in their preferences (`Whatsapp::Webhook::Message`); an agent's
//! WhatsApp article on a ticket whose state is *named* `closed`, `merged` or `removed` is 422
//! `Reply allowed only for open tickets` (`Validations::TicketArticleValidator::
//! WhatsappMessage`), one past Meta's 24 hours after the customer's last message is taken and
//! listed as a violation (Meta refuses it with 131047), and a message after such a close opens
//! a new ticket (`find_ticket`).
//!
//! Where Zammad takes an article that the client then never gets, or gets mangled, the fake
//! answers 201 and lists a rule violation. The client sees an article on the ticket's channel
//! only: on an e-mail ticket only `email` articles, mailed to `to` and `cc` (which must name
//! the customer); on Telegram only `telegram personal-message`, at most 4096 characters (Bot
//! API `sendMessage`); on SMS only `sms`, sent to `to` (the customer's mobile) and cut at 160
//! characters (`CommunicateSmsJob` sends `body.first(160)`); on Telegram and SMS a
//! `text/html` body goes out as it is, markup and all. On a web ticket the customer reads the
//! portal, where any public article shows, but no Telegram or SMS can be delivered. Zammad's
//! communicate jobs skip articles whose sender is `Customer`, and do not look at `internal`:
//! an internal `email`, `sms` or `telegram personal-message` is sent all the same. Any other
//! internal article is no message to the client, so no rule applies to it.
//! [`FakeZammad::rule_violations`] lists every call that broke a rule, refused or not.
//!
//! The triggers made over the API (or [`FakeZammad::make`]) run on every change the fake
//! makes, by Zammad's rules, and queue a job each ([`FakeZammad::queued_jobs`]);
//! [`FakeZammad::deliver_due`] runs the due ones as `TriggerWebhookJob` does: the payload
//! built from the ticket as it is when the job runs, signed with the webhook's token, one
//! call each, tried again 10, 20, 30 and 40 seconds later on the fake's clock after a
//! failure (anything but a 2xx), then dropped ([`FakeZammad::dropped_jobs`]); an inactive
//! or removed webhook makes no call. Only then does the fake call Rateline, at the
//! webhook's endpoint. Tests play customers and agents with [`FakeZammad::open`],
//! [`FakeZammad::customer_writes`], [`FakeZammad::another_customer_writes`],
//! [`FakeZammad::agent_writes`], [`FakeZammad::assign`], [`FakeZammad::unassign`],
//! [`FakeZammad::close`] and
//! [`FakeZammad::reopen`], which change the ticket and return the [`Webhook`] that an
//! "always" trigger named [`TRIGGER`] would post for the change, as if made by hand (the
//! tests that do not set Zammad up through Rateline post these themselves) (one per change, as the
//! trigger runs once per transaction); those that Rateline's own calls produced wait in
//! [`FakeZammad::take_webhooks`]. As in Zammad, a customer's follow-up sets any ticket that
//! is not `new` to `open`, in the same change (e-mail: `Channel::EmailParser`; web: the
//! portal's state field defaults to `open`); a Telegram or SMS message after the ticket was
//! closed opens a new ticket instead (`lib/telegram.rb`, `Channel::Driver::Sms::Base`), as
//! does an e-mail to a closed ticket of a group whose `follow_up_possible` is `new_ticket`,
//! or `new_ticket_after_certain_time` once its days have passed
//! (`Channel::Filter::FollowUpPossibleCheck`, [`FakeZammad::set_follow_up_possible`]), so
//! the fake refuses to play that. An agent's public article of a communication type sets a
//! `new` ticket to `open` (`Ticket::Article::ResetsTicketState`); nothing else reopens.
//!
//! Shapes come from zammad/zammad's source: `TriggerWebhookJob` (the `{"ticket", "article"}`
//! payload, `X-Zammad-Trigger`, `X-Zammad-Delivery`), `UserAgent` (`User-Agent`,
//! `Content-Type`, `X-Hub-Signature: sha1=` HMAC-SHA1 of the raw body keyed with the webhook's
//! signature token), `TriggerWebhookJob::RecordPayload` (each record's attributes with
//! association names, keys sorted, and for a ticket its `owner`, `customer`, `created_by`,
//! `updated_by`, `organization`, `priority` and `group`, for an article its `created_by` and
//! `updated_by`, replaced by the associated record's attributes, users without
//! `USER_ATTRIBUTE_FILTER`), `ApplicationModel::CanAssociations`, the ticket articles, tickets,
//! users and groups controllers with `CreatesTicketArticles`, the article's callbacks, the
//! seeds of states, article types and senders, and the admin documentation's sample payload.
//! The records carry the attributes Rateline may read and the other columns Zammad writes,
//! not every column of every version. Bodies are serialized as Rails serializes JSON, which
//! escapes `<`, `>` and `&`, so a receiver that checks the signature over its own
//! re-serialization fails here as it would against Zammad.
//!
//! Time is the fake's own, set with [`FakeZammad::set_now`] to follow a test's manual clock
//! (until then the real clock): it dates tickets and articles.

use std::collections::BTreeMap;

pub use crate::scaffold::{Call, Fault};
use crate::scaffold::{
    Clock, Fake, Helpdesk, Log, Platform, delivery_id, header, post, post_call, rails_escape,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value, json};
use sha1::Sha1;

/// The token of [`API_USER`], the only one the fake takes (`Authorization: Token token=…` or
/// `Bearer …`).
pub const API_TOKEN: &str = "zm-test-api-token";
/// The webhook's signature token, which signs every [`Webhook`].
pub const WEBHOOK_TOKEN: &str = "zm-test-webhook-token";
/// The name of the trigger whose webhook posts to Rateline: `X-Zammad-Trigger`.
pub const TRIGGER: &str = "Rateline";

/// "Users", the group every Zammad starts with.
pub const SUPPORT_GROUP: u64 = 1;
/// "Sales".
pub const SALES_GROUP: u64 = 2;
/// "Unmapped", for a group no line of Rateline's names.
pub const OTHER_GROUP: u64 = 3;

/// Anna Agent, login "anna@example.com".
pub const AGENT_ANNA: u64 = 7;
/// Boris Agent, login "boris@example.com".
pub const AGENT_BORIS: u64 = 8;
/// "Rateline Bot", the user [`API_TOKEN`] belongs to: an agent in every group and an admin
/// (`GET /api/v1/groups` takes `admin.group`), the author of what Rateline posts.
pub const API_USER: u64 = 3;

/// Zammad's user 1, "-": the owner of an unassigned ticket and the author of seeds.
const SYSTEM_USER: u64 = 1;

/// The article types a customer writes in, as [`FakeZammad::open`] takes them.
const EMAIL: &str = "email";
const WEB: &str = "web";
const TELEGRAM: &str = "telegram personal-message";
const SMS: &str = "sms";
/// Zammad's WhatsApp Business channel (6.3 and later).
const WHATSAPP: &str = "whatsapp message";
/// A call an agent logged: the customer reads nothing in this channel.
const PHONE: &str = "phone";
const NOTE: &str = "note";
const CHANNELS: [&str; 6] = [EMAIL, WEB, TELEGRAM, SMS, WHATSAPP, PHONE];

/// Types a channel job delivers to the client (`Ticket::Article::EnqueueCommunicate*Job`).
const SENT_TYPES: [&str; 4] = [EMAIL, TELEGRAM, SMS, WHATSAPP];

/// `db/seeds/ticket_article_types.rb`; all but `note` are communication types.
const ARTICLE_TYPES: [(u64, &str); 13] = [
    (1, EMAIL),
    (2, SMS),
    (3, "chat"),
    (4, "fax"),
    (5, "phone"),
    (6, "twitter status"),
    (7, "twitter direct-message"),
    (8, "facebook feed post"),
    (9, "facebook feed comment"),
    (10, NOTE),
    (11, WEB),
    (12, TELEGRAM),
    // Added by the WhatsApp channel's migration, after the seeds.
    (13, WHATSAPP),
];

/// The states a WhatsApp message never joins, and an agent's WhatsApp reply is refused on:
/// by *name* (`Whatsapp::Webhook::Message#find_ticket`,
/// `Validations::TicketArticleValidator::WhatsappMessage#validate_ticket_state`).
const WHATSAPP_ENDED: [&str; 3] = ["closed", "merged", "removed"];

/// Meta's text message body: at most 4,096 characters.
const WHATSAPP_TEXT_CHARS: usize = 4096;
const SENDERS: [(u64, &str); 3] = [(1, "Agent"), (2, "Customer"), (3, "System")];
/// `db/seeds/ticket_states.rb`, in creation order, with their types
/// (`db/seeds/ticket_state_types.rb`); and `solved`, a state of type `closed` an admin added
/// (Manage → Ticket → States), as teams do to close tickets under their own word. Zammad
/// counts a ticket closed by its state's type, not its name (`Ticket::State.by_category(:closed)`,
/// `Ticket::StateType.names_in_category`: the type `closed` alone).
const STATES: [(u64, &str, &str); 8] = [
    (1, "new", "new"),
    (2, "open", "open"),
    (3, "pending reminder", "pending reminder"),
    (4, "closed", "closed"),
    (5, "merged", "merged"),
    (6, "removed", "removed"),
    (7, "pending close", "pending action"),
    (8, SOLVED, "closed"),
];
/// The admin-made state of type `closed` in [`STATES`].
pub const SOLVED: &str = "solved";
/// The states `PUT /tickets/{id}` takes in the fake.
const SETTABLE_STATES: [&str; 3] = ["open", "closed", SOLVED];
/// `ticket_state_types`, by id.
const STATE_TYPES: [(u64, &str); 7] = [
    (1, "new"),
    (2, "open"),
    (3, "pending reminder"),
    (4, "pending action"),
    (5, "closed"),
    (6, "merged"),
    (7, "removed"),
];
const ROLES: [(u64, &str); 3] = [(1, "Admin"), (2, "Agent"), (3, "Customer")];
/// "2 normal", the priority tickets are created with.
const PRIORITY: (u64, &str) = (2, "2 normal");

const TELEGRAM_TEXT_CHARS: usize = 4096;
const SMS_CHARS: usize = 160;
const TELEGRAM_BOT: &str = "RatelineBot";
const SMS_NUMBER: &str = "+15550199000";

/// Ids of each kind start far apart, so that a test sees Rateline mixing them up (a customer
/// id used as a ticket's) instead of it working by coincidence.
const FIRST_TICKET: u64 = 41;
const FIRST_CUSTOMER: u64 = 101;
const FIRST_ARTICLE: u64 = 1001;
/// `Ticket::Number::Increment`: the system id, then a counter.
const SYSTEM_ID: &str = "31";

const NO_TOKEN: &str = "Can't find User for Token";
const NO_AUTH: &str = "Authentication required";
const NO_BODY: &str = "Need at least an 'article body' field.";
const NO_RECIPIENT: &str = "Sending an email without a valid recipient is not possible.";

struct GroupDef {
    id: u64,
    name: &'static str,
    /// The group's e-mail address, which agents' e-mails go out from.
    email: &'static str,
    realname: &'static str,
}

const GROUPS: [GroupDef; 3] = [
    GroupDef {
        id: SUPPORT_GROUP,
        name: "Users",
        email: "support@example.com",
        realname: "Support",
    },
    GroupDef {
        id: SALES_GROUP,
        name: "Sales",
        email: "sales@example.com",
        realname: "Sales",
    },
    GroupDef {
        id: OTHER_GROUP,
        name: "Unmapped",
        email: "unmapped@example.com",
        realname: "Unmapped",
    },
];

struct StaffDef {
    id: u64,
    login: &'static str,
    firstname: &'static str,
    lastname: &'static str,
    role_ids: &'static [u64],
}

const STAFF: [StaffDef; 4] = [
    StaffDef {
        id: SYSTEM_USER,
        login: "-",
        firstname: "-",
        lastname: "",
        role_ids: &[],
    },
    StaffDef {
        id: API_USER,
        login: "rateline-bot@example.com",
        firstname: "Rateline",
        lastname: "Bot",
        role_ids: &[1, 2],
    },
    StaffDef {
        id: AGENT_ANNA,
        login: "anna@example.com",
        firstname: "Anna",
        lastname: "Agent",
        role_ids: &[2],
    },
    StaffDef {
        id: AGENT_BORIS,
        login: "boris@example.com",
        firstname: "Boris",
        lastname: "Agent",
        role_ids: &[2],
    },
];

/// The user attributes `TriggerWebhookJob::RecordPayload::Base` leaves out of a webhook.
const USER_ATTRIBUTE_FILTER: [&str; 8] = [
    "last_login",
    "login_failed",
    "password",
    "preferences",
    "group_ids",
    "groups",
    "authorization_ids",
    "authorizations",
];

/// A ticket of the fake, as tests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket {
    /// The ticket's id (not its number): the one the API's URLs and `ticket_id` carry.
    pub id: u64,
    /// The customer's user id.
    pub customer: u64,
}

/// A webhook as Zammad posts it: the raw body and the headers, signed with
/// [`WEBHOOK_TOKEN`]. The methods return changed copies for the tests of Rateline's check;
/// copies keep `X-Zammad-Delivery`, as a retry of the same delivery does (the job's id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The raw body: post these bytes as they are, or the signature breaks.
    pub body: Vec<u8>,
    /// The headers Zammad sends with it: `X-Hub-Signature`, `X-Zammad-Trigger`, `X-Zammad-Delivery`
    /// among them.
    pub headers: Vec<(String, String)>,
    /// `X-Zammad-Delivery`: the id of the job that posts it (an ActiveJob job id).
    delivery: String,
    /// The trigger's name, in `X-Zammad-Trigger`.
    trigger: String,
}

const SIGNATURE: &str = "X-Hub-Signature";
const TRIGGER_HEADER: &str = "X-Zammad-Trigger";
const DELIVERY: &str = "X-Zammad-Delivery";

impl Webhook {
    fn new(ticket: &Value, article: &Value) -> Self {
        let mut webhook = Webhook {
            body: payload_body(ticket, article),
            headers: Vec::new(),
            delivery: delivery_id(),
            trigger: TRIGGER.into(),
        };
        webhook.sign(Some(WEBHOOK_TOKEN));
        webhook
    }

    /// The headers `UserAgent.post` sends, with the signature when there is a token.
    fn sign(&mut self, token: Option<&str>) {
        self.headers = vec![
            (
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            ),
            ("User-Agent".into(), "Zammad User Agent".into()),
            (TRIGGER_HEADER.into(), self.trigger.clone()),
            (DELIVERY.into(), self.delivery.clone()),
        ];
        if let Some(token) = token {
            self.headers
                .push((SIGNATURE.into(), sign(token, &self.body)));
        }
    }

    /// The body, parsed.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the fake's webhooks are JSON")
    }

    /// The value of header `name`, whatever its case.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Without `X-Hub-Signature`, as a webhook configured without a signature token posts.
    pub fn unsigned(&self) -> Webhook {
        let mut copy = self.clone();
        copy.sign(None);
        copy
    }

    /// Signed with `token` instead.
    pub fn signed_with(&self, token: &str) -> Webhook {
        let mut copy = self.clone();
        copy.sign(Some(token));
        copy
    }

    /// The body changed after signing, headers kept: the article's `body` gets " (altered)"
    /// appended, as a forger would change a rating; a change without an article gets it on
    /// the ticket's `title`. Still valid JSON, still a processable webhook.
    pub fn tampered(&self) -> Webhook {
        let payload = self.json();
        let mut ticket = payload["ticket"].clone();
        let mut article = payload["article"].clone();
        if let Some(body) = article["body"].as_str() {
            article["body"] = format!("{body} (altered)").into();
        } else {
            let title = ticket["title"].as_str().unwrap_or_default();
            ticket["title"] = format!("{title} (altered)").into();
        }
        let mut copy = self.clone();
        copy.body = payload_body(&ticket, &article);
        copy
    }

    /// Posts it to `url` as Zammad would (headers and raw body as they are).
    pub async fn post_to(&self, url: &str) -> reqwest::Response {
        post(url, &self.body, &self.headers).await
    }
}

/// `sha1=<hex HMAC-SHA1 keyed with token over body>`, as in `X-Hub-Signature`.
pub fn sign(token: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha1> as KeyInit>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// `{ticket: …, article: …}.to_json`: the ticket first, as the Ruby hash is written.
fn payload_body(ticket: &Value, article: &Value) -> Vec<u8> {
    rails_escape(&format!(r#"{{"ticket":{ticket},"article":{article}}}"#)).into_bytes()
}

/// The first message of a ticket [`FakeZammad::open`] makes.
const FIRST_MESSAGE: &str = "Hello, I need help with my order.";

/// The handle tests hold; clones share one server. Calls go to `{url}/api/v1/…`.
pub type FakeZammad = Fake<Zammad>;

impl FakeZammad {
    /// Starts the fake on a free loopback port, on the real clock, with no tickets yet.
    pub async fn start() -> Self {
        Fake::serve(serve).await
    }

    /// A customer named `customer_name` writes in through `via` ("email", "web",
    /// "telegram personal-message", "sms", or "phone": a call an agent logged) to `group`: the customer (e-mail
    /// `<name>@example.com`, lowercased, spaces to dots), the ticket (state "new",
    /// unassigned) and its first customer article. Zammad finds users by e-mail, so a name
    /// used before gives the same customer. Its webhook is [`FakeZammad::created`].
    pub fn open(&self, group: u64, customer_name: &str, via: &str) -> Ticket {
        group_def(group);
        let via = channel(via);
        let mut s = self.lock();
        let customer = s.add_customer(customer_name);
        s.open(group, customer, via, FIRST_MESSAGE)
    }

    /// [`FakeZammad::open`] for a customer the fake already has. Panics where Zammad would
    /// add the message to a ticket the customer still has open on Telegram or SMS.
    pub fn open_for(&self, group: u64, customer: u64, via: &str) -> Ticket {
        group_def(group);
        let via = channel(via);
        let mut s = self.lock();
        assert!(
            s.customers.contains_key(&customer),
            "customer {customer} was never created by the fake"
        );
        s.open(group, customer, via, FIRST_MESSAGE)
    }

    /// Customer `customer` writes `text` on `via` with no ticket open there: on Telegram and
    /// SMS after their ticket was closed, Zammad files it in a new ticket, as this does.
    pub fn open_with(&self, group: u64, customer: u64, via: &str, text: &str) -> Ticket {
        group_def(group);
        let via = channel(via);
        let mut s = self.lock();
        assert!(
            s.customers.contains_key(&customer),
            "customer {customer} was never created by the fake"
        );
        s.open(group, customer, via, text)
    }

    /// Sets group `group`'s `follow_up_possible` (Zammad's default is [`FollowUp::Yes`]).
    pub fn set_follow_up_possible(&self, group: u64, follow_up: FollowUp) {
        group_def(group);
        self.lock().follow_up.insert(group, follow_up);
    }

    /// The webhook of the ticket's creation, with its first article, as the ticket is now.
    pub fn created(&self, t: &Ticket) -> Webhook {
        let s = self.lock();
        let first = s.ticket(t).articles[0].id;
        s.webhook(t.id, Some(first))
    }

    /// The customer writes `text` on the ticket's channel; a ticket that is not "new" is set
    /// to "open" in the same change, so the webhook shows it open. Panics for a closed
    /// Telegram or SMS ticket: Zammad opens a new ticket for that message
    /// ([`FakeZammad::open_for`]).
    pub fn customer_writes(&self, t: &Ticket, text: &str) -> Webhook {
        let mut s = self.lock();
        let (via, state) = {
            let tkt = s.ticket(t);
            (tkt.via, tkt.state)
        };
        assert!(
            !is_closed(state) || via == EMAIL || via == WEB || via == WHATSAPP,
            "ticket {} is closed: Zammad files a {via} message after that in a new ticket \
             (lib/telegram.rb, Channel::Driver::Sms::Base); use open_for",
            t.id
        );
        assert!(
            via != WHATSAPP || !WHATSAPP_ENDED.contains(&state),
            "ticket {} is {state}: Zammad files a WhatsApp message after that in a new ticket \
             (Whatsapp::Webhook::Message#find_ticket); use open_with",
            t.id
        );
        assert!(
            !is_closed(state) || !s.follow_up_in_new_ticket(s.ticket(t)),
            "ticket {} is closed and its group's follow_up_possible is {}: Zammad files the \
             customer's e-mail in a new ticket (Channel::Filter::FollowUpPossibleCheck) and \
             refuses a portal follow-up (TicketPolicy#follow_up?); use open_with",
            t.id,
            s.follow_up_of(s.ticket(t).group).name()
        );
        let id = s.customer_article(t.id, t.customer, text);
        let reopened: &[&str] = if s.ticket(t).state == state {
            &[]
        } else {
            &["state_id"]
        };
        s.fire("update", t.id, Some(id), reopened);
        s.webhook(t.id, Some(id))
    }

    /// Someone else writes `text` on the ticket: a colleague of the customer in copy of the
    /// e-mail thread ("<Firstname> Colleague"), whose reply Zammad files by the ticket number
    /// in its subject. It reopens as [`FakeZammad::customer_writes`] does. E-mail tickets only:
    /// Telegram and SMS file a message by its sender's own ticket, and the portal shows a
    /// ticket to its customer only (the fake has no shared organizations).
    pub fn another_customer_writes(&self, t: &Ticket, text: &str) -> Webhook {
        let mut s = self.lock();
        let via = s.ticket(t).via;
        assert_eq!(
            via, EMAIL,
            "ticket {} is a {via} ticket: only an e-mail thread takes someone else's reply",
            t.id
        );
        let name = format!("{} Colleague", s.customers[&t.customer].firstname);
        let colleague = s.add_customer(&name);
        let id = s.customer_article(t.id, colleague, text);
        s.fire("update", t.id, Some(id), &[]);
        s.webhook(t.id, Some(id))
    }

    /// `agent` answers `text` in the agent UI: an article of the ticket's type to the
    /// customer (a public note on a web ticket, which the portal shows). It sets a "new"
    /// ticket to "open" (not for a note) and reopens nothing.
    pub fn agent_writes(&self, t: &Ticket, agent: u64, text: &str) -> Webhook {
        let mut s = self.lock();
        s.ticket(t);
        agent_def(agent);
        let (via, customer) = {
            let tkt = &s.tickets[&t.id];
            (tkt.via, tkt.customer)
        };
        let c = &s.customers[&customer];
        let (kind, to) = match via {
            EMAIL => (EMAIL, Some(c.address())),
            TELEGRAM => (TELEGRAM, Some(c.telegram.clone())),
            SMS => (SMS, Some(c.mobile.clone())),
            WHATSAPP => (WHATSAPP, None),
            _ => (NOTE, None),
        };
        let article = s.agent_article(
            t.id,
            agent,
            NewArticle {
                kind,
                sender: "Agent",
                body: text.into(),
                content_type: "text/plain".into(),
                internal: false,
                to,
                cc: None,
                subject: None,
            },
        );
        let id = s.add_article(t.id, article, agent);
        s.fire("update", t.id, Some(id), &[]);
        s.webhook(t.id, Some(id))
    }

    /// `agent` becomes the owner: the owner change, without an article.
    pub fn assign(&self, t: &Ticket, agent: u64) -> Webhook {
        self.set_owner(t, agent, agent)
    }

    /// `agent` takes the ticket off its owner: the owner becomes user 1, "-" (unassigned).
    pub fn unassign(&self, t: &Ticket, agent: u64) -> Webhook {
        self.set_owner(t, agent, SYSTEM_USER)
    }

    /// `agent` makes `owner` the ticket's owner, which it is not yet (Zammad would emit
    /// nothing for no change).
    fn set_owner(&self, t: &Ticket, agent: u64, owner: u64) -> Webhook {
        let mut s = self.lock();
        s.ticket(t);
        agent_def(agent);
        let now = s.now();
        let tkt = s.ticket_mut(t.id);
        assert_ne!(
            tkt.owner, owner,
            "user {owner} owns ticket {} already: Zammad would emit nothing",
            t.id
        );
        tkt.owner = owner;
        tkt.last_owner_update_at = Some(now);
        tkt.updated_at = now;
        tkt.updated_by = agent;
        s.fire("update", t.id, None, &["owner_id"]);
        s.webhook(t.id, None)
    }

    /// An agent (the owner, else Anna) closes the ticket: state "closed", without an article.
    pub fn close(&self, t: &Ticket) -> Webhook {
        self.change_state(t, "closed")
    }

    /// An agent (the owner, else Anna) sets the ticket to [`SOLVED`], the admin-made state of
    /// type `closed`: a close under another name.
    pub fn solve(&self, t: &Ticket) -> Webhook {
        self.change_state(t, SOLVED)
    }

    /// An agent (the owner, else Anna) sets the ticket to "open", without an article.
    pub fn reopen(&self, t: &Ticket) -> Webhook {
        self.change_state(t, "open")
    }

    fn change_state(&self, t: &Ticket, state: &'static str) -> Webhook {
        let mut s = self.lock();
        let owner = s.ticket(t).owner;
        let actor = if owner == SYSTEM_USER {
            AGENT_ANNA
        } else {
            owner
        };
        assert!(
            s.set_state(t.id, state, actor),
            "ticket {} is {state} already: Zammad would emit nothing",
            t.id
        );
        s.fire("update", t.id, None, &["state_id"]);
        s.webhook(t.id, None)
    }

    /// The bodies of the articles posted through the API to the ticket and taken (201), in
    /// order, internal ones included.
    pub fn articles(&self, t: &Ticket) -> Vec<Value> {
        self.lock()
            .ticket(t)
            .articles
            .iter()
            .filter_map(|a| a.posted.clone())
            .collect()
    }

    /// The ticket's state: "new", "open" or "closed".
    pub fn state(&self, t: &Ticket) -> String {
        self.lock().ticket(t).state.into()
    }

    /// Takes the webhooks that Rateline's own calls made the trigger fire (an article posted,
    /// a state changed), oldest first, for the test to deliver as Zammad would.
    pub fn take_webhooks(&self) -> Vec<Webhook> {
        std::mem::take(&mut self.lock().webhooks)
    }

    /// The webhooks (`webhooks`) or triggers (`triggers`) made over the API or by
    /// [`FakeZammad::make`], as `GET` lists them.
    pub fn admin_records(&self, kind: &str) -> Vec<Value> {
        self.lock()
            .admin
            .iter()
            .filter(|(k, _)| **k == kind)
            .flat_map(|(_, m)| m.values().cloned())
            .collect()
    }

    /// Makes a webhook or trigger as an admin would in Zammad's settings; the answer.
    pub fn make(&self, kind: &'static str, record: &Value) -> Value {
        let answer = self.lock().make(kind, record);
        assert_eq!(answer.status, 201, "the fake refused it: {}", answer.body);
        answer.body
    }

    /// Runs the trigger jobs that are due, as Zammad's job worker would: each posts its
    /// webhook once, with the payload as the ticket is now; a call that fails (anything but
    /// a 2xx, a redirect included, or no answer within its timeouts) is tried again 10, 20,
    /// 30 and 40 seconds later on the fake's clock, then dropped
    /// (`TriggerWebhookJob`: `retry_on … attempts: 5, wait: executions * 10.seconds`;
    /// `UserAgent`: `open_timeout: 4`, `read_timeout: 30`, `do_not_follow_redirects`). The
    /// statuses of the calls made, in order (0 for no answer).
    pub async fn deliver_due(&self) -> Vec<u16> {
        let calls: Vec<(Job, Option<(String, Webhook)>)> = {
            let mut s = self.lock();
            let now = s.now();
            let (due, later): (Vec<Job>, Vec<Job>) = std::mem::take(&mut s.jobs)
                .into_iter()
                .partition(|j| j.due <= now);
            s.jobs = later;
            due.into_iter()
                .map(|j| {
                    let call = s.call_of(&j);
                    (j, call)
                })
                .collect()
        };
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(4))
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let mut statuses = Vec::new();
        for (mut job, call) in calls {
            let Some((endpoint, hook)) = call else {
                continue;
            };
            let status = post_call(&client, &endpoint, &hook.body, &hook.headers).await;
            statuses.push(status);
            if (200..300).contains(&status) {
                continue;
            }
            job.tries += 1;
            let mut s = self.lock();
            if job.tries < 5 {
                job.due = s.now() + TimeDelta::seconds(10 * i64::from(job.tries));
                s.jobs.push(job);
            } else {
                s.dropped.push(job);
            }
        }
        statuses
    }

    /// The trigger jobs waiting (due or not).
    pub fn queued_jobs(&self) -> Vec<Job> {
        self.lock().jobs.clone()
    }

    /// The trigger jobs dropped after five failed tries.
    pub fn dropped_jobs(&self) -> Vec<Job> {
        self.lock().dropped.clone()
    }

    /// Takes `admin.webhook` and `admin.trigger` from the token: an agent's token.
    pub fn make_token_an_agent(&self) {
        self.lock().agent_only = true;
    }
}

/// A test naming a group the fake does not have has a bug: fail it loudly.
fn group_def(id: u64) -> &'static GroupDef {
    GROUPS
        .iter()
        .find(|g| g.id == id)
        .unwrap_or_else(|| panic!("the fake Zammad has no group {id}"))
}

fn agent_def(id: u64) -> &'static StaffDef {
    STAFF
        .iter()
        .find(|u| u.id == id && id != SYSTEM_USER)
        .unwrap_or_else(|| {
            panic!("the fake Zammad has no agent {id} (AGENT_ANNA, AGENT_BORIS, API_USER)")
        })
}

fn channel(via: &str) -> &'static str {
    CHANNELS
        .into_iter()
        .find(|c| *c == via)
        .unwrap_or_else(|| panic!("the fake Zammad takes tickets by {CHANNELS:?}, not {via:?}"))
}

fn type_id(name: &str) -> u64 {
    ARTICLE_TYPES
        .iter()
        .find(|(_, n)| *n == name)
        .expect("a seeded type")
        .0
}

fn sender_id(name: &str) -> u64 {
    SENDERS
        .iter()
        .find(|(_, n)| *n == name)
        .expect("a seeded sender")
        .0
}

fn state_id(name: &str) -> u64 {
    STATES
        .iter()
        .find(|(_, n, _)| *n == name)
        .expect("a seeded state")
        .0
}

/// Whether a ticket in state `name` is closed: its state's type is `closed`.
fn is_closed(name: &str) -> bool {
    STATES
        .iter()
        .any(|(_, n, kind)| *n == name && *kind == "closed")
}

/// When the seeds (groups, agents, states) were created.
fn seeded_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap()
}

/// Rails writes times in JSON as ISO 8601 with milliseconds.
fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn opt_iso(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| iso(t).into())
}

/// Minimal HTML escaping, as the portal's rich-text editor stores what a customer typed.
fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The addresses of a recipient line, if every one of them is valid (`local@domain.tld`,
/// optionally as `Name <…>`), else `None`: `Mail::AddressList` and `EmailAddressValidation`
/// in `Ticket::Article#check_email_recipient_validity`.
fn recipients(line: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let address = match (part.rfind('<'), part.rfind('>')) {
            (Some(open), Some(close)) if open < close => &part[open + 1..close],
            _ => part,
        };
        let (local, domain) = address.split_once('@')?;
        let valid = !local.is_empty()
            && !local.contains(char::is_whitespace)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains(['@', ' ']);
        if !valid {
            return None;
        }
        out.push(address.to_lowercase());
    }
    (!out.is_empty()).then_some(out)
}

/// A user as the records need them: a seeded one or a customer.
struct Person {
    id: u64,
    login: String,
    firstname: String,
    lastname: String,
    email: String,
    mobile: String,
    role_ids: Vec<u64>,
    /// Groups the user is an agent in, with full access.
    group_ids: Vec<u64>,
    created_at: DateTime<Utc>,
}

struct Customer {
    id: u64,
    firstname: String,
    lastname: String,
    email: String,
    mobile: String,
    /// The Telegram username, with its `@`.
    telegram: String,
    created_at: DateTime<Utc>,
}

impl Customer {
    /// "Firstname Lastname <email>".
    fn address(&self) -> String {
        let name = format!("{} {}", self.firstname, self.lastname);
        format!("{} <{}>", name.trim(), self.email)
    }
}

struct Art {
    id: u64,
    kind: &'static str,
    sender: &'static str,
    from: Option<String>,
    to: Option<String>,
    cc: Option<String>,
    subject: Option<String>,
    body: String,
    content_type: String,
    internal: bool,
    created_by: u64,
    message_id: Option<String>,
    created_at: DateTime<Utc>,
    /// The request body, for an article posted through the API.
    posted: Option<Value>,
}

/// An article as an agent or Rateline asks for it.
struct NewArticle {
    kind: &'static str,
    sender: &'static str,
    body: String,
    content_type: String,
    internal: bool,
    to: Option<String>,
    cc: Option<String>,
    subject: Option<String>,
}

struct Tkt {
    id: u64,
    number: String,
    title: String,
    group: u64,
    state: &'static str,
    owner: u64,
    customer: u64,
    /// The type of the first article: the channel the customer reads.
    via: &'static str,
    created_by: u64,
    updated_by: u64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    first_response_at: Option<DateTime<Utc>>,
    last_contact_at: Option<DateTime<Utc>>,
    last_contact_agent_at: Option<DateTime<Utc>>,
    last_contact_customer_at: Option<DateTime<Utc>>,
    last_owner_update_at: Option<DateTime<Utc>>,
    close_at: Option<DateTime<Utc>>,
    last_close_at: Option<DateTime<Utc>>,
    /// The customer's latest WhatsApp message (`preferences.whatsapp.timestamp_incoming`).
    whatsapp_incoming: Option<DateTime<Utc>>,
    articles: Vec<Art>,
}

/// An answer, and how to record the call.
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
    /// `X-Failure`, which Zammad sets on 401 and 403.
    failure: Option<String>,
    broke: Option<String>,
}

impl Answer {
    fn ok(status: u16, body: Value) -> Self {
        Answer {
            status,
            body,
            retry_after: None,
            failure: None,
            broke: None,
        }
    }

    /// Zammad's humanized error, for a fact of the world.
    fn error(status: u16, message: &str) -> Self {
        Answer {
            failure: matches!(status, 401 | 403).then(|| message.to_owned()),
            ..Answer::ok(status, json!({"error": message, "error_human": message}))
        }
    }

    /// A request Zammad (or the fake, where it is stricter) refuses: 422, and a violation.
    fn unprocessable(message: String) -> Self {
        Answer {
            broke: Some(message.clone()),
            ..Answer::error(422, &message)
        }
    }
}

/// What a path asks for; a ticket id stays a string until the call is authorized.
enum Route<'a> {
    Me,
    User(&'a str),
    Groups,
    TicketStates,
    Articles,
    ArticlesOf(&'a str),
    Ticket(&'a str),
    ShowTicket(&'a str),
    Search,
    /// `webhooks` or `triggers`.
    List(&'static str),
    Make(&'static str),
    Remove(&'static str, &'a str),
}

impl<'a> Route<'a> {
    fn of(method: &Method, path: &'a str) -> Option<Self> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["api", "v1", "users", "me"]) => Some(Route::Me),
            ("GET", ["api", "v1", "users", id]) => Some(Route::User(id)),
            ("GET" | "POST", ["api", "v1", "tickets", "search"]) => Some(Route::Search),
            ("GET", ["api", "v1", "tickets", id]) => Some(Route::ShowTicket(id)),
            ("GET", ["api", "v1", "ticket_articles", "by_ticket", id]) => {
                Some(Route::ArticlesOf(id))
            }
            ("GET", ["api", "v1", "groups"]) => Some(Route::Groups),
            ("GET", ["api", "v1", "ticket_states"]) => Some(Route::TicketStates),
            ("POST", ["api", "v1", "ticket_articles"]) => Some(Route::Articles),
            ("PUT", ["api", "v1", "tickets", id]) => Some(Route::Ticket(id)),
            ("GET", ["api", "v1", "webhooks"]) => Some(Route::List("webhooks")),
            ("GET", ["api", "v1", "triggers"]) => Some(Route::List("triggers")),
            ("POST", ["api", "v1", "webhooks"]) => Some(Route::Make("webhooks")),
            ("POST", ["api", "v1", "triggers"]) => Some(Route::Make("triggers")),
            ("DELETE", ["api", "v1", "webhooks", id]) => Some(Route::Remove("webhooks", id)),
            ("DELETE", ["api", "v1", "triggers", id]) => Some(Route::Remove("triggers", id)),
            _ => None,
        }
    }
}

/// The fake Zammad's state, which tests reach through a [`FakeZammad`]: the records, the
/// triggers' jobs, the calls so far and the faults to come, and the clock.
pub struct Zammad {
    clock: Clock,
    customers: BTreeMap<u64, Customer>,
    tickets: BTreeMap<u64, Tkt>,
    /// The calls so far, the faults to come and the token's fate.
    log: Log,
    webhooks: Vec<Webhook>,
    next_ticket: u64,
    next_number: u64,
    next_customer: u64,
    next_article: u64,
    /// Groups whose `follow_up_possible` is not Zammad's default, `yes`.
    follow_up: BTreeMap<u64, FollowUp>,
    /// The webhooks and triggers made over the API, by kind (`webhooks`, `triggers`) and id.
    admin: BTreeMap<&'static str, BTreeMap<u64, Value>>,
    next_admin_id: u64,
    /// The token lacks `admin.webhook` and `admin.trigger`.
    agent_only: bool,
    /// The webhook calls the triggers made over the API queued, not yet delivered.
    jobs: Vec<Job>,
    /// Those dropped after their fifth failed try.
    dropped: Vec<Job>,
}

/// A `TriggerWebhookJob` queued by a trigger: the records by id, read when it runs
/// (`perform_later` with GlobalIDs), its delivery id kept across tries.
#[derive(Debug, Clone)]
pub struct Job {
    /// The name of the trigger that queued it, sent as `X-Zammad-Trigger`.
    pub trigger: String,
    /// The id of the webhook it calls.
    pub webhook: u64,
    /// The ticket whose change fired the trigger.
    pub ticket: u64,
    /// The article of that change, when it made one.
    pub article: Option<u64>,
    delivery: String,
    /// Tries made so far.
    pub tries: u32,
    due: DateTime<Utc>,
}

/// A group's `follow_up_possible`: what a customer's e-mail to a closed ticket does
/// (`app/models/channel/filter/follow_up_possible_check.rb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// `yes`, the default: it reopens the ticket.
    Yes,
    /// `new_ticket`: it opens a new ticket.
    NewTicket,
    /// `new_ticket_after_certain_time` with `reopen_time_in_days`: it reopens the ticket
    /// within that many days of its last close (`Ticket#reopen_after_certain_time?`), and
    /// opens a new one after.
    NewTicketAfterDays(u32),
}

impl FollowUp {
    fn name(self) -> &'static str {
        match self {
            FollowUp::Yes => "yes",
            FollowUp::NewTicket => "new_ticket",
            FollowUp::NewTicketAfterDays(_) => "new_ticket_after_certain_time",
        }
    }
}

impl Default for Zammad {
    fn default() -> Self {
        Zammad {
            clock: Clock::default(),
            customers: BTreeMap::new(),
            tickets: BTreeMap::new(),
            log: Log::default(),
            webhooks: Vec::new(),
            next_ticket: FIRST_TICKET,
            next_number: 1,
            next_customer: FIRST_CUSTOMER,
            next_article: FIRST_ARTICLE,
            follow_up: BTreeMap::new(),
            admin: BTreeMap::new(),
            next_admin_id: 1,
            agent_only: false,
            jobs: Vec::new(),
            dropped: Vec::new(),
        }
    }
}

impl Platform for Zammad {
    fn clock(&mut self) -> &mut Clock {
        &mut self.clock
    }
}

/// Zammad answers a [`Fault`] as a 429 from a proxy in front of it (Zammad's own
/// Rack::Attack throttles no API call Rateline makes), 500 with the error's message as
/// `HandlesErrors` shows it to an admin, or 401 `Can't find User for Token` for a token
/// deleted since the call before. A call refused for its path or its credentials does not
/// use up a fault; one to an unknown ticket does.
///
/// [`FakeZammad::rule_violations`] lists a request Zammad or the fake refuses (422, 400 for a
/// body that is not JSON), a JSON body without its content type, and an article taken that
/// the client never gets as posted (see the module docs). Refusals that only reflect the
/// world (credentials, an unknown ticket, an injected fault) are not listed.
impl Helpdesk for Zammad {
    const NAME: &'static str = "Zammad";

    fn log(&mut self) -> &mut Log {
        &mut self.log
    }
}

impl Zammad {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The customer with the e-mail `name` gives, created if Zammad does not know it yet.
    fn add_customer(&mut self, name: &str) -> u64 {
        let email = format!(
            "{}@example.com",
            name.trim().to_lowercase().replace(' ', ".")
        );
        if let Some(staff) = STAFF.iter().find(|u| u.login == email) {
            panic!(
                "{email} is {} {}'s address: pick a customer name no agent has",
                staff.firstname, staff.lastname
            );
        }
        if let Some(known) = self.customers.values().find(|c| c.email == email) {
            return known.id;
        }
        let id = self.next_customer;
        self.next_customer += 1;
        let (firstname, lastname) = name.trim().split_once(' ').unwrap_or((name.trim(), ""));
        let telegram = format!("@{}", name.trim().to_lowercase().replace(' ', "_"));
        let created_at = self.now();
        self.customers.insert(
            id,
            Customer {
                id,
                firstname: firstname.into(),
                lastname: lastname.trim().into(),
                email,
                mobile: format!("+1555010{id:04}"),
                telegram,
                created_at,
            },
        );
        id
    }

    fn open(&mut self, group: u64, customer: u64, via: &'static str, text: &str) -> Ticket {
        let joins = |t: &Tkt| match via {
            WHATSAPP => !WHATSAPP_ENDED.contains(&t.state),
            _ => !is_closed(t.state),
        };
        if (via == TELEGRAM || via == SMS || via == WHATSAPP)
            && let Some(open) = self
                .tickets
                .values()
                .find(|t| t.customer == customer && t.via == via && joins(t))
        {
            panic!(
                "customer {customer} still has ticket {} ({}) on {via}: Zammad adds their \
                 message there (lib/telegram.rb, Channel::Driver::Sms::Base); close it first",
                open.id, open.state
            );
        }
        let now = self.now();
        let id = self.next_ticket;
        self.next_ticket += 1;
        let number = format!("{SYSTEM_ID}{:05}", self.next_number);
        self.next_number += 1;
        // Telegram and SMS title a ticket with the message; e-mail with the subject; the
        // portal with what the customer typed as title.
        let title = if via == TELEGRAM || via == SMS || via == WHATSAPP {
            text
        } else {
            "Help with my order"
        };
        self.tickets.insert(
            id,
            Tkt {
                id,
                number,
                title: title.into(),
                group,
                state: "new",
                owner: SYSTEM_USER,
                customer,
                via,
                created_by: customer,
                updated_by: customer,
                created_at: now,
                updated_at: now,
                first_response_at: None,
                last_contact_at: None,
                last_contact_agent_at: None,
                last_contact_customer_at: None,
                last_owner_update_at: None,
                close_at: None,
                last_close_at: None,
                whatsapp_incoming: None,
                articles: Vec::new(),
            },
        );
        let first = self.customer_article(id, customer, text);
        self.fire("create", id, Some(first), &[]);
        Ticket { id, customer }
    }

    /// A test naming a ticket the fake does not have has a bug: fail it loudly.
    fn ticket(&self, t: &Ticket) -> &Tkt {
        let tkt = self
            .tickets
            .get(&t.id)
            .unwrap_or_else(|| panic!("the fake Zammad has no ticket {}", t.id));
        assert_eq!(
            tkt.customer, t.customer,
            "ticket {} is customer {}'s, not {}'s",
            t.id, tkt.customer, t.customer
        );
        tkt
    }

    fn ticket_mut(&mut self, id: u64) -> &mut Tkt {
        self.tickets.get_mut(&id).expect("a known ticket")
    }

    /// `author`'s article on the ticket's channel, after the follow-up set the ticket open.
    fn customer_article(&mut self, ticket: u64, author: u64, text: &str) -> u64 {
        let n = self.next_article;
        let (via, group, title, number, state, customer) = {
            let t = &self.tickets[&ticket];
            (
                t.via,
                group_def(t.group),
                t.title.clone(),
                t.number.clone(),
                t.state,
                t.customer,
            )
        };
        if state != "new" && state != "open" {
            let now = self.now();
            let tkt = self.ticket_mut(ticket);
            tkt.state = "open";
            tkt.updated_at = now;
            tkt.updated_by = author;
        }
        let c = &self.customers[&author];
        let first = self.tickets[&ticket].articles.is_empty();
        let mut article = Art {
            id: 0,
            kind: via,
            sender: "Customer",
            from: None,
            to: None,
            cc: None,
            subject: None,
            body: text.into(),
            content_type: "text/plain".into(),
            internal: false,
            created_by: author,
            message_id: None,
            created_at: DateTime::UNIX_EPOCH,
            posted: None,
        };
        match via {
            EMAIL => {
                article.from = Some(c.address());
                article.to = Some(format!("{} <{}>", group.realname, group.email));
                if author != customer {
                    article.cc = Some(self.customers[&customer].address());
                }
                article.subject = Some(if first {
                    title
                } else {
                    format!("Re: {title} [Ticket#{number}]")
                });
                article.message_id = Some(format!("<{n}.{author}@mail.example.com>"));
            }
            WEB => {
                article.from = Some(c.address());
                article.body = html_escape(text);
                article.content_type = "text/html".into();
            }
            TELEGRAM => {
                article.from = Some(c.telegram.trim_start_matches('@').into());
                article.to = Some(format!("@{TELEGRAM_BOT}"));
                article.message_id = Some(format!("{}.{n}", 700_000_000 + author));
            }
            // What the customer said on the phone, as the agent logged it.
            PHONE => {
                article.from = Some(c.address());
                article.to = Some(format!("{} <{}>", group.realname, group.email));
            }
            // `Whatsapp::Webhook::Message`: from the profile name and number, the message's
            // `wamid` as its id; each message moves `timestamp_incoming`.
            WHATSAPP => {
                article.from = Some(format!("{} ({})", c.firstname, c.mobile));
                article.message_id = Some(format!("wamid.{n:020}"));
                let now = self.now();
                self.ticket_mut(ticket).whatsapp_incoming = Some(now);
            }
            _ => {
                article.from = Some(c.mobile.clone());
                article.to = Some(SMS_NUMBER.into());
                article.message_id = Some(format!("SM{n:032}"));
            }
        }
        self.add_article(ticket, article, author)
    }

    /// An article by an agent or the API user, with what Zammad's callbacks fill in:
    /// `from` (`AddsMetadataGeneral`, `AddsMetadataEmail`), an e-mail's subject and id.
    fn agent_article(&self, ticket: u64, author: u64, new: NewArticle) -> Art {
        let t = &self.tickets[&ticket];
        let a = self.person(author);
        let name = format!("{} {}", a.firstname, a.lastname);
        let (from, subject, message_id) = match new.kind {
            EMAIL => {
                let group = group_def(t.group);
                (
                    Some(format!(
                        "{} via {} <{}>",
                        name.trim(),
                        group.realname,
                        group.email
                    )),
                    Some(new.subject.unwrap_or_else(|| t.title.clone())),
                    Some(format!(
                        "<{}.{}.{}@zammad.example.com>",
                        self.now().format("%Y%m%d%H%M%S"),
                        ticket,
                        self.next_article
                    )),
                )
            }
            // SMS is left to the channel.
            SMS => (None, new.subject, None),
            _ => (Some(name.trim().to_owned()), new.subject, None),
        };
        Art {
            id: 0,
            kind: new.kind,
            sender: new.sender,
            from,
            to: new.to,
            cc: new.cc,
            subject,
            body: new.body,
            content_type: new.content_type,
            internal: new.internal,
            created_by: author,
            message_id,
            created_at: DateTime::UNIX_EPOCH,
            posted: None,
        }
    }

    /// Numbers and dates `article`, adds it and updates what an article updates on its ticket
    /// (`HasTicketContactAttributesImpact`, `ResetsTicketState`); returns its id.
    fn add_article(&mut self, ticket: u64, mut article: Art, actor: u64) -> u64 {
        let id = self.next_article;
        self.next_article += 1;
        let now = self.now();
        article.id = id;
        article.created_at = now;
        let tkt = self.ticket_mut(ticket);
        let communication = article.kind != NOTE;
        if !article.internal && communication {
            match article.sender {
                "Customer" => {
                    // `check_if_agent_already_replied`, Zammad's default: a customer writing
                    // again before an agent answered keeps the start of their thread.
                    let repeated = tkt.last_contact_customer_at.is_some()
                        && tkt.last_contact_customer_at == tkt.last_contact_at;
                    let answered = match (tkt.last_contact_customer_at, tkt.last_contact_agent_at) {
                        (Some(customer), Some(agent)) => agent > customer,
                        _ => true,
                    };
                    if !repeated && answered {
                        tkt.last_contact_customer_at = Some(now);
                        tkt.last_contact_at = Some(now);
                    }
                }
                "Agent" => {
                    tkt.last_contact_agent_at = Some(now);
                    tkt.last_contact_at = Some(now);
                    tkt.first_response_at.get_or_insert(now);
                    if tkt.state == "new" {
                        tkt.state = "open";
                    }
                }
                _ => {}
            }
        }
        tkt.updated_at = now;
        tkt.updated_by = actor;
        tkt.articles.push(article);
        id
    }

    /// Sets the state; whether it changed.
    fn set_state(&mut self, ticket: u64, state: &'static str, actor: u64) -> bool {
        let now = self.now();
        let tkt = self.ticket_mut(ticket);
        if tkt.state == state {
            return false;
        }
        tkt.state = state;
        tkt.updated_at = now;
        tkt.updated_by = actor;
        if is_closed(state) {
            tkt.close_at.get_or_insert(now);
            tkt.last_close_at = Some(now);
        }
        true
    }

    fn person(&self, id: u64) -> Person {
        if let Some(s) = STAFF.iter().find(|u| u.id == id) {
            let agent = s.role_ids.contains(&2);
            return Person {
                id,
                login: s.login.into(),
                firstname: s.firstname.into(),
                lastname: s.lastname.into(),
                email: if id == SYSTEM_USER {
                    String::new()
                } else {
                    s.login.into()
                },
                mobile: String::new(),
                role_ids: s.role_ids.to_vec(),
                group_ids: if agent {
                    GROUPS.iter().map(|g| g.id).collect()
                } else {
                    Vec::new()
                },
                created_at: seeded_at(),
            };
        }
        let c = self
            .customers
            .get(&id)
            .unwrap_or_else(|| panic!("the fake Zammad has no user {id}"));
        Person {
            id,
            login: c.email.clone(),
            firstname: c.firstname.clone(),
            lastname: c.lastname.clone(),
            email: c.email.clone(),
            mobile: c.mobile.clone(),
            role_ids: vec![3],
            group_ids: Vec::new(),
            created_at: c.created_at,
        }
    }

    fn login(&self, id: u64) -> String {
        self.person(id).login
    }

    /// `User#attributes_with_association_ids`, without the password.
    fn user_record(&self, id: u64) -> Value {
        let p = self.person(id);
        let group_ids: Map<String, Value> = p
            .group_ids
            .iter()
            .map(|g| (g.to_string(), json!(["full"])))
            .collect();
        json!({
            "active": true,
            "address": null,
            "authorization_ids": [],
            "city": "",
            "country": "",
            "created_at": iso(p.created_at),
            "created_by_id": SYSTEM_USER,
            "department": "",
            "email": p.email,
            "fax": "",
            "firstname": p.firstname,
            "group_ids": group_ids,
            "id": p.id,
            "image": null,
            "image_source": null,
            "last_login": null,
            "lastname": p.lastname,
            "login": p.login,
            "login_failed": 0,
            "mobile": p.mobile,
            "note": "",
            "organization_id": null,
            "organization_ids": [],
            "out_of_office": false,
            "out_of_office_end_at": null,
            "out_of_office_replacement_id": null,
            "out_of_office_start_at": null,
            "phone": "",
            "preferences": {},
            "role_ids": p.role_ids,
            "source": null,
            "street": "",
            "updated_at": iso(p.created_at),
            "updated_by_id": SYSTEM_USER,
            "verified": false,
            "vip": false,
            "web": "",
            "zip": "",
        })
    }

    /// `User#attributes_with_association_names`: the ids and the names next to them.
    fn user_names(&self, id: u64) -> Value {
        let p = self.person(id);
        let mut user = self.user_record(id);
        let roles: Vec<&str> = p
            .role_ids
            .iter()
            .filter_map(|r| ROLES.iter().find(|(id, _)| id == r).map(|(_, n)| *n))
            .collect();
        let groups: Map<String, Value> = p
            .group_ids
            .iter()
            .map(|g| (group_def(*g).name.to_owned(), json!(["full"])))
            .collect();
        user["roles"] = json!(roles);
        user["organizations"] = json!([]);
        user["groups"] = Value::Object(groups);
        user["created_by"] = "-".into();
        user["updated_by"] = "-".into();
        user
    }

    /// A user in a webhook: with names, without `USER_ATTRIBUTE_FILTER`.
    fn user_payload(&self, id: u64) -> Value {
        let mut user = self.user_names(id);
        let fields = user.as_object_mut().expect("an object");
        for key in USER_ATTRIBUTE_FILTER {
            fields.remove(key);
        }
        user
    }

    fn follow_up_of(&self, group: u64) -> FollowUp {
        self.follow_up.get(&group).copied().unwrap_or(FollowUp::Yes)
    }

    /// Whether a customer's e-mail now to closed ticket `tkt` opens a new ticket rather than
    /// reopening it (`Channel::Filter::FollowUpPossibleCheck`).
    fn follow_up_in_new_ticket(&self, tkt: &Tkt) -> bool {
        match self.follow_up_of(tkt.group) {
            FollowUp::Yes => false,
            FollowUp::NewTicket => true,
            FollowUp::NewTicketAfterDays(days) => tkt
                .last_close_at
                .is_some_and(|at| self.now() - at >= TimeDelta::days(i64::from(days))),
        }
    }

    /// `Group#attributes_with_association_ids`.
    fn group_record(&self, id: u64) -> Value {
        let g = group_def(id);
        json!({
            "active": true,
            "assignment_timeout": null,
            "created_at": iso(seeded_at()),
            "created_by_id": SYSTEM_USER,
            "email_address_id": g.id,
            "follow_up_assignment": true,
            "follow_up_possible": self.follow_up_of(id).name(),
            "id": g.id,
            "name": g.name,
            "name_last": g.name,
            "note": "",
            "parent_id": null,
            "reopen_time_in_days": match self.follow_up_of(id) {
                FollowUp::NewTicketAfterDays(days) => Some(days),
                _ => None,
            },
            "shared_drafts": true,
            "signature_id": null,
            "updated_at": iso(seeded_at()),
            "updated_by_id": SYSTEM_USER,
            "user_ids": self.agents().collect::<Vec<_>>(),
        })
    }

    /// A `Ticket::State` as `model_index_render` gives it: its columns
    /// (`attributes_with_association_ids`), and with `expand` its type and next state by name
    /// (`attributes_with_association_names`).
    fn state_record(&self, id: u64, expand: bool) -> Value {
        let (_, name, kind) = STATES
            .iter()
            .find(|(i, _, _)| *i == id)
            .expect("a seeded state");
        let type_id = STATE_TYPES
            .iter()
            .find(|(_, t)| t == kind)
            .expect("a seeded state type")
            .0;
        let next = (*name == "pending close").then(|| state_id("closed"));
        let mut state = json!({
            "id": id,
            "state_type_id": type_id,
            "name": name,
            "next_state_id": next,
            "ignore_escalation": is_closed(name) || *kind == "merged" || *kind == "removed",
            "default_create": *name == "new",
            "default_follow_up": *name == "open",
            "note": null,
            "active": *kind != "removed",
            "created_by_id": SYSTEM_USER,
            "updated_by_id": SYSTEM_USER,
            "created_at": iso(seeded_at()),
            "updated_at": iso(seeded_at()),
        });
        if expand {
            state["state_type"] = (*kind).into();
            state["next_state"] = next.map(|_| "closed").into();
            state["created_by"] = "-".into();
            state["updated_by"] = "-".into();
        }
        state
    }

    fn group_names(&self, id: u64) -> Value {
        let mut group = self.group_record(id);
        group["users"] = json!(self.agents().map(|a| self.login(a)).collect::<Vec<_>>());
        group["created_by"] = "-".into();
        group["updated_by"] = "-".into();
        group
    }

    /// The users with an agent's access to every group.
    fn agents(&self) -> impl Iterator<Item = u64> {
        STAFF
            .iter()
            .filter(|u| u.role_ids.contains(&2))
            .map(|u| u.id)
    }

    fn priority_payload(&self) -> Value {
        json!({
            "active": true,
            "created_at": iso(seeded_at()),
            "created_by": "-",
            "created_by_id": SYSTEM_USER,
            "default_create": true,
            "id": PRIORITY.0,
            "name": PRIORITY.1,
            "note": null,
            "ui_color": null,
            "ui_icon": null,
            "updated_at": iso(seeded_at()),
            "updated_by": "-",
            "updated_by_id": SYSTEM_USER,
        })
    }

    /// `Ticket#attributes_with_association_ids`.
    fn ticket_record(&self, t: &Tkt) -> Value {
        let counted = t.articles.iter().filter(|a| a.sender != "System").count();
        let first = &t.articles[0];
        let preferences = match t.via {
            TELEGRAM => json!({
                "channel_id": 3,
                "telegram": {"bid": 600_000_001, "chat_id": 700_000_000 + t.customer},
            }),
            // `Whatsapp::Webhook::Message#ticket_preferences`: Meta's number without `+`, and
            // the time of the customer's latest message, in epoch seconds as a string.
            WHATSAPP => json!({
                "channel_id": 5,
                "channel_area": "WhatsApp::Business",
                "whatsapp": {
                    "from": {
                        "phone_number": self.customers[&t.customer].mobile.trim_start_matches('+'),
                        "display_name": self.customers[&t.customer].firstname,
                    },
                    "timestamp_incoming": t.whatsapp_incoming.map(|i| i.timestamp().to_string()),
                },
            }),
            SMS => json!({
                "channel_id": 4,
                "sms": {"originator": self.customers[&t.customer].mobile, "recipient": SMS_NUMBER},
            }),
            EMAIL => json!({"channel_id": 2}),
            _ => json!({}),
        };
        json!({
            "article_count": counted,
            "article_ids": t.articles.iter().map(|a| a.id).collect::<Vec<_>>(),
            "close_at": opt_iso(t.close_at),
            "create_article_sender_id": sender_id(first.sender),
            "create_article_type_id": type_id(first.kind),
            "created_at": iso(t.created_at),
            "created_by_id": t.created_by,
            "customer_id": t.customer,
            "escalation_at": null,
            "first_response_at": opt_iso(t.first_response_at),
            "group_id": t.group,
            "id": t.id,
            "last_close_at": opt_iso(t.last_close_at),
            "last_contact_agent_at": opt_iso(t.last_contact_agent_at),
            "last_contact_at": opt_iso(t.last_contact_at),
            "last_contact_customer_at": opt_iso(t.last_contact_customer_at),
            "last_owner_update_at": opt_iso(t.last_owner_update_at),
            "note": null,
            "number": t.number,
            "organization_id": null,
            "owner_id": t.owner,
            "pending_time": null,
            "preferences": preferences,
            "priority_id": PRIORITY.0,
            "state_id": state_id(t.state),
            "ticket_time_accounting_ids": [],
            "time_unit": null,
            "title": t.title,
            "type": null,
            "updated_at": iso(t.updated_at),
            "updated_by_id": t.updated_by,
        })
    }

    /// `Ticket#attributes_with_association_names`: each association's login or name next to
    /// its id (articles have neither, so they are left out).
    fn ticket_names(&self, t: &Tkt) -> Value {
        let first = &t.articles[0];
        let mut ticket = self.ticket_record(t);
        ticket["create_article_sender"] = first.sender.into();
        ticket["create_article_type"] = first.kind.into();
        ticket["created_by"] = self.login(t.created_by).into();
        ticket["customer"] = self.login(t.customer).into();
        ticket["group"] = group_def(t.group).name.into();
        ticket["owner"] = self.login(t.owner).into();
        ticket["priority"] = PRIORITY.1.into();
        ticket["state"] = t.state.into();
        ticket["ticket_time_accounting"] = json!([]);
        ticket["updated_by"] = self.login(t.updated_by).into();
        ticket
    }

    /// `TriggerWebhookJob::RecordPayload::Ticket`.
    fn ticket_payload(&self, t: &Tkt) -> Value {
        let mut ticket = self.ticket_names(t);
        ticket["created_by"] = self.user_payload(t.created_by);
        ticket["customer"] = self.user_payload(t.customer);
        ticket["group"] = self.group_names(t.group);
        ticket["organization"] = json!({});
        ticket["owner"] = self.user_payload(t.owner);
        ticket["priority"] = self.priority_payload();
        ticket["updated_by"] = self.user_payload(t.updated_by);
        ticket
    }

    /// `Ticket::Article#attributes_with_association_ids`.
    fn article_record(&self, t: &Tkt, a: &Art) -> Value {
        json!({
            "attachments": [],
            "body": a.body,
            "cc": a.cc,
            "content_type": a.content_type,
            "created_at": iso(a.created_at),
            "created_by_id": a.created_by,
            "detected_language": null,
            "from": a.from,
            "id": a.id,
            "in_reply_to": null,
            "internal": a.internal,
            "message_id": a.message_id,
            "origin_by_id": null,
            "preferences": {},
            "references": null,
            "reply_to": null,
            "sender_id": sender_id(a.sender),
            "subject": a.subject,
            "ticket_id": t.id,
            "to": a.to,
            "type_id": type_id(a.kind),
            "updated_at": iso(a.created_at),
            "updated_by_id": a.created_by,
        })
    }

    /// `Ticket::Article#attributes_with_association_names`.
    fn article_names(&self, t: &Tkt, a: &Art) -> Value {
        let mut article = self.article_record(t, a);
        article["created_by"] = self.login(a.created_by).into();
        article["sender"] = a.sender.into();
        article["time_unit"] = Value::Null;
        article["type"] = a.kind.into();
        article["updated_by"] = self.login(a.created_by).into();
        article
    }

    /// `TriggerWebhookJob::RecordPayload::Ticket::Article`.
    fn article_payload(&self, t: &Tkt, a: &Art) -> Value {
        let mut article = self.article_names(t, a);
        article["accounted_time"] = json!(0.0);
        article["created_by"] = self.user_payload(a.created_by);
        article["updated_by"] = self.user_payload(a.created_by);
        article
    }

    /// The trigger's webhook for the ticket as it is now and `article` (`{}` for none).
    fn webhook(&self, ticket: u64, article: Option<u64>) -> Webhook {
        let t = &self.tickets[&ticket];
        let article = article.map_or_else(
            || json!({}),
            |id| {
                let a = t
                    .articles
                    .iter()
                    .find(|a| a.id == id)
                    .expect("a known article");
                self.article_payload(t, a)
            },
        );
        Webhook::new(&self.ticket_payload(t), &article)
    }

    /// Runs the triggers made over the API on a change of `ticket` (`Transaction::Trigger`:
    /// each active action trigger, by name, at most once a change), by Zammad's rules
    /// ([`crate::zammad_rules`]); each that fires with a `notification.webhook` queues a job.
    fn fire(&mut self, action: &str, ticket: u64, article: Option<u64>, changes: &[&str]) {
        let t = &self.tickets[&ticket];
        let record = self.ticket_record(t);
        let article_record = article.map(|id| {
            let a = t
                .articles
                .iter()
                .find(|a| a.id == id)
                .expect("a known article");
            self.article_record(t, a)
        });
        let change = crate::zammad_rules::Change {
            action,
            ticket: &record,
            article: article_record.as_ref(),
            changes,
        };
        let mut triggers: Vec<&Value> = self
            .admin
            .get("triggers")
            .into_iter()
            .flat_map(|m| m.values())
            .collect();
        triggers.sort_by_key(|t| t["name"].as_str().unwrap_or_default().to_owned());
        let now = self.now();
        let jobs: Vec<Job> = triggers
            .into_iter()
            .filter(|t| crate::zammad_rules::fires(t, &change))
            .filter_map(|t| {
                let webhook = t.pointer("/perform/notification.webhook/webhook_id")?;
                let webhook = webhook
                    .as_u64()
                    .or_else(|| webhook.as_str()?.parse().ok())?;
                Some(Job {
                    trigger: t["name"].as_str().unwrap_or_default().to_owned(),
                    webhook,
                    ticket,
                    article,
                    delivery: delivery_id(),
                    tries: 0,
                    due: now,
                })
            })
            .collect();
        self.jobs.extend(jobs);
    }

    /// The call job `job` makes now: its webhook's endpoint, and the payload built from the
    /// ticket and article as they are now (`TriggerWebhookJob#payload`), signed with the
    /// webhook's token. `None` when the webhook is gone or inactive (`abort?`: no call, no
    /// retry).
    fn call_of(&self, job: &Job) -> Option<(String, Webhook)> {
        let hook = self.admin.get("webhooks")?.get(&job.webhook)?;
        if hook["active"] == false {
            return None;
        }
        let mut call = self.webhook(job.ticket, job.article);
        call.delivery = job.delivery.clone();
        call.trigger = job.trigger.clone();
        call.sign(hook["signature_token"].as_str().filter(|t| !t.is_empty()));
        Some((hook["endpoint"].as_str()?.to_owned(), call))
    }

    /// `POST /api/v1/webhooks` or `/api/v1/triggers` (`model_create_render`: 201 with the
    /// record). A webhook needs a `name` and an http(s) `endpoint` with a host
    /// (`app/models/webhook.rb`); a trigger a unique `name`, an `activator` of `action` or
    /// `time` and an `execution_condition_mode` of `selective` or `always` (the columns'
    /// defaults `action` and `selective` when left out: `app/models/trigger.rb`), a
    /// `webhook_id` in a `notification.webhook` perform
    /// (`Validations::VerifyPerformRulesValidator`), and conditions whose operators
    /// `Selector::Sql` knows (`ChecksConditionValidation`: `Invalid object selector
    /// conditions`). Zammad does not check that the webhook exists, nor that a
    /// `ticket.action` value is one value.
    fn make(&mut self, kind: &'static str, body: &Value) -> Answer {
        let mut record = body.clone();
        let name = body.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.trim().is_empty() {
            return Answer::unprocessable("Name can't be blank".into());
        }
        if kind == "webhooks" {
            let endpoint = body.get("endpoint").and_then(Value::as_str).unwrap_or("");
            let host = endpoint
                .strip_prefix("https://")
                .or_else(|| endpoint.strip_prefix("http://"))
                .and_then(|rest| rest.split('/').next())
                .unwrap_or("");
            if host.is_empty() {
                return Answer::unprocessable("Invalid endpoint (no http/https)!".into());
            }
            for (field, default) in [("active", true), ("ssl_verify", true)] {
                if record.get(field).is_none() {
                    record[field] = default.into();
                }
            }
            if record.get("customized_payload").is_none() {
                record["customized_payload"] = false.into();
            }
        } else {
            let taken = self.admin.get(kind).is_some_and(|m| {
                m.values().any(|t| {
                    t["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            });
            if taken {
                return Answer::unprocessable("Name has already been taken".into());
            }
            for (field, default, allowed) in [
                ("activator", "action", ["action", "time"]),
                (
                    "execution_condition_mode",
                    "selective",
                    ["selective", "always"],
                ),
            ] {
                match record.get(field).and_then(Value::as_str) {
                    None => record[field] = default.into(),
                    Some(v) if allowed.contains(&v) => {}
                    Some(_) => {
                        return Answer::unprocessable(format!(
                            "{field} is not included in the list"
                        ));
                    }
                }
            }
            if record.get("active").is_none() {
                record["active"] = true.into();
            }
            let webhook = body
                .pointer("/perform/notification.webhook/webhook_id")
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default();
            if body.pointer("/perform/notification.webhook").is_some() && webhook.trim().is_empty()
            {
                return Answer::unprocessable(
                    "The required 'webhook_id' value for notification.webhook is missing!".into(),
                );
            }
            if let Err(e) = crate::zammad_rules::check_condition(&record["condition"]) {
                return Answer::unprocessable(format!("Invalid object selector conditions ({e})"));
            }
        }
        let id = self.next_admin_id;
        self.next_admin_id += 1;
        record["id"] = id.into();
        self.admin
            .entry(kind)
            .or_default()
            .insert(id, record.clone());
        Answer::ok(201, record)
    }

    /// `DELETE /api/v1/webhooks/{id}` or `/api/v1/triggers/{id}`: 200 `{}`; a webhook that a
    /// trigger's perform still names is refused (`EnsuresNoRelatedObjects`).
    fn remove(&mut self, kind: &'static str, id: &str) -> Answer {
        let Some(id) = id
            .parse::<u64>()
            .ok()
            .filter(|id| self.admin.get(kind).is_some_and(|m| m.contains_key(id)))
        else {
            return Answer::error(404, &format!("Couldn't find {kind} with 'id'={id}"));
        };
        if kind == "webhooks" {
            let naming: Vec<String> = self
                .admin
                .get("triggers")
                .into_iter()
                .flat_map(|m| m.values())
                .filter(|t| crate::zammad_rules::names_webhook(t, id))
                .map(|t| {
                    format!(
                        "Trigger / {} (#{})",
                        t["name"].as_str().unwrap_or(""),
                        t["id"]
                    )
                })
                .collect();
            if !naming.is_empty() {
                return Answer {
                    body: json!({
                        "error": "This object is referenced by other object(s) and thus cannot be deleted: %s",
                        "error_human": "This object is referenced by other object(s) and thus cannot be deleted: %s",
                        "unprocessable_entity": naming,
                    }),
                    ..Answer::unprocessable("a referenced webhook".into())
                };
            }
        }
        if let Some(m) = self.admin.get_mut(kind) {
            m.remove(&id);
        }
        Answer::ok(200, json!({}))
    }

    /// Zammad's token check (`authenticate_with_http_token`, then Doorkeeper for `Bearer`);
    /// `None` when the call may go on.
    fn authenticate(&self, headers: &HeaderMap) -> Option<Answer> {
        let Some(authorization) = headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok()) else {
            return Some(Answer::error(403, NO_AUTH));
        };
        let (scheme, rest) = authorization
            .split_once(char::is_whitespace)
            .unwrap_or((authorization, ""));
        match scheme {
            "Token" | "Bearer" => {
                // Rails takes `token=abc`, `token="abc"` or a bare `abc`, up to `,` or `;`.
                let first = rest.trim().split([',', ';', '\t']).next().unwrap_or("");
                let token = first
                    .trim()
                    .strip_prefix("token=")
                    .unwrap_or(first.trim())
                    .trim_matches('"');
                if !self.log.revoked && token == API_TOKEN {
                    None
                } else if scheme == "Bearer" {
                    Some(Answer::error(401, "The provided token is invalid."))
                } else {
                    Some(Answer::error(401, NO_TOKEN))
                }
            }
            "Basic" => Some(Answer::error(401, "Invalid BasicAuth credentials")),
            _ => Some(Answer::error(403, NO_AUTH)),
        }
    }

    /// Answers an API call.
    fn answer(
        &mut self,
        method: &Method,
        path: &str,
        query: &str,
        headers: &HeaderMap,
        raw: &[u8],
    ) -> Answer {
        let Some(route) = Route::of(method, path) else {
            return Answer::error(404, "This page doesn't exist.");
        };
        if let Some(refused) = self.authenticate(headers) {
            return refused;
        }
        if let Some(fault) = self.log.faults.pop_front() {
            return match fault {
                Fault::RateLimited { retry_after } => Answer {
                    retry_after: Some(retry_after),
                    ..Answer::ok(429, "Retry later\n".into())
                },
                Fault::ServerError => Answer::ok(
                    500,
                    json!({"error": "ActiveRecord::ConnectionTimeoutError: could not obtain a \
                                     connection from the pool within 5.000 seconds"}),
                ),
                Fault::Unauthorized => Answer::error(401, NO_TOKEN),
            };
        }
        let expand = query.split('&').any(|p| p == "expand=true");
        // Rails reads a body as JSON only when it says it is; else the params are empty.
        let json_body = headers
            .get(CONTENT_TYPE)
            .and_then(|h| h.to_str().ok())
            .is_some_and(|t| t.trim_start().starts_with("application/json"));
        let mut ignored = None;
        let body = if raw.is_empty() {
            json!({})
        } else if !json_body {
            ignored = Some(
                "the body was sent without Content-Type: application/json, so Zammad read no \
                 parameters"
                    .to_owned(),
            );
            json!({})
        } else {
            match serde_json::from_slice::<Value>(raw) {
                Ok(body @ Value::Object(_)) => body,
                // Rails keeps a non-object JSON body under `_json`: no named parameter.
                Ok(_) => json!({}),
                Err(e) => {
                    let what = format!("the body is not JSON: {e}");
                    return Answer {
                        broke: Some(what.clone()),
                        ..Answer::error(400, &what)
                    };
                }
            }
        };
        let mut answer = match route {
            Route::List(_) | Route::Make(_) | Route::Remove(..) if self.agent_only => {
                // `default_permit!('admin.webhook')` / `('admin.trigger')` in the controllers'
                // policies; Pundit's refusal is `Exceptions::Forbidden`.
                Answer::error(403, "Not authorized")
            }
            Route::List(kind) => Answer::ok(
                200,
                self.admin
                    .get(kind)
                    .map(|m| m.values().cloned().collect())
                    .unwrap_or_else(|| json!([])),
            ),
            Route::Make(kind) => self.make(kind, &body),
            Route::Remove(kind, id) => self.remove(kind, id),
            Route::Me => Answer::ok(
                200,
                if expand {
                    self.user_names(API_USER)
                } else {
                    self.user_record(API_USER)
                },
            ),
            Route::TicketStates => Answer::ok(
                200,
                STATES
                    .iter()
                    .map(|&(id, _, _)| self.state_record(id, expand))
                    .collect(),
            ),
            Route::Groups => Answer::ok(
                200,
                GROUPS
                    .iter()
                    .map(|g| {
                        if expand {
                            self.group_names(g.id)
                        } else {
                            self.group_record(g.id)
                        }
                    })
                    .collect(),
            ),
            Route::User(id) => match id.parse::<u64>() {
                Ok(id) if self.customers.contains_key(&id) || STAFF.iter().any(|u| u.id == id) => {
                    Answer::ok(
                        200,
                        if expand {
                            self.user_names(id)
                        } else {
                            self.user_record(id)
                        },
                    )
                }
                _ => Answer::error(404, &format!("Couldn't find User with 'id'={id}")),
            },
            Route::Search => self.search(&body),
            Route::ShowTicket(id) => {
                match id.parse::<u64>().ok().and_then(|id| self.tickets.get(&id)) {
                    Some(t) => Answer::ok(
                        200,
                        if expand {
                            self.ticket_names(t)
                        } else {
                            self.ticket_record(t)
                        },
                    ),
                    None => Answer::error(404, &format!("Couldn't find Ticket with 'id'={id}")),
                }
            }
            Route::ArticlesOf(id) => {
                match id.parse::<u64>().ok().and_then(|id| self.tickets.get(&id)) {
                    // `TicketArticlesController#index_by_ticket`: by `created_at, id`, each with
                    // its associations by name, with or without `expand`.
                    Some(t) => Answer::ok(
                        200,
                        t.articles
                            .iter()
                            .map(|a| self.article_names(t, a))
                            .collect(),
                    ),
                    None => Answer::error(404, &format!("Couldn't find Ticket with 'id'={id}")),
                }
            }
            Route::Articles => self.post_article(&body),
            Route::Ticket(id) => match id.parse::<u64>() {
                Ok(id) if self.tickets.contains_key(&id) => self.put_ticket(id, &body, expand),
                _ => Answer::error(404, &format!("Couldn't find Ticket with 'id'={id}")),
            },
        };
        if let Some(ignored) = ignored {
            answer.broke = Some(match answer.broke {
                Some(broke) => format!("{ignored}; {broke}"),
                None => ignored,
            });
        }
        answer
    }

    /// `TicketsController#search` as `CanSearch.search` runs it without Elasticsearch (the
    /// fake's, and many an instance's): with an empty `query`, the database is read through
    /// `condition` (`Selector::Sql`; only `ticket.updated_at` `after (absolute)`, a `>=`, is
    /// modelled, flat or in a block), ordered by `sort_by`/`order_by` (`updated_at` only;
    /// `desc` by default), `limit` a page (50 by default, at most 200: `paginate_with`) from
    /// `page`. A non-empty `query` is matched only as text against titles, numbers and
    /// articles (`Ticket.search_sql_query_extension`), so a query such as
    /// `updated_at:>2026-01-01` finds nothing: the fake answers `[]` and lists a violation.
    fn search(&self, body: &Value) -> Answer {
        if body["query"].as_str().is_some_and(|q| !q.trim().is_empty()) {
            return Answer {
                broke: Some(
                    "a search by `query` needs Elasticsearch; without it Zammad matches the \
                     text in titles and articles only: search by `condition`"
                        .into(),
                ),
                ..Answer::ok(200, json!([]))
            };
        }
        let conditions: Vec<Value> = match &body["condition"] {
            Value::Null => Vec::new(),
            Value::Object(o) if o.contains_key("conditions") => {
                o["conditions"].as_array().cloned().unwrap_or_default()
            }
            Value::Object(o) => o
                .iter()
                .map(|(name, c)| {
                    json!({"name": name, "operator": c["operator"], "value": c["value"]})
                })
                .collect(),
            _ => return Answer::unprocessable("condition must be an object".into()),
        };
        let mut since = None;
        for c in &conditions {
            match (
                c["name"].as_str(),
                c["operator"].as_str(),
                c["value"].as_str(),
            ) {
                (Some("ticket.updated_at"), Some("after (absolute)"), Some(value)) => {
                    match DateTime::parse_from_rfc3339(value) {
                        Ok(t) => since = Some(t.with_timezone(&Utc)),
                        Err(_) => {
                            return Answer::unprocessable(format!("invalid date {value:?}"));
                        }
                    }
                }
                _ => {
                    return Answer::unprocessable(format!(
                        "the fake models only ticket.updated_at after (absolute), not {c}"
                    ));
                }
            }
        }
        if body["sort_by"].as_str().is_some_and(|s| s != "updated_at") {
            return Answer::unprocessable("the fake sorts by updated_at only".into());
        }
        let ascending = body["order_by"].as_str() == Some("asc");
        let limit = body["limit"]
            .as_u64()
            .or_else(|| body["per_page"].as_u64())
            .unwrap_or(50)
            .clamp(1, 200) as usize;
        let page = body["page"].as_u64().unwrap_or(1).max(1) as usize;
        let mut found: Vec<&Tkt> = self
            .tickets
            .values()
            .filter(|t| since.is_none_or(|since| t.updated_at >= since))
            .collect();
        found.sort_by_key(|t| (t.updated_at, t.id));
        if !ascending {
            found.reverse();
        }
        let expand = body["expand"] == true || body["expand"] == "true";
        Answer::ok(
            200,
            found
                .iter()
                .skip((page - 1) * limit)
                .take(limit)
                .map(|t| {
                    if expand {
                        self.ticket_names(t)
                    } else {
                        self.ticket_record(t)
                    }
                })
                .collect(),
        )
    }

    /// `TicketArticlesController#create`.
    fn post_article(&mut self, body: &Value) -> Answer {
        let ticket = match &body["ticket_id"] {
            Value::Null => return Answer::error(404, "Couldn't find Ticket without an ID"),
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        let Some(ticket) = ticket.filter(|id| self.tickets.contains_key(id)) else {
            let shown = match &body["ticket_id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Answer::error(404, &format!("Couldn't find Ticket with 'id'={shown}"));
        };
        let new = match check_article(body) {
            Ok(new) => new,
            Err(what) => return Answer::unprocessable(what),
        };
        let (via, customer, state, incoming) = {
            let t = &self.tickets[&ticket];
            (
                t.via,
                &self.customers[&t.customer],
                t.state,
                t.whatsapp_incoming,
            )
        };
        // `Validations::TicketArticleValidator::WhatsappMessage`, for an agent's article.
        if new.kind == WHATSAPP && new.sender == "Agent" && WHATSAPP_ENDED.contains(&state) {
            return Answer::unprocessable("Reply allowed only for open tickets".into());
        }
        let mut broken = delivery_violations(via, customer, &new);
        // Zammad sends it whenever it is; Meta refuses a message outside the 24-hour window
        // (error 131047), and Zammad, after its retries, leaves an internal note
        // (`CommunicateWhatsappJob`, `Service::Ticket::Article::Type::BaseDeliver`).
        if via == WHATSAPP
            && new.kind == WHATSAPP
            && !new.internal
            && incoming.is_none_or(|i| self.now() - i > TimeDelta::hours(24))
        {
            broken.push(
                "a WhatsApp message more than 24 hours after the customer's last one: Meta \
                 refuses it (131047), and the customer never gets it"
                    .into(),
            );
        }
        let mut article = self.agent_article(ticket, API_USER, new);
        article.posted = Some(body.clone());
        let id = self.add_article(ticket, article, API_USER);
        self.fire("update", ticket, Some(id), &[]);
        let webhook = self.webhook(ticket, Some(id));
        self.webhooks.push(webhook);
        let t = &self.tickets[&ticket];
        let a = t.articles.last().expect("the article just added");
        let mut answer = Answer::ok(201, self.article_names(t, a));
        if !broken.is_empty() {
            answer.broke = Some(broken.join("; "));
        }
        answer
    }

    /// `TicketsController#update`, for the state.
    fn put_ticket(&mut self, ticket: u64, body: &Value, expand: bool) -> Answer {
        let fields = body.as_object().cloned().unwrap_or_default();
        let others: Vec<&String> = fields
            .keys()
            .filter(|k| !["id", "state", "state_id"].contains(&k.as_str()))
            .collect();
        if !others.is_empty() {
            return Answer::unprocessable(format!(
                "the fake Zammad changes a ticket's state only, not {others:?}"
            ));
        }
        // `association_name_to_id_convert` takes the name only when no id is given.
        let state = match (&body["state_id"], &body["state"]) {
            (Value::Null, Value::Null) => None,
            (Value::Null, Value::String(name)) => match STATES.iter().find(|(_, n, _)| n == name) {
                Some((_, n, _)) => Some(*n),
                None => {
                    return Answer::unprocessable(format!(
                        "No lookup value found for 'state': {}",
                        body["state"]
                    ));
                }
            },
            (Value::Null, other) => {
                return Answer::unprocessable(format!(
                    "No lookup value found for 'state': {other}"
                ));
            }
            (id, _) => match STATES.iter().find(|(i, _, _)| id.as_u64() == Some(*i)) {
                Some((_, n, _)) => Some(*n),
                None => {
                    return Answer::unprocessable(format!(
                        "state_id {id}: the fake Zammad knows states {STATES:?}"
                    ));
                }
            },
        };
        if let Some(state) = state {
            if !SETTABLE_STATES.contains(&state) {
                return Answer::unprocessable(format!(
                    "state \"{state}\": the fake Zammad sets {SETTABLE_STATES:?} only (pending \
                     states need a pending_time, merging has its own endpoint)"
                ));
            }
            if self.set_state(ticket, state, API_USER) {
                self.fire("update", ticket, None, &["state_id"]);
                let webhook = self.webhook(ticket, None);
                self.webhooks.push(webhook);
            }
        }
        let t = &self.tickets[&ticket];
        Answer::ok(
            200,
            if expand {
                self.ticket_names(t)
            } else {
                self.ticket_record(t)
            },
        )
    }
}

/// A posted article's body checked: what Zammad refuses with 422, in the order it checks,
/// and what the fake refuses because it does not model it.
fn check_article(body: &Value) -> Result<NewArticle, String> {
    let text = match &body["body"] {
        Value::Null => return Err(NO_BODY.into()),
        Value::String(text) => text.clone(),
        other => return Err(format!("body must be a string, got {other}")),
    };
    let kind = match (&body["type_id"], &body["type"]) {
        (Value::Null, Value::Null) => NOTE,
        (Value::Null, Value::String(name)) => ARTICLE_TYPES
            .iter()
            .find(|(_, n)| n == name)
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("No lookup value found for 'type': {}", body["type"]))?,
        (Value::Null, other) => return Err(format!("No lookup value found for 'type': {other}")),
        (id, _) => ARTICLE_TYPES
            .iter()
            .find(|(i, _)| id.as_u64() == Some(*i))
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("type_id {id}: the fake Zammad knows {ARTICLE_TYPES:?}"))?,
    };
    let sender = match (&body["sender_id"], &body["sender"]) {
        (Value::Null, Value::Null) => "Agent",
        (Value::Null, Value::String(name)) => SENDERS
            .iter()
            .find(|(_, n)| n == name)
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("No lookup value found for 'sender': {}", body["sender"]))?,
        (Value::Null, other) => {
            return Err(format!("No lookup value found for 'sender': {other}"));
        }
        (id, _) => SENDERS
            .iter()
            .find(|(i, _)| id.as_u64() == Some(*i))
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("sender_id {id}: the fake Zammad knows {SENDERS:?}"))?,
    };
    let internal = match &body["internal"] {
        Value::Null => false,
        Value::Bool(internal) => *internal,
        other => return Err(format!("internal must be true or false, got {other}")),
    };
    let content_type = match &body["content_type"] {
        Value::Null => "text/plain".to_owned(),
        Value::String(t) if t == "text/plain" || t == "text/html" => t.clone(),
        other => {
            return Err(format!(
                "content_type {other}: the fake Zammad models text/plain and text/html only"
            ));
        }
    };
    let text_field = |name: &str| match &body[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        other => Err(format!("{name} must be a string, got {other}")),
    };
    let to = text_field("to")?;
    let cc = text_field("cc")?;
    let subject = text_field("subject")?;
    if kind == EMAIL && to.as_deref().and_then(recipients).is_none() {
        return Err(NO_RECIPIENT.into());
    }
    if text.trim().is_empty() {
        return Err(NO_BODY.into());
    }
    Ok(NewArticle {
        kind,
        sender,
        body: text,
        content_type,
        internal,
        to,
        cc,
        subject,
    })
}

/// How the client of a `via` ticket would miss or get mangled an article Zammad took.
fn delivery_violations(via: &str, customer: &Customer, a: &NewArticle) -> Vec<String> {
    let sent = SENT_TYPES.contains(&a.kind);
    if a.internal {
        if sent && a.sender != "Customer" {
            return vec![format!(
                "internal: true does not stop Zammad from sending a {} article: the client gets \
                 it while agents see an internal note",
                a.kind
            )];
        }
        return Vec::new();
    }
    if sent && a.sender == "Customer" && via != WEB {
        return vec![format!(
            "sender Customer: Zammad sends no {} article of a customer's, the client never gets \
             it",
            a.kind
        )];
    }
    let mut broken = Vec::new();
    let mailed = |broken: &mut Vec<String>| {
        let listed: Vec<String> = [&a.to, &a.cc]
            .into_iter()
            .flatten()
            .filter_map(|line| recipients(line))
            .flatten()
            .collect();
        if !listed.contains(&customer.email) {
            broken.push(format!(
                "an e-mail to {:?}: the customer ({}) is not among its recipients",
                a.to.as_deref().unwrap_or_default(),
                customer.email
            ));
        }
    };
    match via {
        WEB => match a.kind {
            EMAIL if a.sender != "Customer" => mailed(&mut broken),
            TELEGRAM | SMS => broken.push(format!(
                "a {} article on a web ticket: there is no chat or number to deliver it to",
                a.kind
            )),
            // The portal shows the customer every public article.
            _ => {}
        },
        // The customer of a logged call hears only what is mailed to them.
        PHONE => match a.kind {
            EMAIL if a.sender != "Customer" => mailed(&mut broken),
            kind => broken.push(format!(
                "a {kind} article on a phone ticket: the customer reads nothing of the ticket \
                 but e-mail, and never sees it"
            )),
        },
        _ if a.kind != via => broken.push(format!(
            "a {} article on a ticket opened by {via}: the client reads {via} articles only \
             and never sees it",
            a.kind
        )),
        EMAIL => mailed(&mut broken),
        _ => {
            let chars = a.body.chars().count();
            let limit = match via {
                TELEGRAM => TELEGRAM_TEXT_CHARS,
                WHATSAPP => WHATSAPP_TEXT_CHARS,
                _ => SMS_CHARS,
            };
            if chars > limit {
                broken.push(if via == TELEGRAM || via == WHATSAPP {
                    format!(
                        "a {via} of {chars} characters: the platform takes at most {limit}, the \
                         delivery fails"
                    )
                } else {
                    format!(
                        "an SMS of {chars} characters: Zammad sends the first {limit} only, the \
                         rest is lost"
                    )
                });
            }
            if a.content_type == "text/html" {
                broken.push(format!(
                    "text/html on {via}: Zammad sends the body as it is, the client sees the \
                     markup"
                ));
            }
            if via == SMS && a.to.as_deref() != Some(customer.mobile.as_str()) {
                broken.push(format!(
                    "an SMS to {:?}: Zammad sends it to `to`, the customer's mobile is {}",
                    a.to.as_deref().unwrap_or_default(),
                    customer.mobile
                ));
            }
        }
    }
    broken
}

async fn serve(
    State(fake): State<FakeZammad>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let answer = {
        let mut s = fake.lock();
        let answer = s.answer(&method, &path, &query, &headers, &body);
        s.log.record(
            method.as_str(),
            uri.path_and_query().map_or(path, |p| p.as_str().to_owned()),
            &body,
            answer.status,
            answer.broke.clone(),
        );
        answer
    };
    let status = StatusCode::from_u16(answer.status).expect("a valid HTTP status");
    let mut response = match answer.body {
        Value::Null => status.into_response(),
        Value::String(text) => (status, [(CONTENT_TYPE, "text/plain")], text).into_response(),
        body => (
            status,
            [(CONTENT_TYPE, "application/json; charset=utf-8")],
            rails_escape(&body.to_string()),
        )
            .into_response(),
    };
    if let Some(seconds) = answer.retry_after {
        response
            .headers_mut()
            .insert(RETRY_AFTER, seconds.to_string().parse().expect("digits"));
    }
    if let Some(failure) = answer.failure
        && let Ok(value) = failure.parse()
    {
        response.headers_mut().insert("x-failure", value);
    }
    response
}
