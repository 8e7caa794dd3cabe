//! Where low-rating alerts go: an e-mail over SMTP (lettre), a Telegram message through the
//! server's bot, or a POST to the recipient's webhook with a Slack-compatible `text`.
//!
//! A sink sends one alert once and reports a [`SendOutcome`]; the scheduler owns retries,
//! exactly as for rating requests. Each alert names the line, the operator, the client, the
//! rating and its comment (unless flagged as abusive), with a link to the session.
//!
//! Webhook alerts go under the outbound policy like every other call, and are signed like
//! the connector's requests (`X-Rateline-Signature`), with the recipient's
//! `notify.webhook_secret` or else the server's.
//!
//! A test alert (a person's "send me a test alert") goes the same way, says it is a test,
//! and carries `"test": true` and `X-Rateline-Event: test_alert` on a webhook.
//!
//! A comment that came after an alert left follows it, threaded where the sink can: an
//! e-mail `In-Reply-To` the alert's, a Telegram reply to the alert's message, and on a
//! webhook the alert's own `alert.id` with `X-Rateline-Event: alert_comment`.
//!
//! An operator's digest of the ratings of their chats (`rating.notify_operator`) leaves
//! through the same sinks, to the operator's own addresses, with `X-Rateline-Event:
//! rating_notice` on a webhook.
//!
//! What the client wrote never passes for Rateline's words: a comment is the last part of a
//! message, each of its lines quoted behind `> `, and in a webhook's `text` (which Slack,
//! Mattermost and Teams render) the client's words and names are escaped so they ping
//! nobody and make no link (see [`rateline_adapters::markup`]).

use std::sync::Arc;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rateline_adapters::http::outcome_of_post;
use rateline_adapters::outbound::Policy;
use rateline_adapters::webhook::{EVENT_HEADER, SIGNATURE_HEADER, sign};
use rateline_adapters::{ChannelAdapter, OutgoingText, SendOutcome, TextKind};
use rateline_domain::{ClientRef, Id, Scale, SessionId};
use serde_json::json;

use crate::settings::SmtpSettings;
use crate::store::{AlertDelivery, DigestDelivery, DigestKind};

/// The sinks this server can send alerts through.
pub struct AlertSinks {
    email: Option<EmailSink>,
    http: reqwest::Client,
    policy: Policy,
    /// Signs webhook alerts of people without a secret of their own.
    server_secret: rateline_domain::Secret,
    /// Links in alerts point here.
    public_url: String,
}

struct EmailSink {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

/// Why the sinks cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// `smtp.url` is not a URL lettre can send mail through; lettre's words say which part.
    #[error("smtp.url: {0}")]
    SmtpUrl(String),
    /// `smtp.from` is not an e-mail address (with or without a display name).
    #[error("smtp.from: '{0}' is not an e-mail address")]
    SmtpFrom(String),
}

