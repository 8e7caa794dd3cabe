//! `/dashboard/people`: for admins, every person (name, role, lines, manager, whether they
//! can sign in), each with a button that makes their invitation link, shown once (as
//! `POST /v1/people/{id}/invitation` and `rateline people invite ID`), and a form that adds
//! a person.
//!
//! `/dashboard/people/{id}`: one person's settings (role, lines, manager, time zone, where
//! they hear about low ratings, notifications on or off), saved as the API's `PATCH` with
//! `If-Match` is (see [`crate::dashboard::form`]); a "send me a test alert" button per address;
//! their invitation link; deactivating and reactivating them. Admins change people; a
//! person sees their own page read-only, with the test alerts; a person from the config file
//! is read-only for everyone.

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use rateline_domain::{ErrorCode, Invalid, ManagedBy, Person, PersonId, Role};
use serde_json::json;

use crate::dashboard::form::{self, Choices, Kind, Refusal, Sections, Values, f, one, with_status};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::viewer::Viewer;
use crate::dashboard::visit::{Shown, flash, take_flash};
use crate::dashboard::visit::{Visit, viewer};
use crate::engine::TestAlert;
use crate::http::{ApiError, AppState};
use crate::policy::Caller;
use crate::store::PersonRecord;

/// The roles, as the form offers them.
const ROLES: &[(&str, &str)] = &[
    (
        "operator",
        "operator: closes chats, sees their own feedback",
    ),
    (
        "supervisor",
        "supervisor: acts on low ratings of their lines",
    ),
    ("admin", "admin: sets Rateline up, decides appeals"),
];

/// A person's settings form.
const SECTIONS: &Sections = &[
    (
        "person",
        "The person",
        &[
            f(
                "name",
                "Name",
                Kind::Text,
                "What people see: 1 to 200 characters.",
            ),
            f("role", "Role", Kind::Choice(ROLES), ""),
            f(
                "lines",
                "Lines",
                Kind::PickMany,
                "The lines they work on: an operator's, or the lines a supervisor oversees.",
            ),
            f(
                "manager_id",
                "Manager",
                Kind::Pick,
                "Whom a line's \"responsible manager\" alert reaches for this operator.",
            ),
            f(
                "time_zone",
                "Time zone",
                Kind::OptionalText,
                "An IANA name such as Europe/Berlin; blank follows the server's.",
            ),
        ],
    ),
    (
        "notify",
        "Where they hear about low ratings",
        &[
            f(
                "notifications_enabled",
                "Notifications on",
                Kind::Check,
                "Off, their alerts are skipped, saying so.",
            ),
            f(
                "notify.email",
                "E-mail",
                Kind::OptionalText,
                "Needs [smtp] on the server.",
            ),
            f(
                "notify.telegram_chat_id",
                "Telegram chat id",
                Kind::OptionalNumber,
                "The chat the bot writes to; needs [telegram] on the server.",
            ),
            f(
                "notify.webhook_url",
                "Webhook URL",
                Kind::OptionalText,
                "A Slack, Mattermost or Teams incoming webhook, or a program's URL.",
            ),
            f(
                "notify.webhook_secret",
                "Webhook secret",
                Kind::Secret,
                "Signs their webhook alerts; at least 16 characters. Blank keeps the stored one.",
            ),
        ],
    ),
];

/// A link just made, to show once.
#[derive(Clone)]
pub struct Invited {
    person_id: String,
    url: String,
    expires_at: DateTime<Utc>,
}

/// Whether `caller` changes people (admins).
fn edits(caller: &Caller) -> bool {
    caller.role().is_none_or(|r| r == Role::Admin)
}

/// The invitation links the people pages show, each for 10 minutes after it is made.
pub type Invitations = std::sync::Arc<Shown<Invited>>;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ShownQuery {
    /// The handle of an invitation link just made (see [`Shown`]).
    invited: Option<String>,
}

