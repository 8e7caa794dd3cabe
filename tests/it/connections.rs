//! Connections from outside, against the real binary with small limits: a flood of idle,
//! half-sent and slow connections from one address leaves `/healthz`, the API and the
//! scheduler answering everyone else, the idle ones are closed after the timeouts, and the
//! caps answer with their codes. The attacker's connections come from 127.0.0.2 (or .3 …),
//! everyone else from 127.0.0.1.

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::Connector;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    async fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rateline"));
        cmd.arg("serve")
            .env_remove("RUST_LOG")
            .env(
                "RATELINE__DATABASE__URL",
                format!("sqlite://{}", dir.path().join("r.db").display()),
            )
            .env("RATELINE__SERVER__ADDR", format!("127.0.0.1:{port}"))
            .env("RATELINE__LOG__LEVEL", "warn")
            .env("RATELINE__OUTBOUND__ALLOWED_NETWORKS", "127.0.0.0/8")
            .stdout(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = Self {
            child: cmd.spawn().expect("rateline serve starts"),
            port,
            _dir: dir,
        };
        for _ in 0..200 {
            if reqwest::get(server.url("/readyz"))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("rateline serve did not become ready");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// A TCP connection to the server from `from` (a loopback address).
    async fn connect_from(&self, from: &str) -> TcpStream {
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::new(from.parse::<IpAddr>().unwrap(), 0))
            .unwrap();
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], self.port)))
            .await
            .unwrap()
    }

    /// The value of a counter or gauge in `/metrics`, 0 when absent. A server still full
    /// (connections the test dropped that it has not yet seen go) may refuse the read: it
    /// is tried again for up to 5 seconds.
    async fn metric(&self, name: &str) -> f64 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let text = loop {
            let read = async {
                reqwest::get(self.url("/metrics"))
                    .await?
                    .error_for_status()?
                    .text()
                    .await
            };
            match read.await {
                Ok(text) => break text,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("/metrics could not be read for 5 seconds: {e}"),
            }
        };
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }
}

