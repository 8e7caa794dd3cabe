//! Batch 1, who is calling: writes with no key, a forged, malformed or revoked one, another
//! scheme, SQL in the id; and spellings of `/v1/` that might skip the key check.

use super::*;

/// The batch: each probe with the refusal it must meet.
pub(super) fn probes(w: &World) -> Vec<Probe> {
    let World {
        admin,
        retired,
        requests,
        r1,
        r2,
        appeal,
        ..
    } = w;
    // ---- Batch 1: who is calling. ------------------------------------------------------
    // Every call here would change something with the admin key.
    let writes: Vec<(&str, String, Value)> = vec![
        (
            "PUT",
            "/v1/lines/support".into(),
            json!({"name": "Hijacked", "webhook": {"url": "http://evil.example/", "secret": "0123456789abcdef-evil"}}),
        ),
        (
            "PUT",
            "/v1/people/op-1".into(),
            json!({"name": "Olga", "role": "admin"}),
        ),
        (
            "PUT",
            "/v1/groups/g-evil".into(),
            json!({"name": "Evil", "members": ["op-1"]}),
        ),
        (
            "POST",
            "/v1/sessions".into(),
            json!({"id": "evil-1", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}),
        ),
        (
            "POST",
            "/v1/sessions/s-3/close".into(),
            json!({"closed_by": "operator"}),
        ),
        (
            "POST",
            "/v1/sessions/s-3/messages".into(),
            json!({"from": "client"}),
        ),
        (
            "POST",
            "/v1/ratings".into(),
            json!({"request_id": requests["s-2"], "value": 0}),
        ),
        (
            "PUT",
            format!("/v1/ratings/{r1}/response"),
            json!({"text": "hijacked"}),
        ),
        (
            "PUT",
            format!("/v1/ratings/{r1}/comment-flag"),
            json!({"abusive": true}),
        ),
        (
            "POST",
            format!("/v1/ratings/{r2}/appeal"),
            json!({"reason": "hijacked"}),
        ),
        (
            "POST",
            format!("/v1/appeals/{appeal}/decision"),
            json!({"approve": true}),
        ),
        (
            "PUT",
            "/v1/sessions/s-2/evaluation".into(),
            json!({"stars": 1}),
        ),
    ];
    // The admin's id with another secret: the last hex digit changed.
    let last = if admin.ends_with('0') { '1' } else { '0' };
    let wrong_secret = format!("{}{last}", &admin[..admin.len() - 1]);
    let credentials: Vec<(Option<String>, &str)> = vec![
        (None, "key_required"),
        (
            Some(format!("Bearer rl_00000000_{}", "ab".repeat(32))),
            "invalid_key",
        ),
        (Some(format!("Bearer {wrong_secret}")), "invalid_key"),
        (Some(format!("Bearer {admin}x")), "invalid_key"),
        (Some(format!("Bearer {admin} {admin}")), "invalid_key"),
        (Some(format!("Token {admin}")), "invalid_key"),
        (Some(format!("Basic {admin}")), "invalid_key"),
        (Some(admin.clone()), "invalid_key"),
        (Some("Bearer not-a-key".into()), "invalid_key"),
        (Some("Bearer rl_".into()), "invalid_key"),
        (Some("Bearer".into()), "invalid_key"),
        (Some("Bearer rl_'OR'1'='1_x".into()), "invalid_key"),
        (Some("Bearer rl_x' OR 1=1; --_y".into()), "invalid_key"),
        (Some(format!("Bearer {retired}")), "key_revoked"),
    ];
    let mut batch = Vec::new();
    for (method, path, body) in &writes {
        for (credential, code) in &credentials {
            let mut p = probe(method, path.clone()).json(body).refused(401, code);
            if let Some(c) = credential {
                p = p.authorization(c);
            }
            batch.push(p);
        }
    }
    // The key check guards paths under `/v1/`; spellings of that path that skip the check
    // must not reach a handler either.
    for path in [
        "//v1/lines/support",
        "/V1/lines/support",
        "/v1%2Flines%2Fsupport",
    ] {
        batch.push(
            probe("PUT", path)
                .json(&json!({"name": "Hijacked"}))
                .refused(404, "no_such_endpoint"),
        );
    }
    batch.push(
        probe("PUT", "/v1/lines/support/")
            .json(&json!({"name": "Hijacked"}))
            .refused(401, "key_required"),
    );
    batch
}
