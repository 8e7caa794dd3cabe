//! `/dashboard/inbox`: the low ratings a team works through and empties. Open work first
//! (unanswered, then assigned, then handled), oldest first unless asked otherwise, each with
//! its age and linked to its session's page; the same list as `GET /v1/ratings`, with the
//! same filters as a plain GET form (a value that cannot be read is shown next to its field
//! and the rest still apply), numbered pages with the total, and a form over the ticked
//! ratings that assigns, closes or reopens them all at once (`POST /v1/ratings/actions`).

use std::collections::HashMap;

use axum::extract::{RawForm, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use rateline_domain::{Channel, InboxAction, InboxActionBody, NameId, PersonId, Scale};

use crate::dashboard::layout;
use crate::dashboard::viewer::Viewer;
use crate::dashboard::visit::{Visit, flash, take_flash, viewer};
use crate::engine::{Inbox, InboxChoices};
use crate::http::{ApiError, AppState, INBOX_PARAMS, inbox_filter};
use crate::policy::Caller;
use crate::store::{InboxItem, InboxSort, InboxState};

/// The ratings a page shows.
const PER_PAGE: i64 = 50;

/// The query's fields this page knows, empty ones dropped (empty means any).
fn known_fields(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, v)| !v.is_empty() && INBOX_PARAMS.contains(&k.as_ref()) && k != "limit")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn encoded(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// `GET /dashboard/inbox?line=&operator=&channel=&from=&to=&state=&value=&reason=&has_comment=&q=&assignee=&sort=&page=`.
pub async fn inbox_page(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    RawQuery(query): RawQuery,
) -> Response {
    let shown = known_fields(query.as_deref());
    let said = take_flash(&session).await;
    show(&state, &caller, &shown, said, None, &[]).await
}

/// The inbox for the query `shown`, with a message from the last action (`said`), or the
/// bulk form's refusal (`refused`) with the ratings that were ticked.
async fn show(
    state: &AppState,
    caller: &Caller,
    shown: &[(String, String)],
    said: Option<String>,
    refused: Option<ApiError>,
    ticked: &[String],
) -> Response {
    let viewer = viewer(state, caller).await;
    let params = in_zone(shown, &viewer);
    let mut read = inbox_filter(&params, caller.person_id().map(|me| me.as_str()));
    read.filter.limit = PER_PAGE;
    let problems: HashMap<&str, String> = read
        .problems
        .into_iter()
        .map(|(field, message)| {
            let plain = message
                .strip_prefix(field)
                .and_then(|m| m.strip_prefix(": "))
                .unwrap_or(&message)
                .to_owned();
            (field, plain)
        })
        .collect();
    let result = tokio::try_join!(
        state.engine.inbox(caller, read.filter),
        state.engine.inbox_choices(caller)
    );
    let (inbox, choices) = match result {
        Ok(found) => found,
        Err(e) => return layout::refused("Inbox", e.into()),
    };
    let lines = viewer.lines(|id| caller.operator().is_none() && caller.covers_line(id));
    let status = match (&refused, problems.is_empty()) {
        (Some(e), _) => e.status,
        (None, false) => StatusCode::BAD_REQUEST,
        (None, true) => StatusCode::OK,
    };
    let view = View {
        inbox: &inbox,
        shown,
        problems: &problems,
        lines: &lines,
        choices: &choices,
        supervise: caller.operator().is_none(),
        now: state.engine.now(),
        said: said.as_deref(),
        refused: refused.as_ref().map(|e| e.message.as_str()),
        ticked,
    };
    (status, render(&view, &viewer)).into_response()
}

/// `GET /dashboard/inbox/export?format=csv|ndjson&…`: the ratings the page's filters match,
/// every one, as a file (see [`crate::http::export`]), times in the viewer's zone.
pub async fn export(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    RawQuery(query): RawQuery,
) -> Response {
    use crate::http::export::{Format, file_name, streamed};
    let asked = known_fields(query.as_deref());
    let format = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "format")
        .map(|(_, v)| v.into_owned());
    let Some(format) = Format::parse(format.as_deref().unwrap_or("csv")) else {
        let e = ApiError::new(
            rateline_domain::ErrorCode::InvalidParameter,
            "A download is CSV or NDJSON: use the links under the inbox's filters.",
        );
        return layout::refused("Download", e);
    };
    let viewer = viewer(&state, &caller).await;
    let params = in_zone(&asked, &viewer);
    let filter = match inbox_filter(&params, caller.person_id().map(|me| me.as_str())).or_refuse() {
        Ok(f) => f,
        Err(e) => return layout::refused("Download", e),
    };
    let export = match state.engine.export(&caller, filter).await {
        Ok(x) => x,
        Err(e) => return layout::refused("Download", e.into()),
    };
    let shown: HashMap<String, String> = asked.into_iter().collect();
    let names = (*viewer.directory).clone();
    streamed(export, format, viewer.zone, names, &file_name(&shown))
}

