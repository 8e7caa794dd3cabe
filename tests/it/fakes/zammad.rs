//! The fake Zammad checked over plain HTTP and its webhooks checked with an HMAC-SHA1 of the
//! test's own (SHA-1 written out below and checked against the RFCs' vectors, as the tests
//! depend on no SHA-1 crate), so that a Zammad test failing points at Rateline and not at a
//! fake that is wrong about Zammad.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use chrono::{DateTime, TimeZone, Utc};
use rateline_testkit::zammad::{
    AGENT_ANNA, AGENT_BORIS, API_TOKEN, API_USER, FakeZammad, Fault, FollowUp, OTHER_GROUP,
    SALES_GROUP, SOLVED, SUPPORT_GROUP, TRIGGER, Ticket, WEBHOOK_TOKEN, Webhook,
};
use serde_json::{Value, json};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
}

async fn fake_at_noon() -> FakeZammad {
    let fake = FakeZammad::start().await;
    fake.set_now(noon());
    fake
}

struct Answer {
    status: u16,
    retry_after: Option<String>,
    failure: Option<String>,
    text: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }
}

/// A call with `Authorization: {authorization}` (none if `None`) and a JSON body.
async fn call_as(
    fake: &FakeZammad,
    method: reqwest::Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", fake.url()));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let resp = request.send().await.expect("the fake answers");
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: resp.status().as_u16(),
        retry_after: header("retry-after"),
        failure: header("x-failure"),
        text: resp.text().await.unwrap(),
    }
}

/// A call with the API token.
async fn call(
    fake: &FakeZammad,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let token = format!("Token token={API_TOKEN}");
    call_as(fake, method, path, Some(&token), body).await
}

async fn post_article(fake: &FakeZammad, body: &Value) -> Answer {
    call(
        fake,
        reqwest::Method::POST,
        "/api/v1/ticket_articles",
        Some(body),
    )
    .await
}

async fn put_ticket(fake: &FakeZammad, id: u64, body: &Value) -> Answer {
    call(
        fake,
        reqwest::Method::PUT,
        &format!("/api/v1/tickets/{id}"),
        Some(body),
    )
    .await
}

