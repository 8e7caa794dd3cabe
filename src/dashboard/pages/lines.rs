//! `/dashboard/lines`: the lines with their state and problems, a form that makes a new
//! one, and each line's settings page, grouped as an admin thinks of them (the request, the
//! answer, the channels, the alerts), with the "who will hear about a low rating" panel and
//! a button that sends the connector a test request.
//!
//! The settings form carries every setting under its API name (`rating.delay_seconds`), so
//! a refusal's `field` puts its message next to the field it is about. A save is the API's
//! `PATCH` with `If-Match`: the form becomes a JSON Merge Patch over the stored line and goes
//! through the same engine operation, so the same rules hold, a secret left blank stays as
//! it is, and a line changed by someone else since the page was opened is not overwritten.
//! Admins change lines; a supervisor sees their own lines' settings read-only, and a line
//! from the config file is read-only for everyone.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rateline_domain::{ErrorCode, Invalid, LineId, LineSettings, ManagedBy, Recipient, Role};
use serde_json::{Value, json};

use crate::dashboard::form::{self, Kind, Refusal, Sections, Values, f, one, with_status};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::viewer::Viewer;
use crate::dashboard::visit::{Visit, viewer};
use crate::dashboard::visit::{flash, take_flash};
use crate::engine::AlertReach;
use crate::http::{ApiError, AppState, ConnectorTest};
use crate::policy::Caller;
use crate::store::LineRecord;

/// Where `survey.min_days_between` looks.
const ACROSS: &[(&str, &str)] = &[("line", "this line"), ("all", "every line")];

/// The scales, as the form offers them.
const SCALES: &[(&str, &str)] = &[
    ("binary", "👍/👎 (binary)"),
    ("five_star", "1–5 ★ (five_star)"),
];