/// The query's `from` and `to`, days in the viewer's zone (`to` inclusive, as on the
/// dashboard), as the instants the filter reads.
fn in_zone(shown: &[(String, String)], viewer: &Viewer) -> HashMap<String, String> {
    let mut params: HashMap<String, String> = shown.iter().cloned().collect();
    for (key, next) in [("from", 0), ("to", 1)] {
        if let Some(value) = params.get_mut(key)
            && let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        {
            *value = viewer.midnight(day + Duration::days(next)).to_rfc3339();
        }
    }
    params
}

/// `POST /dashboard/inbox/actions`: the bulk form, over the ratings ticked. Done, back to
/// the same view of the inbox with what changed; refused, the same view with why, next to
/// the form, the boxes still ticked, and nothing changed.
pub async fn act(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    RawForm(form): RawForm,
) -> Response {
    let mut ticked = Vec::new();
    let mut fields: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(&form) {
        if k == "rating" {
            ticked.push(v.into_owned());
        } else {
            fields.insert(k.into_owned(), v.into_owned());
        }
    }
    let get = |k: &str| fields.get(k).map(|v| v.trim()).unwrap_or_default();
    let back = known_fields(Some(get("back")));
    let refuse = |message: &str| {
        ApiError::from(rateline_domain::Invalid::new(
            "rating_ids",
            message.to_owned(),
        ))
    };
    let body = match get("action") {
        _ if ticked.is_empty() => Err(refuse("tick the ratings to act on first")),
        "assign" if get("assignee").is_empty() => {
            Err(refuse("choose whom to assign the ratings to"))
        }
        "assign" => Ok((InboxAction::Assign, Some(get("assignee")), None)),
        "unassign" => Ok((InboxAction::Unassign, None, None)),
        "close" => Ok((
            InboxAction::Close,
            None,
            Some(get("note")).filter(|n| !n.is_empty()),
        )),
        "reopen" => Ok((InboxAction::Reopen, None, None)),
        _ => Err(refuse("choose what to do with the ticked ratings")),
    };
    let done = async {
        let (action, assignee, note) = body?;
        let body = InboxActionBody {
            rating_ids: ticked
                .iter()
                .map(|id| NameId::stored(rateline_domain::normalize_id(id)))
                .collect(),
            action,
            assignee_id: match assignee {
                Some("me") => None,
                Some(id) => Some(PersonId::stored(rateline_domain::normalize_id(id))),
                None => None,
            },
            note: note.map(str::to_owned),
        };
        let changed = state.engine.act_on_ratings(&caller, body).await?;
        Ok::<_, ApiError>(done_message(action, ticked.len(), changed))
    };
    match done.await {
        Ok(message) => {
            flash(&session, message).await;
            let to = match encoded(&back) {
                q if q.is_empty() => "/dashboard/inbox".to_owned(),
                q => format!("/dashboard/inbox?{q}"),
            };
            Redirect::to(&to).into_response()
        }
        Err(e) if e.status.is_client_error() => {
            show(&state, &caller, &back, None, Some(e), &ticked).await
        }
        Err(e) => e.into_response(),
    }
}

/// What a bulk action says it did.
fn done_message(action: InboxAction, ticked: usize, changed: u64) -> String {
    let what = match action {
        InboxAction::Assign => "assigned",
        InboxAction::Unassign => "given back to nobody",
        InboxAction::Close => "closed: no follow-up needed",
        InboxAction::Reopen => "reopened",
    };
    let same = ticked as u64 - changed.min(ticked as u64);
    let mut said = format!("{changed} of {ticked} ticked ratings {what}.");
    if same > 0 {
        said.push_str(&format!(" {same} were so already."));
    }
    said
}

