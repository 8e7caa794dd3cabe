//! A session's page (`/dashboard/sessions/{id}`): the conversation's rating, its history,
//! and what the viewer may do about a low one (respond, assign, close, evaluate, appeal).

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use rateline_domain::Scale;

use crate::dashboard::layout::{page, shown};
use crate::dashboard::viewer::Viewer;

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
///
/// One piece: the workbench's forms for one low rating, in the order the page shows them, each
/// shown only to who may use it.
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
///
/// One piece: the page's markup, top to bottom in the order the page reads; its parts are
/// already functions of their own where another page shares them.
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
