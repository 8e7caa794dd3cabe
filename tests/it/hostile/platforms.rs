//! Batch 4, the platforms' webhooks and the widget: Telegram without or with a wrong secret,
//! forged and foreign taps; Meta with missing, wrong or cut signatures; web chat with forged,
//! malformed and other sessions' tokens, a foreign origin, an answer the line refuses.

use super::*;

/// The batch: each probe with the refusal it must meet.
pub(super) fn probes(w: &World) -> (Vec<Probe>, Legit) {
    let World {
        requests,
        tokens,
        card,
        ann_up,
        bot,
        graph,
        ..
    } = w;
    let big = "x".repeat(BODY_LIMIT * 2);
    let w1 = requests["w-1"].clone();
    let tap = bot.tap(ANN, card.message_id, ann_up);
    let (meta_body, meta_signature) = graph.inbound().messenger_text(MALLORY_PSID, "hi");
    let w3 = requests["w-3"].clone();
    // A token is `rlw1.<expiry>.<session hex>.<MAC>`.
    let parts = |t: &str| -> Vec<String> { t.split('.').map(str::to_owned).collect() };
    let t2 = parts(&tokens["w-2"]);
    let t3 = parts(&tokens["w-3"]);
    let forged_tokens = [
        // w-2's MAC under w-3's name.
        format!("rlw1.{}.{}.{}", t2[1], hex::encode("w-3"), t2[3]),
        // w-3's own token, a second longer.
        format!(
            "rlw1.{}.{}.{}",
            t3[1].parse::<i64>().unwrap() + 1,
            t3[2],
            t3[3]
        ),
        // w-3's own token with its MAC cut short, or gone.
        format!("rlw1.{}.{}.{}", t3[1], t3[2], &t3[3][..16]),
        format!("rlw1.{}.{}.", t3[1], t3[2]),
        // Signed with a key of our own.
        format!("rlw1.{}.{}.{}", t3[1], t3[2], "0".repeat(64)),
    ];
    let malformed_tokens = [
        "rlw1.garbage".to_owned(),
        String::new(),
        format!("rlw2.{}.{}.{}", t3[1], t3[2], t3[3]),
        format!("rlw1.{}.zz.{}", t3[1], t3[3]),
        "rlw1.1.2.3.4".to_owned(),
    ];
    let mut batch = Vec::new();
    // Telegram: Ann's real tap, without the secret or with a wrong one.
    for secret in [
        None,
        Some(""),
        Some("hostile-test-webhook-secret_2"),
        Some("HOSTILE-TEST-WEBHOOK-SECRET_1"),
    ] {
        let mut p = probe("POST", "/channels/telegram/webhook")
            .json(&tap)
            .refused(401, "bad_webhook_secret");
        if let Some(s) = secret {
            p = p.header("X-Telegram-Bot-Api-Secret-Token", s);
        }
        batch.push(p);
    }
    batch.extend([
        probe("POST", "/channels/telegram/webhook")
            .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
            .json(&json!({"callback_query": {"data": ann_up}}))
            .refused(400, "invalid_update"),
        probe("POST", "/channels/telegram/webhook")
            .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
            .raw(big.clone())
            .refused_status(413),
    ]);
    // Meta: a client's message (it would open their 24-hour window) without a valid
    // signature.
    let other_signature = rateline_testkit::meta::sign_with("not-the-app-secret", &meta_body);
    let sha1 = meta_signature.replacen("sha256=", "sha1=", 1);
    for signature in [
        None,
        Some(""),
        Some("sha256="),
        Some(other_signature.as_str()),
        Some(sha1.as_str()),
        Some(&meta_signature[..meta_signature.len() - 2]),
    ] {
        let mut p = probe("POST", "/channels/meta/webhook")
            .raw(meta_body.clone())
            .refused(401, "bad_signature");
        if let Some(s) = signature {
            p = p.header("X-Hub-Signature-256", s);
        }
        batch.push(p);
    }
    // The right signature over other bytes.
    batch.extend([
        probe("POST", "/channels/meta/webhook")
            .header("X-Hub-Signature-256", &meta_signature)
            .raw(format!("{meta_body} "))
            .refused(401, "bad_signature"),
        probe("POST", "/channels/meta/webhook")
            .header(
                "X-Hub-Signature-256",
                &rateline_testkit::meta::sign(&format!("{meta_body}{big}")),
            )
            .raw(format!("{meta_body}{big}"))
            .refused_status(413),
    ]);
    // The widget: forged and malformed tokens, on w-3's request that waits to be shown.
    let widget_probe_from = |origin: &str, path: &str, token: &str, request: &str| {
        let mut body = json!({"token": token, "request_id": request});
        if path == "/webchat/answer" {
            body["value"] = json!(1);
        }
        probe("POST", path).header("origin", origin).json(&body)
    };
    let widget_probe =
        |path: &str, token: &str, request: &str| widget_probe_from(SHOP, path, token, request);
    for path in ["/webchat/ack", "/webchat/answer"] {
        for t in forged_tokens.iter().chain(&malformed_tokens) {
            batch.push(widget_probe(path, t, &w3).refused(401, "invalid_token"));
        }
        // Valid tokens of other sessions.
        for other in ["w-1", "w-2", "w-4"] {
            batch.push(widget_probe(path, &tokens[other], &w3).refused(403, "not_this_session"));
        }
        // w-3's own token, naming another session's request, or none.
        for request in [w1.as_str(), requests["s-2"].as_str(), "'OR'1'='1", ""] {
            batch
                .push(widget_probe(path, &tokens["w-3"], request).refused(403, "not_this_session"));
        }
        // w-3's own token and request, with an answer the line refuses: the card must not
        // count as shown either.
        if path == "/webchat/answer" {
            for bad in [
                json!({"value": 9}),
                json!({"value": 0}),
                json!({"value": 5, "comment": "a\u{0}b"}),
            ] {
                let mut body = json!({"token": tokens["w-3"], "request_id": w3});
                body.as_object_mut()
                    .unwrap()
                    .extend(bad.as_object().unwrap().clone());
                batch.push(
                    probe("POST", path)
                        .header("origin", SHOP)
                        .json(&body)
                        .refused(422, "invalid_field"),
                );
            }
        }
        // From a page the line does not list.
        batch.push(
            widget_probe_from("https://evil.example", path, &tokens["w-3"], &w3)
                .refused(403, "origin_not_allowed"),
        );
    }
    for t in forged_tokens.iter().chain(&malformed_tokens) {
        let q: String = url::form_urlencoded::byte_serialize(t.as_bytes()).collect();
        batch.push(
            probe("GET", format!("/webchat/events?token={q}"))
                .header("origin", SHOP)
                .refused(401, "invalid_token"),
        );
    }
    let legit = Legit {
        tap,
        meta_body,
        meta_signature,
        w3,
    };
    (batch, legit)
}

