//! Batch 3, what the body and the path carry: oversized, malformed, trailing and mistyped
//! JSON, unknown fields, control characters in every kind of text and URL, odd, long and
//! SQL-looking ids, values off the scale, URLs the outbound policy refuses.

use super::*;

/// The batch: each probe with the refusal it must meet.
pub(super) fn probes(w: &World) -> Vec<Probe> {
    let World {
        app,
        admin,
        requests,
        tokens,
        r2,
        appeal,
        ..
    } = w;
    // ---- Batch 3: what the body and the path carry. ------------------------------------
    // With the admin key every call passes the key check: only validation stands between
    // these and the database.
    let big = "x".repeat(BODY_LIMIT * 2);
    let invalid = |method: &str, path: String, body: Value, status: u16, code: &'static str| {
        probe(method, path)
            .key(admin)
            .json(&body)
            .refused(status, code)
    };
    let rate = |request: &str, value: Value| json!({"request_id": request, "value": value});
    let session = |id: &str| {
        json!({"id": id, "line_id": "support", "channel": "webhook",
               "client": {"id": "c-9", "name": "Ann"}, "operator_id": "op-1"})
    };
    let with = |mut base: Value, field: &str, value: Value| {
        base[field] = value;
        base
    };
    let s2 = requests["s-2"].clone();
    let w1 = requests["w-1"].clone();
    let mut batch = vec![
        // Larger than server.body_limit_bytes.
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": big}),
            413,
            "body_too_large",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-5"), "padding", json!(big)),
            413,
            "body_too_large",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": big}),
            413,
            "body_too_large",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": big}),
            413,
            "body_too_large",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(&json!({"token": tokens["w-1"], "request_id": w1, "value": 5, "comment": big}))
            .refused(413, "body_too_large"),
        // Not JSON, or not whole, or a whole value with more after it.
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw(format!("{} trailing", session("evil-5b")))
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw(format!("{}{}", session("evil-5c"), session("evil-5d")))
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw(r#"{"id": "evil-6", "line_id": "support", "#)
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw("id=evil-7&line_id=support")
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw("")
            .refused(400, "malformed_json"),
        probe("POST", "/v1/sessions")
            .key(admin)
            .raw(b"{\"id\": \"evil-\xff\xfe\", \"line_id\": \"support\"}".to_vec())
            .refused(400, "malformed_json"),
        probe("POST", "/v1/ratings")
            .key(admin)
            .raw(format!(r#"{{"request_id": "{s2}", "value": 0"#))
            .refused(400, "malformed_json"),
        probe("PUT", "/v1/people/op-1")
            .key(admin)
            .raw(r#"{"name": "Olga", "role": "admin",}"#)
            .refused(400, "malformed_json"),
        // The wrong shape or types.
        invalid(
            "POST",
            "/v1/sessions".into(),
            json!([session("evil-8")]),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-9"), "id", json!(9)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-10"), "client", json!("c-9")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-11"), "channel", json!("sms")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-12"), "opened_at", json!("yesterday")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "admin"}),
            400,
            "invalid_field",
        ),
        // serde_json calls anything but a string or an object where an enum belongs a
        // syntax error, so this one is `malformed_json`: a 400 all the same.
        probe("POST", "/v1/sessions/s-4/messages")
            .key(admin)
            .json(&json!({"from": ["client"]}))
            .refused_status(400),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!("0")),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(0.5)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(1e100)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(null)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": [s2], "value": 0}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": "1"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/comment-flag"),
            json!({"abusive": "yes"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_seconds": -1}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_seconds": 4_294_967_296_u64}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "root"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": null, "role": "operator"}),
            400,
            "invalid_field",
        ),
        // Fields the API does not have.
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-13"), "is_admin", json!(true)),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-13b"),
                "client",
                json!({"id": "c-9", "is_vip": true}),
            ),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "rating_request": {"status": "answered"}}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 0, "changes": 0}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "managed_by": "config"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"delay_second": 600}}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "api_key": "rl_x_y"}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": false, "status": "open"}),
            400,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-1"], "request_id": w1, "value": 5,
                          "session_id": "w-3"}),
            )
            .refused(400, "invalid_field"),
        probe("POST", "/webchat/ack")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-3"], "request_id": requests["w-3"],
                          "status": "answered"}),
            )
            .refused(400, "invalid_field"),
        // NUL and other control characters in text.
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "webhook": {"url": "http://a.example/\u{0}x", "secret": "0123456789abcdef"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "notify": {"webhook_url": "http://a.example/\u{0}x"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-14"),
                "client",
                json!({"id": "c-9", "name": "Ann\u{0}"}),
            ),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(
                session("evil-15"),
                "client",
                json!({"id": "c-9", "name": "Ann\u{1b}[2J"}),
            ),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": "fine\u{0}"}),
            422,
            "invalid_field",
        ),
        // Reasons and tags: the wrong shape, too many, control characters.
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 0, "reasons": "slow"}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 0, "reasons": vec!["slow"; 100]}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "tags": "vip"}),
            400,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "tags": vec!["vip"; 21]}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "tags": ["vip\u{0}"]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"low_reasons": [{"id": "slow", "text": "Slow\u{1b}[2J"}]}}),
            422,
            "invalid_field",
        ),
        // Event subscriptions: a secret with control characters, a URL with a space, a
        // line id that is no id, too many lines, events of the wrong shape.
        invalid(
            "PUT",
            "/v1/subscriptions/crm".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef\u{0}", "events": ["rating.created"]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/subscriptions/crm".into(),
            json!({"url": "https://crm.example/a b", "secret": "0123456789abcdef", "events": ["rating.created"]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/subscriptions/crm".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef", "events": ["rating.created"], "lines": ["../etc"]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/subscriptions/crm".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef", "events": ["rating.created"], "lines": vec!["support"; 101]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/subscriptions/crm".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef", "events": "rating.created"}),
            400,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/subscriptions/CRM%00".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef", "events": ["rating.created"]}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": s2, "value": 1, "comment": "fine\u{7}\u{8}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": "Thanks\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/ratings/{r2}/response"),
            json!({"text": "Thanks", "author_id": "sup\u{0}1"}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "late\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-4/evaluation".into(),
            json!({"stars": 3, "comment": "ok\u{1f}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga\u{0}", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "operator", "notify": {"email": "o@x.example\u{0}"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G\u{85}", "members": []}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support\u{0}"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "rating": {"request_text": "Rate us\u{0}"}}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "webhook": {"url": app.connector.url,
                   "secret": "0123456789abcdef\n"}}),
            422,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(
                &json!({"token": tokens["w-1"], "request_id": w1, "value": 4,
                          "comment": "nice\u{0}"}),
            )
            .refused(422, "invalid_field"),
        // Ids with '/', whitespace or control characters, or over 128 bytes: in the path...
        invalid(
            "PUT",
            "/v1/lines/a%2Fb".into(),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/a%20b".into(),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/lines/{}", "l".repeat(129)),
            json!({"name": "A"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/a%00b".into(),
            json!({"name": "A", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/people/a%09b".into(),
            json!({"name": "A", "role": "operator"}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            format!("/v1/groups/{}", "%E2%82%AC".repeat(43)),
            json!({"name": "G"}),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4%2F..%2Fs-3/close".into(),
            json!({"closed_by": "operator"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            format!("/v1/sessions/{}/close", "s".repeat(129)),
            json!({"closed_by": "operator"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            "/v1/sessions/s-4%00/messages".into(),
            json!({"from": "client"}),
            404,
            "session_not_found",
        ),
        invalid(
            "POST",
            "/v1/sessions/%FF%FE/close".into(),
            json!({"closed_by": "operator"}),
            400,
            "invalid_path",
        ),
        // ... and in the body.
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil/16"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil 17"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session("evil\u{a0}18"),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(""),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(&"e".repeat(129)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            session(&"€".repeat(43)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-19"), "line_id", json!("sup port")),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-20"), "operator_id", json!("op/1")),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/sessions".into(),
            with(session("evil-21"), "client", json!({"id": "c\u{0}9"})),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Support", "notify_low": [{"kind": "supervisor", "id": "sup 1"}]}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["op-1", "op/2"]}),
            422,
            "invalid_field",
        ),
        // Ratings off the line's scale: binary on support, five stars on chat.
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(2)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(-1)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&s2, json!(i64::MAX)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&w1, json!(0)),
            422,
            "invalid_field",
        ),
        invalid(
            "POST",
            "/v1/ratings".into(),
            rate(&w1, json!(6)),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-4/evaluation".into(),
            json!({"stars": 0}),
            422,
            "invalid_field",
        ),
        invalid(
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": 6}),
            422,
            "invalid_field",
        ),
        probe("POST", "/webchat/answer")
            .header("origin", SHOP)
            .json(&json!({"token": tokens["w-1"], "request_id": w1, "value": 9}))
            .refused(422, "invalid_field"),
        // A time more than five minutes ahead of the server's.
        invalid(
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "at": "2030-01-01T00:00:00Z"}),
            422,
            "invalid_field",
        ),
    ];
    // SQL in ids: names of nothing, so simply not found.
    for sql in [
        "s-1'--",
        "s-1' OR '1'='1",
        "'OR'1'='1",
        "x';DROP TABLE sessions;--",
        "'||(SELECT(id)FROM(sessions)LIMIT(1))||'",
        "s-1\"; DELETE FROM ratings; --",
        "$1",
    ] {
        let enc: String = sql
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        batch.extend([
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/close"),
                json!({"closed_by": "operator"}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/messages"),
                json!({"from": "client"}),
                404,
                "session_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/sessions/{enc}/evaluation"),
                json!({"stars": 1}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/sessions/{enc}/webchat-token"),
                json!({}),
                404,
                "session_not_found",
            ),
            invalid(
                "POST",
                "/v1/ratings".into(),
                rate(sql, json!(0)),
                404,
                "request_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/ratings/{enc}/response"),
                json!({"text": "x"}),
                404,
                "rating_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/ratings/{enc}/appeal"),
                json!({"reason": "x"}),
                404,
                "rating_not_found",
            ),
            invalid(
                "PUT",
                format!("/v1/ratings/{enc}/comment-flag"),
                json!({"abusive": true}),
                404,
                "rating_not_found",
            ),
            invalid(
                "POST",
                format!("/v1/appeals/{enc}/decision"),
                json!({"approve": true}),
                404,
                "appeal_not_found",
            ),
            invalid(
                "POST",
                "/v1/sessions".into(),
                with(session("evil-22"), "line_id", json!(sql)),
                if sql.contains(' ') { 422 } else { 404 },
                if sql.contains(' ') {
                    "invalid_field"
                } else {
                    "line_not_found"
                },
            ),
            probe("GET", format!("/v1/sessions/{enc}"))
                .key(admin)
                .refused(404, "session_not_found"),
            probe("GET", format!("/v1/lines/{enc}"))
                .key(admin)
                .refused(404, "line_not_found"),
        ]);
    }
    batch
}
