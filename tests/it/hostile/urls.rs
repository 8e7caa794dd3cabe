//! URLs Rateline calls, refused when they are stored: one carrying a user name and password
//! (which everyone reading the settings, and the audit log, would see), and one whose host
//! is an internal address written in an IPv6 form that carries an IPv4 address.

use serde_json::{Value, json};

use crate::common::{Db, TestApp, spawn_app};

/// Every place a URL is stored, with `url` in it: the method, path and body.
fn stores(url: &str) -> Vec<(&'static str, String, Value, &'static str)> {
    vec![
        (
            "PUT",
            "/v1/lines/evil".into(),
            json!({"name": "Evil", "webhook": {"url": url, "secret": "0123456789abcdef-0"}}),
            "webhook.url",
        ),
        (
            "PUT",
            "/v1/people/evil".into(),
            json!({"name": "Evil", "role": "supervisor", "notify": {"webhook_url": url}}),
            "notify.webhook_url",
        ),
        (
            "PUT",
            "/v1/subscriptions/evil".into(),
            json!({"url": url, "secret": "0123456789abcdef-0", "events": ["rating.created"]}),
            "url",
        ),
        (
            "PUT",
            "/v1/connectors/chatwoot/7".into(),
            json!({"url": url, "api_token": "token-0123456789",
                   "webhook_secret": "0123456789abcdef-0"}),
            "url",
        ),
        (
            "PUT",
            "/v1/connectors/zammad/evil".into(),
            json!({"url": url, "api_token": "token-0123456789",
                   "webhook_token": "0123456789abcdef-0"}),
            "url",
        ),
    ]
}

async fn refused_everywhere(app: &TestApp, url: &str, says: &str) {
    for (method, path, body, field) in stores(url) {
        let (status, answer) = app.call(method, &path, Some(body)).await;
        assert_eq!(status, 422, "{url} at {path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{url} at {path}: {message}");
        assert!(
            !message.contains("s3cret"),
            "the refusal repeats the password: {message}"
        );
        let (status, _) = app.get(&path).await;
        assert_eq!(status, 404, "{path} was stored");
    }
}

async fn urls_with_passwords_or_disguised_internal_addresses_are_refused(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    for url in [
        "https://user:s3cret@connector.example/hook",
        "https://user@connector.example/hook",
    ] {
        refused_everywhere(&app, url, "user name or password").await;
    }
    // Internal addresses (the cloud's metadata service, a private network) in the IPv6
    // forms that carry an IPv4 address. The tests' outbound policy allows 127.0.0.0/8 only.
    for url in [
        "http://[::169.254.169.254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:0:169.254.169.254]/",
        "http://[64:ff9b::169.254.169.254]/",
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[2002:a9fe:a9fe::1]/",
        "http://[2001:0:5db8:d70e::5601:5601]/",
        "http://[::10.0.0.1]/",
    ] {
        refused_everywhere(&app, url, "refused by policy").await;
    }
    let (status, audit) = app.get("/v1/audit").await;
    assert_eq!(status, 200);
    assert!(!audit.to_string().contains("s3cret"), "{audit}");
}

crate::common::on_both_backends!(urls_with_passwords_or_disguised_internal_addresses_are_refused);