/// The invitation link `q` names, as whoever asks may see it: `None` when it names none;
/// `Some(None)` when it is not theirs, ran out or was made by another process.
fn shown_invitation(
    invitations: &Invitations,
    caller: &Caller,
    q: &ShownQuery,
) -> Option<Option<Invited>> {
    let handle = q.invited.as_deref()?;
    let owner = caller.recorded_as().unwrap_or_default();
    Some(invitations.read(handle, &owner))
}

/// `GET /dashboard/people`.
pub async fn list(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Extension(invitations): Extension<Invitations>,
    Query(q): Query<ShownQuery>,
) -> Response {
    let shown = shown_invitation(&invitations, &caller, &q);
    render(&state, &caller, shown, &Values::new(), None).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct InviteForm {
    /// `person` when sent from the person's own page, which then shows the link.
    from: String,
}

/// `POST /dashboard/people/{id}/invitation`: a new link for the person (their earlier
/// unused links stop working), then the page it was asked from, which shows the link for
/// 10 minutes to whoever made it: a refresh shows it again and makes no other.
pub async fn invite(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Extension(invitations): Extension<Invitations>,
    Path(id): Path<String>,
    Form(form): Form<InviteForm>,
) -> Response {
    let id = match crate::engine::known_person(&id) {
        Ok(id) => id,
        Err(e) => return refused("People", e.into()),
    };
    let valid = Duration::hours(crate::engine::INVITATION_HOURS);
    let invited = match state.engine.invite(&caller, &id, valid).await {
        Ok(i) => Invited {
            url: state.link(&crate::engine::invitation_path(&i.token)),
            person_id: i.person_id,
            expires_at: i.expires_at,
        },
        Err(e) => return refused("People", ApiError::from(e)),
    };
    let handle = invitations.keep(&caller.recorded_as().unwrap_or_default(), invited);
    let page = if form.from == "person" {
        format!("/dashboard/people/{id}?invited={handle}#invited")
    } else {
        format!("/dashboard/people?invited={handle}#invited")
    };
    Redirect::to(&page).into_response()
}

/// The invitation link, shown for 10 minutes to whoever made it; or, past that, why not.
fn invited(i: &Option<Invited>, viewer: &Viewer) -> Markup {
    let Some(i) = i else {
        return html! {
            section.notice #invited role="status" {
                p { "The invitation link is shown for 10 minutes after it is made, to whoever made it, and only here. "
                    "It still works until it expires; if it was lost, make a new one (the old one then stops working)." }
            }
        };
    };
    html! {
        section.notice #invited role="status" aria-labelledby="invited-h" {
            h2 #invited-h { "Invitation link for " (viewer.person(&i.person_id)) }
            p { "Give it to them only: with it they set their password and sign in. It works once, until "
                (viewer.time(i.expires_at)) ", and it is not shown again." }
            p { label for="invitation-url" { "Link " }
                input #invitation-url type="text" readonly value=(i.url) size="60"; }
        }
    }
}

