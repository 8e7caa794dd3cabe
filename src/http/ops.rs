//! Operations: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::error::ApiResult;
use super::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        // A person who opens the server's address in a browser wants the dashboard.
        .route(
            "/",
            get(|| async { axum::response::Redirect::to("/dashboard") }),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the database answers.
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    state.engine.ping().await?;
    Ok(Json(json!({"status": "ready"})))
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Queue depth is read from the database, so it is the same whichever process is asked.
    if state.metrics.queue_depth_stale() {
        match state.engine.queue_depth().await {
            Ok(n) => {
                state.metrics.queue_depth.set(n);
            }
            Err(e) => tracing::warn!(error = %e, "queue depth unavailable for /metrics"),
        }
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
