//! `/dashboard/audit`: the audit log for admins, newest first (as `GET /v1/audit`, with its
//! filters): who changed which line, person, group or key, when, and each field before and
//! after; and who signed in, responded, flagged, evaluated or decided.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::dashboard::layout;
use crate::dashboard::visit::{Visit, viewer};
use crate::http::{ApiError, ApiQuery, AppState};

/// A field's value as the page shows it.
fn shown(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "—".to_owned(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /dashboard/audit?kind=&subject=&limit=`.
pub async fn audit_page(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    query: ApiQuery,
) -> Response {
    let result = async {
        let filter = crate::http::audit_filter(&query)?;
        Ok::<_, ApiError>(state.engine.audit_log(&caller, &filter).await?)
    };
    let entries = match result.await {
        Ok(e) => e,
        Err(e) => return e.into_response(),
    };
    let viewer = viewer(&state, &caller).await;
    layout::page(
        "Audit",
        &viewer,
        html! {
            p.muted { "Every change to lines, people, groups and API keys, and what people did "
                "that matters to security (invitations, passwords, sign-ins, responses, flags, "
                "evaluations, appeals), newest first. Failed sign-ins are counted once a day per "
                "person. A secret's value is never kept: a changed one shows as (secret)." }
            @if entries.is_empty() { p #empty { "No changes recorded." } }
            table #audit {
                thead { tr { th { "when" } th { "who" } th { "what" } th { "changes" } } }
                tbody {
                    @for e in &entries {
                        tr {
                            td { (viewer.time(e.at)) }
                            td { @if e.actor.contains(' ') && !e.actor.starts_with("key ") { (e.actor) } @else { (viewer.actor(&e.actor)) } }
                            td { (e.kind) " " code { (e.subject) } " " (e.action) }
                            td {
                                ul {
                                    @for c in &e.changes {
                                        li { code { (c.field) } ": " (shown(&c.before)) " → " (shown(&c.after)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
