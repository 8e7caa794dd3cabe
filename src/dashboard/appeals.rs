//! `/dashboard/appeals`: the appeals queue, oldest first, within the viewer's reach (as
//! `GET /v1/appeals`); admins decide each with a note, without leaving the queue.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use tower_sessions::Session;

use super::page::{self, at};
use super::{Visitor, abilities, asked, caller, nav};
use crate::http::{AppState, ClientIp};
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
    session: Session,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    uri: axum::http::Uri,
    Query(q): Query<QueueQuery>,
) -> Response {
    let visitor = Visitor {
        session: &session,
        headers: &headers,
        ip,
        path: asked(&uri),
    };
    let caller = match caller(&state, &visitor).await {
        Ok(c) => c,
        Err(login) => return login,
    };
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
    let flash = super::actions::take_flash(&session).await;
    let can = abilities(&caller);
    let nav = nav(&state, &caller).await;
    page::page(
        "Appeals",
        &nav,
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
                p.muted #more { "The oldest " (LIMIT) " are shown; decide these to see the rest, or list them all with GET /v1/appeals." }
            }
            @for a in &appeals {
                article.rating #{ "appeal-" (a.id) } {
                    h3 { a href={ "/dashboard/sessions/" (a.session_id) } { "Session " (a.session_id) } }
                    p.meta { "Operator " (a.operator_id.as_deref().unwrap_or("—")) " · appealed "
                        time datetime=(a.created_at.to_rfc3339()) { (at(a.created_at)) } }
                    blockquote { (a.reason) }
                    @if let Some(d) = &a.decided_by { p { "Decided by " (d) @if let Some(n) = &a.note { ": " (n) } } }
                    @if a.status == "open" && can.decide {
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
