//! The outbound policy from outside: URLs that point inside the network are refused when
//! stored and when called, redirects are never followed, and `last_error` cannot tell an
//! open port from a closed one.

use crate::common::{Connector, Db, SECRET, spawn_app_with};
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::any;
use serde_json::json;

/// A server that answers every call with `status` and a `Location` of `to`.
async fn redirecting(status: u16, to: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let to = HeaderValue::from_str(to).unwrap();
    let app = Router::new().route(
        "/hook",
        any(move || {
            let to = to.clone();
            async move {
                let mut r = StatusCode::from_u16(status).unwrap().into_response();
                r.headers_mut().insert(header::LOCATION, to);
                r
            }
        }),
    );
    tokio::spawn(axum::serve(listener, app).into_future());
    url
}

/// A line whose connector is `url`, and the session view once its request has failed.
async fn failed_request(app: &crate::common::TestApp, line: &str, url: &str) -> serde_json::Value {
    let (status, body) = app
        .put(
            &format!("/v1/lines/{line}"),
            json!({"name": line, "rating": {"delay_seconds": 0},
                   "webhook": {"url": url, "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let session = format!("s-{line}");
    app.open(&session, line, "op-1").await;
    app.close(&session).await;
    app.wait_for_status(&session, "failed").await
}

async fn stored_urls_that_point_inside_the_network_are_refused(kind: Db) {
    // No allowed networks: the default a deployment starts with.
    let Some(app) = spawn_app_with(kind, |s| s.outbound.allowed_networks.clear()).await else {
        return;
    };
    for url in [
        "http://127.0.0.1:5432/",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::1]:8080/",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
    ] {
        let (status, body) = app
            .put(
                "/v1/lines/inside",
                json!({"name": "Inside", "webhook": {"url": url, "secret": SECRET}}),
            )
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["error"]["field"], "webhook.url", "{url}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("refused by policy") && message.contains("outbound.allowed_networks"),
            "{url}: {message}"
        );
        let (status, body) = app
            .put(
                "/v1/people/sup",
                json!({"name": "Sam", "role": "supervisor", "notify": {"webhook_url": url}}),
            )
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["error"]["field"], "notify.webhook_url");
    }
    let (status, _) = app.get("/v1/lines/inside").await;
    assert_eq!(status, 404, "a refused line was stored");
    // A public address is accepted.
    let (status, body) = app
        .put(
            "/v1/lines/outside",
            json!({"name": "Outside",
                   "webhook": {"url": "https://connector.example/hook", "secret": SECRET}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A name is checked when it is resolved, at the send: `localhost` resolves to loopback.
/// Whether the port behind it is open or closed, `last_error` says the same.
async fn a_name_that_resolves_inside_is_refused_at_the_send_and_reveals_no_port(kind: Db) {
    let Some(app) = spawn_app_with(kind, |s| s.outbound.allowed_networks.clear()).await else {
        return;
    };
    let open_port = app.connector.url.replace("127.0.0.1", "localhost");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = format!(
        "http://localhost:{}/hook",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let mut errors = Vec::new();
    for (line, url) in [("open", &open_port), ("closed", &closed_port)] {
        let s = failed_request(&app, line, url).await;
        errors.push(
            s["rating_request"]["last_error"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(errors[0], errors[1], "last_error tells the ports apart");
    assert!(errors[0].contains("refused by policy"), "{}", errors[0]);
    assert!(
        app.connector.received().is_empty(),
        "the connector behind the refused name was called"
    );
}

/// A connector answering 307 or 302 gets no second call, neither to where it points nor as
/// a GET, and the request is never `sent`.
async fn redirects_are_refusals_and_are_never_followed(kind: Db) {
    let Some(app) = spawn_app_with(kind, |_| {}).await else {
        return;
    };
    let elsewhere = Connector::start().await;
    for (line, status) in [("temporary", 307), ("found", 302)] {
        let url = redirecting(status, &elsewhere.url).await;
        let s = failed_request(&app, line, &url).await;
        let error = s["rating_request"]["last_error"].as_str().unwrap();
        assert!(
            error.contains(&status.to_string()) && error.contains(&elsewhere.url),
            "{error}"
        );
        assert!(s["rating_request"]["sent_at"].is_null(), "{s}");
        assert_eq!(s["rating_request"]["attempts"], 1, "a redirect was retried");
    }
    app.settle().await;
    assert!(
        elsewhere.received().is_empty(),
        "a redirect was followed with the signed body"
    );
}

crate::common::on_both_backends!(
    stored_urls_that_point_inside_the_network_are_refused,
    a_name_that_resolves_inside_is_refused_at_the_send_and_reveals_no_port,
    redirects_are_refusals_and_are_never_followed,
);