/// SHA-1 (RFC 3174), written out so that the signature is checked apart from the fake's crate.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&(data.len() as u64 * 8).to_be_bytes());
    for block in message.chunks(64) {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks(4)) {
            *word = u32::from_be_bytes(bytes.try_into().unwrap());
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, word) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, next);
        }
        for (state, add) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(add);
        }
    }
    let mut out = [0u8; 20];
    for (bytes, word) in out.chunks_mut(4).zip(h) {
        bytes.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// HMAC (RFC 2104) over SHA-1.
fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&sha1(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let mut inner = pad(0x36);
    inner.extend_from_slice(data);
    let mut outer = pad(0x5c);
    outer.extend_from_slice(&sha1(&inner));
    sha1(&outer)
}

/// Checks `X-Hub-Signature` the way Rateline must: `sha1=` and the hex HMAC-SHA1 keyed with
/// `token` over the raw body.
fn signature_ok(token: &str, webhook: &Webhook) -> bool {
    let Some(tag) = webhook
        .header("x-hub-signature")
        .and_then(|s| s.strip_prefix("sha1="))
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    tag == hmac_sha1(token.as_bytes(), &webhook.body)
}

/// The customer's mobile, from the ticket's webhook, for an SMS's `to`.
fn mobile(fake: &FakeZammad, t: &Ticket) -> String {
    fake.created(t).json()["ticket"]["customer"]["mobile"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn the_sha1_here_and_the_signature_match_known_vectors() {
    assert_eq!(
        hex::encode(sha1(b"abc")),
        "a9993e364706816aba3e25717850c26c9cd0d89d"
    );
    assert_eq!(
        hex::encode(sha1(&[b'a'; 1000])),
        "291e9a6c66994949b57ba5e650361e98fc36b1ba"
    );
    // RFC 2202, test cases 1 and 6 (a key longer than a block).
    assert_eq!(
        hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
        "b617318655057264e28bc0b6fb378c8ef146be00"
    );
    assert_eq!(
        hex::encode(hmac_sha1(
            &[0xaa; 80],
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "aa4ae5e15272d00e95705637ce8a3b55ed402112"
    );
    // Computed with `openssl dgst -sha1 -hmac zm-test-webhook-token` over the same bytes.
    assert_eq!(
        rateline_testkit::zammad::sign(WEBHOOK_TOKEN, br#"{"ticket":{},"article":{}}"#),
        "sha1=440f506c1cab89965743b6d42fa769e4d9520099"
    );
}

#[tokio::test]
async fn the_token_is_checked() {
    let fake = fake_at_noon().await;
    let get = reqwest::Method::GET;
    let me = "/api/v1/users/me";

    let none = call_as(&fake, get.clone(), me, None, None).await;
    let wrong = call_as(&fake, get.clone(), me, Some("Token token=zm-other"), None).await;
    let bearer_wrong = call_as(&fake, get.clone(), me, Some("Bearer zm-other"), None).await;
    let bearer = format!("Bearer {API_TOKEN}");
    let by_bearer = call_as(&fake, get.clone(), me, Some(&bearer), None).await;
    let quoted = format!("Token token=\"{API_TOKEN}\"");
    let by_quoted = call_as(&fake, get.clone(), me, Some(&quoted), None).await;
    let profile = call(&fake, get.clone(), me, None).await;
    let groups = call(&fake, get.clone(), "/api/v1/groups", None).await;
    let nowhere = call_as(&fake, get.clone(), "/api/v1/nowhere", None, None).await;

    // No credentials at all is Zammad's 403; wrong ones are 401.
    assert_eq!(none.status, 403);
    assert_eq!(
        none.json(),
        json!({"error": "Authentication required", "error_human": "Authentication required"})
    );
    assert_eq!(none.failure.as_deref(), Some("Authentication required"));
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.error(), "Can't find User for Token");
    assert_eq!(wrong.failure.as_deref(), Some("Can't find User for Token"));
    assert_eq!(bearer_wrong.status, 401);
    assert_eq!(bearer_wrong.error(), "The provided token is invalid.");
    assert_eq!(
        (by_bearer.status, by_quoted.status, profile.status),
        (200, 200, 200)
    );
    let user = profile.json();
    assert_eq!(user["id"], API_USER);
    assert_eq!(user["login"], "rateline-bot@example.com");
    assert_eq!(
        (&user["firstname"], &user["lastname"]),
        (&json!("Rateline"), &json!("Bot"))
    );
    assert_eq!(user["role_ids"], json!([1, 2]));
    assert_eq!(user["group_ids"]["3"], json!(["full"]));
    assert!(user.get("password").is_none());
    assert!(user.get("roles").is_none(), "names only with expand=true");
    assert_eq!(groups.status, 200);
    let listed: Vec<(u64, String, bool)> = groups
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["id"].as_u64().unwrap(),
                g["name"].as_str().unwrap().to_owned(),
                g["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (SUPPORT_GROUP, "Users".to_owned(), true),
            (SALES_GROUP, "Sales".to_owned(), true),
            (OTHER_GROUP, "Unmapped".to_owned(), true),
        ]
    );
    assert_eq!(nowhere.status, 404, "routing comes before the token");
    assert_eq!(nowhere.error(), "This page doesn't exist.");

    fake.revoke_token();
    let revoked = call(&fake, get, me, None).await;
    let t = fake.open(SUPPORT_GROUP, "Ann Example", "email");
    let post = post_article(&fake, &json!({"ticket_id": t.id, "body": "hi"})).await;
    assert_eq!((revoked.status, post.status), (401, 401));
    assert_eq!(revoked.error(), "Can't find User for Token");
    assert!(fake.articles(&t).is_empty());
    assert!(fake.take_webhooks().is_empty());
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn an_unknown_ticket_is_404() {
    let fake = fake_at_noon().await;
    let known = fake.open(SUPPORT_GROUP, "Ann Example", "email");
    let unknown = known.id + 1000;

    let posted = post_article(&fake, &json!({"ticket_id": unknown, "body": "hi"})).await;
    let as_text = post_article(&fake, &json!({"ticket_id": "abc", "body": "hi"})).await;
    let without = post_article(&fake, &json!({"body": "hi"})).await;
    let put = put_ticket(&fake, unknown, &json!({"state": "closed"})).await;
    let garbled = call(
        &fake,
        reqwest::Method::PUT,
        "/api/v1/tickets/abc",
        Some(&json!({"state": "closed"})),
    )
    .await;

    let statuses = [&posted, &as_text, &without, &put, &garbled].map(|a| a.status);
    assert_eq!(statuses, [404; 5]);
    let missing = format!("Couldn't find Ticket with 'id'={unknown}");
    assert_eq!(
        posted.json(),
        json!({"error": missing, "error_human": missing})
    );
    assert_eq!(as_text.error(), "Couldn't find Ticket with 'id'=abc");
    assert_eq!(without.error(), "Couldn't find Ticket without an ID");
    assert_eq!(put.error(), missing);
    assert_eq!(garbled.error(), "Couldn't find Ticket with 'id'=abc");
    assert!(fake.rule_violations().is_empty());
    assert!(fake.take_webhooks().is_empty());
}

#[tokio::test]
async fn requests_zammad_refuses_are_422_and_violations() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Example", "email");
    let article = |fields: Value| {
        let mut body = json!({"ticket_id": t.id, "body": "How did we do?", "type": "email",
                              "to": "ann.example@example.com"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    let pigeon = post_article(&fake, &article(json!({"type": "carrier pigeon"}))).await;
    let no_body = post_article(&fake, &json!({"ticket_id": t.id, "type": "note"})).await;
    let blank = post_article(&fake, &article(json!({"body": "  "}))).await;
    let no_to = post_article(
        &fake,
        &json!({"ticket_id": t.id, "body": "Hi", "type": "email"}),
    )
    .await;
    let bad_to = post_article(&fake, &article(json!({"to": "Ann Example"}))).await;
    let robot = post_article(&fake, &article(json!({"sender": "Robot"}))).await;
    let markdown = post_article(&fake, &article(json!({"content_type": "text/markdown"}))).await;
    let solved = put_ticket(&fake, t.id, &json!({"state": "done and dusted"})).await;
    let pending = put_ticket(&fake, t.id, &json!({"state": "pending reminder"})).await;
    let retitled = put_ticket(&fake, t.id, &json!({"title": "Renamed"})).await;

    let answers = [
        &pigeon, &no_body, &blank, &no_to, &bad_to, &robot, &markdown, &solved, &pending, &retitled,
    ];
    assert_eq!(answers.map(|a| a.status), [422; 10]);
    assert_eq!(
        pigeon.json(),
        json!({
            "error": "No lookup value found for 'type': \"carrier pigeon\"",
            "error_human": "No lookup value found for 'type': \"carrier pigeon\"",
        })
    );
    assert_eq!(no_body.error(), "Need at least an 'article body' field.");
    assert_eq!(blank.error(), "Need at least an 'article body' field.");
    let no_recipient = "Sending an email without a valid recipient is not possible.";
    assert_eq!(
        (no_to.error(), bad_to.error()),
        (no_recipient.into(), no_recipient.into())
    );
    assert_eq!(
        robot.error(),
        "No lookup value found for 'sender': \"Robot\""
    );
    assert!(
        markdown.error().contains("text/markdown"),
        "{}",
        markdown.text
    );
    assert_eq!(
        solved.error(),
        "No lookup value found for 'state': \"done and dusted\""
    );
    assert!(pending.error().contains("pending_time"), "{}", pending.text);
    assert!(retitled.error().contains("title"), "{}", retitled.text);
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 10, "{violations:#?}");
    assert!(violations[0].starts_with("POST /api/v1/ticket_articles: No lookup value"));
    assert!(violations[7].starts_with(&format!("PUT /api/v1/tickets/{}: ", t.id)));
    assert!(fake.articles(&t).is_empty());
    assert_eq!(fake.state(&t), "new");
    assert!(fake.take_webhooks().is_empty());

    // JSON without its content type: Rails reads no parameters at all.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/ticket_articles", fake.url()))
        .header("authorization", format!("Token token={API_TOKEN}"))
        .header("content-type", "text/plain")
        .body(json!({"ticket_id": t.id, "body": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), 11);
    assert!(
        violations[10].contains("Content-Type"),
        "{}",
        violations[10]
    );
}

#[tokio::test]
async fn a_fault_answers_the_next_call_once() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Example", "telegram personal-message");
    fake.fail_next(Fault::RateLimited { retry_after: 30 });
    fake.fail_next(Fault::ServerError);
    fake.fail_next(Fault::Unauthorized);
    let hello = json!({"ticket_id": t.id, "body": "hello", "type": "telegram personal-message"});

    // A call refused for its credentials uses up no fault.
    let no_token = call_as(
        &fake,
        reqwest::Method::POST,
        "/api/v1/ticket_articles",
        None,
        Some(&hello),
    )
    .await;
    let throttled = post_article(&fake, &hello).await;
    let failed = post_article(&fake, &hello).await;
    let refused = post_article(&fake, &hello).await;
    let taken = post_article(&fake, &hello).await;

    assert_eq!(no_token.status, 403);
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.retry_after.as_deref(), Some("30"));
    assert_eq!(throttled.text, "Retry later\n");
    assert_eq!(failed.status, 500);
    assert!(failed.json()["error"].is_string());
    assert_eq!(refused.status, 401);
    assert_eq!(refused.error(), "Can't find User for Token");
    assert_eq!(taken.status, 201, "{}", taken.text);
    assert_eq!(fake.articles(&t), [hello]);
    assert_eq!(fake.take_webhooks().len(), 1);
    assert!(fake.rule_violations().is_empty());
    let statuses: Vec<u16> = fake.calls().iter().map(|c| c.status).collect();
    assert_eq!(statuses, [403, 429, 500, 401, 201]);
}

#[tokio::test]
async fn webhooks_are_signed_with_hmac_sha1_over_the_raw_body() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Example", "email");

    let created = fake.created(&t);
    let written = fake.customer_writes(&t, "<3 & thanks");
    let assigned = fake.assign(&t, AGENT_BORIS);

    for webhook in [&created, &written, &assigned] {
        assert!(signature_ok(WEBHOOK_TOKEN, webhook), "{webhook:?}");
        assert_eq!(webhook.header("x-hub-signature").unwrap().len(), 45);
        assert_eq!(
            webhook.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        assert_eq!(webhook.header("user-agent"), Some("Zammad User Agent"));
        assert_eq!(webhook.header("X-Zammad-Trigger"), Some(TRIGGER));
    }
    let delivery = |w: &Webhook| w.header("X-Zammad-Delivery").unwrap().to_owned();
    assert_ne!(delivery(&created), delivery(&written));
    assert_eq!(delivery(&created).len(), 36, "a UUID");
    // The ticket first, as Zammad's hash is written; Rails escapes these in JSON: only the
    // raw bytes carry the signature.
    let raw = String::from_utf8(written.body.clone()).unwrap();
    assert!(raw.starts_with(r#"{"ticket":{"article_count":2,"#), "{raw}");
    assert!(raw.contains(r#""body":"\u003c3 \u0026 thanks""#), "{raw}");
    assert_eq!(written.json()["article"]["body"], "<3 & thanks");

    let tampered = written.tampered();
    assert!(!signature_ok(WEBHOOK_TOKEN, &tampered));
    assert_eq!(tampered.headers, written.headers);
    assert_eq!(tampered.json()["article"]["body"], "<3 & thanks (altered)");
    let tampered_assign = assigned.tampered();
    assert!(!signature_ok(WEBHOOK_TOKEN, &tampered_assign));
    assert_eq!(tampered_assign.json()["article"], json!({}));
    assert_eq!(
        tampered_assign.json()["ticket"]["title"],
        "Help with my order (altered)"
    );

    let unsigned = written.unsigned();
    assert_eq!(unsigned.body, written.body);
    assert_eq!(unsigned.header("X-Hub-Signature"), None);
    assert_eq!(delivery(&unsigned), delivery(&written));
    assert_eq!(unsigned.headers.len(), written.headers.len() - 1);
    assert!(!signature_ok(WEBHOOK_TOKEN, &unsigned));
    assert_eq!(unsigned.signed_with(WEBHOOK_TOKEN), written);

    let forged = written.signed_with("not-the-token");
    assert!(!signature_ok(WEBHOOK_TOKEN, &forged));
    assert!(signature_ok("not-the-token", &forged));
    assert_eq!(delivery(&forged), delivery(&written));

    // post_to sends the raw bytes and the headers as they are.
    type Received = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
    let received: Received = Arc::default();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            |axum::extract::State(r): axum::extract::State<Received>,
             headers: HeaderMap,
             body: axum::body::Bytes| async move {
                r.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            },
        )
        .with_state(received.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    let resp = written.post_to(&url).await;
    assert_eq!(resp.status(), 200);
    let got = received.lock().unwrap();
    assert_eq!(got[0].1, written.body);
    for (name, value) in &written.headers {
        assert_eq!(got[0].0[name.as_str()], value.as_str(), "{name}");
    }
}

#[tokio::test]
async fn changes_are_shaped_like_zammads_webhooks() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Example", "email");

    let created = fake.created(&t).json();
    let ticket = &created["ticket"];
    assert_eq!(ticket["id"], t.id);
    let number = ticket["number"].as_str().unwrap().to_owned();
    assert_ne!(number, t.id.to_string());
    assert_eq!(ticket["title"], "Help with my order");
    assert_eq!(ticket["group_id"], SUPPORT_GROUP);
    assert_eq!(ticket["group"]["id"], SUPPORT_GROUP);
    assert_eq!(ticket["group"]["name"], "Users");
    // The state stays a name: RecordPayload::Ticket expands no state.
    assert_eq!(
        (&ticket["state"], &ticket["state_id"]),
        (&json!("new"), &json!(1))
    );
    assert_eq!(ticket["priority"]["name"], "2 normal");
    assert_eq!(ticket["organization"], json!({}));
    // Unassigned is Zammad's user 1, "-".
    assert_eq!(ticket["owner_id"], 1);
    assert_eq!(ticket["owner"]["login"], "-");
    assert_eq!(ticket["customer_id"], t.customer);
    let customer = &ticket["customer"];
    assert_eq!(customer["id"], t.customer);
    assert_eq!(customer["login"], "ann.example@example.com");
    assert_eq!(customer["email"], "ann.example@example.com");
    assert_eq!(
        (&customer["firstname"], &customer["lastname"]),
        (&json!("Ann"), &json!("Example"))
    );
    assert_eq!(customer["roles"], json!(["Customer"]));
    for hidden in [
        "password",
        "preferences",
        "last_login",
        "login_failed",
        "group_ids",
    ] {
        assert!(customer.get(hidden).is_none(), "{hidden}");
    }
    assert_eq!(ticket["created_at"], "2026-11-21T12:00:00.000Z");
    assert_eq!(ticket["updated_at"], "2026-11-21T12:00:00.000Z");
    assert_eq!(ticket["article_count"], 1);
    assert_eq!(ticket["create_article_type"], "email");
    assert_eq!(ticket["create_article_sender"], "Customer");
    let first = &created["article"];
    assert_eq!(first["ticket_id"], t.id);
    assert_eq!(ticket["article_ids"], json!([first["id"]]));
    assert_eq!(
        (&first["type"], &first["sender"]),
        (&json!("email"), &json!("Customer"))
    );
    assert_eq!(first["from"], "Ann Example <ann.example@example.com>");
    assert_eq!(first["to"], "Support <support@example.com>");
    assert_eq!(first["subject"], "Help with my order");
    assert_eq!(first["content_type"], "text/plain");
    assert_eq!(first["internal"], false);
    assert_eq!(first["created_by_id"], t.customer);
    assert_eq!(first["created_by"]["login"], "ann.example@example.com");
    assert_eq!(first["created_at"], "2026-11-21T12:00:00.000Z");
    assert_eq!(first["accounted_time"], 0.0);

    let later = noon() + chrono::TimeDelta::minutes(5);
    fake.set_now(later);
    let assigned = fake.assign(&t, AGENT_BORIS).json();
    assert_eq!(assigned["article"], json!({}));
    assert_eq!(assigned["ticket"]["owner_id"], AGENT_BORIS);
    assert_eq!(assigned["ticket"]["owner"]["login"], "boris@example.com");
    assert_eq!(assigned["ticket"]["owner"]["firstname"], "Boris");
    assert_eq!(assigned["ticket"]["updated_by_id"], AGENT_BORIS);
    assert_eq!(
        assigned["ticket"]["last_owner_update_at"],
        "2026-11-21T12:05:00.000Z"
    );

    let answered = fake
        .agent_writes(&t, AGENT_ANNA, "Here is the tracking number.")
        .json();
    let reply = &answered["article"];
    assert_eq!(
        (&reply["type"], &reply["sender"]),
        (&json!("email"), &json!("Agent"))
    );
    assert_eq!(
        reply["from"],
        "Anna Agent via Support <support@example.com>"
    );
    assert_eq!(reply["to"], "Ann Example <ann.example@example.com>");
    assert_eq!(reply["created_by"]["id"], AGENT_ANNA);
    assert_eq!(
        answered["ticket"]["state"], "open",
        "an agent's e-mail opens a new ticket"
    );
    assert_eq!(answered["ticket"]["article_count"], 2);
    assert_eq!(
        answered["ticket"]["first_response_at"],
        "2026-11-21T12:05:00.000Z"
    );

    let closed = fake.close(&t).json();
    assert_eq!(closed["article"], json!({}));
    assert_eq!(
        (&closed["ticket"]["state"], &closed["ticket"]["state_id"]),
        (&json!("closed"), &json!(4))
    );
    assert_eq!(
        closed["ticket"]["updated_by_id"], AGENT_BORIS,
        "the owner closed it"
    );

    let reopened = fake.reopen(&t).json();
    assert_eq!(reopened["ticket"]["state"], "open");
    assert_eq!(reopened["article"], json!({}));

    let cc = fake.another_customer_writes(&t, "I agree with Ann").json();
    let theirs = &cc["article"];
    assert_eq!(theirs["sender"], "Customer");
    assert_eq!(theirs["created_by"]["login"], "ann.colleague@example.com");
    assert_ne!(theirs["created_by_id"], t.customer);
    assert_eq!(theirs["from"], "Ann Colleague <ann.colleague@example.com>");
    assert_eq!(theirs["cc"], "Ann Example <ann.example@example.com>");
    assert_eq!(
        theirs["subject"],
        format!("Re: Help with my order [Ticket#{number}]")
    );
    assert_eq!(cc["ticket"]["customer_id"], t.customer);

    // The portal's articles are HTML.
    let web = fake.open_for(SALES_GROUP, t.customer, "web");
    assert_ne!(web.id, t.id);
    assert_eq!(web.customer, t.customer);
    let posted = fake.customer_writes(&web, "<3 & thanks").json();
    assert_eq!(posted["article"]["type"], "web");
    assert_eq!(posted["article"]["content_type"], "text/html");
    assert_eq!(posted["article"]["body"], "&lt;3 &amp; thanks");
    assert_eq!(posted["ticket"]["group"]["name"], "Sales");

    // Zammad finds users by e-mail: the same name is the same customer.
    let again = fake.open(OTHER_GROUP, "Ann Example", "sms");
    assert_eq!(again.customer, t.customer);
    let other = fake.open(SUPPORT_GROUP, "Bob Other", "telegram personal-message");
    assert_ne!(other.customer, t.customer);
    let ids = [t.id, web.id, again.id, other.id];
    assert!(
        ids.iter()
            .all(|id| *id != t.customer && *id != other.customer),
        "{ids:?}"
    );
    let telegram = fake.created(&other).json();
    assert_eq!(telegram["article"]["to"], "@RatelineBot");
    assert_eq!(telegram["ticket"]["title"], telegram["article"]["body"]);
}

#[tokio::test]
async fn a_customer_follow_up_reopens_a_closed_ticket_in_the_same_change() {
    let fake = fake_at_noon().await;
    for via in ["email", "web"] {
        let t = fake.open(SUPPORT_GROUP, "Ann Example", via);
        let _ = fake.close(&t);

        let written = fake.customer_writes(&t, "5").json();

        assert_eq!(written["ticket"]["state"], "open", "{via}");
        assert_eq!(written["ticket"]["updated_by_id"], t.customer);
        assert_eq!(written["article"]["sender"], "Customer");
        assert_eq!(fake.state(&t), "open");
    }
    // A new ticket stays new; an agent's note opens nothing, a Telegram answer does.
    let t = fake.open(SUPPORT_GROUP, "Cleo Chat", "telegram personal-message");
    assert_eq!(
        fake.customer_writes(&t, "anyone?").json()["ticket"]["state"],
        "new"
    );
    let noted = post_article(
        &fake,
        &json!({"ticket_id": t.id, "body": "VIP", "internal": true}),
    )
    .await;
    assert_eq!(noted.status, 201);
    assert_eq!(fake.state(&t), "new");
    let _ = fake.agent_writes(&t, AGENT_ANNA, "On it");
    assert_eq!(fake.state(&t), "open");
    let _ = fake.close(&t);
    // After the close, Telegram files the customer's next message in a new ticket.
    let next = fake.open_for(SUPPORT_GROUP, t.customer, "telegram personal-message");
    assert_eq!(fake.state(&next), "new");
    assert_eq!(fake.state(&t), "closed");
}

#[tokio::test]
#[should_panic(expected = "new ticket")]
async fn a_telegram_message_after_the_close_is_no_follow_up() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Cleo Chat", "telegram personal-message");
    let _ = fake.close(&t);
    let _ = fake.customer_writes(&t, "5");
}

/// `Channel::Filter::FollowUpPossibleCheck`: a group with `new_ticket_after_certain_time`
/// reopens a closed ticket on an e-mail within its days, and files one after them anew.
#[tokio::test]
#[should_panic(expected = "new_ticket_after_certain_time")]
async fn an_email_after_the_groups_days_is_no_follow_up() {
    let fake = fake_at_noon().await;
    fake.set_follow_up_possible(SUPPORT_GROUP, FollowUp::NewTicketAfterDays(3));
    let t = fake.open(SUPPORT_GROUP, "Eve Mail", "email");
    let _ = fake.close(&t);
    fake.set_now(fake.now() + chrono::Duration::days(2));
    let reopened = fake.customer_writes(&t, "one more thing");
    assert_eq!(reopened.json()["ticket"]["state"], "open");
    let _ = fake.close(&t);
    fake.set_now(fake.now() + chrono::Duration::days(3));
    let _ = fake.customer_writes(&t, "5");
}

#[tokio::test]
#[should_panic(expected = "still has ticket")]
async fn an_sms_customer_with_an_open_ticket_writes_into_it() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Dan Text", "sms");
    let _ = fake.open_for(SUPPORT_GROUP, t.customer, "sms");
}

#[tokio::test]
async fn take_webhooks_has_what_rateline_changed() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Cleo Chat", "telegram personal-message");
    let prompt = json!({
        "ticket_id": t.id,
        "body": "How did we do? Reply 1 to 5.",
        "type": "telegram personal-message",
        "internal": false,
    });

    let posted = post_article(&fake, &prompt).await;

    assert_eq!(posted.status, 201, "{}", posted.text);
    let article = posted.json();
    assert_eq!(article["ticket_id"], t.id);
    assert_eq!(article["type"], "telegram personal-message");
    assert_eq!(article["sender"], "Agent");
    assert_eq!(article["from"], "Rateline Bot");
    assert_eq!(article["created_by_id"], API_USER);
    assert_eq!(
        article["created_by"], "rateline-bot@example.com",
        "a login in the API"
    );
    assert_eq!(fake.articles(&t), std::slice::from_ref(&prompt));
    assert_eq!(
        fake.state(&t),
        "open",
        "an agent's Telegram message opens a new ticket"
    );

    let closed = put_ticket(&fake, t.id, &json!({"state": "closed"})).await;
    assert_eq!(closed.status, 200, "{}", closed.text);
    let ticket = closed.json();
    assert_eq!(ticket["id"], t.id);
    assert_eq!(ticket["state_id"], 4);
    assert!(ticket.get("state").is_none(), "names only with expand=true");
    let expanded = call(
        &fake,
        reqwest::Method::PUT,
        &format!("/api/v1/tickets/{}?expand=true", t.id),
        Some(&json!({"state": "closed"})),
    )
    .await;
    assert_eq!(expanded.json()["state"], "closed");
    assert_eq!(fake.state(&t), "closed");

    let webhooks = fake.take_webhooks();
    assert_eq!(webhooks.len(), 2, "no change, no webhook");
    assert!(webhooks.iter().all(|w| signature_ok(WEBHOOK_TOKEN, w)));
    let echo = webhooks[0].json();
    assert_eq!(echo["article"]["id"], article["id"]);
    assert_eq!(echo["article"]["created_by"]["id"], API_USER);
    assert_eq!(echo["ticket"]["state"], "open");
    assert_eq!(
        echo["ticket"]["updated_by"]["login"],
        "rateline-bot@example.com"
    );
    let close = webhooks[1].json();
    assert_eq!(close["ticket"]["state"], "closed");
    assert_eq!(close["article"], json!({}));
    assert!(fake.take_webhooks().is_empty());
    assert!(fake.rule_violations().is_empty());
}

#[tokio::test]
async fn articles_the_client_would_not_see_are_violations() {
    let fake = fake_at_noon().await;
    let email = fake.open(SUPPORT_GROUP, "Ann Example", "email");
    let telegram = fake.open(SUPPORT_GROUP, "Cleo Chat", "telegram personal-message");
    let sms = fake.open(SUPPORT_GROUP, "Dan Text", "sms");
    let web = fake.open(SUPPORT_GROUP, "Eve Portal", "web");
    let phone = fake.open(SUPPORT_GROUP, "Fay Caller", "phone");
    let dan = mobile(&fake, &sms);
    let on = |t: &Ticket, fields: Value| {
        let mut body = json!({"ticket_id": t.id, "body": "How did we do?"});
        for (k, v) in fields.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let mail = |to: &str| json!({"type": "email", "to": to});
    let tg = "telegram personal-message";

    let fine = [
        on(&email, mail("Ann Example <ann.example@example.com>")),
        on(&email, json!({"type": "note", "internal": true})),
        on(&telegram, json!({"type": tg, "body": "x".repeat(4096)})),
        on(
            &sms,
            json!({"type": "sms", "to": dan, "body": "y".repeat(160)}),
        ),
        on(&web, json!({"type": "note", "internal": false})),
        on(&web, json!({"type": "web"})),
        on(&web, mail("eve.portal@example.com")),
        on(&phone, mail("fay.caller@example.com")),
        on(&phone, json!({"type": "note", "internal": true})),
    ];
    for body in &fine {
        let answer = post_article(&fake, body).await;
        assert_eq!(answer.status, 201, "{}", answer.text);
    }
    assert_eq!(fake.rule_violations(), Vec::<String>::new());

    let broken = [
        (
            on(&email, json!({"type": "note", "internal": false})),
            "note article on a ticket opened by email",
        ),
        (
            on(&email, mail("someone@elsewhere.example")),
            "not among its recipients",
        ),
        (
            on(
                &email,
                json!({"type": "email", "to": "ann.example@example.com", "internal": true}),
            ),
            "internal: true does not stop",
        ),
        (
            on(
                &email,
                json!({"type": "email", "to": "ann.example@example.com", "sender": "Customer"}),
            ),
            "sender Customer",
        ),
        (
            on(&telegram, mail("cleo.chat@example.com")),
            "email article on a ticket opened by telegram personal-message",
        ),
        (
            on(&telegram, json!({"type": tg, "body": "x".repeat(4097)})),
            "at most 4096",
        ),
        (
            on(
                &telegram,
                json!({"type": tg, "content_type": "text/html", "body": "<b>5</b>"}),
            ),
            "markup",
        ),
        (
            on(
                &sms,
                json!({"type": "sms", "to": dan, "body": "y".repeat(161)}),
            ),
            "first 160",
        ),
        (on(&sms, json!({"type": "sms"})), "the customer's mobile"),
        (on(&web, json!({"type": tg})), "no chat or number"),
        (
            on(&phone, json!({"type": "note", "internal": false})),
            "note article on a phone ticket",
        ),
    ];
    for (body, _) in &broken {
        let answer = post_article(&fake, body).await;
        assert_eq!(answer.status, 201, "Zammad takes it: {}", answer.text);
    }
    let violations = fake.rule_violations();
    assert_eq!(violations.len(), broken.len(), "{violations:#?}");
    for (violation, (_, expected)) in violations.iter().zip(&broken) {
        assert!(
            violation.contains(expected),
            "{violation} lacks {expected:?}"
        );
    }
    // Taken all the same: stored as posted, each firing the trigger.
    assert_eq!(fake.articles(&email).len(), 6);
    assert_eq!(fake.take_webhooks().len(), fine.len() + broken.len());
}

/// Ticket states come with their types (`?expand=true`), and a state of type `closed` under
/// another name closes a ticket as `closed` does.
#[tokio::test]
async fn states_are_listed_with_their_types_and_solved_is_a_close() {
    let fake = fake_at_noon().await;
    let states = call(
        &fake,
        reqwest::Method::GET,
        "/api/v1/ticket_states?expand=true",
        None,
    )
    .await;
    assert_eq!(states.status, 200);
    let types: Vec<(String, String)> = states
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["state_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        types.contains(&("closed".into(), "closed".into())),
        "{types:?}"
    );
    assert!(
        types.contains(&(SOLVED.into(), "closed".into())),
        "{types:?}"
    );
    assert!(
        types.contains(&("merged".into(), "merged".into())),
        "{types:?}"
    );
    let plain = call(&fake, reqwest::Method::GET, "/api/v1/ticket_states", None).await;
    assert!(plain.json()[0].get("state_type").is_none());
    assert!(plain.json()[0]["state_type_id"].is_u64());

    let t = fake.open(SUPPORT_GROUP, "Ann Example", "email");
    let solved = fake.solve(&t).json();
    assert_eq!(solved["ticket"]["state"], SOLVED);
    assert_eq!(solved["ticket"]["state_id"], 8);
    assert!(solved["ticket"]["close_at"].is_string(), "{solved}");
}

/// Without Elasticsearch a ticket search by `condition` reads the database: the tickets
/// changed at or after the time, by `updated_at` as asked, `limit` a page; a `query` finds
/// nothing then, and is listed as a violation.
#[tokio::test]
async fn tickets_are_searched_by_condition_as_without_elasticsearch() {
    let fake = fake_at_noon().await;
    let old = fake.open(SUPPORT_GROUP, "Olga Old", "email");
    fake.set_now(noon() + chrono::Duration::minutes(10));
    let first = fake.open(SUPPORT_GROUP, "Fay First", "email");
    fake.set_now(noon() + chrono::Duration::minutes(20));
    let second = fake.open(SALES_GROUP, "Sid Second", "web");
    fake.set_now(noon() + chrono::Duration::minutes(30));
    let _ = fake.agent_writes(&first, AGENT_ANNA, "On its way.");
    let search = |body: Value| {
        let fake = fake.clone();
        async move {
            call(
                &fake,
                reqwest::Method::POST,
                "/api/v1/tickets/search",
                Some(&body),
            )
            .await
        }
    };
    let since = "2026-11-21T12:05:00Z";
    let found = search(json!({
        "condition": {"ticket.updated_at": {"operator": "after (absolute)", "value": since}},
        "sort_by": "updated_at", "order_by": "asc", "limit": 200, "page": 1, "expand": true,
    }))
    .await;
    assert_eq!(found.status, 200, "{}", found.text);
    let ids: Vec<u64> = found
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        [second.id, first.id],
        "the article moved the first one last"
    );
    assert_eq!(found.json()[0]["customer"], "sid.second@example.com");
    assert_eq!(found.json()[0]["state"], "new");
    // The block form, one a page.
    let paged = search(json!({
        "condition": {"operator": "AND", "conditions": [
            {"name": "ticket.updated_at", "operator": "after (absolute)", "value": since}]},
        "sort_by": "updated_at", "order_by": "asc", "limit": 1, "page": 2,
    }))
    .await;
    assert_eq!(paged.json()[0]["id"], first.id);
    assert_eq!(paged.json()[0]["group_id"], SUPPORT_GROUP);
    // No condition: every ticket, the latest change first.
    let all = search(json!({})).await.json();
    assert_eq!(all.as_array().unwrap().len(), 3);
    assert_eq!(all[2]["id"], old.id);
    // A query needs Elasticsearch.
    let queried = search(json!({"query": "updated_at:>2026-11-21"})).await;
    assert_eq!(queried.json(), json!([]));
    assert!(
        fake.rule_violations()
            .iter()
            .any(|v| v.contains("needs Elasticsearch")),
        "{:?}",
        fake.rule_violations()
    );
}

/// A ticket's articles come oldest first with their type and sender by name; a user by id
/// is the record a ticket's search names by login only.
#[tokio::test]
async fn a_tickets_articles_and_its_customer_are_read_by_id() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Customer", "telegram personal-message");
    let _ = fake.agent_writes(&t, AGENT_ANNA, "Hello Ann");
    let articles = call(
        &fake,
        reqwest::Method::GET,
        &format!("/api/v1/ticket_articles/by_ticket/{}", t.id),
        None,
    )
    .await
    .json();
    let kinds: Vec<(&str, &str)> = articles
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["sender"].as_str().unwrap(), a["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Customer", "telegram personal-message"),
            ("Agent", "telegram personal-message")
        ]
    );
    let user = call(
        &fake,
        reqwest::Method::GET,
        &format!("/api/v1/users/{}", t.customer),
        None,
    )
    .await
    .json();
    assert_eq!(user["firstname"], "Ann");
    assert_eq!(user["lastname"], "Customer");
    let missing = call(&fake, reqwest::Method::GET, "/api/v1/users/999999", None).await;
    assert_eq!(missing.status, 404);
    let unknown = call(
        &fake,
        reqwest::Method::GET,
        "/api/v1/ticket_articles/by_ticket/999999",
        None,
    )
    .await;
    assert_eq!(unknown.status, 404);
}

/// A WhatsApp ticket carries the customer's number and latest message time in its
/// preferences; an agent's WhatsApp reply is refused on a ticket named `closed`, taken on an
/// open one, and listed as a violation past Meta's 24 hours; the customer's message after
/// the close opens a new ticket.
#[tokio::test]
async fn whatsapp_tickets_behave_as_zammads() {
    let fake = fake_at_noon().await;
    let t = fake.open(SUPPORT_GROUP, "Ann Customer", "whatsapp message");
    let shown = call(
        &fake,
        reqwest::Method::GET,
        &format!("/api/v1/tickets/{}?expand=true", t.id),
        None,
    )
    .await
    .json();
    assert_eq!(shown["create_article_type"], "whatsapp message");
    assert_eq!(shown["preferences"]["channel_area"], "WhatsApp::Business");
    assert_eq!(
        shown["preferences"]["whatsapp"]["timestamp_incoming"],
        noon().timestamp().to_string()
    );
    let reply = |text: &str| {
        json!({"ticket_id": t.id, "body": text, "type": "whatsapp message",
               "content_type": "text/plain", "internal": false, "sender": "Agent"})
    };
    let taken = post_article(&fake, &reply("Hello")).await;
    assert_eq!(taken.status, 201, "{}", taken.text);
    assert!(
        fake.rule_violations().is_empty(),
        "{:?}",
        fake.rule_violations()
    );
    let _ = fake.close(&t);
    let refused = post_article(&fake, &reply("Please rate us")).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.error(), "Reply allowed only for open tickets");
    let _ = fake.reopen(&t);
    fake.set_now(noon() + chrono::Duration::hours(25));
    let late = post_article(&fake, &reply("Still there?")).await;
    assert_eq!(late.status, 201);
    assert!(
        fake.rule_violations()
            .iter()
            .any(|v| v.contains("24 hours")),
        "{:?}",
        fake.rule_violations()
    );
    let _ = fake.close(&t);
    let new = fake.open_with(SUPPORT_GROUP, t.customer, "whatsapp message", "4");
    assert_ne!(new.id, t.id);
}

/// The triggers made over the API fire by Zammad's rules, and their jobs deliver as
/// `TriggerWebhookJob` does: the payload is the ticket as it is when the job runs, signed
/// with the webhook's token and named by the trigger; a failed call is tried again 10, 20,
/// 30 and 40 seconds later, with the same delivery id, then dropped; an inactive webhook
/// makes no call; a webhook a trigger names cannot be removed.
#[tokio::test]
async fn trigger_jobs_post_the_ticket_as_it_is_when_they_run_and_retry_five_times() {
    type Received = Arc<Mutex<(u16, Vec<(HeaderMap, Vec<u8>)>)>>;
    let received: Received = Arc::new(Mutex::new((503, Vec::new())));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            |axum::extract::State(r): axum::extract::State<Received>,
             headers: HeaderMap,
             body: axum::body::Bytes| async move {
                let mut r = r.lock().unwrap();
                r.1.push((headers, body.to_vec()));
                axum::http::StatusCode::from_u16(r.0).unwrap()
            },
        )
        .with_state(received.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());

    let fake = fake_at_noon().await;
    let hook = call(
        &fake,
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(&json!({"name": "R", "endpoint": url, "signature_token": "tok"})),
    )
    .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let hook_id = hook.json()["id"].as_u64().unwrap();
    let trigger = call(
        &fake,
        reqwest::Method::POST,
        "/api/v1/triggers",
        Some(
            &json!({"name": "On update", "execution_condition_mode": "always",
                     "condition": {"ticket.action": {"operator": "is", "value": "update"}},
                     "perform": {"notification.webhook": {"webhook_id": hook_id.to_string()}}}),
        ),
    )
    .await;
    assert_eq!(trigger.status, 201, "{}", trigger.text);
    assert_eq!(
        trigger.json()["activator"],
        "action",
        "the column's default"
    );
    let refused = call(
        &fake,
        reqwest::Method::DELETE,
        &format!("/api/v1/webhooks/{hook_id}"),
        None,
    )
    .await;
    assert_eq!(refused.status, 422);
    assert_eq!(
        refused.json()["unprocessable_entity"],
        json!([format!("Trigger / On update (#{})", trigger.json()["id"])])
    );
    let bad = call(
        &fake,
        reqwest::Method::POST,
        "/api/v1/triggers",
        Some(&json!({"name": "Bad", "condition": {"ticket.action": {"operator": "equals", "value": "update"}},
                     "perform": {"notification.webhook": {"webhook_id": "1"}}})),
    )
    .await;
    assert_eq!(bad.status, 422);
    assert!(
        bad.error()
            .starts_with("Invalid object selector conditions"),
        "{}",
        bad.text
    );

    let t = fake.open(SUPPORT_GROUP, "Ann Jobs", "email");
    assert!(
        fake.queued_jobs().is_empty(),
        "a creation: the trigger is for updates"
    );
    fake.assign(&t, AGENT_ANNA);
    fake.close(&t);
    assert_eq!(fake.queued_jobs().len(), 2);
    assert_eq!(fake.deliver_due().await, [503, 503]);
    {
        let r = received.lock().unwrap();
        let first: Value = serde_json::from_slice(&r.1[0].1).unwrap();
        assert_eq!(first["ticket"]["state"], "closed", "built when the job ran");
        assert_eq!(r.1[0].0["x-zammad-trigger"], "On update");
        let signature = r.1[0].0["x-hub-signature"].to_str().unwrap().to_owned();
        assert_eq!(
            signature,
            format!("sha1={}", hex::encode(hmac_sha1(b"tok", &r.1[0].1)))
        );
    }
    let delivery = |n: usize| received.lock().unwrap().1[n].0["x-zammad-delivery"].clone();
    for wait in [10, 20, 30, 40] {
        fake.set_now(fake.now() + chrono::Duration::seconds(wait - 1));
        assert_eq!(
            fake.deliver_due().await,
            Vec::<u16>::new(),
            "not yet after {wait} s"
        );
        fake.set_now(fake.now() + chrono::Duration::seconds(1));
        assert_eq!(fake.deliver_due().await, [503, 503], "after {wait} s");
    }
    assert_eq!(delivery(0), delivery(2), "a retry keeps its delivery id");
    assert_eq!(fake.dropped_jobs().len(), 2, "five tries, then dropped");
    assert!(fake.queued_jobs().is_empty());

    received.lock().unwrap().0 = 200;
    let put = call(
        &fake,
        reqwest::Method::PUT,
        &format!("/api/v1/tickets/{}", t.id),
        Some(&json!({"state": "open"})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(fake.deliver_due().await, [200]);
    let calls = received.lock().unwrap().1.len();
    fake.make(
        "webhooks",
        &json!({"name": "Off", "endpoint": url, "active": false}),
    );
    let off = fake.admin_records("webhooks").last().unwrap()["id"].clone();
    fake.make(
        "triggers",
        &json!({"name": "To the inactive one", "execution_condition_mode": "always",
                "condition": {"ticket.action": {"operator": "is", "value": "update"}},
                "perform": {"notification.webhook": {"webhook_id": off}}}),
    );
    fake.close(&t);
    assert_eq!(
        fake.deliver_due().await,
        [200],
        "the inactive webhook is not called"
    );
    assert_eq!(received.lock().unwrap().1.len(), calls + 1);
}
