//! `/dashboard/people`: for admins, every person (name, role, lines, manager, whether they
//! can sign in), each with a button that makes their invitation link, shown once (as
//! `POST /v1/people/{id}/invitation` and `rateline people invite ID`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use maud::html;

use super::page;
use super::{Visit, viewer};
use crate::http::{ApiError, AppState};
use crate::policy::Caller;

/// A link just made, to show once.
struct Invited {
    person_id: String,
    url: String,
    expires_at: DateTime<Utc>,
}

/// `GET /dashboard/people`.
pub async fn list(State(state): State<AppState>, Visit { caller, .. }: Visit) -> Response {
    render(&state, &caller, None).await
}

/// `POST /dashboard/people/{id}/invitation`: a new link for the person (their earlier
/// unused links stop working), shown on the page once.
pub async fn invite(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Path(id): Path<String>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let valid = Duration::hours(crate::engine::INVITATION_HOURS);
    match state.engine.invite(&caller, &id, valid).await {
        Ok(i) => {
            let invited = Invited {
                url: state.link(&crate::engine::invitation_path(&i.token)),
                person_id: i.person_id,
                expires_at: i.expires_at,
            };
            render(&state, &caller, Some(invited)).await
        }
        Err(e) => page::refused("People", ApiError::from(e)),
    }
}

async fn render(state: &AppState, caller: &Caller, invited: Option<Invited>) -> Response {
    let people = match state.engine.people(caller).await {
        Ok(p) => p,
        Err(e) => return page::refused("People", ApiError::from(e)),
    };
    let viewer = viewer(state, caller).await;
    let markup = page::page(
        "People",
        &viewer,
        html! {
            @if let Some(i) = &invited {
                section.notice #invited role="status" aria-labelledby="invited-h" {
                    h2 #invited-h { "Invitation link for " (viewer.person(&i.person_id)) }
                    p { "Give it to them only: with it they set their password and sign in. It works once, until "
                        (viewer.time(i.expires_at)) ", and it is not shown again." }
                    p { label for="invitation-url" { "Link " }
                        input #invitation-url type="text" readonly value=(i.url) size="60"; }
                }
            }
            p.muted { "Everyone who can be an operator, supervisor, admin or alert recipient. "
                "Changing a person is PATCH /v1/people/{id} for now." }
            table #people {
                thead { tr {
                    th { "name" } th { "role" } th { "lines" } th { "manager" }
                    th { "time zone" } th { "signs in" } th { span.muted { "invitation" } }
                } }
                tbody {
                    @for r in &people {
                        tr #{ "person-" (r.id) } {
                            td { (r.person.name) " " span.muted { code { (r.id) } } }
                            td { (r.person.role.as_str()) }
                            td {
                                @for (n, l) in r.person.lines.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    (viewer.line(l.as_str()))
                                }
                                @if r.person.lines.is_empty() { "—" }
                            }
                            td { @if let Some(m) = &r.person.manager_id { (viewer.person(m.as_str())) } @else { "—" } }
                            td { (r.person.time_zone.as_deref().unwrap_or("the server's")) }
                            td { @if !r.person.active { strong { "deactivated" } } @else if r.signs_in { "yes" } @else { "not yet" } }
                            td {
                                @if r.person.active {
                                form method="post" action={ "/dashboard/people/" (r.id) "/invitation" } {
                                    button type="submit" aria-label={ "Make an invitation link for " (r.person.name) } {
                                        @if r.signs_in { "New link (resets the password)" } @else { "Make an invitation link" }
                                    }
                                }
                                }
                            }
                        }
                    }
                }
            }
        },
    );
    let status = if invited.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, markup).into_response()
}