/// The settings form's sections.
const SECTIONS: &Sections = &[
    (
        "line",
        "The line",
        &[
            f(
                "name",
                "Name",
                Kind::Text,
                "What people see: 1 to 200 characters.",
            ),
            f(
                "active",
                "Takes new sessions",
                Kind::Check,
                "Off retires the line: new sessions are refused; its history and reports stay.",
            ),
        ],
    ),
    (
        "request",
        "The request",
        &[
            f(
                "rating.enabled",
                "Ask for a rating when a session closes",
                Kind::Check,
                "",
            ),
            f(
                "rating.scale",
                "Scale",
                Kind::Choice(SCALES),
                "👍/👎, or 1 to 5 stars.",
            ),
            f("rating.request_text", "The question", Kind::LongText, ""),
            f(
                "rating.thanks_text",
                "The thanks after an answer",
                Kind::LongText,
                "",
            ),
            f(
                "rating.language",
                "Language",
                Kind::Text,
                "A language tag such as en or pt-BR: the buttons' and follow-ups' words.",
            ),
            f(
                "rating.delay_seconds",
                "Delay after the close (seconds)",
                Kind::Number,
                "0 to 3600.",
            ),
            f(
                "rating.rate_before_close",
                "Web chat: show the card at the close, without the delay",
                Kind::Check,
                "",
            ),
            f(
                "auto_close_minutes",
                "Close a quiet session after (minutes)",
                Kind::OptionalNumber,
                "1 to 10080; blank never closes one.",
            ),
        ],
    ),
    (
        "survey",
        "Who gets asked",
        &[
            f(
                "survey.min_days_between",
                "Ask a client at most once in (days)",
                Kind::Number,
                "0 to 365; 0 asks every time.",
            ),
            f(
                "survey.across",
                "Counting requests of",
                Kind::Choice(ACROSS),
                "",
            ),
            f(
                "survey.sample_percent",
                "Ask this share of sessions (%)",
                Kind::Number,
                "1 to 100; the same session is always in or out.",
            ),
            f(
                "survey.min_client_messages",
                "Skip sessions with fewer client messages than",
                Kind::Number,
                "0 to 1000; 0 skips none.",
            ),
            f(
                "survey.skip_tags",
                "Skip sessions closed with these tags",
                Kind::List,
                "One per line, as the close's tags name them.",
            ),
        ],
    ),
    (
        "answer",
        "The answer",
        &[
            f(
                "rating.answer_window_hours",
                "Answer window (hours)",
                Kind::Number,
                "How long after it was sent a request may be answered: 1 to 2160.",
            ),
            f(
                "rating.reminder_after_minutes",
                "Remind once after (minutes)",
                Kind::OptionalNumber,
                "One reminder if the request is still unanswered this long after it was sent, \
                 within the answer window (and Meta's 24 hours); blank sends none.",
            ),
            f(
                "rating.max_changes",
                "Changes allowed",
                Kind::Number,
                "How often a client may change a rating: 0 to 10.",
            ),
            f(
                "rating.change_window_days",
                "Change window (days)",
                Kind::Number,
                "1 to 3650.",
            ),
            f(
                "rating.ask_resolved",
                "Ask whether the problem was resolved",
                Kind::Check,
                "",
            ),
            f(
                "rating.ask_comment_on_low",
                "Ask for a comment after a low rating",
                Kind::Check,
                "",
            ),
            f(
                "rating.low_reasons",
                "Reasons offered after a low rating",
                Kind::Pairs,
                "Up to 8, one per line as id: text, e.g. slow: Waited too long. The id is what \
                 reports count under (lowercase letters, digits, - or _); the text, at most 20 \
                 characters, is what the client taps. Blank asks for none.",
            ),
            f(
                "rating.low_threshold",
                "Low at or below (stars)",
                Kind::Number,
                "Five-star lines: 1 to 4. 👎 is always low.",
            ),
            f(
                "rating.lowered_grace_hours",
                "Grace period (hours)",
                Kind::Number,
                "How long a low rating waits before the report counts it, so the team can \
                 resolve the case first: 0 to 720.",
            ),
            f(
                "rating.operators_see_ratings",
                "Operators see their clients' ratings",
                Kind::Check,
                "Off, operators see only their numbers, and are not alerted.",
            ),
            f(
                "rating.notify_operator",
                "Tell each operator of every rating",
                Kind::Check,
                "Through the operator's own addresses, at most one message a minute. Needs the \
                 box above.",
            ),
            f(
                "rating.supervisors_decide_appeals",
                "The line's supervisors decide appeals",
                Kind::Check,
                "Off, only admins decide whether an appealed rating is voided. Nobody decides \
                 an appeal they made.",
            ),
        ],
    ),
    (
        "channels",
        "The channels",
        &[
            f(
                "webhook.url",
                "Connector URL (webhook channel)",
                Kind::Text,
                "Where rating requests of webhook sessions are posted; blank for none.",
            ),
            f(
                "webhook.secret",
                "Connector secret",
                Kind::Secret,
                "At least 16 characters; it signs every request. Blank keeps the stored one.",
            ),
            f(
                "whatsapp_template.name",
                "WhatsApp template",
                Kind::Text,
                "An approved template, used only outside WhatsApp's 24-hour window; blank for none.",
            ),
            f(
                "whatsapp_template.language",
                "Template language",
                Kind::Text,
                "",
            ),
            f(
                "whatsapp_template.buttons",
                "Template buttons' answers",
                Kind::Numbers,
                "The answer of each quick-reply button in order, e.g. 1, 0; blank for the \
                 scale's own.",
            ),
            f(
                "webchat.allowed_origins",
                "Web chat origins",
                Kind::List,
                "The sites whose pages may embed the widget, one per line, e.g. https://shop.example.",
            ),
            f(
                "public_badge",
                "Public badge",
                Kind::Check,
                "Serves the line's rating as an image anyone may embed.",
            ),
        ],
    ),
    (
        "alerts",
        "The alerts",
        &[
            f(
                "rating.alert_wait_seconds",
                "Wait for the comment and reasons (seconds)",
                Kind::Number,
                "Where the line asks for a comment or reasons after a low rating, the alert \
                 leaves when they come, or after this long without them: 0 to 3600.",
            ),
            f(
                "rating.alert_delay_seconds",
                "Alert delay (seconds)",
                Kind::Number,
                "The least time between a low rating and its alert: 0 to 3600.",
            ),
            f(
                "rating.alert_burst_over",
                "A burst is more than (low ratings in 10 minutes)",
                Kind::Number,
                "Past this, people who hear of each low rating at once get one \"something is \
                 wrong on this line\" message every 10 minutes instead: 0 to 1000, 0 for never.",
            ),
        ],
    ),
];

