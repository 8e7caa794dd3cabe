//! `/dashboard/connectors` (admins): the Helpdesks page. Every Chatwoot account, Zammad
//! instance and Rocket.Chat server this server rates the conversations of, with the webhook URL to give it, which
//! inboxes or groups go to which line and who is credited; a form that connects a new one;
//! and each helpdesk's page, where its settings are changed or it is disconnected. As
//! `GET`, `PUT` and `DELETE /v1/connectors/{helpdesk}/{id}`, through the same engine
//! operations: a saved form is the helpdesk written whole (a blank token or secret keeps the
//! stored one), at the version the page was opened at. A helpdesk from the config file is
//! read-only.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rateline_domain::{
    ChatwootSettings, ErrorCode, Helpdesk, HelpdeskSettings, Invalid, ManagedBy,
    RocketChatSettings, ZammadSettings,
};
use serde_json::json;

use crate::dashboard::form::{self, Kind, Refusal, Sections, Values, f, one, with_status};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::viewer::Viewer;
use crate::dashboard::visit::{Visit, flash, take_flash, viewer};
use crate::engine::HelpdeskRecord;
use crate::http::{ApiError, AppState};
use crate::policy::Caller;
use crate::store::redact_url;

const TITLE: &str = "Helpdesks";

const CHATWOOT: &Sections = &[
    (
        "connection",
        "Connection",
        &[
            f(
                "url",
                "Chatwoot's address",
                Kind::Text,
                "e.g. https://chatwoot.example.com, under the outbound policy.",
            ),
            f(
                "api_token",
                "API token",
                Kind::Secret,
                "An agent's or agent bot's access token (Profile settings → Access token).",
            ),
            f(
                "webhook_secret",
                "Webhook secret",
                Kind::Secret,
                "The secret Chatwoot shows for the account webhook: every call must be signed with it.",
            ),
            f(
                "allow_unsigned",
                "Take unsigned calls when no secret is set",
                Kind::Check,
                "Only for a Chatwoot release that signs nothing: anyone who can reach the URL can then forge events.",
            ),
        ],
    ),
    (
        "mapping",
        "Lines and people",
        &[
            f(
                "inboxes",
                "Inboxes",
                Kind::Map,
                "One inbox id: line id per line, e.g. 3: support. An inbox not listed goes to the line chatwoot-{inbox}, when it exists.",
            ),
            f(
                "agents",
                "Agents",
                Kind::Map,
                "One agent id: person id per line, e.g. 7: olga. An agent not listed is credited as chatwoot-{agent}.",
            ),
            f(
                "rate_bot_conversations",
                "Ask for a rating when a bot held the conversation",
                Kind::Check,
                "Its rating is the bot's (chatwoot-bot-{id}), never a person's. Off, nobody is asked.",
            ),
        ],
    ),
    (
        "after",
        "After the answer",
        &[
            f(
                "private_note",
                "Write each rating into its conversation as a private note",
                Kind::Check,
                "Agents see the rating, reasons and comment where they work.",
            ),
            f(
                "resolve_after_answer",
                "Resolve a conversation the answer reopened",
                Kind::Check,
                "Chatwoot reopens a resolved conversation on any client message, the answer included.",
            ),
        ],
    ),
];

const ZAMMAD: &Sections = &[
    (
        "connection",
        "Connection",
        &[
            f(
                "url",
                "Zammad's address",
                Kind::Text,
                "e.g. https://zammad.example.com, under the outbound policy.",
            ),
            f(
                "api_token",
                "API token",
                Kind::Secret,
                "An agent's token with ticket.agent (Profile → Token Access).",
            ),
            f(
                "webhook_token",
                "Webhook signature token",
                Kind::Secret,
                "The webhook's HMAC SHA1 signature token in Zammad: every call must be signed with it.",
            ),
            f(
                "allow_unsigned",
                "Take unsigned calls when no token is set",
                Kind::Check,
                "Anyone who can reach the URL can then forge events.",
            ),
        ],
    ),
    (
        "mapping",
        "Lines and people",
        &[
            f(
                "groups",
                "Groups",
                Kind::Map,
                "One group id: line id per line, e.g. 2: support. A group not listed goes to the line zammad-{group}, when it exists.",
            ),
            f(
                "agents",
                "Agents",
                Kind::Map,
                "One user id: person id per line, e.g. 5: olga. An agent not listed is credited as zammad-{user}.",
            ),
        ],
    ),
    (
        "after",
        "After the answer",
        &[
            f(
                "internal_note",
                "Write each rating into its ticket as an internal note",
                Kind::Check,
                "Agents see the rating, reasons and comment where they work.",
            ),
            f(
                "close_after_answer",
                "Close a ticket the answer reopened",
                Kind::Check,
                "Zammad reopens a closed ticket on a customer's follow-up, the answer included.",
            ),
        ],
    ),
];

