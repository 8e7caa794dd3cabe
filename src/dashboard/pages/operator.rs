//! An operator's page (`/dashboard/operators/{id}`): their numbers, on each line or on the
//! whole, and their low ratings.

use maud::{Markup, html};

use crate::dashboard::layout::{interval_text, page, percent, quality_cards, shown, stars};
use crate::dashboard::viewer::Viewer;
use crate::store::ReportGroup;

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
///
/// One piece: the operator's page, top to bottom in the order the page reads.
pub fn operator(
    id: &str,
    f: &crate::dashboard::quality::Filters,
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
