//! The quality report (`/dashboard`): filters, cards, the trend, the charts, why ratings
//! were low, the operator table; and the public badge's SVG.

use maud::{Markup, PreEscaped, html};
use rateline_domain::{Channel, Scale};

use crate::dashboard::charts;
use crate::dashboard::layout::{
    interval_text, page, percent, quality_cards, select, stars, thousands,
};
use crate::dashboard::quality::{View, interval, query_with, sorted};
use crate::dashboard::viewer::Viewer;
use crate::store::ReportGroup;

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
fn inbox_query(f: &crate::dashboard::quality::Filters) -> String {
    let pairs = [
        ("line", &f.line),
        ("operator", &f.operator),
        ("channel", &f.channel),
    ];
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.into_iter().filter(|(_, v)| !v.is_empty()))
        .finish()
}

/// One piece: each chart's markup beside its caption and its table for screen readers, in the
/// order the page shows them.
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

/// Rocket.Chat's chats per operator, when there are any: how many the agent closed without
/// handing them to the Ratings user, whose website visitors could not be asked.
fn hand_over_table(v: &View, viewer: &Viewer) -> Markup {
    if v.hand_overs.is_empty() {
        return html! {};
    }
    html! {
        section aria-labelledby="hand-overs" {
            h2 #hand-overs { "Rocket.Chat: chats closed without the hand-over" }
            p.muted { "A chat an agent closed instead of handing it to the Ratings user cannot be rated on the website widget (docs/channels/rocketchat.md)." }
            table #hand-over-table {
                thead { tr {
                    th { "operator" } th { "chats" } th { "closed without the hand-over" } th { "share" }
                } }
                tbody {
                    @for h in &v.hand_overs {
                        tr {
                            td { @if h.operator.is_empty() { em { "(none)" } } @else { (viewer.person(&h.operator)) } }
                            td { (h.chats) }
                            td { (h.closed_without_hand_over) }
                            td { (percent(h.share)) }
                        }
                    }
                }
            }
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
            (hand_over_table(v, viewer))
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