const ROCKETCHAT: &Sections = &[
    (
        "connection",
        "Connection",
        &[
            f(
                "url",
                "Rocket.Chat's address",
                Kind::Text,
                "e.g. https://chat.example.com, under the outbound policy.",
            ),
            f(
                "user_id",
                "Ratings user's id",
                Kind::Text,
                "Shown with its personal access token (My Account → Personal Access Tokens).",
            ),
            f(
                "api_token",
                "Personal access token",
                Kind::Secret,
                "The Ratings user's: it needs the livechat-agent and livechat-manager roles, and bot to lift the rate limit.",
            ),
            f(
                "webhook_token",
                "Secret Token",
                Kind::Secret,
                "The Secret Token of Omnichannel → Webhooks: every call must carry it.",
            ),
            f(
                "allow_unsigned",
                "Take calls without the token when none is set",
                Kind::Check,
                "Anyone who can reach the URL can then forge events.",
            ),
        ],
    ),
    (
        "mapping",
        "Lines and people",
        &[
            f(
                "departments",
                "Departments",
                Kind::Map,
                "One department id: line id per line. A department not listed goes to the line rocketchat-{department}, a chat without one to rocketchat-{server}, when it exists.",
            ),
            f(
                "agents",
                "Agents",
                Kind::Map,
                "One username: person id per line, e.g. olga.k: olga. An agent not listed is credited as the person named by their username.",
            ),
        ],
    ),
];

/// What the pages need of each helpdesk's settings besides the trait.
trait Shown: HelpdeskSettings {
    const SECTIONS: &'static Sections;
}

impl Shown for ChatwootSettings {
    const SECTIONS: &'static Sections = CHATWOOT;
}

impl Shown for ZammadSettings {
    const SECTIONS: &'static Sections = ZAMMAD;
}

impl Shown for RocketChatSettings {
    const SECTIONS: &'static Sections = ROCKETCHAT;
}

/// The helpdesk a page's path names.
fn helpdesk_of(path: &str) -> Result<Helpdesk, ApiError> {
    path.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::HelpdeskNotFound,
            format!(
                "'{path}' is not a helpdesk Rateline connects to: chatwoot, zammad or rocketchat"
            ),
        )
    })
}

/// A refusal as the helpdesk forms show it: a map's entry (`agents.7`) is the map's field,
/// the secret and the id of the "connect" form are theirs.
fn refusal_of(e: ApiError) -> Refusal {
    let mut r = Refusal::from(e);
    r.field = r.field.map(|f| {
        let first = f.split('.').next().unwrap_or(&f);
        match first {
            "account" | "instance" => "id",
            other => other,
        }
        .to_owned()
    });
    r
}

/// `GET /dashboard/connectors`.
pub async fn list(State(state): State<AppState>, Visit { caller, session }: Visit) -> Response {
    let said = take_flash(&session).await;
    list_page(&state, &caller, &Values::new(), said, None).await
}