/// The recipients' field: each checked box is `supervisor:<id>`, `group:<id>` or
/// `responsible_manager`.
const NOTIFY_LOW: &str = "notify_low";

fn recipient_value(r: &Recipient) -> String {
    match r {
        Recipient::Supervisor { id } => format!("supervisor:{id}"),
        Recipient::Group { id } => format!("group:{id}"),
        Recipient::ResponsibleManager => "responsible_manager".into(),
    }
}

/// The form's values for `settings` as stored (the secret never shown, nor a password
/// written into the connector's URL by an earlier version).
fn values_of(settings: &LineSettings) -> Values {
    let doc = serde_json::to_value(settings).expect("line settings serialise");
    let mut values = form::values_of(&doc, SECTIONS);
    if let Some(url) = values.get_mut("webhook.url") {
        for u in url.iter_mut() {
            *u = rateline_domain::shown_url(u);
        }
    }
    values.insert(
        NOTIFY_LOW.to_owned(),
        settings.notify_low.iter().map(recipient_value).collect(),
    );
    values
}

/// The JSON Merge Patch the form says: every setting on it, with a blank secret left out
/// (kept), a blank connector URL or template removing that setting, and the recipients in
/// the order the line had them, new ones last.
fn patch_of(values: &Values, stored: &LineSettings) -> Result<Value, Invalid> {
    let mut patch = form::patch_of(values, SECTIONS)?;
    if one(values, "webhook.url").trim().is_empty() {
        if !one(values, "webhook.secret").is_empty() {
            return Err(Invalid::new(
                "webhook.url",
                "is needed with a secret: the secret signs what is posted to it",
            ));
        }
        patch["webhook"] = Value::Null;
    }
    let template = ["name", "language", "buttons"].map(|p| {
        one(values, &format!("whatsapp_template.{p}"))
            .trim()
            .is_empty()
    });
    if template.iter().all(|blank| *blank) {
        patch["whatsapp_template"] = Value::Null;
    }
    let checked: Vec<&String> = values.get(NOTIFY_LOW).into_iter().flatten().collect();
    let mut recipients: Vec<String> = stored
        .notify_low
        .iter()
        .map(recipient_value)
        .filter(|r| checked.contains(&r))
        .collect();
    for r in checked {
        if !recipients.contains(r) {
            recipients.push(r.clone());
        }
    }
    patch[NOTIFY_LOW] = recipients
        .iter()
        .map(|r| match r.split_once(':') {
            Some((kind, id)) => json!({"kind": kind, "id": id}),
            None => json!({"kind": r}),
        })
        .collect();
    Ok(patch)
}

/// A refusal as the line's form shows it: `webhook` is the connector URL's field,
/// `whatsapp_template` the template's name, `line_id` the new line's id.
fn line_refusal(e: ApiError) -> Refusal {
    let mut r = Refusal::from(e);
    r.field = r.field.map(|f| {
        match f.as_str() {
            "webhook" => "webhook.url",
            "whatsapp_template" => "whatsapp_template.name",
            "line_id" => "id",
            other => other,
        }
        .to_owned()
    });
    r
}

/// Whether `caller` changes lines (admins); others see them read-only.
fn edits(caller: &Caller) -> bool {
    caller.role().is_none_or(|r| r == Role::Admin)
}