/// What the legitimate step after the batch sends: Ann's real tap, a signed Meta message,
/// and w-3's request.
pub(super) struct Legit {
    pub tap: Value,
    pub meta_body: String,
    pub meta_signature: String,
    pub w3: String,
}

/// Taps with the right secret that are still not Ann's answer: each gets its toast and
/// changes nothing.
pub(super) async fn taps_that_are_not_anns(w: &World) {
    let World {
        app,
        card,
        ann_up,
        bot,
        ..
    } = w;
    let forged = ann_up.replacen(":1:", ":0:", 1);
    assert_ne!(&forged, ann_up);
    for (update, toast) in [
        // Ann's button data with another value: the MAC no longer matches.
        (
            bot.tap(ANN, card.message_id, &forged),
            "This button is no longer valid.",
        ),
        // Data that is not Rateline's at all.
        (
            bot.tap(ANN, card.message_id, "rl1:'OR'1'='1:1:0000000000000000"),
            "This button is no longer valid.",
        ),
        // Bob, on Ann's card.
        (
            bot.tap_as(BOB, "Bob", ANN, card.message_id, ann_up),
            "This rating request is not yours.",
        ),
    ] {
        let (status, body) = telegram(app, &update, Some(WEBHOOK_SECRET)).await;
        assert_eq!(status, 200, "{body}");
        let last = bot.answered_callbacks().last().cloned();
        assert_eq!(last.and_then(|(_, t)| t).as_deref(), Some(toast));
    }
}
