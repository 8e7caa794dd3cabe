//! Batch 2, keys reaching past their role or their lines: a supervisor on another line, an
//! operator on another operator's sessions or past the operator rule, both at admin-only
//! calls. What a key may not see is answered as what does not exist.

use super::*;

/// The batch: each probe with the refusal it must meet.
pub(super) fn probes(w: &World) -> Vec<Probe> {
    let World {
        sup,
        olga,
        requests,
        r1,
        r2,
        rw1,
        appeal,
        ..
    } = w;
    // ---- Batch 2: keys reaching past their role or their lines. ------------------------
    let forbidden = |key: &str, method: &str, path: String, body: Value| {
        probe(method, path)
            .key(key)
            .json(&body)
            .refused(403, "forbidden")
    };
    // An object the key may not see is answered as one that does not exist.
    let unseen = |key: &str, method: &str, path: String, body: Value, code: &'static str| {
        probe(method, path).key(key).json(&body).refused(404, code)
    };
    let webchat_open = json!({"id": "evil-2", "line_id": "chat", "channel": "webchat",
                              "client": {"id": "v"}});
    let mut batch = vec![
        // The support supervisor on the chat and Telegram lines.
        forbidden(sup, "POST", "/v1/sessions".into(), webchat_open.clone()),
        // An existing session of the chat line under the supervisor's own line's name.
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "w-4", "line_id": "support", "channel": "webhook", "client": {"id": "v"}}))
            .refused(409, "session_id_taken"),
        // A helpdesk conversation's session opened ahead of its helpdesk, on the key's own
        // line: by id, and by the helpdesk's channel.
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "chatwoot-1-42", "line_id": "support", "channel": "webhook",
                          "client": {"id": "v"}}))
            .refused(422, "invalid_field"),
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "Zammad-1-9", "line_id": "support", "channel": "webhook",
                          "client": {"id": "v"}}))
            .refused(422, "invalid_field"),
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "evil-3", "line_id": "support", "channel": "zammad",
                          "client": {"id": "v"}}))
            .refused(422, "invalid_field"),
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "RocketChat-main-room1", "line_id": "support",
                          "channel": "webhook", "client": {"id": "v"}}))
            .refused(422, "invalid_field"),
        probe("POST", "/v1/sessions")
            .key(sup)
            .json(&json!({"id": "evil-4", "line_id": "support", "channel": "rocketchat",
                          "client": {"id": "v"}}))
            .refused(422, "invalid_field"),
        unseen(
            sup,
            "POST",
            "/v1/sessions/w-4/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        unseen(
            sup,
            "POST",
            "/v1/sessions/w-4/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        unseen(
            sup,
            "POST",
            "/v1/sessions/w-4/webchat-token".into(),
            json!({}),
            "session_not_found",
        ),
        unseen(
            sup,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["w-1"], "value": 1}),
            "request_not_found",
        ),
        unseen(
            sup,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["w-3"], "value": 5}),
            "request_not_found",
        ),
        unseen(
            sup,
            "PUT",
            format!("/v1/ratings/{rw1}/response"),
            json!({"text": "not my line"}),
            "rating_not_found",
        ),
        unseen(
            sup,
            "PUT",
            format!("/v1/ratings/{rw1}/comment-flag"),
            json!({"abusive": true}),
            "rating_not_found",
        ),
        unseen(
            sup,
            "POST",
            format!("/v1/ratings/{rw1}/appeal"),
            json!({"reason": "not my line"}),
            "rating_not_found",
        ),
        unseen(
            sup,
            "PUT",
            "/v1/sessions/w-1/evaluation".into(),
            json!({"stars": 1}),
            "session_not_found",
        ),
        unseen(
            sup,
            "POST",
            "/v1/sessions/t-1/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        // Configuration and decisions are the admin's, on its own line too.
        forbidden(
            sup,
            "PUT",
            "/v1/lines/chat".into(),
            json!({"name": "Chat", "webchat": {"allowed_origins": ["https://evil.example"]}}),
        ),
        forbidden(
            sup,
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Mine"}),
        ),
        forbidden(
            sup,
            "PUT",
            "/v1/people/sup-1".into(),
            json!({"name": "sup-1", "role": "admin"}),
        ),
        forbidden(
            sup,
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["sup-1"]}),
        ),
        forbidden(
            sup,
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": false}),
        ),
        // Operator op-1 on op-2's sessions and ratings.
        unseen(
            olga,
            "POST",
            "/v1/sessions/s-2/messages".into(),
            json!({"from": "client"}),
            "session_not_found",
        ),
        unseen(
            olga,
            "POST",
            "/v1/sessions/s-2/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        unseen(
            olga,
            "POST",
            "/v1/sessions/t-1/close".into(),
            json!({"closed_by": "operator"}),
            "session_not_found",
        ),
        // op-1 on her own session: no client message, no close backdated an hour.
        forbidden(
            olga,
            "POST",
            "/v1/sessions/s-4/messages".into(),
            json!({"from": "client"}),
        ),
        forbidden(
            olga,
            "POST",
            "/v1/sessions/s-4/close".into(),
            json!({"closed_by": "operator", "at": "2026-11-21T08:00:00Z"}),
        ),
        forbidden(
            olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-3", "line_id": "support", "channel": "webhook",
                   "client": {"id": "c"}, "operator_id": "op-2"}),
        ),
        forbidden(
            olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-4", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
        ),
        probe("POST", "/v1/sessions")
            .key(olga)
            .json(&json!({"id": "s-2", "line_id": "support", "channel": "webhook",
                          "client": {"id": "c"}, "operator_id": "op-1"}))
            .refused(409, "session_id_taken"),
        forbidden(
            olga,
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-5", "line_id": "chat", "channel": "webchat",
                   "client": {"id": "c"}, "operator_id": "op-1"}),
        ),
        unseen(
            olga,
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "not even mine"}),
            "rating_not_found",
        ),
        // An operator passes on no answers, responds to nothing, evaluates nothing, not
        // even on their own sessions.
        forbidden(
            olga,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-1"], "value": 1}),
        ),
        forbidden(
            olga,
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-2"], "value": 0}),
        ),
        forbidden(
            olga,
            "PUT",
            format!("/v1/ratings/{r1}/response"),
            json!({"text": "all fine"}),
        ),
        forbidden(
            olga,
            "PUT",
            format!("/v1/ratings/{r1}/comment-flag"),
            json!({"abusive": true}),
        ),
        forbidden(
            olga,
            "PUT",
            "/v1/sessions/s-1/evaluation".into(),
            json!({"stars": 5}),
        ),
        forbidden(
            olga,
            "POST",
            "/v1/sessions/w-4/webchat-token".into(),
            json!({}),
        ),
        forbidden(
            olga,
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": true, "note": "approved by myself"}),
        ),
        forbidden(
            olga,
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "admin"}),
        ),
        forbidden(
            olga,
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Mine"}),
        ),
        forbidden(
            olga,
            "PUT",
            "/v1/groups/g-1".into(),
            json!({"name": "G", "members": ["op-1"]}),
        ),
        // Event subscriptions are admins' alone: a supervisor would hear of every line.
        forbidden(
            sup,
            "PUT",
            "/v1/subscriptions/mine".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef",
                   "events": ["rating.created"]}),
        ),
        forbidden(
            olga,
            "PUT",
            "/v1/subscriptions/mine".into(),
            json!({"url": "https://crm.example/x", "secret": "0123456789abcdef",
                   "events": ["rating.created"]}),
        ),
    ];
    for key in [sup, olga] {
        batch.push(
            probe("GET", "/v1/subscriptions")
                .key(key)
                .refused(403, "forbidden"),
        );
    }
    // Reads change nothing either, and show nothing: still refused.
    for path in ["/v1/sessions/s-2", "/v1/sessions/t-1"] {
        batch.push(
            probe("GET", path)
                .key(olga)
                .refused(404, "session_not_found"),
        );
    }
    batch.push(
        probe("GET", "/v1/lines/support")
            .key(olga)
            .refused(403, "forbidden"),
    );
    batch.push(
        probe("GET", "/v1/sessions/w-1")
            .key(sup)
            .refused(404, "session_not_found"),
    );
    for path in ["/v1/lines/chat", "/v1/stats?line=chat"] {
        batch.push(probe("GET", path).key(sup).refused(403, "forbidden"));
    }
    batch
}