/// `GET /dashboard/lines`: the lines within reach, and (admins) a form for a new one.
pub async fn list(State(state): State<AppState>, Visit { caller, .. }: Visit) -> Response {
    list_page(&state, &caller, &Values::new(), None).await
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    typed: &Values,
    problem: Option<Refusal>,
) -> Response {
    if let Err(e) = caller.not_operator("the lines' settings") {
        return refused("Lines", e.into());
    }
    let lines = match state.engine.lines().await {
        Ok(l) => l,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let mut rows = Vec::new();
    for line in lines.into_iter().filter(|l| caller.line(&l.id).is_ok()) {
        match state.engine.alert_reach(&line.id, &line.settings).await {
            Ok(reach) => rows.push((line, reach)),
            Err(e) => return ApiError::from(crate::engine::EngineError::from(e)).into_response(),
        }
    }
    let viewer = viewer(state, caller).await;
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let error = |name: &str| {
        problem
            .as_ref()
            .filter(|p| p.field.as_deref() == Some(name))
    };
    let markup = layout::page(
        "Lines",
        &viewer,
        html! {
            @if rows.is_empty() { p #empty { "No lines yet." } }
            table #lines {
                thead { tr { th { "line" } th { "state" } th { "scale" } th { "defined in" } th { "alerts" } } }
                tbody {
                    @for (l, reach) in &rows {
                        tr #{ "line-" (l.id) } {
                            td { a href={ "/dashboard/lines/" (l.id) } { (l.settings.name) } " " span.muted { code { (l.id) } } }
                            td { @if l.settings.active { "active" } @else { strong { "retired" } } }
                            td { (l.settings.rating.scale.as_str()) }
                            td { @if l.managed_by == ManagedBy::Config { "the config file" } @else { "the API and this page" } }
                            td {
                                @if reach.problems.is_empty() && (reach.reaches_someone || l.settings.notify_low.is_empty()) {
                                    @if l.settings.notify_low.is_empty() { "nobody is alerted" } @else { "every recipient reachable" }
                                } @else {
                                    strong.problem { (reach.problems.len()) " problem" @if reach.problems.len() != 1 { "s" } }
                                    @if let Some(first) = reach.problems.first() { br; span.muted { (first) } }
                                }
                            }
                        }
                    }
                }
            }
            @if edits(caller) {
                section #new-line aria-labelledby="new-line-h" {
                    h2 #new-line-h { "New line" }
                    @if let Some(p) = problem.as_ref().filter(|p| p.field.as_deref().is_none_or(|f| f != "id" && f != "name")) {
                        p.problem #new-line-problem role="alert" { (p.message) }
                    }
                    form.stacked method="post" action="/dashboard/lines" {
                        (form::input("id", "Id", "The line's id in the API and in sessions: letters, digits, - and _.", one(typed, "id"), error("id").map(|p| p.message.as_str())))
                        (form::input("name", "Name", "What people see.", one(typed, "name"), error("name").map(|p| p.message.as_str())))
                        button type="submit" #create-line { "Create the line" }
                    }
                    p.muted { "A new line starts with the defaults: set its channels and alerts on its page." }
                }
            }
        },
    );
    (status, markup).into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct NewLine {
    id: String,
    name: String,
}

/// `POST /dashboard/lines`: makes a line with the defaults and opens its page.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Form(new): Form<NewLine>,
) -> Response {
    let result = async {
        caller.admin("making a line")?;
        let id = LineId::parse("id", &rateline_domain::normalize_id(new.id.trim()))?;
        if state.engine.line(&id).await.is_ok() {
            return Err(form::taken("line", &id));
        }
        let settings: LineSettings = serde_json::from_value(json!({"name": new.name}))
            .map_err(|e| ApiError::from(Invalid::new("name", e.to_string())))?;
        state.engine.put_line(&caller, &id, settings, None).await?;
        Ok::<_, ApiError>(id)
    };
    let said = "The line is made, with the defaults: set its channels and alerts here.";
    let typed = form::typed(&[("id", &new.id), ("name", &new.name)]);
    form::made(
        &session,
        result.await,
        "/dashboard/lines",
        said,
        "Lines",
        async |e| list_page(&state, &caller, &typed, Some(line_refusal(e))).await,
    )
    .await
}