/// What the server says on `stream` until it closes it (or `wait` passes): the text read,
/// and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// A call that must answer within a second, whatever else the server holds.
async fn answered_promptly(
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let started = Instant::now();
    let mut r = reqwest::Client::new().request(method, &url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = tokio::time::timeout(Duration::from_secs(1), r.send())
        .await
        .unwrap_or_else(|_| panic!("{url} did not answer within a second"))
        .unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    assert!(started.elapsed() < Duration::from_secs(1), "{url}");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_and_half_sent_connections_leaves_the_server_answering() {
    let server = Server::start(&[
        ("RATELINE__SERVER__MAX_CONNECTIONS_PER_ADDRESS", "20"),
        ("RATELINE__SERVER__HEADER_TIMEOUT_SECONDS", "1"),
        ("RATELINE__SERVER__KEEP_ALIVE_SECONDS", "30"),
    ])
    .await;
    let connector = Connector::start().await;
    let (status, body) = answered_promptly(
        reqwest::Method::PUT,
        server.url("/v1/lines/support"),
        Some(json!({"name": "Support", "rating": {"delay_seconds": 0},
                    "webhook": {"url": connector.url, "secret": crate::common::SECRET}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // 25 connections that send nothing and 25 that send half a request line, all from
    // one address: 20 are held, the rest are refused at once.
    let mut flood = Vec::new();
    for i in 0..50 {
        let mut s = server.connect_from("127.0.0.2").await;
        if i >= 25 {
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: rateline\r\nX-Sl")
                .await;
        }
        flood.push(s);
    }
    // Meanwhile everyone else is answered at once: health, the API, and the scheduler's
    // send to the connector.
    let (status, _) = answered_promptly(reqwest::Method::GET, server.url("/healthz"), None).await;
    assert_eq!(status, 200);
    let (status, body) = answered_promptly(
        reqwest::Method::POST,
        server.url("/v1/sessions"),
        Some(
            json!({"id": "s-1", "line_id": "support", "channel": "webhook",
                    "client": {"id": "c-1"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = answered_promptly(
        reqwest::Method::POST,
        server.url("/v1/sessions/s-1/close"),
        Some(json!({"closed_by": "operator"})),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    crate::common::wait_until(
        || connector.received().len() == 1,
        || "the scheduler did not send during the flood".into(),
    )
    .await;

    // Every connection of the flood is closed: the refused ones at once with the cap's
    // answer, the held ones after the header timeout, with nothing said.
    let mut refused = 0;
    for mut s in flood {
        let (said, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
        assert!(closed, "a connection of the flood is still open: {said:?}");
        if said.starts_with("HTTP/1.1 429") {
            assert!(said.contains("too_many_connections"), "{said}");
            assert!(said.to_ascii_lowercase().contains("retry-after"), "{said}");
            refused += 1;
        } else {
            assert!(
                said.is_empty() || said.starts_with("HTTP/1.1 408"),
                "{said}"
            );
        }
    }
    assert_eq!(refused, 30, "20 held, 30 refused");
    assert_eq!(
        server.metric("rateline_connections_timed_out_total").await,
        20.0
    );
    // The address's places are free again.
    let again = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = again.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_may_idle_for_its_keep_alive_and_no_longer() {
    let server = Server::start(&[
        ("RATELINE__SERVER__HEADER_TIMEOUT_SECONDS", "1"),
        ("RATELINE__SERVER__KEEP_ALIVE_SECONDS", "4"),
    ])
    .await;
    let mut s = server.connect_from("127.0.0.1").await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: rateline\r\n\r\n";
    let mut buf = [0u8; 1024];
    for _ in 0..2 {
        s.write_all(request).await.unwrap();
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        // Longer than the header timeout, well within the keep-alive: still open.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let idle_since = Instant::now();
    let (said, closed) = read_until_closed(&mut s, Duration::from_secs(8)).await;
    assert!(closed && said.is_empty(), "{said:?}");
    assert!(
        idle_since.elapsed() >= Duration::from_secs(1),
        "closed at the header timeout, not the keep-alive"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_answered_408_and_changes_nothing() {
    let server = Server::start(&[("RATELINE__SERVER__REQUEST_TIMEOUT_SECONDS", "1")]).await;
    let mut s = server.connect_from("127.0.0.1").await;
    let body =
        r#"{"id": "s-slow", "line_id": "support", "channel": "webhook", "client": {"id": "c"}}"#;
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    // Half the body, then nothing: the request's time runs out.
    s.write_all(&body.as_bytes()[..20]).await.unwrap();
    let (said, _) = read_until_closed(&mut s, Duration::from_secs(4)).await;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    let json = &said[said.find('{').expect("a JSON body")..];
    let error: Value = serde_json::from_str(json).unwrap();
    assert_eq!(error["error"]["code"], "request_timeout", "{said}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("server.request_timeout_seconds") && !message.contains("  "),
        "{message}"
    );
    let r = reqwest::get(server.url("/v1/sessions/s-slow"))
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the slow request opened nothing");
}

/// A new connection from `from` that asked `GET /healthz` and read the whole answer: its
/// status line, and the connection (kept alive, idle between requests, when it was 200).
async fn served_once(server: &Server, from: &str) -> (String, TcpStream) {
    let mut s = server.connect_from(from).await;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let whole = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let n = s.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    return;
                }
            }
        }
    })
    .await;
    assert!(
        whole.is_ok(),
        "no whole answer: {}",
        String::from_utf8_lossy(&got)
    );
    let text = String::from_utf8_lossy(&got).into_owned();
    (text.lines().next().unwrap_or("").to_owned(), s)
}

/// Opens `n` connections from `from`, each sending a request's head and part of its body and
/// nothing more: connections in a request.
async fn held_in_a_request(server: &Server, from: &str, n: usize) -> Vec<TcpStream> {
    let body =
        r#"{"id": "s-held", "line_id": "nope", "channel": "webhook", "client": {"id": "c"}}"#;
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{}",
        body.len(),
        &body[..10]
    );
    let mut held = Vec::new();
    for _ in 0..n {
        let mut s = server.connect_from(from).await;
        s.write_all(head.as_bytes()).await.unwrap();
        held.push(s);
    }
    held
}

/// One address holds at most a quarter of the server, however high
/// `server.max_connections_per_address` is set: here 256 against a total of 40 (an
/// open-file limit lowers the total the same way), so one address flooding the server with
/// idle connections leaves everyone else room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_holds_at_most_a_quarter_of_the_connections() {
    let server = Server::start(&[
        ("RATELINE__SERVER__MAX_CONNECTIONS", "40"),
        ("RATELINE__SERVER__MAX_CONNECTIONS_PER_ADDRESS", "256"),
        ("RATELINE__SERVER__HEADER_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    let mut held = Vec::new();
    let refusal = loop {
        let (status, s) = served_once(&server, "127.0.0.2").await;
        if !status.starts_with("HTTP/1.1 200") {
            break status;
        }
        held.push(s);
        assert!(
            held.len() <= 40,
            "one address took {} connections",
            held.len()
        );
    };
    assert!(refusal.starts_with("HTTP/1.1 429"), "{refusal}");
    assert_eq!(held.len(), 10, "a quarter of 40");
    let (status, _) = answered_promptly(reqwest::Method::GET, server.url("/healthz"), None).await;
    assert_eq!(status, 200);
}

/// With every place taken by idle connections from a few addresses, a newcomer still gets
/// in: the oldest idle connection of the address holding the most is closed for it. Only
/// when every connection is in a request is the newcomer told the server is busy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_makes_room_for_a_newcomer_and_is_busy_only_when_all_are_working() {
    let server = Server::start(&[
        ("RATELINE__SERVER__MAX_CONNECTIONS", "16"),
        // Long enough that the held connections outlast a loaded machine's slow start;
        // short enough that they end by themselves.
        ("RATELINE__SERVER__HEADER_TIMEOUT_SECONDS", "30"),
        ("RATELINE__SERVER__REQUEST_TIMEOUT_SECONDS", "30"),
    ])
    .await;
    // Four addresses hold four connections each (a quarter of 16 each), each idle after a
    // request: the server is full.
    let mut idle = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        for _ in 0..4 {
            let (status, s) = served_once(&server, from).await;
            assert!(status.starts_with("HTTP/1.1 200"), "{status}");
            idle.push(s);
        }
    }
    // A newcomer (its /healthz needs a connection of its own) is answered.
    let client = reqwest::Client::builder()
        .local_address("127.0.0.6".parse::<IpAddr>().unwrap())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let r = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // The oldest idle connection of the addresses holding the most (four each) made room:
    // 127.0.0.2's first.
    let (_, closed) = read_until_closed(&mut idle[0], Duration::from_secs(2)).await;
    assert!(
        closed,
        "127.0.0.2's oldest idle connection was closed to make room"
    );
    let (_, closed) = read_until_closed(&mut idle[1], Duration::from_millis(300)).await;
    assert!(!closed, "only one connection went");
    assert!(server.metric("rateline_connections_evicted_total").await >= 1.0);
    drop(idle);

    // Every place in a request: nothing can go, and a newcomer is told the server is busy.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.metric("rateline_connections_open").await > 1.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle ones never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut working = Vec::new();
    for from in ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        working.extend(held_in_a_request(&server, from, 4).await);
    }
    // Time for the server to read each request's head (until it has, a connection is not
    // yet in a request, and may be closed to make room).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(14);
    let said = loop {
        let mut late = server.connect_from("127.0.0.6").await;
        let (said, closed) = read_until_closed(&mut late, Duration::from_millis(500)).await;
        if closed && said.starts_with("HTTP/1.1 503") {
            break said;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never refused: {said}"
        );
        drop(late);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(said.contains("server_busy"), "{said}");
    for s in &mut working {
        let mut buf = [0u8; 1];
        let still = tokio::time::timeout(Duration::from_millis(20), s.read(&mut buf)).await;
        assert!(still.is_err(), "a connection in a request was closed");
    }
    drop(working);
    // Once they are gone the server takes connections again, and counted the refusal.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server
        .metric("rateline_connections_refused_total{reason=\"server_busy\"}")
        .await
        < 1.0
    {
        assert!(tokio::time::Instant::now() < deadline, "no refusal counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_widget_connections_are_capped_per_token_and_per_address() {
    let server = Server::start(&[
        ("RATELINE__WEBCHAT__MAX_STREAMS_PER_TOKEN", "2"),
        ("RATELINE__WEBCHAT__MAX_STREAMS_PER_ADDRESS", "3"),
    ])
    .await;
    let http = reqwest::Client::new();
    let ok = |r: reqwest::Response| async move {
        assert!(r.status().is_success(), "{}", r.status());
        r.json::<Value>().await.unwrap()
    };
    ok(http
        .put(server.url("/v1/lines/chat"))
        .json(&json!({"name": "Chat"}))
        .send()
        .await
        .unwrap())
    .await;
    let mut tokens = Vec::new();
    for s in ["w-1", "w-2"] {
        ok(http
            .post(server.url("/v1/sessions"))
            .json(&json!({"id": s, "line_id": "chat", "channel": "webchat", "client": {"id": s}}))
            .send()
            .await
            .unwrap())
        .await;
        let t = ok(http
            .post(server.url(&format!("/v1/sessions/{s}/webchat-token")))
            .send()
            .await
            .unwrap())
        .await;
        tokens.push(t["token"].as_str().unwrap().to_owned());
    }
    let stream = |token: &str| {
        http.get(server.url(&format!("/webchat/events?token={token}")))
            .send()
    };
    let mut open = Vec::new();
    for _ in 0..2 {
        let r = stream(&tokens[0]).await.unwrap();
        assert_eq!(r.status(), 200);
        open.push(r);
    }
    let refused = stream(&tokens[0]).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().get("retry-after").is_some());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this token"),
        "{body}"
    );
    // Another token from the same address: one more, then the address's cap.
    let r = stream(&tokens[1]).await.unwrap();
    assert_eq!(r.status(), 200);
    open.push(r);
    let refused = stream(&tokens[1]).await.unwrap();
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("this address"),
        "{body}"
    );
    // The API is not held up by them.
    let (status, _) = answered_promptly(reqwest::Method::GET, server.url("/healthz"), None).await;
    assert_eq!(status, 200);
    drop(open);
}
