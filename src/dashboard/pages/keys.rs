//! `/dashboard/keys` (admins): every API key (its name, role, person or lines, when it was
//! made and whether it is revoked), a form that makes one and shows its text once, and a
//! button per key that revokes it; as `POST /v1/keys`, `GET /v1/keys` and
//! `DELETE /v1/keys/{id}`, through the same engine operations. Keys are for programs:
//! people sign in as themselves.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use rateline_domain::{Invalid, Role};

use crate::dashboard::form::{self, Refusal, Values, field_error, one};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::visit::{Visit, viewer};
use crate::dashboard::visit::{flash, take_flash};
use crate::engine::KeyRequest;
use crate::http::{ApiError, AppState};
use crate::policy::Caller;

/// What the page shows above the list, besides it.
enum Shown {
    Flash(Option<String>),
    /// A key just made: its text, shown this once.
    Made {
        id: String,
        text: String,
    },
    Refused(Refusal),
}

/// `GET /dashboard/keys`.
pub async fn list(State(state): State<AppState>, Visit { caller, session }: Visit) -> Response {
    let said = take_flash(&session).await;
    keys_page(&state, &caller, &Values::new(), Shown::Flash(said)).await
}

/// `POST /dashboard/keys`: makes a key and shows its text once.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, .. }: Visit,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let values = form::posted(posted);
    let role = one(&values, "role");
    let asked = match role.parse::<Role>() {
        Ok(role) => Ok(KeyRequest {
            name: one(&values, "name").to_owned(),
            role,
            person_id: Some(one(&values, "person_id").trim().to_owned()).filter(|p| !p.is_empty()),
            lines: values.get("lines").filter(|l| !l.is_empty()).cloned(),
        }),
        Err(_) => Err(ApiError::from(Invalid::new(
            "role",
            "must be operator, supervisor or admin",
        ))),
    };
    let made = match asked {
        Ok(asked) => state
            .engine
            .make_key(&caller, asked)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match made {
        Ok(minted) => {
            // A key exists: the open mode, if it lasted, is over from this page on.
            state.open_mode.end();
            let shown = Shown::Made {
                id: minted.key.record.id,
                text: minted.text,
            };
            form::with_status(
                StatusCode::CREATED,
                keys_page(&state, &caller, &Values::new(), shown).await,
            )
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            let page = keys_page(&state, &caller, &values, Shown::Refused(e.into()));
            form::with_status(status, page.await)
        }
        Err(e) => refused("API keys", e),
    }
}

/// The revoke button's form: its confirmation box.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct RevokeForm {
    confirm: String,
}

/// `POST /dashboard/keys/{id}/revoke`, confirmed by its box (a revoked key cannot be
/// brought back, so one click is not enough).
pub async fn revoke(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    axum::extract::Form(form): axum::extract::Form<RevokeForm>,
) -> Response {
    if form.confirm != "yes" {
        flash(
            &session,
            format!(
                "Nothing changed: tick “I am sure” beside key {id}'s Revoke button to revoke it."
            ),
        )
        .await;
        return Redirect::to("/dashboard/keys").into_response();
    }
    match state.engine.revoke_key(&caller, &id).await {
        Ok(k) => {
            flash(
                &session,
                format!(
                    "Key {} ({}) is revoked: calls with it are refused from now on.",
                    k.name, k.id
                ),
            )
            .await;
            Redirect::to("/dashboard/keys").into_response()
        }
        Err(e) => refused("API keys", e.into()),
    }
}

async fn keys_page(state: &AppState, caller: &Caller, typed: &Values, shown: Shown) -> Response {
    let keys = match state.engine.keys(caller).await {
        Ok(k) => k,
        Err(e) => return refused("API keys", e.into()),
    };
    let viewer = viewer(state, caller).await;
    let refusal = match &shown {
        Shown::Refused(r) => Some(r),
        _ => None,
    };
    let error = |name: &str| Refusal::about(refusal, name);
    let people = viewer.people(|_| true);
    let lines = viewer.line_choices();
    let markup = layout::page(
        "API keys",
        &viewer,
        html! {
            @match &shown {
                Shown::Flash(Some(message)) => p.notice role="status" { (message) },
                Shown::Made { id, text } => section.notice #made-key role="status" aria-labelledby="made-key-h" {
                    h2 #made-key-h { "Key " code { (id) } " is made" }
                    p { "Copy it now into the program that will use it: Rateline keeps only its hash and cannot show it again." }
                    p { label for="key-text" { "Key " } input #key-text type="text" readonly value=(text) size="80"; }
                },
                Shown::Refused(r) if !matches!(r.field.as_deref(), Some("name" | "role" | "person_id" | "lines")) => {
                    p.problem #form-problem role="alert" { (r.message) }
                },
                _ => {},
            }
            p.muted { "Keys are for programs (a connector, a report, a CRM); people sign in as themselves. "
                "A call names its key as Authorization: Bearer." }
            table #keys {
                thead { tr { th { "key" } th { "role" } th { "acts as / covers" } th { "made" } th { "last used" } th { "state" } } }
                tbody {
                    @for k in &keys {
                        tr #{ "key-" (k.id) } {
                            td { (k.name) " " span.muted { code { (k.id) } } }
                            td { (k.role.as_str()) }
                            td {
                                @if let Some(p) = &k.person_id { (viewer.person(p)) }
                                @else if let Some(lines) = &k.lines {
                                    @for (n, l) in lines.iter().enumerate() { @if n > 0 { ", " } (viewer.line(l)) }
                                } @else { "every line" }
                            }
                            td { (viewer.time(k.created_at)) }
                            td.last-used {
                                @if let Some(at) = k.last_used_at { (viewer.time(at)) } @else { "never" }
                            }
                            td {
                                @if let Some(at) = k.revoked_at { "revoked " (viewer.time(at)) }
                                @else {
                                    form method="post" action={ "/dashboard/keys/" (k.id) "/revoke" } {
                                        label { input type="checkbox" name="confirm" value="yes" required id={ "confirm-" (k.id) }; " I am sure" }
                                        " "
                                        button type="submit" id={ "revoke-" (k.id) } aria-label={ "Revoke key " (k.name) } { "Revoke" }
                                        span.muted { " A revoked key cannot be brought back." }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section #new-key aria-labelledby="new-key-h" {
                h2 #new-key-h { "New key" }
                form.stacked method="post" action="/dashboard/keys" {
                    (form::input("name", "Name", "What the key is for, e.g. \"CRM export\".", one(typed, "name"), error("name").as_deref()))
                    label for="f-role" { "Role" }
                    select #f-role name="role" aria-describedby="f-role-hint" {
                        @for role in Role::ALL { option value=(role.as_str()) selected[one(typed, "role") == role.as_str()] { (role.as_str()) } }
                    }
                    (field_error("role", error("role")))
                    span.muted #f-role-hint { "An operator key acts as one operator; a supervisor key covers its lines; an admin key does everything." }
                    label for="f-person_id" { "Operator (operator keys)" }
                    select #f-person_id name="person_id" {
                        option value="" { "none" }
                        @for (v, label) in &people { option value=(v) selected[one(typed, "person_id") == v] { (label) } }
                    }
                    (field_error("person_id", error("person_id")))
                    (form::checkboxes("lines", "Lines (supervisor keys; none covers every line)", &lines, typed, error("lines")))
                    button type="submit" #create-key { "Make the key" }
                }
            }
        },
    );
    let status = match shown {
        Shown::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    (status, markup).into_response()
}
