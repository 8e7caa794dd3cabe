//! The dashboard's HTML and the badge's SVG (maud escapes every value it is given).

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use rateline_domain::{Channel, Scale};

use super::charts;
use super::quality::{View, interval, query_with, sorted};
use super::viewer::Viewer;
use crate::store::ReportGroup;

/// The dashboard's style sheet, served at `/dashboard/style.css` (the pages' policy allows
/// no inline style).
pub const STYLE: &str = "
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1b2733; background: #f4f6f8; }
header { background: #1f4e79; color: #fff; padding: 12px 24px; display: flex;
  justify-content: space-between; align-items: center; gap: 12px; }
header h1 { font-size: 19px; margin: 0; }
header form button { font: inherit; }
header nav a, header .who { color: #fff; margin-right: 12px; }
header nav a { font-weight: 600; }
#unanswered { background: #f0a500; color: #1b2733; border-radius: 10px; padding: 0 7px; }
.problem { color: #a4161a; font-weight: 600; }
#open-mode { background: #a4161a; color: #fff; margin: 0; padding: 10px 24px; font-weight: 600; }
#open-mode a, #open-mode code { color: #fff; }
:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
main { padding: 16px 24px; max-width: 1360px; }
form.filters { display: flex; flex-wrap: wrap; gap: 12px; align-items: end; background: #fff;
  padding: 12px; border-radius: 6px; }
form.filters label { display: flex; flex-direction: column; font-size: 13px; gap: 2px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.card { background: #fff; border-radius: 6px; padding: 10px 16px; min-width: 170px; }
.card .n { font-size: 26px; font-weight: 600; }
.card .sub { font-size: 12px; color: #52606d; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
figure { margin: 0; background: #fff; border-radius: 6px; padding: 8px; }
figure svg { width: 100%; height: auto; }
table { border-collapse: collapse; background: #fff; width: 100%; margin-top: 8px; }
th, td { padding: 6px 10px; border-bottom: 1px solid #e4e7eb; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th a { color: inherit; }
th[aria-sort] { background: #e4ecf5; }
#reasons td:last-child, #reasons th:last-child { text-align: left; }
article.rating { background: #fff; border-radius: 6px; padding: 10px 16px; margin: 10px 0;
  max-width: 900px; }
article.rating h3 { font-size: 16px; margin: 0 0 4px; }
article.rating p { margin: 4px 0; }
article.rating blockquote { margin: 6px 0; padding-left: 10px; border-left: 3px solid #c7d0d9; }
#session td, #journey-table td, #journey-table th, #low-ratings td, #low-ratings th,
#people td, #people th, #audit td, #audit th { text-align: left; vertical-align: top; }
#audit ul { margin: 0; padding-left: 16px; }
section { margin-top: 20px; }
h2 { font-size: 17px; margin: 0 0 6px; }
.muted { color: #52606d; font-size: 13px; }
.beyond { color: #0b3d91; }
#trend ul { margin: 4px 0 12px; padding-left: 20px; }
.notice { background: #e3f2e6; border-left: 4px solid #2e7d32; padding: 8px 12px; font-weight: 600; }
#act h3 { font-size: 15px; margin: 0; }
#act textarea, #act select { font: inherit; padding: 6px 8px; }
fieldset { border: 1px solid #c7d0d9; border-radius: 4px; }
form.stacked { display: flex; flex-direction: column; gap: 6px; max-width: 420px;
  background: #fff; padding: 16px; border-radius: 6px; margin-bottom: 12px; }
form.stacked input, form.stacked button { font: inherit; padding: 6px 8px; }
form.stacked button { align-self: flex-start; }
details { max-width: 452px; }
#settings fieldset { background: #fff; margin: 12px 0; padding: 8px 16px 12px; max-width: 760px;
  min-width: 0; box-sizing: border-box; }
#settings fieldset fieldset { background: none; }
#settings legend { font-weight: 600; }
.field { display: flex; flex-direction: column; gap: 2px; margin: 8px 0; }
.field input { font: inherit; padding: 6px 8px; }
#key-text, #invitation-url { width: 100%; box-sizing: border-box; font: inherit; }
#settings .field.check, #recipients .check { flex-direction: row; flex-wrap: wrap; align-items: center;
  gap: 6px; margin: 4px 0; }
#settings .field.check .muted { flex-basis: 100%; }
#settings input[type=text], #settings input[type=password], #settings textarea, #settings select,
#new-line input { font: inherit; padding: 6px 8px; max-width: 100%; }
#settings textarea, #settings input[type=text], #settings input[type=password], #settings select
  { width: 100%; box-sizing: border-box; }
form.inline button { font: inherit; padding: 6px 12px; margin: 4px 0; max-width: 100%;
  overflow-wrap: anywhere; }
#new-key select, #new-person select { font: inherit; padding: 6px 8px; }
#settings input[inputmode=numeric] { max-width: 10em; }
#settings button, #connector-test button { font: inherit; padding: 6px 12px; }
[aria-invalid=true] { border: 2px solid #a4161a; }
#reach td, #reach th, #lines td, #lines th, #keys td, #keys th, #groups td, #groups th
  { text-align: left; vertical-align: top; }
blockquote.clamped { display: -webkit-box; -webkit-line-clamp: 6; line-clamp: 6;
  -webkit-box-orient: vertical; overflow: hidden; }
.rating h3, .rating blockquote, .rating p { overflow-wrap: anywhere; }
h1, #operator-table td:first-child, #per-line td:first-child, td.clamped
  { overflow-wrap: anywhere; }
#operator-table td:first-child { max-width: 18em; }
form.bulk { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: end; background: #fff;
  padding: 8px 12px; border-radius: 6px; margin: 8px 0; }
form.bulk label { display: flex; flex-direction: column; gap: 2px; }
form.bulk select, form.bulk input, form.bulk button { font: inherit; padding: 4px 6px; }
.pager a, .pager strong { padding: 2px 4px; }
pre { white-space: pre-wrap; background: #fff; padding: 8px; border-radius: 4px; max-width: 760px; }
@media (max-width: 600px) {
  main { padding: 12px; }
  th, td { padding: 4px 6px; }
  table { display: block; overflow-x: auto; }
}
";

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn stars(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.2} ★"))
}

fn interval_text(g: &ReportGroup) -> String {
    interval(g).map_or_else(
        || "—".to_owned(),
        |(lo, hi)| format!("{:.0}–{:.0}%", lo * 100.0, hi * 100.0),
    )
}

/// A page: its title, its header (see [`Viewer`]) and its body.
pub(super) fn page(title: &str, viewer: &Viewer, body: Markup) -> Markup {
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

/// Which sign-in form was just sent, so its field can show what was wrong.
pub enum Tried {
    Nothing,
    /// A person's id and password; the id is shown again.
    Person {
        id: String,
    },
    Key,
}

/// A field's problem, shown next to it and tied to it for screen readers.
pub(super) fn field_problem(id: &str, problem: Option<&str>) -> Markup {
    html! {
        @if let Some(p) = problem { p.problem id=(format!("{id}-problem")) role="alert" { (p) } }
    }
}

/// A form that was sent when its sign-in had ended: where it went and what it said, but
/// never a password, a secret or a key. The sign-in page carries it, and after signing in
/// the person is asked to send it again ([`resend`]).
#[derive(Debug, Clone, Default)]
pub struct Kept {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

/// What a kept field's name starts with on the sign-in form.
pub const KEPT: &str = "kept:";

impl Kept {
    /// Whether a field may be kept: none that holds a credential.
    pub fn may_keep(name: &str) -> bool {
        !["password", "secret", "key", "current", "repeat", "token"]
            .iter()
            .any(|w| name.contains(w))
    }

    /// Its fields as the hidden inputs of the sign-in form.
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="kept_action" value=(self.action);
            @for (name, value) in &self.fields {
                input type="hidden" name={ (KEPT) (name) } value=(value);
            }
        }
    }
}

/// After signing in: the form that was not sent, offered to be sent now, or left.
pub fn resend(kept: &Kept, next: &str) -> Markup {
    page(
        "Send it now?",
        &Viewer::default(),
        html! {
            form.stacked method="post" action=(kept.action) aria-label="Send it now" {
                p { "Your sign-in had ended when you sent this, so it was not saved or sent. "
                    "You are signed in again: send it now, as you wrote it?" }
                @for (name, value) in &kept.fields {
                    input type="hidden" name=(name) value=(value);
                }
                @if let Some((_, text)) = kept.fields.iter().find(|(n, _)| n == "text") {
                    blockquote.kept { (text) }
                }
                button type="submit" #send-kept { "Send it now" }
                " "
                a href=(next) #leave-kept { "Leave it" }
            }
        },
    )
}

/// The sign-in page: a person's id and password, or (for programs' keys) an API key.
/// `next` is where to go after signing in, and `kept` the form that was sent when the
/// sign-in had ended; a problem stands next to the field it is about.
pub fn login(problem: Option<&str>, tried: &Tried, next: &str, kept: Option<&Kept>) -> Markup {
    let (person_problem, key_problem) = match tried {
        Tried::Key => (None, problem),
        _ => (problem, None),
    };
    let id = match tried {
        Tried::Person { id } => id.as_str(),
        _ => "",
    };
    page(
        "Sign in",
        &Viewer::default(),
        html! {
            @if kept.is_some() {
                p.notice #kept role="status" { "Your sign-in had ended, so what you sent was not saved or sent. Sign in, and you can send it again." }
            }
            form.stacked method="post" action="/dashboard/login" aria-label="Sign in" {
                input type="hidden" name="next" value=(next);
                @if let Some(k) = kept { (k.hidden()) }
                label for="person" { "Your id" }
                input type="text" name="person" id="person" value=(id) autocomplete="username"
                    required autocapitalize="none" spellcheck="false";
                label for="password" { "Password" }
                input type="password" name="password" id="password"
                    autocomplete="current-password" required
                    aria-describedby=[person_problem.map(|_| "password-problem")]
                    aria-invalid=[person_problem.map(|_| "true")];
                (field_problem("password", person_problem))
                button type="submit" { "Sign in" }
                p.muted { "No password yet? An admin makes you an invitation link." }
            }
            details open[key_problem.is_some()] {
                summary { "Sign in with an API key" }
                form.stacked method="post" action="/dashboard/login" aria-label="Sign in with an API key" {
                    input type="hidden" name="next" value=(next);
                    @if let Some(k) = kept { (k.hidden()) }
                    label for="key" { "API key" }
                    input type="password" name="key" id="key" autocomplete="off" required
                        aria-describedby=[key_problem.map(|_| "key-problem")]
                        aria-invalid=[key_problem.map(|_| "true")];
                    (field_problem("key", key_problem))
                    button type="submit" { "Sign in with the key" }
                }
            }
        },
    )
}

/// The page where an invited person sets their password; `invalid` is what was wrong with
/// the last try, shown next to its field.
pub fn invitation(
    person_id: &str,
    name: &str,
    token: &str,
    invalid: Option<&rateline_domain::Invalid>,
) -> Markup {
    let problem = |field: &str| {
        invalid
            .filter(|i| i.field == field)
            .map(|i| format!("The {field} {}.", i.message))
    };
    let (password, repeat) = (problem("password"), problem("repeat"));
    page(
        "Set your password",
        &Viewer::default(),
        html! {
            p { "Welcome, " (name) ". Set a password to sign in to Rateline. Your id is "
                strong { (person_id) } "." }
            form.stacked method="post" action="/dashboard/invitation" aria-label="Set your password" {
                input type="hidden" name="token" value=(token);
                input type="hidden" name="person" value=(person_id) autocomplete="username";
                label for="password" { "New password" }
                input type="password" name="password" id="password" autocomplete="new-password"
                    required minlength=(crate::engine::MIN_PASSWORD_CHARS)
                    aria-describedby={ "password-hint" @if password.is_some() { " password-problem" } }
                    aria-invalid=[password.as_ref().map(|_| "true")];
                span.muted id="password-hint" {
                    "At least " (crate::engine::MIN_PASSWORD_CHARS) " characters. A few unrelated words make a good one."
                }
                (field_problem("password", password.as_deref()))
                label for="repeat" { "The same password again" }
                input type="password" name="repeat" id="repeat" autocomplete="new-password" required
                    aria-describedby=[repeat.as_ref().map(|_| "repeat-problem")]
                    aria-invalid=[repeat.as_ref().map(|_| "true")];
                (field_problem("repeat", repeat.as_deref()))
                button type="submit" { "Set the password and sign in" }
            }
        },
    )
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

pub(super) fn select(
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

fn filters_form(v: &View, viewer: &Viewer) -> Markup {
    let f = &v.filters;
    let name = |id: &String| match viewer.directory.people.get(id) {
        Some((name, _)) if name != id => format!("{name} ({id})"),
        _ => id.clone(),
    };
    let operators: Vec<(String, String)> = v
        .operators
        .iter()
        .filter(|g| !g.key.is_empty())
        .map(|g| (g.key.clone(), name(&g.key)))
        .chain((!f.operator.is_empty()).then(|| (f.operator.clone(), name(&f.operator))))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    let channels: Vec<(String, String)> = Channel::ALL
        .iter()
        .map(|c| (c.as_str().to_owned(), c.as_str().to_owned()))
        .collect();
    let lines: Vec<(String, String)> = v
        .lines
        .iter()
        .map(|(id, name)| (id.clone(), format!("{name} ({id})")))
        .collect();
    html! {
        form.filters method="get" action="/dashboard" aria-label="Filters" {
            (select("line", "Line", &f.line, &lines))
            @if !v.operator_only { (select("operator", "Operator", &f.operator, &operators)) }
            (select("channel", "Channel", &f.channel, &channels))
            label { "From" input type="date" name="from" id="from" value=(f.from); }
            label { "To" input type="date" name="to" id="to" value=(f.to); }
            label {
                "Per"
                select name="period" id="period" {
                    option value="day" selected[f.period != "week"] { "day" }
                    option value="week" selected[f.period == "week"] { "week" }
                }
            }
            input type="hidden" name="sort" value=(f.sort);
            button type="submit" id="apply" { "Apply" }
            a href="/dashboard" { "Reset" }
        }
        @if v.whole_days {
            p.muted #whole-days {
                "Your numbers count whole days (UTC) up to last midnight: a line you work on "
                "keeps single ratings to supervisors, so today's come tomorrow."
            }
        }
    }
}

/// CSAT with its interval and sample size, and the five-star average.
fn quality_cards(t: Option<&ReportGroup>) -> Markup {
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

fn cards(v: &View) -> Markup {
    let t = v.total.as_ref();
    let fun = &v.funnel;
    let delivery = (fun.sent_where_delivery_is_known > 0)
        .then(|| fun.delivered as f64 / fun.sent_where_delivery_is_known as f64);
    html! {
        div.cards {
            (quality_cards(t))
            div.card #response-rate {
                div.sub { "Response rate (answered / sent)" }
                div.n { (percent(t.and_then(|t| t.response_rate))) }
                div.sub { (t.map_or(0, |t| t.answered)) " of " (t.map_or(0, |t| t.sent)) }
            }
            div.card #delivery-rate {
                div.sub { "Delivery rate (delivered / sent)" }
                div.n { (percent(delivery)) }
                div.sub { "where the channel tells (WhatsApp, web chat): " (fun.delivered) " of " (fun.sent_where_delivery_is_known) }
            }
            div.card #low {
                div.sub { "Low ratings" }
                div.n { (t.map_or(0, |t| t.low)) }
                div.sub { a href={ "/dashboard/inbox?" (inbox_query(&v.filters)) } { "Work through low ratings in the inbox" } }
            }
        }
    }
}

/// The period against the one before it: CSAT, answered and low ratings, each change said
/// to be beyond the noise or within it (see [`crate::report::change`]).
fn trend(v: &View) -> Markup {
    let Some(before) = &v.previous else {
        return html! {
            p.muted #trend { "Choose both dates to compare the period with the one before it." }
        };
    };
    let trend = &before.trend;
    let (now, was) = (trend.now.as_ref(), trend.before.as_ref());
    let count = |g: Option<&ReportGroup>, f: fn(&ReportGroup) -> i64| g.map_or(0, f);
    let low_share = |g: Option<&ReportGroup>| {
        g.and_then(|g| (g.answered > 0).then(|| g.low as f64 / g.answered as f64))
    };
    html! {
        section #trend {
            h2 { "Compared with " (before.from) " to " (before.to) }
            ul {
                li #trend-csat {
                    "CSAT " (percent(now.and_then(|g| g.csat)))
                    " (was " (percent(was.and_then(|g| g.csat))) ")"
                    (verdict(trend.csat_change))
                }
                li #trend-answered {
                    "Answered " (thousands(count(now, |g| g.answered)))
                    " (was " (thousands(count(was, |g| g.answered))) ")"
                }
                li #trend-low {
                    "Low ratings " (thousands(count(now, |g| g.low)))
                    " (was " (thousands(count(was, |g| g.low))) "), "
                    (percent(low_share(now))) " of the answered (was " (percent(low_share(was))) ")"
                    (verdict(trend.low_share_change))
                }
            }
        }
    }
}

/// A change in points, with whether it is beyond the noise; nothing without one.
fn verdict(change: Option<crate::report::Change>) -> Markup {
    let Some(c) = change else {
        return html! { ": too few ratings to compare" };
    };
    let points = |x: f64| format!("{:+.1}", x * 100.0);
    let (change, noise) = c.words();
    html! {
        ": " (change) " "
        @if c.beyond_noise {
            strong.beyond { (noise) }
        } @else {
            span.muted { (noise) }
        }
        span.muted { " (95% interval of the change " (points(c.low)) " to " (points(c.high)) " points)" }
    }
}

/// The inbox's query for the dashboard's filters: the same line, operator and channel. Not
/// the period: the report counts by the session's close and leaves voided ratings out,
/// the inbox goes by when a rating was given and lists every state.
fn inbox_query(f: &super::quality::Filters) -> String {
    let pairs = [
        ("line", &f.line),
        ("operator", &f.operator),
        ("channel", &f.channel),
    ];
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
        .finish()
}

fn charts_section(v: &View) -> Markup {
    let points = |value: fn(&ReportGroup) -> Option<f64>, band: bool| -> Vec<charts::Point> {
        v.periods
            .iter()
            .map(|g| charts::Point {
                label: g.key.get(5..).unwrap_or(&g.key).to_owned(),
                value: value(g),
                band: if band { interval(g) } else { None },
            })
            .collect()
    };
    let per = if v.filters.period == "week" {
        "week"
    } else {
        "day"
    };
    let csat = charts::line(
        &format!("CSAT per {per}, with its 95% interval"),
        &points(|g| g.csat, true),
        0.0..1.0,
        true,
    );
    let average = charts::line(
        &format!("Average ★ per {per}"),
        &points(|g| g.average, false),
        1.0..5.0,
        false,
    );
    let count = |scale: Scale, value: i64| *v.distribution.get(&(scale, value)).unwrap_or(&0);
    let binary = charts::bars(
        "Binary lines",
        &[
            ("thumbs down".to_owned(), count(Scale::Binary, 0)),
            ("thumbs up".to_owned(), count(Scale::Binary, 1)),
        ],
    );
    let five: Vec<(String, i64)> = (1..=5)
        .map(|s| (format!("{s} ★"), count(Scale::FiveStar, s)))
        .collect();
    let five = charts::bars("Five-star lines", &five);
    let f = &v.funnel;
    let funnel = charts::bars(
        "From close to answer",
        &[
            ("closed".to_owned(), f.closed),
            ("requested".to_owned(), f.requested),
            ("sent".to_owned(), f.sent),
            ("delivered".to_owned(), f.delivered),
            ("answered".to_owned(), f.answered),
        ],
    );
    // Each day (week) and each bar opens the ratings behind it, in the inbox's list of all
    // ratings with the page's line, operator and channel.
    let behind = |pairs: &[(&str, String)]| {
        let mut all: Vec<(&str, String)> = vec![("show", "all".to_owned())];
        for (k, value) in [
            ("line", &v.filters.line),
            ("operator", &v.filters.operator),
            ("channel", &v.filters.channel),
        ] {
            if !value.is_empty() {
                all.push((k, value.clone()));
            }
        }
        all.extend(pairs.iter().cloned());
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(all)
            .finish();
        format!("/dashboard/inbox?{query}")
    };
    let days: Vec<(String, String)> = v
        .periods
        .iter()
        .filter_map(|g| {
            let from = chrono::NaiveDate::parse_from_str(&g.key, "%Y-%m-%d").ok()?;
            let to = if per == "week" {
                from + chrono::Duration::days(6)
            } else {
                from
            };
            let link = behind(&[("from", g.key.clone()), ("to", to.to_string())]);
            Some((g.key.get(5..).unwrap_or(&g.key).to_owned(), link))
        })
        .collect();
    let values: Vec<(String, String)> = [(Scale::Binary, 0, "👎"), (Scale::Binary, 1, "👍")]
        .into_iter()
        .chain((1..=5).map(|n| {
            (
                Scale::FiveStar,
                n,
                ["", "1 ★", "2 ★", "3 ★", "4 ★", "5 ★"][n as usize],
            )
        }))
        .filter(|(scale, n, _)| count(*scale, *n) > 0)
        .map(|(_, n, label)| (label.to_owned(), behind(&[("value", n.to_string())])))
        .collect();
    html! {
        section aria-labelledby="trend" {
            h2 #trend { "Over time" }
            div.charts {
                figure #chart-csat { (PreEscaped(csat)) }
                figure #chart-average { (PreEscaped(average)) }
            }
            @if !days.is_empty() {
                p #days-behind { "The ratings of each " (per) ": "
                    @for (k, (label, link)) in days.iter().enumerate() {
                        @if k > 0 { " · " }
                        a href=(link) { (label) }
                    }
                }
            }
        }
        section aria-labelledby="distribution" {
            h2 #distribution { "Distribution of ratings" }
            div.charts {
                figure #chart-binary { (PreEscaped(binary)) }
                figure #chart-five { (PreEscaped(five)) }
            }
            @if !values.is_empty() {
                p #values-behind { "The ratings behind each bar: "
                    @for (k, (label, link)) in values.iter().enumerate() {
                        @if k > 0 { " · " }
                        a href=(link) { (label) }
                    }
                }
            }
        }
        (why_low(v))
        section aria-labelledby="funnel" {
            h2 #funnel { "Funnel" }
            div.charts {
                figure #chart-funnel { (PreEscaped(funnel)) }
                div {
                    @if f.reminded > 0 {
                        p #reminded { "Reminded: " (f.reminded) " request(s), " (f.answered_after_reminder) " answered after the reminder." }
                    }
                    p.muted { "Requests that did not reach an answer, by where they ended:" }
                    table #reasons {
                        thead { tr { th { "status" } th { "requests" } th { "meaning" } } }
                        tbody {
                            @for (status, meaning) in REASONS {
                                tr { td { (status) } td { (f.by_status.get(status).copied().unwrap_or(0)) } td { (meaning) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The reasons clients gave for their low ratings, where a line asks for them.
fn why_low(v: &View) -> Markup {
    if v.why_low.is_empty() {
        return html! {};
    }
    let bars: Vec<(String, i64)> = v
        .why_low
        .iter()
        .map(|(text, low, _)| (text.clone(), *low))
        .collect();
    let chart = charts::bars("Low ratings by the reason given", &bars);
    html! {
        section aria-labelledby="why-low" {
            h2 #why-low { "Why low" }
            div.charts {
                figure #chart-why-low { (PreEscaped(chart)) }
                div {
                    p.muted { "The reasons clients picked after a low rating. A rating may give several, so the shares may add up to more than 100%." }
                    table #why-low-table {
                        thead { tr { th { "reason" } th { "low ratings" } th { "share of low ratings" } } }
                        tbody {
                            @for (text, low, share) in &v.why_low {
                                tr { td { (text) } td { (low) } td { (percent(*share)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

const REASONS: [(&str, &str); 11] = [
    (
        "skipped",
        "a survey rule chose not to ask (see the line's survey settings)",
    ),
    ("window_closed", "Meta's 24-hour window had passed"),
    ("undeliverable", "the platform refused it for good"),
    ("expired", "sent, not answered within the answer window"),
    ("cancelled", "the client wrote again before it was due"),
    ("failed", "retries or the send deadline ran out"),
    ("sent", "sent, waiting for an answer"),
    ("delivered", "delivered, waiting for an answer"),
    ("retrying", "a send failed; waiting to try again"),
    ("scheduled", "not due yet"),
    ("sending", "being sent"),
];

fn operator_table(v: &View, viewer: &Viewer) -> Markup {
    let sort = match v.filters.sort.as_str() {
        "" => "csat",
        s => s,
    };
    let rows = sorted(v.operators.clone(), sort);
    let header = |key: &str, label: &str| {
        html! {
            th aria-sort=[(sort == key).then_some("descending")] {
                a href={ "/dashboard?" (query_with(&v.filters, "sort", key)) } { (label) }
            }
        }
    };
    html! {
        section aria-labelledby="operators" {
            h2 #operators { "Operators" }
            p.muted { "Ranked by CSAT's 95% interval lower bound: a few lucky ratings do not outrank many steady ones. "
                a href={ "/dashboard/export.csv?" (query_with(&v.filters, "table", "operators")) } { "CSV" } }
            table #operator-table {
                thead { tr {
                    th { "operator" }
                    (header("volume", "answered"))
                    (header("csat", "CSAT"))
                    th { "95% interval" }
                    th { "average" }
                    (header("low", "low"))
                    th { "sent" }
                    th { "response rate" }
                } }
                tbody {
                    @for g in &rows {
                        tr {
                            td { @if g.key.is_empty() { em { "(none)" } } @else {
                                a href={ "/dashboard/operators/" (g.key) } { (viewer.person(&g.key)) }
                            } }
                            td { (g.answered) }
                            td { (percent(g.csat)) }
                            td { (interval_text(g)) }
                            td { (stars(g.average)) }
                            td { (g.low) }
                            td { (g.sent) }
                            td { (percent(g.response_rate)) }
                        }
                    }
                }
            }
            p.muted { "Per period: "
                a href={ "/dashboard/export.csv?" (query_with(&v.filters, "table", "periods")) } { "CSV" } }
        }
    }
}

/// The dashboard.
pub fn dashboard(v: &View, viewer: &Viewer) -> Markup {
    page(
        "Quality",
        viewer,
        html! {
            (filters_form(v, viewer))
            (cards(v))
            (trend(v))
            (charts_section(v))
            (operator_table(v, viewer))
        },
    )
}

/// A rating's value as the client saw it: 👍/👎 or stars.
pub(super) fn shown(scale: Option<Scale>, value: i64) -> String {
    match scale {
        Some(Scale::Binary) if value == 1 => "thumbs up".to_owned(),
        Some(Scale::Binary) => "thumbs down".to_owned(),
        _ => format!("{value} ★"),
    }
}

/// What a visitor may do on a session's page; the forms they may not use are not shown
/// (the engine refuses them anyway).
#[derive(Debug, Clone, Copy)]
pub struct Abilities {
    /// Respond, flag, evaluate: supervisors and admins.
    pub supervise: bool,
    /// Decide the session's appeal: admins, and the line's supervisors where the line lets
    /// them, never who made it.
    pub decide: bool,
    /// The line shows its ratings to supervisors only, and the visitor is its operator.
    pub ratings_hidden: bool,
}

/// An action that was refused: which form, why, and what was typed (kept for another try).
pub struct Problem {
    pub form: &'static str,
    pub message: String,
    pub draft: Option<String>,
}

/// What changed from one version of a rating to the next.
fn changed(
    scale: Option<Scale>,
    before: &crate::store::RatingRevision,
    now: &crate::store::RatingRevision,
) -> String {
    let mut parts = Vec::new();
    if before.value != now.value {
        parts.push(format!("changed to {}", shown(scale, now.value)));
    }
    if before.comment != now.comment {
        parts.push(match &now.comment {
            Some(_) => "comment changed".to_owned(),
            None => "comment removed".to_owned(),
        });
    }
    if before.reasons != now.reasons {
        parts.push("reasons given".to_owned());
    }
    if before.resolved != now.resolved {
        parts.push(format!("resolved: {}", yes_no(now.resolved)));
    }
    if parts.is_empty() {
        "answered again, nothing changed".to_owned()
    } else {
        parts.join(", ")
    }
}

fn yes_no(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "yes",
        Some(false) => "no",
        None => "not asked",
    }
}

fn problem_for(problem: Option<&Problem>, form: &str) -> Markup {
    html! {
        @if let Some(p) = problem.filter(|p| p.form == form) {
            p.problem id={ (form) "-problem" } role="alert" { (p.message) }
        }
    }
}

/// Why a response cannot reach the client on this session's channel, if it cannot.
fn cannot_send(
    s: &crate::store::SessionRecord,
    now: DateTime<Utc>,
    viewer: &Viewer,
) -> Option<String> {
    use rateline_domain::Channel::*;
    match s.channel {
        Webchat => Some(
            "The web chat widget shows rating cards only, so the response cannot be sent from here: write it to the client in your chat.".to_owned(),
        ),
        Messenger | Instagram | Whatsapp => {
            let open_until = s.last_client_message_at.map(|t| t + chrono::Duration::hours(24));
            match open_until {
                Some(until) if until > now => None,
                Some(until) => Some(format!(
                    "The client last wrote in this session 24 hours before {}: unless they have written since, their 24-hour window is closed, the platform takes no message, and a response sent now ends window_closed.",
                    viewer.at(until)
                )),
                None => Some("The client has not written in this session: unless they have written elsewhere in the last 24 hours, a response sent now ends window_closed.".to_owned()),
            }
        }
        _ => None,
    }
}

/// The forms that act on the session's rating.
fn actions(
    v: &crate::store::SessionView,
    viewer: &Viewer,
    can: &Abilities,
    problem: Option<&Problem>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let s = &v.session;
    let Some((r, _)) = &v.rating else {
        return html! {};
    };
    let base = format!("/dashboard/sessions/{}", s.id);
    let draft = |form: &str| {
        problem
            .filter(|p| p.form == form)
            .and_then(|p| p.draft.clone())
    };
    let response_text = draft("respond")
        .or_else(|| v.response.as_ref().map(|x| x.text.clone()))
        .unwrap_or_default();
    let cannot = cannot_send(s, now, viewer);
    let decidable = v
        .appeal
        .as_ref()
        .filter(|a| a.status == "open" && can.decide);
    // A refusal of a form this page does not show (not the visitor's to use, or done
    // already) still says why, at the top.
    let shown = |form: &str| match form {
        "respond" | "evaluate" => can.supervise,
        "flag" => can.supervise && r.comment.is_some(),
        "appeal" => v.appeal.is_none(),
        "decide" => decidable.is_some(),
        _ => false,
    };
    html! {
        section #act aria-labelledby="act-h" {
            h2 #act-h { "Act on this rating" }
            @if let Some(p) = problem.filter(|p| !shown(p.form)) {
                p.problem id={ (p.form) "-problem" } role="alert" { (p.message) }
            }
            @if can.supervise {
                form.stacked method="post" action={ (base) "/response" } aria-labelledby="respond-h" {
                    h3 #respond-h { @if v.response.is_some() { "Edit your response" } @else { "Respond" } }
                    label for="response-text" { "Your response to the client" }
                    textarea name="text" id="response-text" rows="4" required
                        aria-invalid=[problem.filter(|p| p.form == "respond").map(|_| "true")]
                        aria-describedby=[problem.filter(|p| p.form == "respond").map(|_| "respond-problem")] { (response_text) }
                    @if let Some(why) = &cannot {
                        p.muted #cannot-send { (why) }
                    }
                    input type="hidden" name="version" value=(v.response.as_ref().map_or(0, |x| x.version));
                    @if !matches!(s.channel, rateline_domain::Channel::Webchat) {
                        label { input type="checkbox" name="send_to_client" value="true" id="send-to-client"; " Send it to the client" }
                    }
                    @if let Some(sent) = v.response.as_ref().and_then(|x| x.with_client()) {
                        p.muted #sent-already {
                            @if let Some(at) = sent.sent_at { "The client got your reply (" (viewer.at(at)) ")" }
                            @else { "Your reply is on its way to the client" }
                            ". Sending again gives them a second message."
                        }
                        label { input type="checkbox" name="second_message" value="true" id="second-message"; " Send it as a second message" }
                    }
                    (problem_for(problem, "respond"))
                    button type="submit" id="respond" { "Save the response" }
                }
                @if r.comment.is_some() {
                    form.stacked method="post" action={ (base) "/flag" } aria-labelledby="flag-h" {
                        h3 #flag-h { "The comment" }
                        input type="hidden" name="abusive" value=(if r.comment_flagged { "false" } else { "true" });
                        (problem_for(problem, "flag"))
                        button type="submit" id="flag" {
                            @if r.comment_flagged { "Show the comment again" } @else { "Hide the comment as abusive" }
                        }
                    }
                }
            }
            @if v.appeal.is_none() {
                form.stacked method="post" action={ (base) "/appeal" } aria-labelledby="appeal-h" {
                    h3 #appeal-h { "Appeal" }
                    label for="appeal-reason" { "What outside the operator's control caused this rating?" }
                    textarea name="reason" id="appeal-reason" rows="2" required
                        aria-invalid=[problem.filter(|p| p.form == "appeal").map(|_| "true")] { (draft("appeal").unwrap_or_default()) }
                    (problem_for(problem, "appeal"))
                    button type="submit" id="appeal" { "Appeal to void the rating" }
                }
            }
            @if let Some(a) = decidable {
                form.stacked method="post" action={ "/dashboard/appeals/" (a.id) "/decision" } aria-labelledby="decide-h" {
                    h3 #decide-h { "Decide the appeal" }
                    input type="hidden" name="session" value=(s.id);
                    fieldset {
                        legend { "Void the rating?" }
                        label { input type="radio" name="approve" value="yes" required; " Approve: void it (out of the report)" }
                        label { input type="radio" name="approve" value="no"; " Reject: keep it" }
                    }
                    label for="decide-note" { "Note (optional)" }
                    textarea name="note" id="decide-note" rows="2" {}
                    (problem_for(problem, "decide"))
                    button type="submit" id="decide" { "Decide" }
                }
            }
            @if can.supervise {
                form.stacked method="post" action={ (base) "/evaluation" } aria-labelledby="evaluate-h" {
                    h3 #evaluate-h { "Your evaluation" }
                    label for="stars" { "Stars (yours, apart from the client's)" }
                    select name="stars" id="stars" required {
                        // Nothing is chosen for the supervisor: a first evaluation is theirs to pick.
                        option value="" selected[v.evaluation.is_none()] { "choose…" }
                        @for n in 1..=5 {
                            option value=(n) selected[v.evaluation.as_ref().is_some_and(|e| e.stars == n)] { (n) " ★" }
                        }
                    }
                    label for="evaluate-comment" { "Comment (optional)" }
                    textarea name="comment" id="evaluate-comment" rows="2" {
                        (v.evaluation.as_ref().and_then(|e| e.comment.clone()).unwrap_or_default())
                    }
                    (problem_for(problem, "evaluate"))
                    button type="submit" id="evaluate" { "Save my evaluation" }
                }
            }
        }
    }
}

/// One conversation: its rating at the end of its history, what can be done about it, and
/// everything that happened on the way, in time order. `flash` says what was just done.
pub fn session(
    v: &crate::store::SessionView,
    rating_settings: &rateline_domain::RatingSettings,
    viewer: &Viewer,
    can: &Abilities,
    flash: Option<&str>,
    problem: Option<&Problem>,
    now: chrono::DateTime<chrono::Utc>,
) -> Markup {
    let s = &v.session;
    let scale = v.request.as_ref().map(|r| r.scale);
    let by = |who: &Option<String>| {
        html! { @if let Some(who) = who { " by " (viewer.actor(who)) } }
    };
    let mut journey: Vec<(DateTime<Utc>, Markup)> = vec![(s.opened_at, html! { "opened" })];
    if let Some(closed) = s.closed_at {
        let by = s.closed_by.map_or("?", |c| c.as_str());
        journey.push((closed, html! { "closed by " (by) }));
    }
    if let Some(r) = &v.request {
        journey.push((
            r.created_at,
            html! { "rating request made, due " (viewer.at(r.due_at)) },
        ));
        let steps = [
            (r.sent_at, "sent to the client"),
            (r.delivered_at, "delivered (the channel confirmed it)"),
            (r.answered_at, "answered"),
        ];
        for (t, what) in steps {
            if let Some(t) = t {
                journey.push((t, html! { (what) }));
            }
        }
        if let (Some(t), false) = (r.finished_at, r.answered_at.is_some()) {
            journey.push((t, html! { "ended " (r.status) }));
        }
    }
    if let Some((rating, history)) = &v.rating {
        for (i, h) in history.iter().enumerate() {
            let what = match i.checked_sub(1).and_then(|p| history.get(p)) {
                None => format!(
                    "rated {}{}",
                    shown(scale, h.value),
                    h.resolved.map_or(String::new(), |r| format!(
                        ", resolved: {}",
                        yes_no(Some(r))
                    ))
                ),
                Some(before) => changed(scale, before, h),
            };
            journey.push((h.recorded_at, html! { (what) }));
        }
        if let Some(t) = rating.voided_at {
            journey.push((t, html! { "voided by an approved appeal" }));
        }
    }
    if let Some(resp) = &v.response {
        journey.push((resp.created_at, html! { "responded" (by(&resp.author_id)) }));
        if resp.edits > 0 {
            journey.push((
                resp.updated_at,
                html! { "response edited (" (resp.edits) " edit(s) in all)" },
            ));
        }
    }
    if let Some(a) = &v.appeal {
        journey.push((a.created_at, html! { "appealed" (by(&a.made_by)) }));
        if let Some(t) = a.decided_at {
            journey.push((t, html! { "appeal " (a.status) (by(&a.decided_by)) }));
        }
    }
    for a in &v.alerts {
        journey.push((
            a.created_at,
            html! {
                @if a.kind == "comment" { "the comment, after its alert, to " } @else { "alert to " }
                (viewer.actor(&a.recipient)) " by " (a.sink) ": " (a.status)
            },
        ));
    }
    journey.sort_by_key(|(t, _)| *t);
    page(
        &format!("Session {}", s.id),
        viewer,
        html! {
            p { a href="/dashboard/inbox" { "← Inbox" } " · " a href="/dashboard" { "Quality" } }
            @if let Some(f) = flash { p.notice #flash role="status" { (f) } }
            table #session {
                tbody {
                    tr { th { "line" } td { (viewer.line(&s.line_id)) } }
                    tr { th { "channel" } td { (s.channel.as_str()) } }
                    tr { th { "operator" } td { @if let Some(o) = &s.operator_id { (viewer.person(o)) } @else { "—" } } }
                    tr { th { "client" } td { (s.client.name.as_deref().unwrap_or(&s.client.id)) } }
                    tr { th { "request" } td { (v.request.as_ref().map_or("none".to_owned(), |r| format!("{} after {} attempt(s){}", r.status, r.attempts, r.last_error.as_ref().map_or(String::new(), |e| format!(": {e}"))))) } }
                }
            }
            section aria-labelledby="rating" {
                h2 #rating { "Rating" }
                @if let Some((r, _)) = &v.rating {
                    p #rating-now {
                        strong { (shown(scale, r.value)) }
                        @if r.voided_at.is_some() { " (voided: out of the report)" }
                        @if r.low { " · low" }
                        @if r.changes > 0 { " · changed " (r.changes) " time(s)" }
                    }
                    p #resolved { "Resolved: " (yes_no(r.resolved)) }
                    @if let Some(given) = &r.reasons {
                        p #reasons-given {
                            "Reasons: "
                            @if given.is_empty() { "none picked" }
                            @else {
                                (given.iter().map(|id| rating_settings.reason_text(id)).collect::<Vec<_>>().join(", "))
                            }
                        }
                    }
                    @if let Some(c) = &r.comment {
                        @if r.comment_flagged { p #flagged { em { "(comment hidden as abusive" (by(&r.comment_flagged_by)) ")" } } }
                        @else { blockquote { (c) } }
                    }
                    @if let Some(resp) = &v.response {
                        p #response {
                            "Response" (by(&resp.author_id))
                            @if resp.edits > 0 { " (edited " (resp.edits) " time(s))" }
                            ": " (resp.text)
                        }
                        @if let Some(d) = &resp.delivery {
                            p #delivery { "To the client: " strong { (d.status) }
                                @if let Some(e) = &d.last_error { " (" (e) ")" } }
                        }
                    }
                    @if let Some(a) = &v.appeal {
                        p #appeal-now { "Appeal" (by(&a.made_by)) " (" (a.status)
                            @if let Some(d) = &a.decided_by { ", decided by " (viewer.actor(d)) }
                            "): " (a.reason)
                            @if let Some(n) = &a.note { " · note: " (n) } }
                    }
                } @else if can.ratings_hidden {
                    p #ratings-hidden { "This line shows clients' ratings to supervisors only. "
                        "Your numbers are on " a href="/dashboard" { "your quality page" } "." }
                } @else {
                    p { "Not rated." }
                }
                @if let Some(e) = &v.evaluation {
                    p #evaluation { "Supervisor's evaluation: " (e.stars) " ★"
                        (by(&e.author_id))
                        @if let Some(c) = &e.comment { ": " (c) } }
                }
            }
            (actions(v, viewer, can, problem, now))
            section aria-labelledby="journey" {
                h2 #journey { "Journey" }
                table #journey-table {
                    thead { tr { th { "when" } th { "what" } } }
                    tbody {
                        @for (t, what) in &journey {
                            tr { td { (viewer.time(*t)) } td { (what) } }
                        }
                    }
                }
            }
        },
    )
}

/// What an operator's profile shows of their numbers.
pub enum Profile<'a> {
    /// Every line (the operator themselves, or someone who covers every line).
    Whole(Option<&'a ReportGroup>),
    /// A supervisor's lines, each on its own: (line, numbers) for each where they have
    /// ratings.
    OnLines(&'a [(String, ReportGroup)]),
}

/// An operator's profile: their numbers over the period (all lines, or a supervisor's
/// each), their newest low ratings, and links to every rating of theirs and their praise.
pub fn operator(
    id: &str,
    f: &super::quality::Filters,
    seen: Profile,
    low: &[crate::store::LowRating],
    viewer: &Viewer,
) -> Markup {
    let title = match viewer.directory.people.get(id) {
        Some((name, _)) => name.clone(),
        None => format!("Operator {id}"),
    };
    // The operator's own inbox is theirs already; anyone else names them.
    let mine = viewer.operator.as_deref() == Some(id);
    let list = |show: &str| {
        let mut pairs = vec![("show", show)];
        if !mine {
            pairs.push(("operator", id));
        }
        for (k, v) in [("from", f.from.as_str()), ("to", f.to.as_str())] {
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/dashboard/inbox?{query}")
    };
    page(
        &title,
        viewer,
        html! {
            p { a href="/dashboard" { "← Dashboard" } " · " span.muted { "operator " code { (id) } } }
            form.filters method="get" action={ "/dashboard/operators/" (id) } aria-label="Period" {
                label { "From" input type="date" name="from" id="from" value=(f.from); }
                label { "To" input type="date" name="to" id="to" value=(f.to); }
                button type="submit" id="apply" { "Apply" }
            }
            @match seen {
                Profile::Whole(total) => {
                    div.cards {
                        (quality_cards(total))
                        div.card #low {
                            div.sub { "Low ratings" }
                            div.n { (total.map_or(0, |t| t.low)) }
                        }
                    }
                }
                Profile::OnLines(per_line) => {
                    section aria-labelledby="on-your-lines" {
                        h2 #on-your-lines { "On your lines" }
                        @if per_line.is_empty() {
                            p #none-on-your-lines { "No ratings on your lines in this period." }
                        } @else {
                            table #per-line {
                                thead { tr { th { "line" } th { "answered" } th { "CSAT" } th { "95% interval" } th { "average" } th { "low" } } }
                                tbody {
                                    @for (line, g) in per_line {
                                        tr {
                                            td { (viewer.line(line)) }
                                            td { (g.answered) }
                                            td { (percent(g.csat)) }
                                            td { (interval_text(g)) }
                                            td { (stars(g.average)) }
                                            td { (g.low) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p #their-ratings {
                a href=(list("praise")) #praise-link { @if mine { "Your praise" } @else { "Their praise" } }
                " (👍, 4–5 ★) · "
                a href=(list("all")) #all-link { @if mine { "All your ratings" } @else { "All their ratings" } }
            }
            section aria-labelledby="recent" {
                h2 #recent { "Recent low ratings" }
                @if low.is_empty() {
                    p { "None in this period." }
                } @else {
                    table #low-ratings {
                        thead { tr { th { "rated" } th { "rating" } th { "comment" } th { "response" } th { "session" } } }
                        tbody {
                            @for r in low {
                                tr {
                                    td { (viewer.time(r.rated_at)) }
                                    td { (shown(Some(r.scale), r.value)) }
                                    td.clamped { (r.comment.as_deref().unwrap_or("—")) }
                                    td { (r.response.as_deref().unwrap_or("none yet")) }
                                    td { a href={ "/dashboard/sessions/" (r.session_id) } { (r.session_id) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// A shields-style badge: "rating | 4.8 ★ · 1,234 ratings".
pub fn badge(scale: Scale, total: Option<&ReportGroup>) -> String {
    let n = total.map_or(0, |t| t.answered);
    let value = match (scale, total.filter(|t| t.answered > 0)) {
        (_, None) => "no ratings yet".to_owned(),
        (Scale::FiveStar, Some(t)) => format!(
            "{} · {} rating{}",
            stars(t.average),
            thousands(n),
            if n == 1 { "" } else { "s" }
        ),
        (Scale::Binary, Some(t)) => format!(
            "{:.0}% 👍 · {} rating{}",
            t.csat.unwrap_or(0.0) * 100.0,
            thousands(n),
            if n == 1 { "" } else { "s" }
        ),
    };
    // Widths from a 7-pixel average glyph at 11 px: close enough for a badge.
    let (left, right) = (52, 12 + 7 * value.chars().count() as u32);
    let width = left + right;
    html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(width) height="20" role="img"
            aria-label={ "rating: " (value) } {
            title { "rating: " (value) }
            rect width=(left) height="20" fill="#555" {}
            rect x=(left) width=(right) height="20" fill="#1f4e79" {}
            g fill="#fff" font-family="DejaVu Sans,Verdana,sans-serif" font-size="11" {
                text x="8" y="14" { "rating" }
                text x=(left + 6) y="14" { (value) }
            }
        }
    }
    .into_string()
}

/// 1234567 → "1,234,567".
fn thousands(n: i64) -> String {
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