/// A helpdesk's summary on the list: its settings, the webhook URL, where it is defined.
fn summary<S: HelpdeskSettings>(
    state: &AppState,
    viewer: &Viewer,
    c: &HelpdeskRecord<S>,
) -> Markup {
    let helpdesk = S::HELPDESK;
    let s = &c.settings;
    let path = format!("/dashboard/connectors/{helpdesk}/{}", c.id);
    html! {
        section.connector #{ "connector-" (helpdesk) "-" (c.id) } {
            h2 { a href=(path) { (helpdesk.title()) " " (helpdesk.unit()) " " (c.id) } }
            dl {
                dt { "Address" } dd { (redact_url(s.url())) }
                dt { "Webhook URL" } dd { code.webhook-url { (state.link(&helpdesk.webhook_path(&c.id))) } }
                dt { "Calls" } dd {
                    @if s.signed() { "must be signed" } @else { "may be unsigned (allow_unsigned): anyone who can reach the URL can post events" }
                }
                dt { (match helpdesk { Helpdesk::Chatwoot => "Inboxes", Helpdesk::Zammad => "Groups", Helpdesk::RocketChat => "Departments" }) }
                dd {
                    @for (id, line) in s.places() { (id) " → " (viewer.line(line)) br; }
                    "others → " code { (helpdesk) "-{id}" } ", when that line exists"
                }
                dt { "Credited to" }
                dd {
                    @for (id, person) in s.agents() { (id) " → " (viewer.person(person)) br; }
                    "others → " code { (s.unmapped_agent("{id}")) }
                }
                dt { "Note for agents" } dd { @if s.note_for_agents() { "each rating" } @else { "none" } }
                dt { "Reopened by the answer" }
                dd { @if s.closed_again() { "closed again" } @else { "left open" } }
                dt { "Defined in" }
                dd { @if c.managed_by == ManagedBy::Config { "the config file" } @else { "the API and these pages" } }
            }
        }
    }
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    typed: &Values,
    said: Option<String>,
    problem: Option<Refusal>,
) -> Response {
    let listed = async {
        Ok::<_, ApiError>((
            state
                .engine
                .helpdesks::<ChatwootSettings>(caller, None)
                .await?,
            state
                .engine
                .helpdesks::<ZammadSettings>(caller, None)
                .await?,
            state
                .engine
                .helpdesks::<RocketChatSettings>(caller, None)
                .await?,
        ))
    };
    let (chatwoot, zammad, rocketchat) = match listed.await {
        Ok(found) => found,
        Err(e) => return refused(TITLE, e),
    };
    let viewer = viewer(state, caller).await;
    let error = |name: &str| Refusal::about(problem.as_ref(), name);
    let helpdesks: Vec<(String, String)> = Helpdesk::ALL
        .iter()
        .map(|h| (h.as_str().to_owned(), h.title().to_owned()))
        .collect();
    let chosen = one(typed, "helpdesk");
    let markup = layout::page(
        TITLE,
        &viewer,
        html! {
            @if let Some(message) = &said { p.notice role="status" { (message) } }
            p.muted {
                "Rateline asks the clients of a Chatwoot account, a Zammad instance or a Rocket.Chat server to rate the conversation in the conversation itself. "
                "docs/channels/chatwoot.md, docs/channels/zammad.md and docs/channels/rocketchat.md take a team from nothing to the first rating."
            }
            @if chatwoot.is_empty() && zammad.is_empty() && rocketchat.is_empty() {
                p #no-connectors { "No helpdesk is connected to this server." }
            }
            @for c in &chatwoot { (summary(state, &viewer, c)) }
            @for c in &zammad { (summary(state, &viewer, c)) }
            @for c in &rocketchat { (summary(state, &viewer, c)) }
            section #new-connector aria-labelledby="new-connector-h" {
                h2 #new-connector-h { "Connect a helpdesk" }
                @if let Some(p) = problem.as_ref().filter(|p| !matches!(p.field.as_deref(), Some("helpdesk" | "id" | "url" | "api_token" | "secret" | "user_id"))) {
                    p.problem #new-connector-problem role="alert" { (p.message) }
                }
                form.stacked method="post" action="/dashboard/connectors" {
                    div.field {
                        label for="f-helpdesk" { "Helpdesk" }
                        select #f-helpdesk name="helpdesk" {
                            @for (value, label) in &helpdesks {
                                option value=(value) selected[chosen == value] { (label) }
                            }
                        }
                        (form::field_error("helpdesk", error("helpdesk")))
                    }
                    (form::input("id", "Account id (Chatwoot) or name (Zammad, Rocket.Chat)", "Chatwoot: the number in its URLs (/app/accounts/1/…). Zammad and Rocket.Chat: a name you choose, e.g. main: letters, digits, - and _.", one(typed, "id"), error("id").as_deref()))
                    (form::input("url", "Address", "e.g. https://chatwoot.example.com", one(typed, "url"), error("url").as_deref()))
                    div.field {
                        label for="f-api_token" { "API token" }
                        input #f-api_token type="password" name="api_token" autocomplete="new-password" aria-describedby="f-api_token-hint";
                        (form::field_error("api_token", error("api_token")))
                        span.muted #f-api_token-hint { "Chatwoot: Profile settings → Access token. Zammad: Profile → Token Access, with ticket.agent. Rocket.Chat: the Ratings user's personal access token." }
                    }
                    (form::input("user_id", "Ratings user's id (Rocket.Chat)", "Shown with the personal access token. Chatwoot and Zammad need none.", one(typed, "user_id"), error("user_id").as_deref()))
                    div.field {
                        label for="f-secret" { "Webhook secret (Chatwoot), signature token (Zammad) or Secret Token (Rocket.Chat)" }
                        input #f-secret type="password" name="secret" autocomplete="new-password" aria-describedby="f-secret-hint";
                        (form::field_error("secret", error("secret")))
                        span.muted #f-secret-hint { "Every webhook call must be signed with it (Rocket.Chat: must carry it)." }
                    }
                    button type="submit" #connect { "Connect" }
                }
                p.muted { "Then map its inboxes, groups or departments to lines on its page, and point the helpdesk's webhook at the URL it shows." }
            }
        },
    );
    let status = problem
        .as_ref()
        .map_or(StatusCode::OK, |_| StatusCode::UNPROCESSABLE_ENTITY);
    (status, markup).into_response()
}

