//! `/dashboard/groups` (admins): every group with its members by name and where it is
//! defined, a form that makes a new one, and each group's page, where its name and members
//! are chosen, as `PUT /v1/groups/{id}` sets them (a group is always written whole). A
//! group from the config file is read-only.

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use rateline_domain::{Group, Invalid, ManagedBy, NameId};

use crate::dashboard::form::{self, Choices, Kind, Refusal, Sections, Values, f, one, with_status};
use crate::dashboard::layout;
use crate::dashboard::layout::refused;
use crate::dashboard::visit::{Visit, viewer};
use crate::dashboard::visit::{flash, take_flash};
use crate::http::{ApiError, AppState};
use crate::policy::Caller;

const SECTIONS: &Sections = &[(
    "group",
    "The group",
    &[
        f(
            "name",
            "Name",
            Kind::Text,
            "What people see: 1 to 200 characters.",
        ),
        f(
            "members",
            "Members",
            Kind::PickMany,
            "A line's alerts reach every member, at most 100 people a rating.",
        ),
    ],
)];

/// `GET /dashboard/groups`.
pub async fn list(State(state): State<AppState>, Visit { caller, .. }: Visit) -> Response {
    list_page(&state, &caller, &Values::new(), None).await
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    typed: &Values,
    problem: Option<Refusal>,
) -> Response {
    let groups = match state.engine.groups(caller, None).await {
        Ok(g) => g,
        Err(e) => return refused("Groups", e.into()),
    };
    let viewer = viewer(state, caller).await;
    let error = |name: &str| Refusal::about(problem.as_ref(), name);
    let markup = layout::page(
        "Groups",
        &viewer,
        html! {
            p.muted { "A line's low-rating alerts can name a group: every member hears of them." }
            @if groups.is_empty() { p #empty { "No groups yet." } }
            table #groups {
                thead { tr { th { "group" } th { "members" } th { "defined in" } } }
                tbody {
                    @for (id, g, by) in &groups {
                        tr #{ "group-" (id) } {
                            td { a href={ "/dashboard/groups/" (id) } { (g.name) } " " span.muted { code { (id) } } }
                            td {
                                @for (n, m) in g.members.iter().enumerate() { @if n > 0 { ", " } (viewer.person(m.as_str())) }
                                @if g.members.is_empty() { "nobody" }
                            }
                            td { @if *by == ManagedBy::Config { "the config file" } @else { "the API and these pages" } }
                        }
                    }
                }
            }
            section #new-group aria-labelledby="new-group-h" {
                h2 #new-group-h { "New group" }
                @if let Some(p) = problem.as_ref().filter(|p| !matches!(p.field.as_deref(), Some("id" | "name"))) {
                    p.problem #new-group-problem role="alert" { (p.message) }
                }
                form.stacked method="post" action="/dashboard/groups" {
                    (form::input("id", "Id", "The group's id in the API and in a line's notify_low.", one(typed, "id"), error("id").as_deref()))
                    (form::input("name", "Name", "What people see.", one(typed, "name"), error("name").as_deref()))
                    button type="submit" #create-group { "Make the group" }
                }
                p.muted { "Then choose its members on its page." }
            }
        },
    );
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    (status, markup).into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct NewGroup {
    id: String,
    name: String,
}

/// `POST /dashboard/groups`: makes an empty group and opens its page.
pub async fn create(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Form(new): Form<NewGroup>,
) -> Response {
    let result = async {
        caller.admin("making a group")?;
        let id = NameId::parse("id", &rateline_domain::normalize_id(new.id.trim()))?;
        if state.engine.groups(&caller, Some(&id)).await.is_ok() {
            return Err(form::taken("group", &id));
        }
        let group = Group {
            name: new.name.clone(),
            members: Vec::new(),
        };
        state.engine.put_group(&caller, &id, group).await?;
        Ok::<_, ApiError>(id)
    };
    let said = "The group is made: choose its members here.";
    let typed = form::typed(&[("id", &new.id), ("name", &new.name)]);
    form::made(
        &session,
        result.await,
        "/dashboard/groups",
        said,
        "Groups",
        async |e| list_page(&state, &caller, &typed, Some(e.into())).await,
    )
    .await
}

/// `GET /dashboard/groups/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let said = take_flash(&session).await;
    group_page(&state, &caller, &id, None, said, None).await
}

/// `POST /dashboard/groups/{id}`: the group's name and members, written whole.
pub async fn save(
    State(state): State<AppState>,
    Visit { caller, session }: Visit,
    Path(id): Path<String>,
    Form(posted): Form<Vec<(String, String)>>,
) -> Response {
    let id = rateline_domain::normalize_id(&id);
    let values = form::posted(posted);
    let result = async {
        let patch = form::patch_of(&values, SECTIONS)?;
        let group: Group = serde_json::from_value(patch)
            .map_err(|e| ApiError::from(Invalid::new("members", e.to_string())))?;
        state
            .engine
            .put_group(&caller, &NameId::parse("group_id", &id)?, group)
            .await?;
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => {
            flash(&session, "Saved.").await;
            Redirect::to(&format!("/dashboard/groups/{id}")).into_response()
        }
        Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
            let status = e.status;
            let page = group_page(&state, &caller, &id, Some(&values), None, Some(e.into()));
            with_status(status, page.await)
        }
        Err(e) => refused("Group", e),
    }
}

async fn group_page(
    state: &AppState,
    caller: &Caller,
    id: &str,
    typed: Option<&Values>,
    said: Option<String>,
    refusal: Option<Refusal>,
) -> Response {
    let (id, group, by) = match state.engine.groups(caller, Some(id)).await {
        Ok(mut g) => match g.pop() {
            Some(found) => found,
            None => return refused("Group", crate::engine::group_not_found(id).into()),
        },
        Err(e) => return refused("Group", e.into()),
    };
    let viewer = viewer(state, caller).await;
    let doc = serde_json::to_value(&group).expect("a group serialises");
    let values = typed
        .cloned()
        .unwrap_or_else(|| form::values_of(&doc, SECTIONS));
    let choices = Choices::from([("members", viewer.people(|_| true))]);
    let locked = by == ManagedBy::Config;
    let markup = layout::page(
        &group.name,
        &viewer,
        html! {
            p { a href="/dashboard/groups" { "All groups" } " · " code { (id) } }
            @if let Some(message) = &said { p.notice role="status" { (message) } }
            @if let Some(r) = refusal.as_ref().filter(|r| !r.on_the_form(SECTIONS, &[])) {
                p.problem #form-problem role="alert" { (r.message) }
            }
            @if locked {
                p.notice #read-only { "This group is defined in the configuration file ([[groups]], id "
                    (id) "), which wins at every start: change it there and restart. It is shown here read-only." }
            }
            form #settings method="post" action={ "/dashboard/groups/" (id) } {
                (form::sections(SECTIONS, &values, refusal.as_ref(), &choices, "", locked, |_| html! {}))
                @if !locked { button type="submit" #save { "Save" } }
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