/// Everything the inbox page shows.
struct View<'a> {
    inbox: &'a Inbox,
    shown: &'a [(String, String)],
    problems: &'a HashMap<&'a str, String>,
    lines: &'a [(String, String)],
    choices: &'a InboxChoices,
    /// Supervisors and admins act on ratings; operators only read theirs.
    supervise: bool,
    now: DateTime<Utc>,
    said: Option<&'a str>,
    refused: Option<&'a str>,
    ticked: &'a [String],
}

impl View<'_> {
    /// The list is of low ratings (the inbox), not of praise or of all.
    fn low(&self) -> bool {
        !matches!(self.get("show"), "praise" | "all")
    }

    fn get(&self, key: &str) -> &str {
        self.shown
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// This view's query with `key` set to `value` (and back to the first page unless the
    /// page is what changes).
    fn with(&self, key: &str, value: &str) -> String {
        let mut pairs: Vec<(String, String)> = self
            .shown
            .iter()
            .filter(|(k, _)| k != key && (key == "page" || k != "page"))
            .cloned()
            .collect();
        pairs.push((key.to_owned(), value.to_owned()));
        format!("/dashboard/inbox?{}", encoded(&pairs))
    }
}

/// How long ago, in the largest whole unit.
fn age(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let d = now - t;
    if d < Duration::minutes(1) {
        "just now".to_owned()
    } else if d < Duration::hours(1) {
        format!("{} min ago", d.num_minutes())
    } else if d < Duration::days(1) {
        format!("{} h ago", d.num_hours())
    } else {
        format!("{} d ago", d.num_days())
    }
}

fn value_text(scale: Scale, value: i64) -> String {
    match scale {
        Scale::Binary if value == 1 => "👍 thumbs up".to_owned(),
        Scale::Binary => "👎 thumbs down".to_owned(),
        Scale::FiveStar => format!("{value} ★ of 5"),
    }
}

/// A state as a supervisor says it.
fn state_text(state: &str) -> &'static str {
    match state {
        "unanswered" => "Unanswered",
        "assigned" => "Assigned",
        "handled" => "Handled",
        "voided" => "Voided",
        _ => "",
    }
}

fn item(i: &InboxItem, view: &View, viewer: &Viewer) -> Markup {
    let client = i.client_name.as_deref().unwrap_or(&i.client_id);
    let ticked = view.ticked.contains(&i.rating_id);
    html! {
        article.rating #{ "rating-" (i.rating_id) } data-state=(i.state) {
            h3 {
                @if view.supervise && view.low() && !i.voided {
                    input type="checkbox" name="rating" value=(i.rating_id) form="bulk"
                        id={ "tick-" (i.rating_id) } checked[ticked]
                        aria-label={ "Tick the rating from " (client) };
                    " "
                }
                a href={ "/dashboard/sessions/" (i.session_id) } {
                    (value_text(i.scale, i.value)) " from " (client)
                }
            }
            p.meta {
                @if i.state != "none" { span.state { (state_text(&i.state)) } " · " }
                time datetime=(i.rated_at.to_rfc3339()) title=(viewer.at(i.rated_at)) { (age(view.now, i.rated_at)) }
                " · operator "
                @if let Some(o) = &i.operator_id { (viewer.person(o)) } @else { "nobody" }
                " · line " (viewer.line(&i.line_id)) " · " (i.channel)
                @if let Some(a) = &i.assignee_id { " · assigned to " (viewer.person(a)) }
            }
            p {
                "Resolved: "
                (match i.resolved { Some(true) => "yes", Some(false) => "no", None => "not asked" })
            }
            @if i.comment_flagged {
                p.muted { "Comment hidden: flagged as abusive" }
            } @else if let Some(c) = &i.comment {
                blockquote.clamped { (c) }
            } @else {
                p.muted { "No comment" }
            }
            @if let Some(until) = i.grace_until {
                p { "In its grace period until " (viewer.at(until)) ": not in the report yet" }
            }
            p.alerts {
                @let a = &i.alerts;
                @if a.sent + a.pending + a.failed + a.skipped == 0 {
                    "No alert"
                } @else {
                    "Alerts: " (a.sent) " sent"
                    @if a.pending > 0 { ", " (a.pending) " on their way" }
                    @if a.failed > 0 { ", " strong { (a.failed) " failed" } }
                    @if a.skipped > 0 { ", " (a.skipped) " skipped (notifications off)" }
                }
            }
            @if let Some(r) = &i.response {
                p.response {
                    strong { "Responded" }
                    @if let Some(a) = &r.author_id { " by " (viewer.actor(a)) }
                    @if r.edits > 0 { " (edited " (r.edits) " time(s))" }
                    @if let Some(d) = &r.delivery_status { " · to the client: " (d) }
                    ": " (r.text)
                }
            }
            @if let Some(c) = &i.closed {
                p.closed {
                    strong { "Closed: no follow-up needed" }
                    @if let Some(by) = &c.by { " by " (viewer.actor(by)) }
                    ", " (age(view.now, c.at))
                    @if let Some(n) = &c.note { ": " (n) }
                }
            }
            @if let Some(a) = &i.appeal { p { "Appeal: " (a.status) } }
            @if i.voided { p { strong { "Voided" } ": out of the report" } }
        }
    }
}