/// `POST /dashboard/connectors`: connects a helpdesk with the defaults and opens its page.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let values = form::posted(posted);
    let result = async {
        caller.admin("connecting a helpdesk")?;
        let helpdesk = helpdesk_of(one(&values, "helpdesk"))
            .map_err(|e| ApiError::from(Invalid::new("helpdesk", e.message)))?;
        let id = rateline_domain::normalize_id(one(&values, "id").trim());
        helpdesk.check_id("id", &id)?;
        let secret = one(&values, "secret");
        let mut doc = json!({
            "url": one(&values, "url").trim(),
            "api_token": Some(one(&values, "api_token")).filter(|t| !t.is_empty()),
            helpdesk.secret_field(): Some(secret).filter(|s| !s.is_empty()),
        });
        if helpdesk == Helpdesk::RocketChat {
            doc["user_id"] = json!(one(&values, "user_id").trim());
        }
        match helpdesk {
            Helpdesk::Chatwoot => connect::<ChatwootSettings>(&state, &caller, &id, doc).await?,
            Helpdesk::Zammad => connect::<ZammadSettings>(&state, &caller, &id, doc).await?,
            Helpdesk::RocketChat => {
                connect::<RocketChatSettings>(&state, &caller, &id, doc).await?
            }
        }
        Ok::<_, ApiError>(format!("{helpdesk}/{id}"))
    };
    match result.await {
        Ok(path) => {
            let said = "Connected. Map its inboxes or groups to lines here, then point the \
                        helpdesk's webhook at the URL this page shows.";
            flash(&session, said).await;
            Redirect::to(&format!("/dashboard/connectors/{path}")).into_response()
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let mut refusal = refusal_of(e);
            if refusal
                .field
                .as_deref()
                .is_some_and(|f| f.starts_with("webhook_"))
            {
                refusal.field = Some("secret".into());
            }
            // What was typed comes back, never the token or secret.
            let typed: Values = ["helpdesk", "id", "url", "user_id"]
                .into_iter()
                .filter_map(|k| values.get(k).map(|v| (k.to_owned(), v.clone())))
                .collect();
            list_page(&state, &caller, &typed, None, Some(refusal)).await
        }
        Err(e) => refused(TITLE, e),
    }
}