/// `GET /dashboard/lines/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
) -> Response {
    let id = match crate::engine::known_line(&id) {
        Ok(id) => id,
        Err(e) => return refused("Line", e.into()),
    };
    let line = match readable(&state, &caller, &id).await {
        Ok(l) => l,
        Err(e) => return refused("Line", e),
    };
    let flash = take_flash(&session).await;
    let values = values_of(&line.settings);
    line_page(&state, &caller, &line, &values, Shown::Flash(flash)).await
}

/// Line `id`, if `caller` may see it (a supervisor their own lines, admins every line).
async fn readable(state: &AppState, caller: &Caller, id: &LineId) -> Result<LineRecord, ApiError> {
    caller.line(id)?;
    Ok(state.engine.line(id).await?)
}

/// `POST /dashboard/lines/{id}`: saves the form as a `PATCH` with `If-Match` would.
pub async fn save(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let id = match crate::engine::known_line(&id) {
        Ok(id) => id,
        Err(e) => return refused("Line", e.into()),
    };
    let stored = match readable(&state, &caller, &id).await {
        Ok(l) => l,
        Err(e) => return refused("Line", e),
    };
    let values = form::posted(form);
    let result = async {
        caller.admin("changing a line")?;
        let expected = Some(form::version(one(&values, "version"))?);
        let patch = patch_of(&values, &stored.settings)?;
        let settings = crate::http::merged(&stored.settings, &patch)?;
        let (line, _) = state
            .engine
            .put_line(&caller, &id, settings, expected)
            .await?;
        Ok::<_, ApiError>(line)
    };
    match result.await {
        Ok(line) => {
            let said = format!("Saved: the line is at version {}.", line.version);
            flash(&session, said).await;
            Redirect::to(&format!("/dashboard/lines/{id}")).into_response()
        }
        Err(e) if e.code == ErrorCode::PreconditionFailed => {
            // Someone saved in between: their line is shown, and what was typed is not kept.
            let Ok(now) = state.engine.line(&id).await else {
                return e.into_response();
            };
            let message = "Someone changed this line since you opened it, so nothing was \
                           saved. This is the line as it is now: make your change again.";
            let values = values_of(&now.settings);
            let refusal = Refusal {
                field: None,
                message: message.into(),
            };
            with_status(
                StatusCode::PRECONDITION_FAILED,
                line_page(&state, &caller, &now, &values, Shown::Refused(refusal)).await,
            )
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            let page = line_page(
                &state,
                &caller,
                &stored,
                &values,
                Shown::Refused(line_refusal(e)),
            );
            with_status(status, page.await)
        }
        Err(e) => refused("Line", e),
    }
}

/// `POST /dashboard/lines/{id}/test-request`: sends the connector a test request and shows
/// what it answered.
pub async fn test_request(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Path(id): Path<String>,
) -> Response {
    let id = match crate::engine::known_line(&id) {
        Ok(id) => id,
        Err(e) => return refused("Line", e.into()),
    };
    let line = match readable(&state, &caller, &id).await {
        Ok(l) => l,
        Err(e) => return refused("Line", e),
    };
    let answer = match state
        .engine
        .test_connector(&caller, &id, &state.link("/v1/ratings"))
        .await
    {
        Ok(a) => ConnectorTest::from(a),
        Err(e) => return refused("Line", e.into()),
    };
    let values = values_of(&line.settings);
    line_page(&state, &caller, &line, &values, Shown::Tested(answer)).await
}