/// A filter's `<select>`, marked and explained when its value could not be read.
fn choose(view: &View, name: &str, label: &str, any: &str, options: &[(String, String)]) -> Markup {
    let current = view.get(name);
    let problem = view.problems.get(name);
    html! {
        label {
            (label)
            select name=(name) id={ "f-" (name) } aria-invalid=[problem.map(|_| "true")] {
                option value="" selected[current.is_empty()] { (any) }
                @for (value, text) in options {
                    option value=(value) selected[value == current] { (text) }
                }
                // A value the list does not offer (typed into the address) stays visible.
                @if !current.is_empty() && !options.iter().any(|(v, _)| v == current) {
                    option value=(current) selected { (current) }
                }
            }
            (layout::field_problem(&format!("f-{name}"), problem.map(String::as_str)))
        }
    }
}

fn filters_form(view: &View) -> Markup {
    let owned = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
            .collect()
    };
    let channels: Vec<(String, String)> = Channel::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.as_str().to_owned()))
        .collect();
    let states = owned(&[
        ("unanswered", "Unanswered"),
        ("assigned", "Assigned"),
        ("handled", "Handled"),
        ("voided", "Voided"),
    ]);
    let values = owned(&[
        ("0", "👎"),
        ("1", "1 ★"),
        ("2", "2 ★"),
        ("3", "3 ★"),
        ("4", "4 ★"),
        ("5", "5 ★"),
    ]);
    let mut assignees = owned(&[("me", "Me"), ("nobody", "Nobody")]);
    assignees.extend(view.choices.assignees.iter().cloned());
    let lines: Vec<(String, String)> = view
        .lines
        .iter()
        .map(|(id, name)| (id.clone(), name.clone()))
        .collect();
    let text = |name: &str, label: &str, kind: &str| {
        let problem = view.problems.get(name);
        html! {
            label {
                (label)
                input type=(kind) name=(name) id={ "f-" (name) } value=(view.get(name))
                    aria-invalid=[problem.map(|_| "true")];
                (layout::field_problem(&format!("f-{name}"), problem.map(String::as_str)))
            }
        }
    };
    let shows = owned(&[("praise", "praise: 👍, 4–5 ★"), ("all", "all ratings")]);
    let low = view.low();
    html! {
        form.filters method="get" action="/dashboard/inbox" aria-label="Filters" {
            (choose(view, "show", "Show", "low ratings", &shows))
            @if low { (choose(view, "state", "State", "open and handled", &states)) }
            @if !lines.is_empty() { (choose(view, "line", "Line", "any", &lines)) }
            @if view.supervise { (choose(view, "operator", "Operator", "any", &view.choices.operators)) }
            (choose(view, "channel", "Channel", "any", &channels))
            (choose(view, "value", "Rating", "any", &values))
            @if !view.choices.reasons.is_empty() {
                (choose(view, "reason", "Reason", "any", &view.choices.reasons))
            }
            (choose(view, "has_comment", "Comment", "any", &owned(&[("yes", "with a comment"), ("no", "without")])))
            (text("q", "Words in the comment", "search"))
            @if view.supervise && low { (choose(view, "assignee", "Assigned to", "anyone", &assignees)) }
            (text("from", "From", "date"))
            (text("to", "To", "date"))
            (choose(view, "sort", "Order", "oldest first", &owned(&[("oldest", "oldest first"), ("newest", "newest first")])))
            button type="submit" id="apply" { "Apply" }
        }
    }
}

