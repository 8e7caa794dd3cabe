//! `/dashboard/subscriptions` (admins): every event subscription (its URL, events, lines,
//! and how it is doing: delivering, failing since when and why, or switched off), a button
//! per subscription that switches it back on or deletes it, and a form that makes one; as
//! `GET`, `PUT`, `PATCH` and `DELETE /v1/subscriptions/{id}`, through the same engine
//! operations.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use rateline_domain::{EventType, Invalid, NameId, SubscriptionSettings};

use crate::dashboard::form::{self, Refusal, Values, one};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::visit::{Visit, flash, take_flash, viewer};
use crate::http::{ApiError, AppState};
use crate::policy::Caller;
use crate::store::SubscriptionRecord;

const TITLE: &str = "Event subscriptions";

/// `GET /dashboard/subscriptions`.
pub async fn list(State(state): State<AppState>, Visit { caller, session }: Visit) -> Response {
    let said = take_flash(&session).await;
    subscriptions_page(&state, &caller, &Values::new(), said, None).await
}

/// `POST /dashboard/subscriptions`: makes (or replaces) one from the form.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let values = form::posted(posted);
    let events: Result<Vec<EventType>, ApiError> = values
        .get("events")
        .into_iter()
        .flatten()
        .map(|e| {
            serde_json::from_value(serde_json::Value::String(e.clone()))
                .map_err(|_| Invalid::new("events", format!("'{e}' is not an event")).into())
        })
        .collect();
    let made = async {
        let id = NameId::parse("id", one(&values, "id").trim())?;
        let settings = SubscriptionSettings {
            url: one(&values, "url").trim().to_owned(),
            secret: Some(one(&values, "secret").to_owned()).filter(|s| !s.is_empty()),
            events: events?,
            lines: values.get("lines").filter(|l| !l.is_empty()).cloned(),
        };
        Ok::<_, ApiError>(
            state
                .engine
                .put_subscription(&caller, &id, settings)
                .await?,
        )
    };
    match made.await {
        Ok((s, created)) => {
            let did = if created { "made" } else { "replaced" };
            flash(&session, format!("Subscription {} is {did} and on.", s.id)).await;
            Redirect::to("/dashboard/subscriptions").into_response()
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            let page = subscriptions_page(&state, &caller, &values, None, Some(e.into()));
            form::with_status(status, page.await)
        }
        Err(e) => refused(TITLE, e),
    }
}

/// `POST /dashboard/subscriptions/{id}/on`: switches it back on, as it is.
pub async fn switch_on(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
) -> Response {
    let done = async {
        let stored = state.engine.subscriptions(&caller, Some(&id)).await?;
        let settings = stored[0].settings();
        let id = NameId::parse("id", &id)?;
        Ok::<_, ApiError>(
            state
                .engine
                .put_subscription(&caller, &id, settings)
                .await?,
        )
    };
    match done.await {
        Ok((s, _)) => {
            let message = format!(
                "Subscription {} is on: {} waiting events go first, in order.",
                s.id, s.queued
            );
            flash(&session, message).await;
            Redirect::to("/dashboard/subscriptions").into_response()
        }
        Err(e) => refused(TITLE, e),
    }
}

/// `POST /dashboard/subscriptions/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
) -> Response {
    match state.engine.delete_subscription(&caller, &id).await {
        Ok(()) => {
            let message = format!("Subscription {id} is deleted, with the events waiting for it.");
            flash(&session, message).await;
            Redirect::to("/dashboard/subscriptions").into_response()
        }
        Err(e) => refused(TITLE, e.into()),
    }
}

fn state_of(s: &SubscriptionRecord, viewer: &crate::dashboard::viewer::Viewer) -> Markup {
    html! {
        @match (s.active, s.switched_off_at, s.failing_since) {
            (false, Some(at), _) => {
                "switched off " (viewer.time(at)) " after "
                (crate::store::SWITCH_OFF_AFTER_DAYS) " days of failures"
            },
            (false, None, _) => "off",
            (true, _, Some(since)) => { "failing since " (viewer.time(since)) },
            (true, _, None) => "on",
        }
    }
}

