//! No reply reaches the client twice: two supervisors (or two tabs) answering one rating at
//! once, over the API and from the session's page. The second write is refused, saying who
//! answered, when and what; a reply already with the client is sent again only when the
//! writer confirms the second message.

use crate::common::{Db, TestApp, spawn_app};
use crate::people::close_with_a_key;
use crate::workbench::{post, signed_in};
use serde_json::{Value, json};

/// `PUT /v1/ratings/{rating}/response` with `if_match` (none without); status, `ETag` and
/// body.
async fn put_response(
    app: &TestApp,
    rating: &str,
    if_match: Option<&str>,
    body: Value,
) -> (u16, Option<String>, Value) {
    let path = format!("/v1/ratings/{rating}/response");
    let mut req = app.request(reqwest::Method::PUT, &path).json(&body);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, etag, resp.json().await.unwrap())
}

/// The responses the client's connector was sent so far, after the scheduler had time.
async fn replies_sent(app: &TestApp) -> Vec<String> {
    app.settle().await;
    app.connector
        .received()
        .into_iter()
        .filter(|r| r.body["event"] == "response")
        .map(|r| r.body["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn rating_of(app: &TestApp, session: &str) -> String {
    app.session(session).await["rating"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn two_writers_over_the_api_send_one_reply(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.low_rating("s1", "support", "op-1", "slow").await;
    app.low_rating("s2", "support", "op-1", "rude").await;
    let (g1, g2) = (rating_of(&app, "s1").await, rating_of(&app, "s2").await);
    let sup = json!({"name": "Sue", "role": "supervisor", "lines": ["support"]});
    assert_eq!(app.put("/v1/people/sup", sup).await.0, 201);

    // Two writers who both saw no response, at once: one is written and sent; the other is
    // refused with who answered and what, and the current version as its ETag.
    let send = |text: &str| json!({"text": text, "send_to_client": true, "author_id": "sup"});
    let (a, b) = tokio::join!(
        put_response(&app, &g1, Some("\"0\""), send("We will call you")),
        put_response(&app, &g1, Some("\"0\""), send("Sorry about that")),
    );
    let mut outcomes = [a, b];
    outcomes.sort_by_key(|o| o.0);
    let [(won, won_tag, written), (lost, lost_tag, refused)] = outcomes;
    assert_eq!((won, lost), (201, 412), "{written} {refused}");
    assert_eq!(won_tag.as_deref(), Some("\"1\""));
    assert_eq!(lost_tag.as_deref(), Some("\"1\""), "{refused}");
    let first = written["text"].as_str().unwrap();
    let message = refused["error"]["message"].as_str().unwrap();
    assert_eq!(refused["error"]["code"], "precondition_failed");
    assert!(
        message.contains(first) && message.contains("sup") && message.contains("nothing was"),
        "{message}"
    );
    assert_eq!(replies_sent(&app).await, [first]);

    // Sending it again without naming the version is refused: the client has it.
    let (status, _, body) = put_response(&app, &g1, None, send("Sorry, again")).await;
    assert_eq!(status, 428, "{body}");
    assert_eq!(body["error"]["code"], "response_sent_already");
    // Changing the saved text alone needs no confirmation and sends nothing.
    let quiet = json!({"text": "We will call you today"});
    let (status, tag, body) = put_response(&app, &g1, None, quiet).await;
    assert_eq!((status, tag.as_deref()), (200, Some("\"2\"")), "{body}");
    // Naming the version the writer saw confirms the second message.
    let (status, tag, body) =
        put_response(&app, &g1, Some("\"2\""), send("We called: no answer")).await;
    assert_eq!((status, tag.as_deref()), (200, Some("\"3\"")), "{body}");
    assert_eq!(
        replies_sent(&app).await,
        [first, "We called: no answer"],
        "the confirmed second message, and nothing else"
    );

    // Two writers who named no version, at once (two tabs): still one reply.
    let (a, b) = tokio::join!(
        put_response(&app, &g2, None, send("First tab")),
        put_response(&app, &g2, None, send("Second tab")),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert!(
        statuses == [201, 412] || statuses == [201, 428],
        "{statuses:?}: {} {}",
        a.2,
        b.2
    );
    let sent = replies_sent(&app).await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    // An `If-Match` that is no version of ours matches nothing.
    let (status, _, body) = put_response(&app, &g2, Some("W/\"x\""), send("?")).await;
    assert_eq!(status, 412, "{body}");
}

async fn two_supervisors_on_the_page_send_one_reply(db: Db) {
    let Some(app) = spawn_app(db).await else {
        return;
    };
    app.line("support", json!({"delay_seconds": 0})).await;
    app.low_rating("s1", "support", "op-1", "nobody answered")
        .await;
    for (id, name) in [("sup-olga", "Olga"), ("sup-sam", "Sam")] {
        let body = json!({"name": name, "role": "supervisor", "lines": ["support"]});
        let (status, body) = app.put(&format!("/v1/people/{id}"), body).await;
        assert_eq!(status, 201, "{body}");
    }
    close_with_a_key(&app).await;
    let olga = signed_in(&app, "sup-olga").await;
    let sam = signed_in(&app, "sup-sam").await;

    // Both opened the page before either answered: their forms carry version 0.
    let form = |text: &'static str, version: &'static str| {
        vec![
            ("text", text),
            ("send_to_client", "true"),
            ("version", version),
        ]
    };
    let path = "/dashboard/sessions/s1/response";
    let (status, page) = post(&app, &olga, path, &form("We will call you", "0")).await;
    assert_eq!(status, 303, "{page}");
    let (status, page) = post(&app, &sam, path, &form("Sorry about that", "0")).await;
    assert_eq!(status, 412, "{page}");
    assert!(
        page.contains("Olga answered while you were writing")
            && page.contains("“We will call you”")
            && page.contains("was not saved or sent"),
        "{page}"
    );
    // Sam's words are kept in the box, and the form now carries Olga's version.
    assert!(page.contains(">Sorry about that</textarea>"), "{page}");
    assert!(page.contains(r#"name="version" value="1""#), "{page}");
    assert_eq!(replies_sent(&app).await, ["We will call you"]);

    // Sam, having read it, sends his anyway: the page asks him to confirm the second
    // message first.
    let (status, page) = post(&app, &sam, path, &form("Sorry about that", "1")).await;
    assert_eq!(status, 428, "{page}");
    assert!(
        page.contains(r#"id="second-message""#)
            && page.contains("Tick “Send it as a second message”"),
        "{page}"
    );
    assert_eq!(replies_sent(&app).await, ["We will call you"]);
    let mut confirmed = form("Sorry about that", "1");
    confirmed.push(("second_message", "true"));
    let (status, page) = post(&app, &sam, path, &confirmed).await;
    assert_eq!(status, 303, "{page}");
    assert_eq!(
        replies_sent(&app).await,
        ["We will call you", "Sorry about that"]
    );
}

crate::common::on_both_backends!(
    two_writers_over_the_api_send_one_reply,
    two_supervisors_on_the_page_send_one_reply,
);
