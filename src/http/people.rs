//! People (`GET /v1/people`, `PUT /v1/people/{id}`, invitations) and groups
//! (`PUT /v1/groups/{id}`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use rateline_domain::{AlertPace, Group, ManagedBy, Notify, Person, Role};
use rateline_domain::{LineId, NameId, PersonId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, created_or_ok};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::openapi::{ETagParam, ErrorBody};
use super::state::AppState;
use super::versions::{answered, if_match, merged, tagged};
use crate::policy::Caller;
use crate::store::PersonRecord;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_people))
        .routes(routes!(get_person, put_person, patch_person))
        .routes(routes!(invite))
        .routes(routes!(put_time_zone))
        .routes(routes!(get_alert_pace, put_alert_pace))
        .routes(routes!(test_alert))
        .routes(routes!(list_groups))
        .routes(routes!(get_group, put_group))
}

/// A person as stored (write-only secrets left out).
#[derive(Serialize, ToSchema)]
struct PersonView {
    id: PersonId,
    name: String,
    role: Role,
    manager_id: Option<PersonId>,
    notify: Notify,
    notifications_enabled: bool,
    /// The lines the person works on.
    lines: Vec<LineId>,
    /// Their own time zone; `null` follows the server's `server.time_zone`.
    time_zone: Option<String>,
    /// `false`: deactivated, they cannot sign in and hear of no low rating.
    active: bool,
    /// They have set a dashboard password with an invitation link.
    signs_in: bool,
    /// Raised by every change; the `ETag`, and what `If-Match` names.
    version: i64,
    /// `api`, or `config` for a person from the config file (which the API cannot change).
    managed_by: ManagedBy,
}

impl From<PersonRecord> for PersonView {
    fn from(r: PersonRecord) -> Self {
        let Person {
            name,
            role,
            manager_id,
            notify,
            notifications_enabled,
            lines,
            time_zone,
            active,
        } = r.person;
        Self {
            id: r.id,
            name,
            role,
            manager_id,
            notify,
            notifications_enabled,
            lines,
            time_zone,
            active,
            signs_in: r.signs_in,
            version: r.version,
            managed_by: r.managed_by,
        }
    }
}

/// Shows a person: admins, or the person themselves.
#[utoipa::path(
    get, path = "/v1/people/{person_id}", tag = "people", operation_id = "get_person",
    params(("person_id" = rateline_domain::Id, Path, description = "The person.")),
    responses(
        (status = 200, description = "The person.", body = PersonView, headers(("ETag" = String, description = "Their version, for If-Match."))),
        (status = 403, description = "Another person, and not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
    ),
)]
async fn get_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Response> {
    let person = state.engine.person(&caller, &id).await?;
    Ok(tagged(person.version, Json(PersonView::from(person))))
}

/// Changes what a JSON Merge Patch (RFC 7396) names and keeps every other field:
/// `{"notify": {"email": "olga@example.com"}}` changes the address alone; `null` puts a
/// field back to its default. Checked as a `PUT` is. With `If-Match`, only the person at
/// that version is changed.
#[utoipa::path(
    patch, path = "/v1/people/{person_id}", tag = "people", operation_id = "patch_person",
    params(
        ("person_id" = rateline_domain::Id, Path, description = "The person."),
        ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the person has changed since."),
    ),
    request_body(content = Object, content_type = "application/merge-patch+json", description = "The fields to change, shaped as a person."),
    responses(
        (status = 200, description = "Changed.", body = PersonView, headers(("ETag" = String, description = "The new version."))),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
        (status = 409, description = "The person is defined in the config file (`person_managed_by_config`).", body = ErrorBody),
        (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
        (status = 422, description = "The changed person breaks a rule; the message names the field.", body = ErrorBody),
    ),
)]
async fn patch_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
    headers: HeaderMap,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> Response {
    let result = async {
        caller.admin("changing people")?;
        let asked = if_match(&headers, &format!("person '{id}'"))?;
        let stored = state.engine.person(&caller, &id).await?;
        let person = merged(&stored.person, &patch)?;
        let expected = Some(asked.unwrap_or(stored.version));
        let (person, _) = state
            .engine
            .put_person(
                &caller,
                &PersonId::parse("person_id", &id)?,
                person,
                expected,
            )
            .await?;
        Ok::<_, ApiError>(tagged(person.version, Json(PersonView::from(person))))
    };
    answered(result.await, current_version(&state, &id)).await
}

/// An invitation link, shown once: with it the person sets their dashboard password.
#[derive(Serialize, ToSchema)]
struct InvitationView {
    person_id: String,
    /// `server.public_url` + `/dashboard/invitation?token=…`: give it to the person only.
    url: String,
    /// The link works once, until then.
    expires_at: DateTime<Utc>,
}

/// A group as stored.
#[derive(Serialize, ToSchema)]
struct GroupView {
    id: String,
    name: String,
    members: Vec<PersonId>,
    /// `api`, or `config` for a group from the config file (which the API cannot change).
    managed_by: ManagedBy,
}

