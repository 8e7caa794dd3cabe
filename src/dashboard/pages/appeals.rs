//! `/dashboard/appeals`: the appeals queue, oldest first, within the viewer's reach (as
//! `GET /v1/appeals`). Each card shows what the decider weighs (the rating, its comment, the
//! client, the response, the reason given); those who may decide it (admins, and the line's
//! supervisors where the line lets them, never who made it) do so with a note, without
//! leaving the queue.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::dashboard::layout;
use crate::dashboard::visit::{Visit, viewer};
use crate::http::AppState;
use crate::store::AppealFilter;

/// The most appeals the queue shows at once.
const LIMIT: i64 = 200;

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct QueueQuery {
    /// open (the default), approved or rejected.
    status: String,
}

/// `GET /dashboard/appeals?status=`.
pub async fn queue(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Query(q): Query<QueueQuery>,
) -> Response {
    let status = match q.status.as_str() {
        "" | "open" => "open",
        "approved" => "approved",
        "rejected" => "rejected",
        _ => "open",
    };
    let filter = AppealFilter {
        status: Some(status.to_owned()),
        limit: LIMIT,
        ..AppealFilter::default()
    };
    let appeals = match state.engine.appeals(&caller, filter).await {
        Ok(a) => a,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let flash = crate::dashboard::visit::take_flash(&session).await;
    let decidable = match state.engine.decidable(&caller, &appeals).await {
        Ok(d) => d,
        Err(e) => return crate::http::ApiError::from(e).into_response(),
    };
    let viewer = viewer(&state, &caller).await;
    layout::page(
        "Appeals",
        &viewer,
        html! {
            p { "Show: "
                @for s in ["open", "approved", "rejected"] {
                    @if s == status { strong { (s) } } @else { a href={ "/dashboard/appeals?status=" (s) } { (s) } }
                    " "
                }
            }
            @if let Some(f) = flash { p.notice #flash role="status" { (f) } }
            @if appeals.is_empty() { p #empty { "No " (status) " appeals." } }
            @if appeals.len() as i64 == LIMIT {
                p.muted #more { "The oldest " (LIMIT) " are shown; decide these to see the rest." }
            }
            @for a in &appeals {
                article.rating #{ "appeal-" (a.id) } {
                    h3 { a href={ "/dashboard/sessions/" (a.session_id) } { "Session " (a.session_id) } }
                    p.meta {
                        "Operator "
                        @if let Some(o) = &a.operator_id { (viewer.person(o)) } @else { "—" }
                        " · appealed "
                        @if let Some(by) = &a.made_by { "by " (viewer.actor(by)) " " }
                        (viewer.time(a.created_at))
                    }
                    p.appealed {
                        (layout::shown(Some(a.rating.scale), a.rating.value)) " from "
                        (a.rating.client_name.as_deref().unwrap_or(&a.rating.client_id))
                        " · line " (viewer.line(&a.line_id))
                    }
                    @if let Some(c) = &a.rating.comment { p { "Their comment: " } blockquote.clamped { (c) } }
                    @if let Some(r) = &a.rating.response { p { "The response: " (r) } }
                    p { "Why it was appealed:" }
                    blockquote { (a.reason) }
                    @if let Some(d) = &a.decided_by {
                        p { (a.status.as_str()) " by " (viewer.actor(d))
                            @if let Some(t) = a.decided_at { " " (viewer.time(t)) }
                            @if let Some(n) = &a.note { ": " (n) } }
                    }
                    @if decidable.contains(&a.id) {
                        form.stacked method="post" action={ "/dashboard/appeals/" (a.id) "/decision" } aria-label={ "Decide the appeal of session " (a.session_id) } {
                            fieldset {
                                legend { "Void the rating?" }
                                label { input type="radio" name="approve" value="yes" required; " Approve: void it (out of the report)" }
                                label { input type="radio" name="approve" value="no"; " Reject: keep it" }
                            }
                            label for={ "note-" (a.id) } { "Note (optional)" }
                            textarea name="note" id={ "note-" (a.id) } rows="2" {}
                            button type="submit" { "Decide" }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