async fn render(
    state: &AppState,
    caller: &Caller,
    invitation: Option<Option<Invited>>,
    typed: &Values,
    problem: Option<Refusal>,
) -> Response {
    let people = match state.engine.people(caller).await {
        Ok(p) => p,
        Err(e) => return refused("People", ApiError::from(e)),
    };
    let viewer = viewer(state, caller).await;
    let error = |name: &str| Refusal::about(problem.as_ref(), name);
    let markup = layout::page(
        "People",
        &viewer,
        html! {
            @if let Some(i) = &invitation { (invited(i, &viewer)) }
            p.muted { "Everyone who can be an operator, supervisor, admin or alert recipient. "
                "Open a person to change them, try their addresses or deactivate them." }
            table #people {
                thead { tr {
                    th { "name" } th { "role" } th { "lines" } th { "manager" }
                    th { "time zone" } th { "signs in" } th { span.muted { "invitation" } }
                } }
                tbody {
                    @for r in &people {
                        tr #{ "person-" (r.id) } {
                            td { a href={ "/dashboard/people/" (r.id) } { (r.person.name) } " " span.muted { code { (r.id) } } }
                            td { (r.person.role.as_str()) }
                            td {
                                @for (n, l) in r.person.lines.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    (viewer.line(l.as_str()))
                                }
                                @if r.person.lines.is_empty() { "—" }
                            }
                            td { @if let Some(m) = &r.person.manager_id { (viewer.person(m.as_str())) } @else { "—" } }
                            td { (r.person.time_zone.as_deref().unwrap_or("the server's")) }
                            td { @if !r.person.active { strong { "deactivated" } } @else if r.signs_in { "yes" } @else { "not yet" } }
                            td { @if r.person.active { (invite_button(r)) } }
                        }
                    }
                }
            }
            section #new-person aria-labelledby="new-person-h" {
                h2 #new-person-h { "New person" }
                @if let Some(p) = problem.as_ref().filter(|p| !matches!(p.field.as_deref(), Some("id" | "name" | "role"))) {
                    p.problem #new-person-problem role="alert" { (p.message) }
                }
                form.stacked method="post" action="/dashboard/people" {
                    (form::input("id", "Id", "Their id in the API and in sessions (an operator's operator_id): letters, digits, - and _.", one(typed, "id"), error("id").as_deref()))
                    (form::input("name", "Name", "What people see.", one(typed, "name"), error("name").as_deref()))
                    label for="f-role" { "Role" }
                    select #f-role name="role" {
                        @for (v, label) in ROLES { option value=(v) selected[one(typed, "role") == *v] { (label) } }
                    }
                    button type="submit" #create-person { "Add the person" }
                }
                p.muted { "Then set their lines, manager and addresses on their page, and give them an invitation link." }
            }
        },
    );
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, markup).into_response()
}

