//! `/dashboard/inbox`: the low ratings a supervisor acts on, unanswered first, then the
//! newest, each linked to its session's page. The same list as `GET /v1/ratings`, with the
//! same filters (line, operator, channel, period, state) as a plain GET form, and a link to
//! the next page.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::{Markup, html};
use rateline_domain::{Channel, Scale};

use super::page;
use super::viewer::Viewer;
use super::visit::{Visit, viewer};
use crate::engine::Inbox;
use crate::http::{ApiError, AppState};
use crate::store::{InboxItem, InboxState};

/// The inbox's form fields, as sent (empty means any).
const FIELDS: [&str; 6] = ["line", "operator", "channel", "from", "to", "state"];

/// `GET /dashboard/inbox?line=&operator=&channel=&from=&to=&state=&cursor=`.
pub async fn inbox_page(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let viewer = viewer(&state, &caller).await;
    // Empty fields mean "any".
    let mut params: HashMap<String, String> = query
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && (FIELDS.contains(&k.as_str()) || k == "cursor"))
        .collect();
    let shown = params.clone();
    // `from` and `to` are days in the viewer's zone, `to` inclusive, as on the dashboard.
    for (key, next) in [("from", 0), ("to", 1)] {
        if let Some(value) = params.get_mut(key)
            && let Ok(day) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        {
            *value = viewer.midnight(day + Duration::days(next)).to_rfc3339();
        }
    }
    let result = async {
        let filter = crate::http::inbox_filter(&params)?;
        let inbox = state.engine.inbox(&caller, filter).await?;
        let lines = viewer.lines(|id| caller.operator().is_none() && caller.covers_line(id));
        Ok::<_, ApiError>((inbox, lines))
    };
    match result.await {
        Ok((inbox, lines)) => {
            render(&inbox, &shown, &lines, state.engine.now(), &viewer).into_response()
        }
        Err(e) => e.into_response(),
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

fn item(i: &InboxItem, viewer: &Viewer, now: DateTime<Utc>) -> Markup {
    let client = i.client_name.as_deref().unwrap_or(&i.client_id);
    html! {
        article.rating #{ "rating-" (i.rating_id) } {
            h3 {
                a href={ "/dashboard/sessions/" (i.session_id) } {
                    (value_text(i.scale, i.value)) " from " (client)
                }
            }
            p.meta {
                "Operator: "
                @if let Some(o) = &i.operator_id { (viewer.person(o)) } @else { "nobody" }
                " · line " (viewer.line(&i.line_id)) " · " (i.channel) " · "
                time datetime=(i.rated_at.to_rfc3339()) title=(viewer.at(i.rated_at)) { (age(now, i.rated_at)) }
            }
            p {
                "Resolved: "
                (match i.resolved { Some(true) => "yes", Some(false) => "no", None => "not asked" })
            }
            @if i.comment_flagged {
                p.muted { "Comment hidden: flagged as abusive" }
            } @else if let Some(c) = &i.comment {
                blockquote { (c) }
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
            } @else if !i.voided {
                p.unanswered { strong { "Unanswered" } }
            }
            @if let Some(a) = &i.appeal { p { "Appeal: " (a.status) } }
            @if i.voided { p { strong { "Voided" } ": out of the report" } }
        }
    }
}

fn filters_form(shown: &HashMap<String, String>, lines: &[(String, String)]) -> Markup {
    let get = |k: &str| shown.get(k).map_or("", String::as_str);
    let channels: Vec<(String, String)> = Channel::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.as_str().to_owned()))
        .collect();
    let states: Vec<(String, String)> = InboxState::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), s.as_str().to_owned()))
        .collect();
    let lines: Vec<(String, String)> = lines
        .iter()
        .map(|(id, name)| (id.clone(), format!("{name} ({id})")))
        .collect();
    html! {
        form.filters method="get" action="/dashboard/inbox" aria-label="Filters" {
            @if !lines.is_empty() { (page::select("line", "Line", get("line"), &lines)) }
            label { "Operator id" input type="text" name="operator" id="operator" value=(get("operator")); }
            (page::select("channel", "Channel", get("channel"), &channels))
            label { "From" input type="date" name="from" id="from" value=(get("from")); }
            label { "To" input type="date" name="to" id="to" value=(get("to")); }
            (page::select("state", "State", get("state"), &states))
            button type="submit" id="apply" { "Apply" }
        }
    }
}

/// The inbox page: its filters, the ratings, and a link to the next page.
fn render(
    inbox: &Inbox,
    shown: &HashMap<String, String>,
    lines: &[(String, String)],
    now: DateTime<Utc>,
    viewer: &Viewer,
) -> Markup {
    let next = inbox.page.next.as_ref().map(|c| {
        let mut pairs: Vec<(&str, &str)> = FIELDS
            .iter()
            .filter_map(|k| shown.get(*k).map(|v| (*k, v.as_str())))
            .collect();
        let cursor = c.encode();
        pairs.push(("cursor", &cursor));
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    });
    page::page(
        "Inbox",
        viewer,
        html! {
            (filters_form(shown, lines))
            p.muted { "Low ratings, unanswered first, then the newest. Voided ones show with the state “voided”." }
            @if inbox.page.items.is_empty() {
                p #empty { "No low ratings match." }
            }
            @for i in &inbox.page.items {
                (item(i, viewer, now))
            }
            @if let Some(q) = next {
                p { a href={ "/dashboard/inbox?" (q) } rel="next" #next-page { "Next page →" } }
            }
        },
    )
}