/// A new helpdesk of kind `S` from `doc`, refused when `id` is connected already.
async fn connect<S: HelpdeskSettings>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    doc: serde_json::Value,
) -> Result<(), ApiError> {
    if state.engine.helpdesks::<S>(caller, Some(id)).await.is_ok() {
        return Err(ApiError::from(Invalid::new(
            "id",
            format!(
                "{} is connected already: open it from the list to change it",
                S::HELPDESK.named(id)
            ),
        )));
    }
    let settings: S = serde_json::from_value(doc)
        .map_err(|e| ApiError::from(Invalid::new("url", e.to_string())))?;
    state
        .engine
        .put_helpdesk(caller, id, settings, None)
        .await?;
    Ok(())
}

/// `GET /dashboard/connectors/{helpdesk}/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path((helpdesk, id)): Path<(String, String)>,
) -> Response {
    let said = take_flash(&session).await;
    let id = rateline_domain::normalize_id(&id);
    match helpdesk_of(&helpdesk) {
        Ok(Helpdesk::Chatwoot) => {
            helpdesk_page::<ChatwootSettings>(&state, &caller, &id, None, said, None).await
        }
        Ok(Helpdesk::Zammad) => {
            helpdesk_page::<ZammadSettings>(&state, &caller, &id, None, said, None).await
        }
        Ok(Helpdesk::RocketChat) => {
            helpdesk_page::<RocketChatSettings>(&state, &caller, &id, None, said, None).await
        }
        Err(e) => refused(TITLE, e),
    }
}

/// `POST /dashboard/connectors/{helpdesk}/{id}`: the helpdesk written whole, at the version
/// the page was opened at.
pub async fn save(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path((helpdesk, id)): Path<(String, String)>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let values = form::posted(posted);
    match helpdesk_of(&helpdesk) {
        Ok(Helpdesk::Chatwoot) => {
            save_as::<ChatwootSettings>(&state, &caller, &session, &id, values).await
        }
        Ok(Helpdesk::Zammad) => {
            save_as::<ZammadSettings>(&state, &caller, &session, &id, values).await
        }
        Ok(Helpdesk::RocketChat) => {
            save_as::<RocketChatSettings>(&state, &caller, &session, &id, values).await
        }
        Err(e) => refused(TITLE, e),
    }
}

async fn save_as<S: Shown>(
    state: &AppState,
    caller: &Caller,
    session: &tower_sessions::Session,
    id: &str,
    values: Values,
) -> Response {
    let result = async {
        let expected = form::version(one(&values, "version"))?;
        let doc = form::patch_of(&values, S::SECTIONS)?;
        let settings: S = serde_json::from_value(doc)
            .map_err(|e| ApiError::from(Invalid::new("url", e.to_string())))?;
        let (c, _) = state
            .engine
            .put_helpdesk(caller, id, settings, Some(expected))
            .await?;
        Ok::<_, ApiError>(c.version)
    };
    let helpdesk = S::HELPDESK;
    match result.await {
        Ok(version) => {
            let said = format!(
                "Saved: the connector is at version {version}, and calls and sends use it now."
            );
            flash(session, said).await;
            Redirect::to(&format!("/dashboard/connectors/{helpdesk}/{id}")).into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            // Someone saved in between: theirs is shown, and what was typed is not kept.
            let refusal = Refusal {
                field: None,
                message: "Someone changed this helpdesk since you opened it, so nothing was \
                          saved. This is the helpdesk as it is now: make your change again."
                    .into(),
            };
            with_status(
                StatusCode::PRECONDITION_FAILED,
                helpdesk_page::<S>(state, caller, id, None, None, Some(refusal)).await,
            )
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            let page =
                helpdesk_page::<S>(state, caller, id, Some(&values), None, Some(refusal_of(e)));
            with_status(status, page.await)
        }
        Err(e) => refused(TITLE, e),
    }
}