/// The form the ticked ratings are sent with; its controls stand above the list.
fn bulk_form(view: &View) -> Markup {
    let back = encoded(view.shown);
    html! {
        form.bulk #bulk method="post" action="/dashboard/inbox/actions" aria-label="Act on the ticked ratings" {
            input type="hidden" name="back" value=(back);
            label {
                "With the ticked ratings"
                select name="action" id="bulk-action" {
                    option value="assign" { "assign to" }
                    option value="close" { "close: no follow-up needed" }
                    option value="unassign" { "give back to nobody" }
                    option value="reopen" { "reopen" }
                }
            }
            label {
                "Assign to"
                select name="assignee" id="bulk-assignee" {
                    option value="me" { "me" }
                    @for (id, name) in &view.choices.assignees { option value=(id) { (name) } }
                }
            }
            label {
                "Note for a close (optional)"
                input type="text" name="note" id="bulk-note" maxlength="4096";
            }
            button type="submit" id="bulk-apply" { "Apply to the ticked ratings" }
            (layout::field_problem("bulk", view.refused))
        }
    }
}

/// Previous, the page numbers around this one, next; and where this page stands. `top` is
/// the one above the list, whose links have ids.
fn pager(view: &View, top: bool) -> Markup {
    let page = &view.inbox.page;
    let (at, last) = (page.page, page.pages());
    let first_shown = (at - 1) * page.limit + 1;
    let last_shown = (first_shown + page.items.len() as i64 - 1).max(0);
    let near: Vec<i64> = (1..=last)
        .filter(|n| *n == 1 || *n == last || (*n - at).abs() <= 2)
        .collect();
    html! {
        nav.pager aria-label="Pages of the inbox" {
            p id=[top.then_some("counted")] {
                @if page.items.is_empty() { "0" } @else { (first_shown) "–" (last_shown) }
                " of " span id=[top.then_some("total")] { (page.total) } " · page " (at) " of " (last)
            }
            @if at > 1 { a href=(view.with("page", &(at - 1).to_string())) rel="prev" id=[top.then_some("prev-page")] { "← Previous" } " " }
            @for (k, n) in near.iter().enumerate().filter(|_| last > 1) {
                @if k > 0 && near[k - 1] + 1 < *n { "… " }
                @if *n == at { strong aria-current="page" { (n) } " " }
                @else { a href=(view.with("page", &n.to_string())) { (n) } " " }
            }
            @if at < last { a href=(view.with("page", &(at + 1).to_string())) rel="next" id=[top.then_some("next-page")] { "Next →" } }
        }
    }
}

fn render(view: &View, viewer: &Viewer) -> Markup {
    let page = &view.inbox.page;
    let state = view.get("state").parse::<InboxState>().ok();
    let newest = match view.get("sort") {
        "newest" => true,
        "oldest" => false,
        _ => !view.low() || InboxState::default_sort(state) == InboxSort::Newest,
    };
    let order = if newest { "newest" } else { "oldest" };
    let download = |format: &str| {
        let mut pairs: Vec<(String, String)> = view
            .shown
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "page" | "sort"))
            .cloned()
            .collect();
        pairs.push(("format".to_owned(), format.to_owned()));
        format!("/dashboard/inbox/export?{}", encoded(&pairs))
    };
    let title = if view.low() { "Inbox" } else { "Ratings" };
    layout::page(
        title,
        viewer,
        html! {
            @if let Some(said) = view.said { p.notice #flash role="status" { (said) } }
            (filters_form(view))
            p.muted {
                @if view.low() {
                    "Low ratings: unanswered first, then assigned, then handled; " (order) " first within each. "
                } @else {
                    "Ratings, " (order) " first. "
                }
                "Download every rating these filters match: "
                a href=(download("csv")) #download-csv { "CSV" } " · "
                a href=(download("ndjson")) #download-ndjson { "NDJSON" }
            }
            (pager(view, true))
            @if view.supervise && view.low() && !page.items.is_empty() { (bulk_form(view)) }
            @if page.items.is_empty() {
                p #empty { "No ratings match." }
            }
            @for i in &page.items {
                (item(i, view, viewer))
            }
            @if page.pages() > 1 { (pager(view, false)) }
        },
    )
}