/// What a line's page shows above its settings, besides them.
enum Shown {
    /// The message after a save, once.
    Flash(Option<String>),
    /// Why a save was refused.
    Refused(Refusal),
    /// What the connector answered a test request.
    Tested(ConnectorTest),
}

/// One piece: the line's settings page, its sections in the order the page shows them; each
/// field comes from the section table.
async fn line_page(
    state: &AppState,
    caller: &Caller,
    line: &LineRecord,
    values: &Values,
    shown: Shown,
) -> Response {
    let reach = match state.engine.alert_reach(&line.id, &line.settings).await {
        Ok(r) => r,
        Err(e) => return ApiError::from(crate::engine::EngineError::from(e)).into_response(),
    };
    // Who may be named: everyone but operators, and every group (admins only list them).
    let (people, groups) = if edits(caller) {
        let people = state.engine.people(caller).await.unwrap_or_default();
        let groups = state.engine.groups(caller, None).await.unwrap_or_default();
        (people, groups)
    } else {
        Default::default()
    };
    let viewer = viewer(state, caller).await;
    let config = line.managed_by == ManagedBy::Config;
    let locked = config || !edits(caller);
    let secret = if line
        .settings
        .webhook
        .as_ref()
        .is_some_and(|w| w.secret.is_some())
    {
        "(set: blank keeps it)"
    } else {
        "(not set)"
    };
    let refusal = match &shown {
        Shown::Refused(r) => Some(r),
        _ => None,
    };
    let mut candidates: Vec<(String, String)> = vec![(
        "responsible_manager".into(),
        "The responsible manager of the session's operator".into(),
    )];
    for p in people.iter().filter(|p| p.person.role != Role::Operator) {
        let mut label = format!("{} ({}, {})", p.person.name, p.id, p.person.role.as_str());
        if !p.person.active {
            label.push_str(", deactivated");
        }
        candidates.push((format!("supervisor:{}", p.id), label));
    }
    for (id, g, _) in &groups {
        candidates.push((
            format!("group:{id}"),
            format!("Group {} ({id}, {} members)", g.name, g.members.len()),
        ));
    }
    // A recipient named now but not offered above (an operator, or someone unknown) is
    // still shown, so it can be taken off.
    for named in values.get(NOTIFY_LOW).into_iter().flatten() {
        if !candidates.iter().any(|(v, _)| v == named) {
            let label = match named.split_once(':') {
                Some(("group", id)) => format!("Group {id}"),
                Some((_, id)) => viewer.directory.people.get(id).map_or_else(
                    || format!("{id} (not a person Rateline knows)"),
                    |(name, _)| format!("{name} ({id})"),
                ),
                None => named.clone(),
            };
            candidates.push((named.clone(), label));
        }
    }
    let checked = |v: &str| {
        values
            .get(NOTIFY_LOW)
            .is_some_and(|c| c.iter().any(|c| c == v))
    };
    let markup = layout::page(
        &line.settings.name,
        &viewer,
        html! {
            p { a href="/dashboard/lines" { "All lines" } " · " code { (line.id) } " · version " (line.version)
                " · changed " (viewer.time(line.updated_at)) }
            @match &shown {
                Shown::Flash(Some(message)) => p.notice role="status" { (message) },
                Shown::Refused(r) if !r.on_the_form(SECTIONS, &[NOTIFY_LOW]) => {
                    p.problem #form-problem role="alert" { (r.message) }
                },
                Shown::Refused(_) => p.problem #form-problem role="alert" {
                    "Nothing was saved: see the message next to the field."
                },
                Shown::Tested(answer) => (tested(answer)),
                _ => {},
            }
            @if config {
                p.notice #read-only { "This line is defined in the configuration file ([[lines]], id "
                    (line.id) "), which wins at every start: change it there and restart. It is shown here read-only." }
            } @else if !edits(caller) {
                p.muted #read-only { "Only admins change a line's settings; they are shown here read-only." }
            }
            (reach_panel(&reach, &viewer))
            form #settings method="post" action={ "/dashboard/lines/" (line.id) } {
                input type="hidden" name="version" value=(form::version_shown(values, line.version));
                (form::sections(SECTIONS, values, refusal, &form::Choices::new(), secret, locked, |section| html! {
                    @if section == "alerts" {
                        fieldset #recipients aria-describedby="recipients-hint" {
                            legend { "Who hears about a low rating" }
                            @if let Some(message) = Refusal::about(refusal, NOTIFY_LOW) {
                                p.problem #f-notify_low-error role="alert" { (message) }
                            }
                            @for (value, label) in &candidates {
                                @let id = format!("r-{}", value.replace(':', "-"));
                                div.check {
                                    input type="checkbox" name=(NOTIFY_LOW) id=(id) value=(value) checked[checked(value)];
                                    label for=(id) { (label) }
                                }
                            }
                            span.muted #recipients-hint { "People and groups by name; at most 20 entries. Operators hear nothing where they do not see ratings." }
                        }
                    }
                    @if section == "channels" && line.settings.public_badge {
                        p.muted { "The badge: " code { (state.link(&format!("/public/lines/{}/badge.svg", line.id))) } }
                    }
                }))
                @if !locked { button type="submit" #save { "Save" } }
            }
            @if !locked || (edits(caller) && config) {
                section #connector-test aria-labelledby="connector-test-h" {
                    h2 #connector-test-h { "Try the connector" }
                    p.muted { "Posts a test request (\"test\": true, X-Rateline-Event: test_request) to the saved connector URL, signed with its secret, and shows what it answered. No client is asked and nothing is stored." }
                    form method="post" action={ "/dashboard/lines/" (line.id) "/test-request" } {
                        button type="submit" #send-test { "Send a test request" }
                    }
                }
            }
        },
    );
    let status = match shown {
        Shown::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    (status, markup).into_response()
}