/// `POST /dashboard/connectors/{helpdesk}/{id}/delete`: disconnects it, and removes what
/// Rateline set up in the helpdesk.
pub async fn delete(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path((helpdesk, id)): Path<(String, String)>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let result = async {
        let helpdesk = helpdesk_of(&helpdesk)?;
        let left = state.disconnect(&caller, helpdesk, &id, None).await?;
        Ok::<_, ApiError>((helpdesk, left))
    };
    match result.await {
        Ok((helpdesk, left)) => {
            let mut said = format!(
                "{} {} {id} is disconnected: its webhook calls are refused from now on. Its \
                 sessions and ratings stay.",
                helpdesk.title(),
                helpdesk.unit()
            );
            for l in left {
                said.push(' ');
                said.push_str(&l);
                said.push('.');
            }
            flash(&session, said).await;
            Redirect::to("/dashboard/connectors").into_response()
        }
        Err(e) => refused(TITLE, e),
    }
}

/// What the setup section says.
fn setup_help(helpdesk: Helpdesk) -> &'static str {
    match helpdesk {
        Helpdesk::Chatwoot => {
            "Rateline can add the account webhook in Chatwoot itself, with the events it reads, \
             and keep its secret: the API token must be an administrator's. The check reads \
             Chatwoot now: the webhook, each rated inbox, Chatwoot's own survey."
        }
        Helpdesk::Zammad => {
            "Rateline can make the webhook and the two triggers in Zammad itself: the token \
             needs admin.webhook and admin.trigger. The check reads Zammad now: the webhook, \
             whether a trigger sends it on every change, the groups."
        }
        Helpdesk::RocketChat => {
            "Rocket.Chat's webhook is set by an administrator on its Omnichannel → Webhooks \
             page; Rateline makes nothing there. The check reads Rocket.Chat now as the Ratings \
             user: its token and roles, the lines its chats go to, and the webhook's URL, \
             Secret Token and events, naming each step still to take."
        }
    }
}

/// `GET /dashboard/connectors/{helpdesk}/{id}/setup`: the live check, as a page.
pub async fn check_setup(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Path((helpdesk, id)): Path<(String, String)>,
) -> Response {
    setup_page(&state, &caller, &helpdesk, &id, false).await
}

/// `POST /dashboard/connectors/{helpdesk}/{id}/setup`: sets the helpdesk's side up.
pub async fn set_up(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Path((helpdesk, id)): Path<(String, String)>,
) -> Response {
    setup_page(&state, &caller, &helpdesk, &id, true).await
}

/// The setup (`set_up`) or the live check, and its findings as a page.
async fn setup_page(
    state: &AppState,
    caller: &Caller,
    helpdesk: &str,
    id: &str,
    set_up: bool,
) -> Response {
    let id = rateline_domain::normalize_id(id);
    let result = async {
        let helpdesk = helpdesk_of(helpdesk)?;
        let report = if set_up {
            state.set_up_helpdesk(caller, helpdesk, &id).await?
        } else {
            state.check_helpdesk(caller, helpdesk, &id).await?
        };
        Ok::<_, ApiError>((helpdesk, report))
    };
    match result.await {
        Ok((helpdesk, report)) => {
            let done = if set_up { "set up" } else { "checked" };
            let title = format!("{} {done}", helpdesk.named(&id));
            report_page(state, caller, helpdesk, &id, &title, &report).await
        }
        Err(e) => refused(TITLE, e),
    }
}

/// A setup's or a check's findings.
async fn report_page(
    state: &AppState,
    caller: &Caller,
    helpdesk: Helpdesk,
    id: &str,
    title: &str,
    report: &crate::channels::helpdesk::setup::SetupReport,
) -> Response {
    let viewer = viewer(state, caller).await;
    let lists = [
        (
            "problems",
            "What keeps conversations from being rated",
            &report.problems,
        ),
        ("warnings", "To look at", &report.warnings),
        ("made", "What Rateline made there", &report.made),
        ("found", "What is as it should be", &report.found),
    ];
    layout::page(
        title,
        &viewer,
        html! {
            p { a href={ "/dashboard/connectors/" (helpdesk) "/" (id) } { "Back to " (helpdesk.named(id)) } }
            @if report.problems.is_empty() {
                p.notice #setup-ok role="status" { "Nothing keeps its conversations from being rated." }
            }
            @for (key, heading, items) in lists {
                @if !items.is_empty() {
                    section id=(key) {
                        h2 { (heading) }
                        ul { @for item in items.iter() { li { (item) } } }
                    }
                }
            }
        },
    )
    .into_response()
}