/// Every person, by id: admins only. Write-only secrets are never shown.
#[utoipa::path(
    get, path = "/v1/people", tag = "people", operation_id = "list_people",
    responses(
        (status = 200, description = "Every person.", body = Vec<PersonView>),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_people(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PersonView>>> {
    let people = state.engine.people(&caller).await?;
    Ok(Json(people.into_iter().map(PersonView::from).collect()))
}

/// Creates or replaces a person: an operator, supervisor or admin, with where they hear
/// about low ratings.
#[utoipa::path(
    put, path = "/v1/people/{person_id}", tag = "people", operation_id = "put_person",
    params(
        ("person_id" = rateline_domain::Id, Path, description = "The person."),
        ("If-Match" = Option<ETagParam>, Header, description = "The `ETag` the change is for; refused with 412 if the person has changed since."),
    ),
    request_body = Person,
    responses(
        (status = 201, description = "Created.", body = PersonView, headers(("ETag" = String, description = "The new version."))),
        (status = 200, description = "Replaced.", body = PersonView, headers(("ETag" = String, description = "The new version."))),
        (status = 409, description = "The person is defined in the config file (`person_managed_by_config`).", body = ErrorBody),
        (status = 412, description = "Changed since the `If-Match` version (`precondition_failed`); `ETag` is the current one.", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (a name's length, an e-mail address, a URL).", body = ErrorBody),
    ),
)]
async fn put_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    headers: HeaderMap,
    ApiJson(person): ApiJson<Person>,
) -> Response {
    let result = async {
        let expected = if_match(&headers, &format!("person '{id}'"))?;
        let (person, created) = state
            .engine
            .put_person(
                &caller,
                &PersonId::parse("person_id", &id)?,
                person,
                expected,
            )
            .await?;
        let version = person.version;
        let body = (created_or_ok(created), Json(PersonView::from(person)));
        Ok::<_, ApiError>(tagged(version, body))
    };
    answered(result.await, current_version(&state, &id)).await
}

/// A person's own time zone.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TimeZoneBody {
    /// An IANA name such as `Europe/Berlin`; `null` follows the server's `server.time_zone`.
    #[schema(example = "Europe/Berlin")]
    time_zone: Option<String>,
}

/// Sets the zone the dashboard shows a person's times in: the person themselves (signed in,
/// or with their key) or an admin. The same as the dashboard's "Your account" page.
#[utoipa::path(
    put, path = "/v1/people/{person_id}/time-zone", tag = "people", operation_id = "put_time_zone",
    params(("person_id" = rateline_domain::Id, Path, description = "The person.")),
    request_body = TimeZoneBody,
    responses(
        (status = 200, description = "Set.", body = TimeZoneBody),
        (status = 403, description = "Another person's zone, and not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
        (status = 409, description = "The person is defined in the config file (`person_managed_by_config`).", body = ErrorBody),
        (status = 422, description = "Not a time zone (`invalid_field`).", body = ErrorBody),
    ),
)]
async fn put_time_zone(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(body): ApiJson<TimeZoneBody>,
) -> ApiResult<Json<TimeZoneBody>> {
    state
        .engine
        .set_time_zone(&caller, &id, body.time_zone.as_deref())
        .await?;
    Ok(Json(body))
}

/// How often a person hears of low ratings, and their quiet hours: the person themselves
/// (signed in, or with their key) or an admin. The same as the dashboard's "Your account"
/// page.
#[utoipa::path(
    get, path = "/v1/people/{person_id}/alert-pace", tag = "people", operation_id = "get_alert_pace",
    params(("person_id" = rateline_domain::Id, Path, description = "The person.")),
    responses(
        (status = 200, description = "Their pace; every alert at once when they chose none.", body = AlertPace),
        (status = 403, description = "Another person's pace, and not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
    ),
)]
async fn get_alert_pace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
) -> ApiResult<Json<AlertPace>> {
    Ok(Json(state.engine.alert_pace(&caller, &id).await?))
}

/// Sets how often a person hears of low ratings, and their quiet hours (in their time
/// zone): the person themselves or an admin.
#[utoipa::path(
    put, path = "/v1/people/{person_id}/alert-pace", tag = "people", operation_id = "put_alert_pace",
    params(("person_id" = rateline_domain::Id, Path, description = "The person.")),
    request_body = AlertPace,
    responses(
        (status = 200, description = "Set; it applies to the low ratings that come from now on.", body = AlertPace),
        (status = 403, description = "Another person's pace, and not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
        (status = 422, description = "A value out of range, or a time that is not HH:MM (`invalid_field`).", body = ErrorBody),
    ),
)]
async fn put_alert_pace(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(body): ApiJson<AlertPace>,
) -> ApiResult<Json<AlertPace>> {
    state.engine.set_alert_pace(&caller, &id, &body).await?;
    Ok(Json(body))
}

/// Which of a person's addresses a test alert goes to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestAlertBody {
    /// `email`, `telegram` or `webhook`: the person's `notify.email`, `notify.telegram_chat_id`
    /// or `notify.webhook_url`.
    #[schema(example = "email", pattern = "^(email|telegram|webhook)$")]
    sink: String,
}

