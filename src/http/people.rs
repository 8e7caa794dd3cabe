//! `PUT /v1/people/{id}` and `PUT /v1/groups/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::put;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::{ApiJson, ApiPath, ApiResult, AppState};
use crate::auth::Caller;
use crate::domain::{Group, Person};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/people/{person_id}", put(put_person))
        .route("/v1/groups/{group_id}", put(put_group))
}

fn created_or_ok(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

async fn put_person(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(person): ApiJson<Person>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.admin("changing people")?;
    let created = state.engine.put_person(&id, person.clone()).await?;
    let mut body = serde_json::to_value(&person).expect("person serialises");
    body["id"] = json!(id);
    Ok((created_or_ok(created), Json(body)))
}

async fn put_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath,
    ApiJson(group): ApiJson<Group>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    caller.admin("changing groups")?;
    let created = state.engine.put_group(&id, group.clone()).await?;
    let mut body = serde_json::to_value(&group).expect("group serialises");
    body["id"] = json!(id);
    Ok((created_or_ok(created), Json(body)))
}