async fn helpdesk_page<S: Shown>(
    state: &AppState,
    caller: &Caller,
    id: &str,
    typed: Option<&Values>,
    said: Option<String>,
    refusal: Option<Refusal>,
) -> Response {
    let helpdesk = S::HELPDESK;
    let c = match state.engine.helpdesks::<S>(caller, Some(id)).await {
        Ok(mut found) => found.remove(0),
        Err(e) => return refused(TITLE, e.into()),
    };
    let viewer = viewer(state, caller).await;
    let doc = serde_json::to_value(c.settings.shown()).expect("helpdesk settings serialise");
    let values = typed
        .cloned()
        .unwrap_or_else(|| form::values_of(&doc, S::SECTIONS));
    let locked = c.managed_by == ManagedBy::Config;
    let title = format!("{} {} {}", helpdesk.title(), helpdesk.unit(), c.id);
    let base = format!("/dashboard/connectors/{helpdesk}/{}", c.id);
    let markup = layout::page(
        &title,
        &viewer,
        html! {
            p { a href="/dashboard/connectors" { "All helpdesks" } " · version " (c.version)
                " · changed " (viewer.time(c.updated_at)) }
            @if let Some(message) = &said { p.notice role="status" { (message) } }
            @if let Some(r) = refusal.as_ref() {
                @if r.on_the_form(S::SECTIONS, &[]) {
                    p.problem #form-problem role="alert" { "Nothing was saved: see the message next to the field." }
                } @else {
                    p.problem #form-problem role="alert" { (r.message) }
                }
            }
            p { "Point the " (helpdesk.title()) " webhook at " code #webhook-url { (state.link(&helpdesk.webhook_path(&c.id))) } "." }
            @if locked {
                p.notice #read-only { "This connector is defined in the configuration file ([[" (helpdesk) "]], "
                    (helpdesk.unit()) " " (c.id) "), which wins at every start: change it there and restart. It is shown here read-only." }
            }
            form #settings method="post" action=(base) {
                input type="hidden" name="version" value=(form::version_shown(&values, c.version));
                (form::sections(S::SECTIONS, &values, refusal.as_ref(), &form::Choices::new(), "(blank keeps what is stored)", locked, |_| html! {}))
                @if !locked { button type="submit" #save { "Save" } }
            }
            section #setup aria-labelledby="setup-h" {
                h2 #setup-h { "In " (helpdesk.title()) }
                p.muted { (setup_help(helpdesk)) }
                form method="get" action={ (base) "/setup" } {
                    button type="submit" #check-setup { "Check " (helpdesk.title()) " now" }
                }
                @if !locked {
                    form method="post" action={ (base) "/setup" } {
                        button type="submit" #set-up { "Set up in " (helpdesk.title()) }
                    }
                }
            }
            @if !locked {
                section #disconnect aria-labelledby="disconnect-h" {
                    h2 #disconnect-h { "Disconnect" }
                    p.muted { "Its webhook calls are refused from then on, and requests still waiting to be sent through it end failed. What Rateline set up in " (helpdesk.title()) " is removed there. Its sessions, ratings and reports stay." }
                    form method="post" action={ (base) "/delete" } {
                        button type="submit" #delete { "Disconnect " (helpdesk.title()) " " (helpdesk.unit()) " " (c.id) }
                    }
                }
            }
        },
    );
    let status = refusal
        .as_ref()
        .map_or(StatusCode::OK, |_| StatusCode::UNPROCESSABLE_ENTITY);
    (status, markup).into_response()
}