fn invite_button(r: &PersonRecord) -> Markup {
    html! {
        form method="post" action={ "/dashboard/people/" (r.id) "/invitation" } {
            button type="submit" aria-label={ "Make an invitation link for " (r.person.name) } {
                @if r.signs_in { "New link (resets the password)" } @else { "Make an invitation link" }
            }
        }
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct NewPerson {
    id: String,
    name: String,
    role: String,
}

/// `POST /dashboard/people`: adds a person and opens their page.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Form(new): Form<NewPerson>,
) -> Response {
    let result = async {
        caller.admin("adding people")?;
        let id = PersonId::parse("id", &rateline_domain::normalize_id(new.id.trim()))?;
        if state.engine.person(&caller, &id).await.is_ok() {
            return Err(form::taken("person", &id));
        }
        let person: Person = serde_json::from_value(json!({"name": new.name, "role": new.role}))
            .map_err(|_| {
                ApiError::from(Invalid::new(
                    "role",
                    "must be operator, supervisor or admin",
                ))
            })?;
        state.engine.put_person(&caller, &id, person, None).await?;
        Ok::<_, ApiError>(id)
    };
    let said = "The person is added: set their lines and addresses here, then give them an \
                invitation link.";
    let typed = form::typed(&[("id", &new.id), ("name", &new.name), ("role", &new.role)]);
    form::made(
        &session,
        result.await,
        "/dashboard/people",
        said,
        "People",
        async |e| render(&state, &caller, None, &typed, Some(e.into())).await,
    )
    .await
}

/// The form's values for a person as stored.
fn values_of(p: &PersonRecord) -> Values {
    let doc = serde_json::to_value(&p.person).expect("a person serialises");
    form::values_of(&doc, SECTIONS)
}

/// `GET /dashboard/people/{id}`: admins, or the person themselves.
pub async fn show(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Extension(invitations): Extension<Invitations>,
    Path(id): Path<String>,
    Query(q): Query<ShownQuery>,
) -> Response {
    let id = match crate::engine::known_person(&id) {
        Ok(id) => id,
        Err(e) => return refused("Person", e.into()),
    };
    let person = match state.engine.person(&caller, &id).await {
        Ok(p) => p,
        Err(e) => return refused("Person", e.into()),
    };
    let values = values_of(&person);
    let above = match shown_invitation(&invitations, &caller, &q) {
        Some(invited) => Above::Invited(invited),
        None => Above::Flash(take_flash(&session).await),
    };
    person_page(&state, &caller, &person, &values, above).await
}

/// `POST /dashboard/people/{id}`: saves the form as a `PATCH` with `If-Match` would.
pub async fn save(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let id = match crate::engine::known_person(&id) {
        Ok(id) => id,
        Err(e) => return refused("Person", e.into()),
    };
    let values = form::posted(posted);
    if let Err(e) = caller.admin("changing people") {
        return refused("Person", e.into());
    }
    let patch = match form::patch_of(&values, SECTIONS) {
        Ok(p) => p,
        Err(e) => return refused_save(&state, &caller, &id, &values, e.into()).await,
    };
    let version = one(&values, "version").to_owned();
    change(&state, &caller, session, &id, patch, &version, &values).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct ActiveForm {
    active: String,
    version: String,
    /// "yes" when the box that confirms a deactivation is ticked.
    confirm: String,
}

/// `POST /dashboard/people/{id}/active`: deactivates (`active=false`) or reactivates a
/// person, as `PATCH /v1/people/{id} {"active": …}` does.
pub async fn set_active(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> Response {
    let id = match crate::engine::known_person(&id) {
        Ok(id) => id,
        Err(e) => return refused("Person", e.into()),
    };
    // Deactivating ends someone's sign-ins and alerts at once: it takes the box ticked.
    if form.active != "true" && form.confirm != "yes" {
        flash(
            &session,
            "Nothing changed: tick “I am sure” beside the Deactivate button to deactivate them.",
        )
        .await;
        return Redirect::to(&format!("/dashboard/people/{id}")).into_response();
    }
    let patch = json!({"active": form.active == "true"});
    change(
        &state,
        &caller,
        session,
        &id,
        patch,
        &form.version,
        &Values::new(),
    )
    .await
}

/// Merges `patch` into person `id` at version `expected` through the engine; back to their
/// page saying what was done, or the page again with why not.
async fn change(
    state: &AppState,
    caller: &Caller,
    session: tower_sessions::Session,
    id: &PersonId,
    patch: serde_json::Value,
    version: &str,
    values: &Values,
) -> Response {
    let result = async {
        caller.admin("changing people")?;
        let expected = Some(form::version(version)?);
        let stored = state.engine.person(caller, id).await?;
        let person = crate::http::merged(&stored.person, &patch)?;
        let (saved, _) = state
            .engine
            .put_person(caller, &PersonId::parse("person_id", id)?, person, expected)
            .await?;
        Ok::<_, ApiError>(saved)
    };
    match result.await {
        Ok(saved) => {
            let said = match patch.get("active") {
                Some(serde_json::Value::Bool(false)) => format!(
                    "{} is deactivated: they cannot sign in and hear of no low rating; their history stays.",
                    saved.person.name
                ),
                Some(_) => format!("{} is active again.", saved.person.name),
                None => format!("Saved: the person is at version {}.", saved.version),
            };
            flash(&session, said).await;
            Redirect::to(&format!("/dashboard/people/{id}")).into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            let Ok(now) = state.engine.person(caller, id).await else {
                return e.into_response();
            };
            let refusal = Refusal {
                field: None,
                message: "Someone changed this person since you opened the page, so nothing \
                          was saved. This is the person as they are now: make your change again."
                    .into(),
            };
            let values = values_of(&now);
            with_status(
                StatusCode::PRECONDITION_FAILED,
                person_page(state, caller, &now, &values, Above::Refused(refusal)).await,
            )
        }
        Err(e) => refused_save(state, caller, id, values, e).await,
    }
}

/// The person's page again with why a save was refused, what was typed kept; a refusal
/// that is not about the form (not theirs to change) as a page of its own.
async fn refused_save(
    state: &AppState,
    caller: &Caller,
    id: &PersonId,
    values: &Values,
    e: ApiError,
) -> Response {
    if !e.status.is_client_error() || e.status == StatusCode::FORBIDDEN {
        return refused("Person", e);
    }
    let Ok(stored) = state.engine.person(caller, id).await else {
        return refused("Person", e);
    };
    let status = e.status;
    let values = if values.is_empty() {
        values_of(&stored)
    } else {
        values.clone()
    };
    let page = person_page(state, caller, &stored, &values, Above::Refused(e.into()));
    with_status(status, page.await)
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct TestAlertForm {
    sink: String,
}

/// `POST /dashboard/people/{id}/test-alert`: a test alert to one of the person's addresses,
/// and what became of it.
pub async fn test_alert(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    Form(form): Form<TestAlertForm>,
) -> Response {
    let id = match crate::engine::known_person(&id) {
        Ok(id) => id,
        Err(e) => return refused("Person", e.into()),
    };
    // Sent (or tried): said once on the person's page, which a refresh does not send again.
    let e = match state.engine.test_alert(&caller, &id, &form.sink).await {
        Ok(t) => {
            flash(&session, tested(&t)).await;
            return Redirect::to(&format!("/dashboard/people/{id}")).into_response();
        }
        Err(e) => ApiError::from(e),
    };
    if e.status == StatusCode::FORBIDDEN {
        return refused("Person", e);
    }
    let person = match state.engine.person(&caller, &id).await {
        Ok(p) => p,
        Err(e) => return refused("Person", e.into()),
    };
    let values = values_of(&person);
    let status = e.status;
    let page = person_page(&state, &caller, &person, &values, Above::Refused(e.into()));
    with_status(status, page.await)
}

/// What a person's page shows above their settings, besides them.
enum Above {
    Flash(Option<String>),
    Refused(Refusal),
    Invited(Option<Invited>),
}

/// One piece: the person's page, its forms in the order the page shows them.
async fn person_page(
    state: &AppState,
    caller: &Caller,
    p: &PersonRecord,
    values: &Values,
    shown: Above,
) -> Response {
    let viewer = viewer(state, caller).await;
    let config = p.managed_by == ManagedBy::Config;
    let locked = config || !edits(caller);
    // An admin chooses from every line and person; anyone else sees only this person's own
    // (every person and line is an admin's to list).
    let own_line = |id: &str| edits(caller) || p.person.lines.iter().any(|l| l.as_str() == id);
    let own_manager = |id: &str| {
        edits(caller)
            || p.person
                .manager_id
                .as_ref()
                .is_some_and(|m| m.as_str() == id)
    };
    let mut choices = Choices::new();
    let lines = viewer.lines(own_line);
    choices.insert(
        "lines",
        lines
            .into_iter()
            .map(|(id, name)| (id.clone(), format!("{name} ({id})")))
            .collect(),
    );
    choices.insert(
        "manager_id",
        viewer.people(|id| p.id != id && own_manager(id)),
    );
    let refusal = match &shown {
        Above::Refused(r) => Some(r),
        _ => None,
    };
    let n = &p.person.notify;
    let addresses: Vec<(&str, &str, String)> = n
        .addresses()
        .into_iter()
        .filter_map(|(sink, _, address)| {
            let label = match sink {
                "email" => "e-mail",
                "telegram" => "Telegram",
                other => other,
            };
            Some((sink, label, address?))
        })
        .collect();
    let me = caller.person_id() == Some(&p.id);
    let markup = layout::page(
        &p.person.name,
        &viewer,
        html! {
            p { @if edits(caller) { a href="/dashboard/people" { "All people" } " · " }
                code { (p.id) } " · " (p.person.role.as_str()) " · version " (p.version) " · "
                @if !p.person.active { strong #deactivated { "deactivated" } }
                @else if p.signs_in { "signs in" } @else { "has not set a password yet" } }
            @match &shown {
                Above::Flash(Some(message)) => p.notice #flash role="status" { (message) },
                Above::Refused(r) if !r.on_the_form(SECTIONS, &[]) => {
                    p.problem #form-problem role="alert" { (r.message) }
                },
                Above::Refused(_) => p.problem #form-problem role="alert" {
                    "Nothing was saved: see the message next to the field."
                },
                Above::Invited(i) => (invited(i, &viewer)),
                Above::Flash(None) => {},
            }
            @if config {
                p.notice #read-only { "This person is defined in the configuration file ([[people]], id "
                    (p.id) "), which wins at every start: change them there and restart. They are shown here read-only." }
            } @else if !edits(caller) {
                p.muted #read-only { "Only admins change people; your settings are shown here read-only. "
                    "Your time zone is on " a href="/dashboard/account" { "your account" } "." }
            }
            section #test-alerts aria-labelledby="test-alerts-h" {
                h2 #test-alerts-h { @if me { "Send me a test alert" } @else { "Send a test alert" } }
                @if addresses.is_empty() {
                    p #no-address { "No address yet: set an e-mail, a Telegram chat or a webhook below." }
                }
                @if !p.person.notifications_enabled {
                    p.muted { "Notifications are off: a low rating's alert is skipped, though a test still goes." }
                }
                @for (sink, label, address) in &addresses {
                    form.inline method="post" action={ "/dashboard/people/" (p.id) "/test-alert" } {
                        input type="hidden" name="sink" value=(sink);
                        button type="submit" id={ "test-" (sink) } { "Send a test " (label) " to " (address) }
                    }
                }
            }
            form #settings method="post" action={ "/dashboard/people/" (p.id) } {
                input type="hidden" name="version" value=(p.version);
                // The record never carries the secret, so the page cannot say whether one is set.
                (form::sections(SECTIONS, values, refusal, &choices, "(write-only: blank keeps what is stored)", locked, |_| html! {}))
                @if !locked { button type="submit" #save { "Save" } }
            }
            @if edits(caller) && !config {
                section #access aria-labelledby="access-h" {
                    h2 #access-h { "Signing in" }
                    @if p.person.active {
                        (invite_from_page(p))
                        form method="post" action={ "/dashboard/people/" (p.id) "/active" } {
                            input type="hidden" name="active" value="false";
                            input type="hidden" name="version" value=(p.version);
                            label { input type="checkbox" name="confirm" value="yes" required #confirm-deactivate; " I am sure" }
                            " "
                            button type="submit" #deactivate { "Deactivate " (p.person.name) }
                            span.muted { " They can no longer sign in and hear of no low rating; their history and numbers stay." }
                        }
                    } @else {
                        form method="post" action={ "/dashboard/people/" (p.id) "/active" } {
                            input type="hidden" name="active" value="true";
                            input type="hidden" name="version" value=(p.version);
                            button type="submit" #reactivate { "Reactivate " (p.person.name) }
                        }
                    }
                }
            }
        },
    );
    let status = match shown {
        Above::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    (status, markup).into_response()
}

fn invite_from_page(p: &PersonRecord) -> Markup {
    html! {
        form method="post" action={ "/dashboard/people/" (p.id) "/invitation" } {
            input type="hidden" name="from" value="person";
            button type="submit" #invite { @if p.signs_in { "New invitation link (resets the password)" } @else { "Make an invitation link" } }
        }
    }
}

/// What became of a test alert.
/// What a test alert did, as its flash says it. A webhook's address is not repeated: its URL
/// may carry a secret (Slack's do), and the flash is kept with the sign-in.
fn tested(t: &TestAlert) -> String {
    let to = match t.sink.as_str() {
        "webhook" => "their webhook".to_owned(),
        _ => t.address.clone(),
    };
    match (&t.error, t.delivered) {
        (_, true) => {
            format!("The test alert went to {to}. Look for \"Test alert from Rateline\" there.")
        }
        (Some(error), false) => format!("The test alert did not reach {to}: {error}"),
        (None, false) => format!("The test alert did not reach {to}."),
    }
}