/// Sends the person a test alert at one of their addresses, now, and says whether the sink
/// took it: the person themselves or an admin. It says it is a test (a webhook gets `"test":
/// true` and `X-Rateline-Event: test_alert`) and nothing is stored. The people pages' "Send
/// me a test alert".
#[utoipa::path(
    post, path = "/v1/people/{person_id}/test-alert", tag = "people", operation_id = "test_alert",
    params(("person_id" = rateline_domain::Id, Path, description = "The person.")),
    request_body = TestAlertBody,
    responses(
        (status = 200, description = "Sent, or why the sink did not take it (`delivered: false` with `error`).", body = crate::engine::TestAlert),
        (status = 403, description = "Another person, and not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
        (status = 409, description = "The person is deactivated (`person_deactivated`).", body = ErrorBody),
        (status = 422, description = "Not a sink, or the person has no such address (`invalid_field`).", body = ErrorBody),
    ),
)]
async fn test_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
    ApiJson(body): ApiJson<TestAlertBody>,
) -> ApiResult<Json<crate::engine::TestAlert>> {
    Ok(Json(
        state.engine.test_alert(&caller, &id, &body.sink).await?,
    ))
}

/// Makes an invitation link with which the person sets their dashboard password (the same
/// resets a forgotten one). The person's earlier unused links stop working. As
/// `rateline people invite ID`.
#[utoipa::path(
    post, path = "/v1/people/{person_id}/invitation", tag = "people", operation_id = "invite_person",
    params(
        ("person_id" = rateline_domain::Id, Path, description = "The person."),
        ("hours" = Option<i64>, Query, minimum = 1, maximum = 720, description = "How long the link works; 72 when absent."),
    ),
    responses(
        (status = 201, description = "The link, shown only now.", body = InvitationView),
        (status = 404, description = "No such person (`person_not_found`).", body = ErrorBody),
        (status = 409, description = "The person is deactivated (`person_deactivated`).", body = ErrorBody),
    ),
)]
async fn invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<PersonId>,
    query: ApiQuery,
) -> ApiResult<(StatusCode, Json<InvitationView>)> {
    query.only("hours")?;
    let hours = super::report::count_param(
        &query.0,
        "hours",
        1..=720,
        crate::engine::INVITATION_HOURS,
        "a whole number of hours",
    )?;
    let invited = state
        .engine
        .invite(&caller, &id, chrono::Duration::hours(hours))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView {
            url: state.link(&crate::engine::invitation_path(&invited.token)),
            person_id: invited.person_id,
            expires_at: invited.expires_at,
        }),
    ))
}

/// `GET /v1/groups`.
#[derive(Serialize, ToSchema)]
struct GroupList {
    groups: Vec<GroupView>,
}

impl GroupView {
    fn new((id, group, managed_by): (String, Group, ManagedBy)) -> Self {
        Self {
            id,
            name: group.name,
            members: group.members,
            managed_by,
        }
    }
}

/// Every group with its members, by id: admins.
#[utoipa::path(
    get, path = "/v1/groups", tag = "people", operation_id = "list_groups",
    responses(
        (status = 200, description = "Every group.", body = GroupList),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
    ),
)]
async fn list_groups(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<GroupList>> {
    let groups = state.engine.groups(&caller, None).await?;
    Ok(Json(GroupList {
        groups: groups.into_iter().map(GroupView::new).collect(),
    }))
}

/// Shows a group with its members: admins.
#[utoipa::path(
    get, path = "/v1/groups/{group_id}", tag = "people", operation_id = "get_group",
    params(("group_id" = rateline_domain::Id, Path, description = "The group.")),
    responses(
        (status = 200, description = "The group.", body = GroupView),
        (status = 403, description = "Not an admin (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such group (`group_not_found`).", body = ErrorBody),
    ),
)]
async fn get_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
) -> ApiResult<Json<GroupView>> {
    let mut groups = state.engine.groups(&caller, Some(&id)).await?;
    Ok(Json(GroupView::new(groups.remove(0))))
}

/// Creates or replaces a group of people, e.g. the supervisors a line alerts.
#[utoipa::path(
    put, path = "/v1/groups/{group_id}", tag = "people", operation_id = "put_group",
    params(("group_id" = rateline_domain::Id, Path, description = "The group.")),
    request_body = Group,
    responses(
        (status = 201, description = "Created.", body = GroupView),
        (status = 200, description = "Replaced.", body = GroupView),
        (status = 409, description = "The group is defined in the config file (`group_managed_by_config`).", body = ErrorBody),
        (status = 422, description = "A field breaks a rule (a name's length, a member's id).", body = ErrorBody),
    ),
)]
async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(group): ApiJson<Group>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let (group, created) = state
        .engine
        .put_group(&caller, &NameId::parse("group_id", &id)?, group)
        .await?;
    Ok((
        created_or_ok(created),
        Json(GroupView::new((id, group, ManagedBy::Api))),
    ))
}

/// The person's version now, for the `ETag` of a refusal as stale.
async fn current_version(state: &AppState, id: &str) -> Option<i64> {
    let id = crate::engine::known_person(id).ok()?;
    state
        .engine
        .person(&Caller::Open, &id)
        .await
        .ok()
        .map(|p| p.version)
}