impl AlertSinks {
    /// The sinks these settings allow: e-mail where `smtp` is set, webhooks under `policy`, each
    /// call given `timeout`. Webhook alerts of people without a secret of their own are signed with
    /// `server_secret`; links point to `public_url`.
    pub fn new(
        smtp: Option<&SmtpSettings>,
        policy: &Policy,
        server_secret: rateline_domain::Secret,
        public_url: &str,
        timeout: Duration,
    ) -> Result<Self, SinkError> {
        let email = smtp.map(|s| email_sink(s, timeout)).transpose()?;
        Ok(Self {
            email,
            http: policy
                .client(timeout)
                .build()
                .expect("the HTTP client builds with static settings"),
            policy: policy.clone(),
            server_secret,
            public_url: public_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Sends one alert. `telegram` is the bot's adapter when the server has one.
    pub async fn send(
        &self,
        alert: &AlertDelivery,
        telegram: Option<&Arc<dyn ChannelAdapter>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> SendOutcome {
        let Some(address) = alert.address.as_deref() else {
            return SendOutcome::Failed {
                reason: "the alert has no address".into(),
            };
        };
        if let Some(held) = follow_up_held(alert) {
            return held;
        }
        let markup = if alert.sink == "webhook" {
            Markup::Chat
        } else {
            Markup::Plain
        };
        let message = AlertMessage::of(alert, &self.public_url, markup);
        match alert.sink.as_str() {
            "email" => match &self.email {
                Some(email) => email.send(alert, address, &message).await,
                None => SendOutcome::Failed {
                    reason: "e-mail alerts need [smtp] url and from in the configuration".into(),
                },
            },
            "telegram" => {
                let message = OutgoingText {
                    id: alert.id.clone(),
                    kind: TextKind::Alert,
                    session_id: alert.session_id.clone(),
                    line_id: alert.line_id.clone(),
                    to: ClientRef {
                        id: Id::stored(address.to_owned()),
                        name: None,
                    },
                    text: message.text,
                    last_client_message_at: None,
                    now,
                    webhook: None,
                    reply_to: alert.thread.as_ref().and_then(|t| t.reply_to.clone()),
                };
                by_telegram(telegram, &message).await
            }
            "webhook" => self.post(address, alert, &message).await,
            other => SendOutcome::Failed {
                reason: format!("unknown alert sink '{other}'"),
            },
        }
    }

    /// Sends an operator's digest of the ratings of their chats (`rating.notify_operator`)
    /// through the address it is for: an e-mail, a Telegram message, or a POST whose `text`
    /// a chat shows as it is, with `X-Rateline-Event: rating_notice`.
    ///
    /// One piece: one match over the sinks, each arm the message that sink carries.
    pub async fn send_digest(
        &self,
        n: &DigestDelivery,
        telegram: Option<&Arc<dyn ChannelAdapter>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> SendOutcome {
        let markup = if n.sink == "webhook" {
            Markup::Chat
        } else {
            Markup::Plain
        };
        let (subject, text) = digest_words(n, &self.public_url, markup);
        match n.sink.as_str() {
            "email" => match &self.email {
                Some(email) => {
                    let id = email.message_id("notice", &n.id);
                    email
                        .mail(&n.address, id, None, &subject, &text, "notice")
                        .await
                }
                None => SendOutcome::Failed {
                    reason: "e-mail digests need [smtp] url and from in the configuration".into(),
                },
            },
            "telegram" => {
                let first = n.ratings.first();
                let message = OutgoingText {
                    id: n.id.clone(),
                    kind: TextKind::Digest,
                    session_id: first.map_or_else(
                        || SessionId::stored(String::new()),
                        |r| r.session_id.clone(),
                    ),
                    line_id: String::new(),
                    to: ClientRef {
                        id: Id::stored(n.address.clone()),
                        name: None,
                    },
                    text,
                    last_client_message_at: None,
                    now,
                    webhook: None,
                    reply_to: None,
                };
                by_telegram(telegram, &message).await
            }
            "webhook" => {
                if let Err(refused) = self.policy.check_url(&n.address) {
                    return SendOutcome::Failed {
                        reason: format!("the call to the digest webhook was {refused}"),
                    };
                }
                let ratings: Vec<serde_json::Value> = n
                    .ratings
                    .iter()
                    .map(|r| {
                        json!({
                            "rating_id": r.rating_id,
                            "session_id": r.session_id,
                            "page_url": format!("{}/dashboard/sessions/{}", self.public_url, r.session_id),
                            "line": r.line_name,
                            "operator": r.operator_name,
                            "client": r.client_name,
                            "channel": r.channel,
                            "scale": r.scale,
                            "value": r.value,
                            "low": r.low,
                            "comment": r.comment,
                            "reasons": r.reasons,
                            "rated_at": r.rated_at,
                        })
                    })
                    .collect();
                let event = digest_event(n);
                let mut about = json!({"id": n.id, "total": n.total, "ratings": ratings});
                match &n.kind {
                    DigestKind::Ratings => about["operator_id"] = json!(n.operator_id),
                    DigestKind::Alerts | DigestKind::Appeals => {
                        about["recipient"] = json!(n.operator_id)
                    }
                    DigestKind::Burst {
                        line_id,
                        line_name,
                        in_window,
                    } => {
                        about["recipient"] = json!(n.operator_id);
                        about["line"] = json!({"id": line_id, "name": line_name});
                        about["in_last_10_minutes"] = json!(in_window);
                    }
                    // Planned for e-mail alone.
                    DigestKind::Weekly { .. } => about["recipient"] = json!(n.operator_id),
                }
                let key = if event == "rating_notice" {
                    "notice"
                } else {
                    "digest"
                };
                let body = json!({"text": text, "event": event, key: about});
                let body = serde_json::to_vec(&body).expect("a digest serialises");
                let secret = n.webhook_secret.as_ref().unwrap_or(&self.server_secret);
                let sent = self
                    .http
                    .post(&n.address)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header("Idempotency-Key", &n.id)
                    .header(EVENT_HEADER, event)
                    .header(SIGNATURE_HEADER, sign(secret.0.as_bytes(), &body))
                    .body(body)
                    .send()
                    .await;
                outcome_of_post(sent, "the digest webhook")
            }
            other => SendOutcome::Failed {
                reason: format!("unknown digest sink '{other}'"),
            },
        }
    }

    /// POSTs the alert as JSON whose `text` a Slack (or Mattermost, Teams workflow)
    /// incoming webhook shows as it is; the other fields are for programs. Signed like a
    /// connector's request, so a program can tell it came from this Rateline.
    async fn post(&self, url: &str, a: &AlertDelivery, m: &AlertMessage) -> SendOutcome {
        // A literal address is never resolved, so it is checked here, at every send.
        if let Err(refused) = self.policy.check_url(url) {
            return SendOutcome::Failed {
                reason: format!("the call to the alert webhook was {refused}"),
            };
        }
        // A follow-up is about the alert it follows: its id, so a program threads them.
        let alert_id = a.thread.as_ref().map_or(&a.id, |t| &t.alert_id);
        let event = match (a.test, &a.thread) {
            (true, _) => "test_alert",
            (false, Some(_)) => "alert_comment",
            (false, None) => "alert",
        };
        let follow_up = a
            .thread
            .as_ref()
            .map(|_| json!({"id": a.id, "kind": "comment"}));
        let body = json!({
            "text": m.text,
            "test": a.test,
            "event": event,
            "follow_up": follow_up,
            "alert": {
                "id": alert_id,
                "rating_id": a.rating_id,
                "session_id": a.session_id,
                "session_url": m.api_link,
                "page_url": m.link,
                "line": {"id": a.line_id, "name": a.line_name},
                "operator": {"id": a.operator_id, "name": a.operator_name},
                "client": {"id": a.client_id, "name": a.client_name},
                "channel": a.channel,
                "scale": a.scale,
                "value": a.value,
                "comment": a.comment,
                "reasons": a.reasons,
                "rated_at": a.rated_at,
            },
        });
        let body = serde_json::to_vec(&body).expect("an alert serialises");
        let secret = a.webhook_secret.as_ref().unwrap_or(&self.server_secret);
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("Idempotency-Key", &a.id)
            .header(EVENT_HEADER, event)
            .header(SIGNATURE_HEADER, sign(secret.0.as_bytes(), &body))
            .body(body)
            .send()
            .await;
        outcome_of_post(sent, "the alert webhook")
    }
}

/// Sends a message through the server's bot, when it has one.
async fn by_telegram(
    telegram: Option<&Arc<dyn ChannelAdapter>>,
    message: &OutgoingText,
) -> SendOutcome {
    match telegram {
        Some(bot) => bot.send_text(message).await,
        None => SendOutcome::Failed {
            reason: "Telegram messages to people need the [telegram] bot configured".into(),
        },
    }
}

/// How a message's text is read where it goes: as plain text (e-mail, Telegram), or as a
/// chat's markup (a webhook's `text`, which Slack, Mattermost and Teams render).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Markup {
    Plain,
    Chat,
}

impl Markup {
    /// Someone else's words (a name, a reason's text) as this markup shows them inertly.
    fn words(self, text: &str) -> String {
        match self {
            Markup::Plain => text.to_owned(),
            Markup::Chat => rateline_adapters::markup::chat(text),
        }
    }

    /// A client's comment as the last part of a message: `Comment:` and the comment quoted,
    /// line by line.
    fn comment(self, comment: Option<&str>) -> String {
        match comment {
            None => "Comment: (none)".to_owned(),
            Some(c) => format!(
                "Comment:\n{}",
                rateline_adapters::markup::quoted(&self.words(c))
            ),
        }
    }
}

/// What a webhook digest's `event` (and `X-Rateline-Event`) says it is.
fn digest_event(n: &DigestDelivery) -> &'static str {
    match n.kind {
        DigestKind::Ratings => "rating_notice",
        DigestKind::Alerts => "alert_digest",
        DigestKind::Appeals => "appeal_digest",
        DigestKind::Burst { .. } => "alert_burst",
        DigestKind::Weekly { .. } => "weekly_report",
    }
}

/// A digest's subject and text: what it is about and how many, then each rating (at most
/// [`crate::store::DIGEST_LISTS`]) with its line, its value, the reasons, its session's page
/// and the comment (cut to [`crate::store::DIGEST_COMMENT_CHARS`], quoted last), and a link
/// to the rest.
fn digest_words(n: &DigestDelivery, public_url: &str, markup: Markup) -> (String, String) {
    let plural = |one: &str, many: &str| {
        if n.total == 1 {
            one.to_owned()
        } else {
            format!("{} {many}", n.total)
        }
    };
    let (subject, rest) = match &n.kind {
        DigestKind::Weekly {
            from,
            to,
            zone,
            lines,
        } => return week_words(*from, *to, *zone, lines, public_url),
        DigestKind::Ratings => (
            format!("{} of your chats", plural("1 new rating", "new ratings")),
            format!("{public_url}/dashboard/operators/{}", n.operator_id),
        ),
        DigestKind::Alerts => (
            plural("1 low rating", "low ratings"),
            format!("{public_url}/dashboard/inbox"),
        ),
        DigestKind::Appeals => (
            format!(
                "{} to decide",
                plural("1 appeal of a rating", "appeals of ratings")
            ),
            format!("{public_url}/dashboard/appeals"),
        ),
        DigestKind::Burst {
            line_id,
            line_name,
            in_window,
        } => (
            format!(
                "Something is wrong on {}: {in_window} low ratings in 10 minutes",
                markup.words(line_name)
            ),
            format!("{public_url}/dashboard/inbox?line={line_id}"),
        ),
    };
    let mut text = format!("{subject}\n");
    if let DigestKind::Burst { .. } = n.kind {
        text.push_str(&format!(
            "\nMore low ratings than usual came on this line; they are gathered here, at most \
             one message every 10 minutes. {} in this message.\nThe line's inbox: {rest}\n",
            plural("1 rating", "ratings")
        ));
    }
    if n.kind == DigestKind::Appeals {
        text.push_str(&format!(
            "\nAn operator asks that these ratings be voided. Decide on the appeals page: {rest}\n"
        ));
    }
    let alerts = n.kind != DigestKind::Ratings;
    for r in &n.ratings {
        text.push_str(&format!(
            "\n{} on {}{}\n",
            rating_words(r.scale, r.value),
            markup.words(&r.line_name),
            if r.low && !alerts { " (low)" } else { "" }
        ));
        if alerts {
            let operator = r.operator_name.as_deref().unwrap_or("no operator");
            let client = r.client_name.as_deref().unwrap_or("a client");
            text.push_str(&format!(
                "Operator: {} · Client: {} · {}\n",
                markup.words(operator),
                markup.words(client),
                r.channel
            ));
        }
        if !r.reasons.is_empty() {
            let reasons: Vec<String> = r.reasons.iter().map(|t| markup.words(t)).collect();
            text.push_str(&format!("Reasons: {}\n", reasons.join(", ")));
        }
        text.push_str(&format!(
            "{public_url}/dashboard/sessions/{}\n",
            r.session_id
        ));
        if let Some(c) = &r.comment {
            let mut said: String = c.chars().take(crate::store::DIGEST_COMMENT_CHARS).collect();
            if said.len() < c.len() {
                said.push('…');
            }
            text.push_str(&markup.comment(Some(&said)));
            text.push('\n');
        }
    }
    let more = n.total.saturating_sub(n.ratings.len());
    if more > 0 {
        text.push_str(&format!("\nand {more} more: {rest}\n"));
    }
    (subject, text)
}

/// A weekly report's subject and text: each line's week against the week before, then
/// each operator's, and the link to the Quality page for that week on that line.
fn week_words(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    zone: chrono_tz::Tz,
    lines: &[crate::store::WeekOfLine],
    public_url: &str,
) -> (String, String) {
    let first = from.with_timezone(&zone).date_naive();
    let last = to.with_timezone(&zone).date_naive() - chrono::Duration::days(1);
    let subject = format!("Your week in ratings: {first} to {last}");
    let mut text = format!("{subject}\n");
    if lines.is_empty() {
        text.push_str("\nNo line is yours to see yet: an admin adds lines to you.\n");
    }
    for line in lines {
        text.push_str(&format!(
            "\n{}\n{}\n",
            line.name,
            week_line(line.now.as_ref(), line.before.as_ref(), true)
        ));
        for (name, now, before) in &line.operators {
            text.push_str(&format!(
                "- {name}: {}\n",
                week_line(now.as_ref(), before.as_ref(), false)
            ));
        }
        text.push_str(&format!(
            "{public_url}/dashboard?line={}&from={first}&to={last}\n",
            line.id
        ));
    }
    (subject, text)
}

/// A week's numbers against the week before's; with `verdict`, whether CSAT's change is
/// beyond the noise (see [`crate::report::change`]).
fn week_line(
    now: Option<&crate::store::ReportGroup>,
    before: Option<&crate::store::ReportGroup>,
    verdict: bool,
) -> String {
    let percent = |g: Option<&crate::store::ReportGroup>| {
        g.and_then(|g| g.csat)
            .map_or_else(|| "—".to_owned(), |c| format!("{:.1}%", c * 100.0))
    };
    let n = |g: Option<&crate::store::ReportGroup>, f: fn(&crate::store::ReportGroup) -> i64| {
        g.map_or(0, f)
    };
    let mut said = format!(
        "CSAT {} (was {}), {} answered (was {}), {} low (was {})",
        percent(now),
        percent(before),
        n(now, |g| g.answered),
        n(before, |g| g.answered),
        n(now, |g| g.low),
        n(before, |g| g.low),
    );
    if verdict {
        match crate::report::Trend::of(now.cloned(), before.cloned()).csat_change {
            Some(c) => {
                let (change, noise) = c.words();
                said.push_str(&format!("; CSAT {change}, {noise}"));
            }
            None => said.push_str("; too few ratings to compare"),
        }
    }
    said
}

/// 👍, 👎, or stars with their number.
fn rating_words(scale: Scale, value: i64) -> String {
    match scale {
        Scale::Binary if value >= 1 => "👍".to_owned(),
        Scale::Binary => "👎".to_owned(),
        Scale::FiveStar => format!(
            "{}{} ({}/5)",
            "★".repeat(value.clamp(0, 5) as usize),
            "☆".repeat((5 - value).clamp(0, 5) as usize),
            value
        ),
    }
}

fn email_sink(s: &SmtpSettings, timeout: Duration) -> Result<EmailSink, SinkError> {
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&s.url)
        // lettre's message names the URL's part it could not read, never the password.
        .map_err(|e| SinkError::SmtpUrl(e.to_string()))?
        .timeout(Some(timeout))
        .build();
    let from = s
        .from
        .parse::<Mailbox>()
        .map_err(|_| SinkError::SmtpFrom(s.from.clone()))?;
    Ok(EmailSink { transport, from })
}

impl EmailSink {
    async fn send(&self, alert: &AlertDelivery, to: &str, m: &AlertMessage) -> SendOutcome {
        // One Message-ID per alert: a mail sent again after a crash is the same mail, and
        // mail clients show it once. A comment's follow-up replies to its alert, so mail
        // clients thread them.
        let thread = alert
            .thread
            .as_ref()
            .map(|t| self.message_id("alert", &t.alert_id));
        let id = self.message_id("alert", &alert.id);
        self.mail(to, id, thread, &m.subject, &m.text, "alert")
            .await
    }

    fn message_id(&self, kind: &str, id: &str) -> String {
        format!("<{kind}.{id}@{}>", self.from.email.domain())
    }

    /// Sends one plain-text mail; `what` names it in a refusal.
    async fn mail(
        &self,
        to: &str,
        message_id: String,
        in_reply_to: Option<String>,
        subject: &str,
        text: &str,
        what: &str,
    ) -> SendOutcome {
        let Ok(to) = to.parse::<Mailbox>() else {
            return SendOutcome::Undeliverable {
                reason: format!("'{to}' is not an e-mail address"),
            };
        };
        let mut builder = Message::builder().message_id(Some(message_id));
        if let Some(parent) = in_reply_to {
            builder = builder.in_reply_to(parent.clone()).references(parent);
        }
        let email = match builder
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(text.to_owned())
        {
            Ok(e) => e,
            Err(e) => {
                return SendOutcome::Failed {
                    reason: format!("the e-mail cannot be built: {e}"),
                };
            }
        };
        match self.transport.send(email).await {
            Ok(_) => SendOutcome::Accepted {
                platform_message_id: None,
            },
            // 5xx: the server refused this mail for good (no such mailbox, policy).
            Err(e) if e.is_permanent() => SendOutcome::Undeliverable {
                reason: format!("the SMTP server refused the {what}: {e}"),
            },
            // 4xx, a lost connection, a timeout: the next try may get through.
            Err(e) => SendOutcome::Retry {
                after: None,
                reason: format!("the SMTP server did not take the {what}: {e}"),
            },
        }
    }
}

/// Why a comment's follow-up is not sent now: it waits while the alert it follows is on its
/// way, and is skipped when that alert never left, already said the comment, or the comment
/// or the low rating is gone.
fn follow_up_held(alert: &AlertDelivery) -> Option<SendOutcome> {
    let thread = alert.thread.as_ref()?;
    let skipped = |reason: &str| {
        Some(SendOutcome::Skipped {
            reason: reason.into(),
        })
    };
    match thread.status.as_str() {
        "sent" => {}
        "pending" | "sending" => {
            return Some(SendOutcome::Defer {
                after: Duration::from_secs(5),
                reason: "the alert it follows is still on its way".into(),
            });
        }
        _ => return skipped("the alert it follows did not reach its recipient"),
    }
    if thread.carried_comment {
        skipped("the alert it follows said the comment already")
    } else if alert.comment.is_none() {
        skipped("the comment was flagged as abusive")
    } else if !alert.low {
        skipped("the rating is no longer low")
    } else {
        None
    }
}

/// An alert's words.
struct AlertMessage {
    subject: String,
    text: String,
    /// The session's dashboard page, where a supervisor acts on the rating.
    link: String,
    /// The session in the API, for programs.
    api_link: String,
}

impl AlertMessage {
    /// The alert's words; the text in `markup`, where it goes (the subject is plain).
    fn of(a: &AlertDelivery, public_url: &str, markup: Markup) -> Self {
        let rating = rating_words(a.scale, a.value);
        let person = |id: &Option<String>, name: &Option<String>| match (id, name) {
            (Some(id), Some(name)) => format!("{name} ({id})"),
            (Some(id), None) => id.clone(),
            (None, _) => "nobody".to_owned(),
        };
        let plain_operator = person(&a.operator_id, &a.operator_name);
        let operator = markup.words(&plain_operator);
        let client = markup.words(&person(&Some(a.client_id.clone()), &a.client_name));
        if a.test {
            return Self {
                subject: "Test alert from Rateline".into(),
                text: format!(
                    "Test alert from Rateline\n\
                     This is how Rateline tells you of a low rating on the lines you hear \
                     about; nobody rated anything.\n\
                     Dashboard: {public_url}/dashboard/inbox"
                ),
                link: format!("{public_url}/dashboard/inbox"),
                api_link: format!("{public_url}/v1/ratings"),
            };
        }
        let link = format!("{public_url}/dashboard/sessions/{}", a.session_id);
        let api_link = format!("{public_url}/v1/sessions/{}", a.session_id);
        let subject = format!("Low rating {rating} on {}: {plain_operator}", a.line_name);
        // A late comment's follow-up says what it is, and replies to the alert's subject.
        let (subject, opening) = match a.thread {
            Some(_) => (
                format!("Re: {subject}"),
                "The client commented on the low rating",
            ),
            None => (subject, "Low rating"),
        };
        // Reasons, where the line asks for them: "(none)" when the client gave none.
        let reasons = a.reasons.as_ref().map_or(String::new(), |r| {
            let texts: Vec<String> = r.iter().map(|r| markup.words(&r.text)).collect();
            let said = if texts.is_empty() {
                "(none)".to_owned()
            } else {
                texts.join(", ")
            };
            format!("Reasons: {said}\n")
        });
        // The comment comes last: nothing of Rateline's follows what the client wrote.
        let text = format!(
            "{opening} {rating} on line {line} ({line_id})\n\
             Operator: {operator}\n\
             Client: {client} via {channel}\n\
             {reasons}\
             Session: {link}\n\
             {comment}",
            line = markup.words(&a.line_name),
            line_id = a.line_id,
            channel = a.channel,
            comment = markup.comment(a.comment.as_deref()),
        );
        Self {
            subject,
            text,
            link,
            api_link,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(scale: Scale, value: i64) -> AlertDelivery {
        AlertDelivery {
            id: "a-1".into(),
            sink: "email".into(),
            address: Some("sup@example.com".into()),
            rating_id: "g-1".into(),
            session_id: SessionId::stored("s-1".into()),
            line_id: "support".into(),
            line_name: "Support".into(),
            channel: "telegram".into(),
            operator_id: Some("op-1".into()),
            operator_name: Some("Ann".into()),
            client_id: "42".into(),
            client_name: None,
            scale,
            value,
            comment: None,
            reasons: None,
            rated_at: chrono::Utc::now(),
            webhook_secret: None,
            test: false,
            low: true,
            thread: None,
        }
    }

    #[test]
    fn an_alert_names_line_operator_client_rating_comment_and_links_the_session() {
        let m = AlertMessage::of(
            &delivery(Scale::FiveStar, 2),
            "http://rl.example",
            Markup::Plain,
        );
        assert_eq!(m.subject, "Low rating ★★☆☆☆ (2/5) on Support: Ann (op-1)");
        assert!(m.text.contains("line Support (support)"), "{}", m.text);
        assert!(m.text.contains("Client: 42 via telegram"), "{}", m.text);
        assert!(
            m.text
                .ends_with("Session: http://rl.example/dashboard/sessions/s-1\nComment: (none)"),
            "{}",
            m.text
        );
        let m = AlertMessage::of(
            &delivery(Scale::Binary, 0),
            "http://rl.example",
            Markup::Plain,
        );
        assert!(m.subject.starts_with("Low rating 👎"), "{}", m.subject);
    }

    #[test]
    fn a_comment_is_quoted_last_and_pings_or_links_nothing_in_a_chat() {
        let spoof = "<!channel> <https://phish.example|Open the session in Rateline>\n\
                     Session: https://phish.example [Open](https://phish.example) @channel";
        let a = AlertDelivery {
            comment: Some(spoof.into()),
            client_name: Some("<!here> Ann".into()),
            ..delivery(Scale::Binary, 0)
        };
        let chat = AlertMessage::of(&a, "http://rl.example", Markup::Chat).text;
        for control in ["<!", "<https", "](", "@channel"] {
            assert!(!chat.contains(control), "{control} in {chat}");
        }
        let lines: Vec<&str> = chat.lines().collect();
        let sessions: Vec<&&str> = lines.iter().filter(|l| l.starts_with("Session:")).collect();
        assert_eq!(
            sessions,
            [&"Session: http://rl.example/dashboard/sessions/s-1"],
            "{chat}"
        );
        assert_eq!(lines[lines.len() - 3], "Comment:", "{chat}");
        assert!(lines[lines.len() - 1].starts_with("> Session: https://phish.example"));
        // Plain text (e-mail, Telegram) keeps the words as written, quoted all the same.
        let plain = AlertMessage::of(&a, "http://rl.example", Markup::Plain).text;
        assert!(plain.ends_with(&format!("Comment:\n> {}", spoof.replace('\n', "\n> "))));
    }

    #[test]
    fn a_digest_cuts_long_comments_and_counts_what_it_does_not_list() {
        let rating = |n: usize| crate::store::DigestRating {
            rating_id: format!("g-{n}"),
            session_id: SessionId::stored(format!("s-{n}")),
            line_name: "Support".into(),
            operator_name: Some("Olga".into()),
            client_name: Some("<!here> Ann".into()),
            channel: "telegram".into(),
            scale: Scale::Binary,
            value: i64::from(n.is_multiple_of(2)),
            low: !n.is_multiple_of(2),
            comment: Some("x".repeat(500)),
            reasons: vec!["Slow".into()],
            rated_at: chrono::Utc::now(),
        };
        let mut n = DigestDelivery {
            id: "n-1".into(),
            kind: DigestKind::Ratings,
            operator_id: "op-1".into(),
            operator_name: None,
            sink: "telegram".into(),
            address: "42".into(),
            webhook_secret: None,
            ratings: (0..crate::store::DIGEST_LISTS).map(rating).collect(),
            total: 25,
            withdrawn: None,
            last_sent_at: None,
            every: crate::store::DIGEST_EVERY,
            quiet_until: None,
        };
        let (subject, text) = digest_words(&n, "http://rl.example", Markup::Plain);
        assert_eq!(subject, "25 new ratings of your chats");
        assert!(text.contains("👍 on Support\n"), "{text}");
        assert!(
            text.contains("👎 on Support (low)\nReasons: Slow\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "/dashboard/sessions/s-1\nComment:\n> {}…\n",
                "x".repeat(200)
            )),
            "{text}"
        );
        assert!(
            text.ends_with("and 15 more: http://rl.example/dashboard/operators/op-1\n"),
            "{text}"
        );
        // One Telegram message holds it.
        assert!(text.chars().count() <= 4096, "{}", text.chars().count());

        // A supervisor's digest names the operator and the client, and links the inbox.
        n.kind = DigestKind::Alerts;
        let (subject, text) = digest_words(&n, "http://rl.example", Markup::Chat);
        assert_eq!(subject, "25 low ratings");
        assert!(
            text.contains("Operator: Olga · Client: &lt;!here&gt; Ann · telegram\n"),
            "{text}"
        );
        assert!(
            text.ends_with("and 15 more: http://rl.example/dashboard/inbox\n"),
            "{text}"
        );
        assert!(text.chars().count() <= 4096, "{}", text.chars().count());

        // A burst says which line, how many came, and links that line's inbox.
        n.kind = DigestKind::Burst {
            line_id: "support".into(),
            line_name: "Support".into(),
            in_window: 37,
        };
        let (subject, text) = digest_words(&n, "http://rl.example", Markup::Plain);
        assert_eq!(
            subject,
            "Something is wrong on Support: 37 low ratings in 10 minutes"
        );
        assert!(
            text.ends_with("and 15 more: http://rl.example/dashboard/inbox?line=support\n"),
            "{text}"
        );
    }

    /// A follow-up of alert `a-0` in `status`, which said the comment or not.
    fn follow_up(status: &str, carried_comment: bool) -> AlertDelivery {
        AlertDelivery {
            comment: Some("slow".into()),
            reasons: None,
            thread: Some(crate::store::Thread {
                alert_id: "a-0".into(),
                reply_to: None,
                status: status.into(),
                carried_comment,
            }),
            ..delivery(Scale::Binary, 0)
        }
    }

    #[test]
    fn a_follow_up_waits_for_its_alert_and_never_repeats_or_outlives_it() {
        assert_eq!(follow_up_held(&follow_up("sent", false)), None);
        assert_eq!(
            follow_up_held(&delivery(Scale::Binary, 0)),
            None,
            "not a follow-up"
        );
        for on_its_way in ["pending", "sending"] {
            assert!(
                matches!(
                    follow_up_held(&follow_up(on_its_way, false)),
                    Some(SendOutcome::Defer { .. })
                ),
                "{on_its_way}"
            );
        }
        let skipped = |a: AlertDelivery| match follow_up_held(&a) {
            Some(SendOutcome::Skipped { reason }) => reason,
            other => panic!("not skipped: {other:?}"),
        };
        assert!(skipped(follow_up("failed", false)).contains("did not reach"));
        assert!(skipped(follow_up("skipped", false)).contains("did not reach"));
        assert!(skipped(follow_up("sent", true)).contains("said the comment already"));
        let flagged = AlertDelivery {
            comment: None,
            reasons: None,
            ..follow_up("sent", false)
        };
        assert!(skipped(flagged).contains("flagged"));
        let raised = AlertDelivery {
            low: false,
            ..follow_up("sent", false)
        };
        assert!(skipped(raised).contains("no longer low"));
    }

    #[test]
    fn a_follow_up_replies_to_its_alerts_subject_and_says_the_comment() {
        let m = AlertMessage::of(
            &follow_up("sent", false),
            "http://rl.example",
            Markup::Plain,
        );
        assert_eq!(m.subject, "Re: Low rating 👎 on Support: Ann (op-1)");
        assert!(
            m.text
                .starts_with("The client commented on the low rating 👎"),
            "{}",
            m.text
        );
        assert!(m.text.ends_with("Comment:\n> slow"), "{}", m.text);
    }
}