/// "Who will hear about a low rating": every person the alerts would go to, reachable or
/// not and why, and every problem the line's check finds.
fn reach_panel(reach: &AlertReach, viewer: &Viewer) -> Markup {
    html! {
        section #reach aria-labelledby="reach-h" {
            h2 #reach-h { "Who will hear about a low rating" }
            @if reach.recipients.is_empty() && reach.problems.is_empty() {
                p #reach-nobody { "Nobody: the line names no recipient." }
            }
            @if !reach.recipients.is_empty() {
                table #reach-recipients {
                    thead { tr { th { "person" } th { "named as" } th { "reached" } } }
                    tbody {
                        @for r in &reach.recipients {
                            tr {
                                td { (viewer.person(&r.person_id)) }
                                td { (r.through) }
                                td { @if r.reachable { "yes" } @else { strong { "no" } ": " (r.problem.as_deref().unwrap_or("")) } }
                            }
                        }
                    }
                }
            }
            @if !reach.problems.is_empty() {
                h3 { "Problems" }
                ul #reach-problems { @for p in &reach.problems { li { (p) } } }
            }
            @if !reach.operators.is_empty() {
                p.muted { "The line's operators: "
                    @for (n, op) in reach.operators.iter().enumerate() { @if n > 0 { ", " } (viewer.person(op)) } }
            }
        }
    }
}

/// What the connector answered, above the settings.
fn tested(answer: &ConnectorTest) -> Markup {
    html! {
        section #test-answer role="status" aria-labelledby="test-answer-h" {
            h2 #test-answer-h {
                @if answer.accepted { "The connector accepted the test request" }
                @else { "The connector did not accept the test request" }
            }
            @if let Some(status) = answer.status { p { "It answered HTTP " (status) "." } }
            @if let Some(error) = &answer.error { p.problem { (error) } }
            @if let Some(body) = answer.body.as_deref().filter(|b| !b.is_empty()) {
                p { "Its answer:" }
                pre #test-answer-body { (body) }
            }
        }
    }
}