async fn subscriptions_page(
    state: &AppState,
    caller: &Caller,
    typed: &Values,
    said: Option<String>,
    refusal: Option<Refusal>,
) -> Response {
    let subscriptions = match state.engine.subscriptions(caller, None).await {
        Ok(s) => s,
        Err(e) => return refused(TITLE, e.into()),
    };
    let viewer = viewer(state, caller).await;
    let error = |name: &str| Refusal::about(refusal.as_ref(), name);
    let lines = viewer.line_choices();
    let events: Vec<(String, String)> = EventType::ALL
        .iter()
        .map(|e| (e.as_str().to_owned(), e.as_str().to_owned()))
        .collect();
    let markup = layout::page(
        TITLE,
        &viewer,
        html! {
            @if let Some(message) = &said { p.notice role="status" { (message) } }
            @if let Some(r) = refusal.as_ref().filter(|r| !matches!(r.field.as_deref(), Some("id" | "url" | "secret" | "events" | "lines"))) {
                p.problem #form-problem role="alert" { (r.message) }
            }
            p.muted { "Rateline POSTs each event to the subscription's URL, signed with its secret, in order for each rating, and tries again until it is taken. "
                "One that fails for " (crate::store::SWITCH_OFF_AFTER_DAYS) " days without a success is switched off; switching it on sends what waited first. "
                "docs/events.md shows every event." }
            table #subscriptions {
                thead { tr { th { "subscription" } th { "events" } th { "lines" } th { "state" } th { "last delivered" } th { "waiting" } th { "" } } }
                tbody {
                    @for s in &subscriptions {
                        tr #{ "subscription-" (s.id) } {
                            td { code { (s.id) } br; span.muted { (s.url) } }
                            td { @for (n, e) in s.events.iter().enumerate() { @if n > 0 { ", " } (e.as_str()) } }
                            td {
                                @if let Some(lines) = &s.lines {
                                    @for (n, l) in lines.iter().enumerate() { @if n > 0 { ", " } (viewer.line(l)) }
                                } @else { "every line" }
                            }
                            td.state {
                                (state_of(s, &viewer))
                                @if let Some(e) = &s.last_error { br; span.muted { (e) } }
                            }
                            td { @if let Some(at) = s.last_delivered_at { (viewer.time(at)) } @else { "never" } }
                            td { (s.queued) }
                            td {
                                @if !s.active || s.failing_since.is_some() {
                                    form method="post" action={ "/dashboard/subscriptions/" (s.id) "/on" } {
                                        button type="submit" id={ "on-" (s.id) } { @if s.active { "Try now" } @else { "Switch on" } }
                                    }
                                }
                                form method="post" action={ "/dashboard/subscriptions/" (s.id) "/delete" } {
                                    button type="submit" id={ "delete-" (s.id) } aria-label={ "Delete subscription " (s.id) } { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
            section #new-subscription aria-labelledby="new-subscription-h" {
                h2 #new-subscription-h { "New subscription" }
                form.stacked method="post" action="/dashboard/subscriptions" {
                    (form::input("id", "Id", "Lowercase letters, digits, - and _, e.g. \"crm\". An existing id is replaced.", one(typed, "id"), error("id").as_deref()))
                    (form::input("url", "URL", "Where each event is POSTed.", one(typed, "url"), error("url").as_deref()))
                    (form::input("secret", "Secret", "At least 16 characters; signs every event (X-Rateline-Signature). Left empty, a replaced subscription keeps its own.", "", error("secret").as_deref()))
                    (form::checkboxes("events", "Events", &events, typed, error("events")))
                    (form::checkboxes("lines", "Lines (none: every line)", &lines, typed, error("lines")))
                    button type="submit" #create-subscription { "Save and switch on" }
                }
            }
        },
    );
    let status = if refusal.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, markup).into_response()
}
