//! What every dashboard page shares: the frame (title, header, navigation), the style sheet
//! (`style.css`, served at `/dashboard/style.css`), a field's problem, a refusal or problem
//! page, a filter's select, and the way numbers and ratings are written.

use maud::{DOCTYPE, Markup, html};
use rateline_domain::Scale;

use super::quality::interval;
use super::viewer::Viewer;
use crate::store::ReportGroup;

/// The dashboard's style sheet, served at `/dashboard/style.css` (the pages' policy allows
/// no inline style).
pub const STYLE: &str = include_str!("style.css");

pub(in crate::dashboard) fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

pub(in crate::dashboard) fn stars(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2} ★"))
}

pub(in crate::dashboard) fn interval_text(g: &ReportGroup) -> String {
    interval(g).map_or_else(
        || "—".to_owned(),
        |(lo, hi)| format!("{:.0}–{:.0}%", lo * 100.0, hi * 100.0),
    )
}

/// A page: its title, its header (see [`Viewer`]) and its body.
pub(in crate::dashboard) fn page(title: &str, viewer: &Viewer, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Rateline" }
                link rel="stylesheet" href="/dashboard/style.css";
            }
            body {
                header {
                    h1 { "Rateline · " (title) }
                    @if viewer.links {
                        nav aria-label="Pages" {
                            a href="/dashboard/inbox" #nav-inbox {
                                "Inbox"
                                @if let Some(n) = viewer.unanswered.filter(|n| *n > 0) {
                                    " · " span #unanswered { (thousands(n)) } " unanswered"
                                }
                            }
                            " "
                            a href="/dashboard/appeals" #nav-appeals {
                                "Appeals"
                                @if let Some(n) = viewer.appeals.filter(|n| *n > 0) {
                                    " · " span #to-decide { (thousands(n)) } " to decide"
                                }
                            }
                            " "
                            a href="/dashboard" { "Quality" }
                            @if let Some(me) = &viewer.operator {
                                " "
                                a href={ "/dashboard/operators/" (me) } #nav-me { "My feedback" }
                            }
                            @if viewer.operator.is_none() {
                                " "
                                a href="/dashboard/lines" #nav-lines { "Lines" }
                            }
                            @if viewer.admin {
                                " "
                                a href="/dashboard/people" #nav-people { "People" }
                                " "
                                a href="/dashboard/groups" #nav-groups { "Groups" }
                                " "
                                a href="/dashboard/keys" #nav-keys { "Keys" }
                                " "
                                a href="/dashboard/subscriptions" #nav-subscriptions { "Events" }
                                " "
                                a href="/dashboard/connectors" #nav-connectors { "Helpdesks" }
                                " "
                                a href="/dashboard/audit" #nav-audit { "Audit" }
                            }
                        }
                    }
                    @if let Some(who) = &viewer.who {
                        form method="post" action="/dashboard/logout" {
                            @if viewer.me.is_some() {
                                a.who href="/dashboard/account" #nav-account { (who) } " "
                            } @else {
                                span.who { (who) } " "
                            }
                            button type="submit" id="sign-out" { "Sign out" }
                        }
                    }
                }
                @if viewer.open_mode {
                    p #open-mode role="alert" {
                        "Open mode: no API key and no password exist yet, so anyone who can reach "
                        "this address acts as an admin. It is for a first look on this machine. It "
                        "ends when you create the first key ("
                        code { "rateline keys create --name admin --role admin" }
                        ") or a person sets a password from an invitation ("
                        a href="/dashboard/people" { "People" } ")."
                    }
                }
                main {
                    @if !viewer.events_trouble.is_empty() {
                        p.problem #events-trouble role="alert" {
                            "Event subscriptions need you: "
                            @for (n, (id, off)) in viewer.events_trouble.iter().enumerate() {
                                @if n > 0 { ", " }
                                code { (id) } @if *off { " is switched off" } @else { " is failing" }
                            }
                            ". " a href="/dashboard/subscriptions" { "See them" }
                        }
                    }
                    (body)
                }
            }
        }
    }
}

/// A field's problem, shown next to it and tied to it for screen readers.
pub(in crate::dashboard) fn field_problem(id: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(p) = problem { p.problem id=(format!("{id}-problem")) role="alert" { (p) } }
    }
}

/// The title a refusal's page has, where its handler chose one.
#[derive(Debug, Clone)]
pub struct Titled(pub &'static str);

/// A refusal answered as a page titled `title` that says why, with the refusal's status
/// (the dashboard's error layer writes it; a server error keeps that layer's title).
pub fn refused(title: &'static str, e: crate::http::ApiError) -> axum::response::Response {
    use axum::response::IntoResponse;
    let server = e.status.is_server_error();
    let mut response = e.into_response();
    if !server {
        response.extensions_mut().insert(Titled(title));
    }
    response
}

/// A page that only says what went wrong.
pub fn problem(title: &str, message: &str) -> Markup {
    problem_page(title, message, &Viewer::default())
}

/// A page that only says what went wrong, under `viewer`'s header.
pub fn problem_page(title: &str, message: &str, viewer: &Viewer) -> Markup {
    page(
        title,
        viewer,
        html! {
            p.problem role="alert" { (message) }
            p { a href="/dashboard/home" { "Back to your first page" } }
        },
    )
}

pub(in crate::dashboard) fn select(
    name: &str,
    label: &str,
    current: &str,
    options: &[(String, String)],
) -> Markup {
    html! {
        label {
            (label)
            select name=(name) id=(name) {
                option value="" selected[current.is_empty()] { "any" }
                @for (value, text) in options {
                    option value=(value) selected[value == current] { (text) }
                }
            }
        }
    }
}

/// A rating's value as the client saw it: 👍/👎 or stars.
pub(in crate::dashboard) fn shown(scale: Option<Scale>, value: i64) -> String {
    match scale {
        Some(Scale::Binary) if value == 1 => "thumbs up".to_owned(),
        Some(Scale::Binary) => "thumbs down".to_owned(),
        _ => format!("{value} ★"),
    }
}

/// 1234567 → "1,234,567".
pub(in crate::dashboard) fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// CSAT with its interval and sample size, and the five-star average.
pub(in crate::dashboard) fn quality_cards(t: Option<&ReportGroup>) -> Markup {
    html! {
        div.card #csat {
            div.sub { "CSAT (thumbs up, or 4–5 ★)" }
            div.n { (percent(t.and_then(|t| t.csat))) }
            div.sub { "95% interval " (t.map_or("—".to_owned(), interval_text)) " · n = " (t.map_or(0, |t| t.answered)) }
        }
        div.card #average {
            div.sub { "Average (five-star lines)" }
            div.n { (stars(t.and_then(|t| t.average))) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
