//! The fake SMTP server checked with lettre, the client Rateline sends alerts with, and over a
//! bare socket, so that an alert test failing points at Rateline and not at a fake that is wrong
//! about SMTP.

use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::ContentTransferEncoding;
use lettre::message::{MessageBuilder, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rateline_testkit::smtp::{FakeSmtp, decode_base64, decode_header, decode_quoted_printable};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const SUBJECT: &str = "Low rating 👎 on line Support — ★★";
const BODY: &str = "Ann rated her chat with Bob ★★ (2 of 5).\nComment: «too slow» 👎";

fn mailer(fake: &FakeSmtp) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::from_url(&fake.url())
        .expect("an smtp:// URL")
        .build()
}

/// The tokio transport's `timeout` bounds only the connect, so a reply that never comes would
/// hang the test.
async fn within<T>(send: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), send)
        .await
        .expect("an SMTP reply within 10 s")
}

/// lettre adds a Date but no Message-ID unless asked: "should generally be inserted by the mail
/// relay", its docs say, and Gmail does not.
fn alert() -> MessageBuilder {
    Message::builder()
        .message_id(None)
        .from("Rateline <alerts@rateline.test>".parse().unwrap())
        .to("Ops <ops@example.test>".parse().unwrap())
        .subject(SUBJECT)
}

fn envelope() -> Envelope {
    let from = "alerts@rateline.test".parse().unwrap();
    Envelope::new(Some(from), vec!["ops@example.test".parse().unwrap()]).unwrap()
}

#[tokio::test]
async fn an_alert_arrives_with_its_envelope_and_decoded_text() {
    let fake = FakeSmtp::start().await;
    let message = alert()
        .bcc("audit@example.test".parse().unwrap())
        .body(BODY.to_owned())
        .unwrap();
    within(mailer(&fake).send(message)).await.expect("accepted");

    let mails = fake.wait_for(1).await;
    let mail = &mails[0];
    assert_eq!(mail.from, "alerts@rateline.test");
    assert_eq!(mail.to, ["ops@example.test", "audit@example.test"]);
    assert_eq!(mail.subject, SUBJECT);
    assert_eq!(mail.body, BODY);
    assert_eq!(
        mail.header("From").as_deref(),
        Some("Rateline <alerts@rateline.test>")
    );
    // Proof that decoding was needed: lettre sent neither the subject nor the body as is.
    assert!(mail.raw.contains("=?utf-8?b?"), "{}", mail.raw);
    assert!(!mail.raw.contains('★'), "{}", mail.raw);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn quoted_printable_and_base64_bodies_decode() {
    let fake = FakeSmtp::start().await;
    // Past 76 characters, so quoted-printable needs soft line breaks.
    let text = format!("{BODY}\n{} {}", "★".repeat(30), "x".repeat(80));
    let mailer = mailer(&fake);
    for encoding in [
        ContentTransferEncoding::QuotedPrintable,
        ContentTransferEncoding::Base64,
    ] {
        let message = alert().header(encoding).body(text.clone()).unwrap();
        within(mailer.send(message)).await.expect("accepted");
    }

    let mails = fake.wait_for(2).await;
    assert!(
        mails[0]
            .raw
            .contains("Content-Transfer-Encoding: quoted-printable\r\n")
    );
    assert!(mails[0].raw.contains("=\r\n"), "no soft line break");
    assert!(
        mails[1]
            .raw
            .contains("Content-Transfer-Encoding: base64\r\n")
    );
    for mail in &mails {
        assert_eq!(mail.body, text);
        assert_eq!(mail.subject, SUBJECT);
    }
}

#[tokio::test]
async fn the_body_is_the_first_plain_text_part() {
    let fake = FakeSmtp::start().await;
    let parts = MultiPart::mixed()
        .singlepart(SinglePart::html(format!("<p>{BODY}</p>")))
        .multipart(MultiPart::alternative_plain_html(
            BODY.to_owned(),
            "<p>another</p>".to_owned(),
        ));
    within(mailer(&fake).send(alert().multipart(parts).unwrap()))
        .await
        .expect("accepted");

    let mails = fake.wait_for(1).await;
    assert_eq!(mails[0].body, BODY);
}

#[tokio::test]
async fn fail_next_refuses_transiently_and_the_retry_arrives() {
    let fake = FakeSmtp::start().await;
    let mailer = mailer(&fake);
    fake.fail_next(1);

    let error = within(mailer.send(alert().body(BODY.to_owned()).unwrap()))
        .await
        .expect_err("refused");
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("4.3.0"), "{error}");
    assert_eq!(fake.refused(), 1);
    assert!(fake.messages().is_empty());

    within(mailer.send(alert().body(BODY.to_owned()).unwrap()))
        .await
        .expect("accepted on retry");
    let mails = fake.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].body, BODY);
    assert_eq!(fake.refused(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_message_without_message_id_or_with_two_dates_is_refused() {
    let fake = FakeSmtp::start().await;
    let mailer = mailer(&fake);
    let no_id = Message::builder()
        .from("alerts@rateline.test".parse().unwrap())
        .to("ops@example.test".parse().unwrap())
        .body(BODY.to_owned())
        .unwrap();
    let error = within(mailer.send(no_id)).await.expect_err("refused");
    assert!(error.is_permanent(), "{error}");

    let head = "Date: Sat, 21 Nov 2026 09:00:00 +0000\r\nMessage-ID: <1@rateline.test>\r\n";
    let rest = "From: alerts@rateline.test\r\nSubject: hi\r\n\r\nHello";
    let two_dates = format!("Date: Sat, 21 Nov 2026 09:00:01 +0000\r\n{head}{rest}");
    let error = within(mailer.send_raw(&envelope(), two_dates.as_bytes()))
        .await
        .expect_err("refused");
    assert!(error.is_permanent(), "{error}");
    assert!(fake.messages().is_empty());
    assert_eq!(
        fake.violations(),
        [
            r#"mail from <alerts@rateline.test> to ["ops@example.test"]: no Message-ID header"#,
            r#"mail from <alerts@rateline.test> to ["ops@example.test"]: 2 Date headers"#,
        ]
    );
    assert_eq!(fake.refused(), 0);

    within(mailer.send_raw(&envelope(), format!("{head}{rest}").as_bytes()))
        .await
        .expect("accepted");
    let mails = fake.wait_for(1).await;
    assert_eq!(
        (mails[0].subject.as_str(), mails[0].body.as_str()),
        ("hi", "Hello")
    );
}

/// A client typing SMTP by hand, for what lettre never sends.
struct Dialogue(BufReader<TcpStream>);

impl Dialogue {
    async fn connect(fake: &FakeSmtp) -> Dialogue {
        let addr = fake.url().replace("smtp://", "");
        let mut dialogue = Dialogue(BufReader::new(TcpStream::connect(addr).await.unwrap()));
        assert_eq!(dialogue.reply().await, 220);
        dialogue
    }

    /// Sends `lines` and returns the reply's code.
    async fn say(&mut self, lines: &str) -> u16 {
        let stream = self.0.get_mut();
        stream
            .write_all(format!("{lines}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    async fn reply(&mut self) -> u16 {
        loop {
            let mut line = String::new();
            let read = self.0.read_line(&mut line);
            tokio::time::timeout(Duration::from_secs(5), read)
                .await
                .expect("a reply within 5 s")
                .unwrap();
            assert!(line.len() >= 4, "not a reply: {line:?}");
            if line.as_bytes()[3] != b'-' {
                return line[..3].parse().unwrap();
            }
        }
    }
}

#[tokio::test]
async fn commands_keep_their_order_and_a_refusal_ends_only_the_transaction() {
    let fake = FakeSmtp::start().await;
    let mut smtp = Dialogue::connect(&fake).await;
    let message = "Date: Sat, 21 Nov 2026 09:00:00 +0000\r\nFrom: alerts@rateline.test\r\n\
                   Message-ID: <2@rateline.test>\r\n\r\nHello\r\n..signature\r\n.";

    assert_eq!(smtp.say("EHLO client.test").await, 250);
    assert_eq!(smtp.say("RCPT TO:<ops@example.test>").await, 503);
    assert_eq!(smtp.say("DATA").await, 503);
    assert_eq!(smtp.say("MAIL FROM:<>").await, 500);
    assert_eq!(smtp.say("MAIL FROM:<alerts>").await, 553);
    assert_eq!(smtp.say("MAIL FROM:<alerts@rateline.test>").await, 250);
    assert_eq!(smtp.say("DATA").await, 503);
    assert_eq!(smtp.say("RCPT TO:<ops@example.test>").await, 250);
    fake.fail_next(1);
    assert_eq!(smtp.say("DATA").await, 354);
    assert_eq!(smtp.say(message).await, 451);
    // Without the fake's care mailin would still be in DATA, and take this for message text.
    assert_eq!(smtp.say("MAIL FROM:<alerts@rateline.test>").await, 250);
    assert_eq!(smtp.say("RCPT TO:<ops@example.test>").await, 250);
    assert_eq!(smtp.say("DATA").await, 354);
    assert_eq!(smtp.say(message).await, 250);
    assert_eq!(smtp.say("QUIT").await, 221);

    let mails = fake.wait_for(1).await;
    assert_eq!(mails[0].body, "Hello\n.signature");
    assert_eq!(mails[0].subject, "");
    assert_eq!(fake.refused(), 1);
    assert_eq!(
        fake.violations(),
        ["MAIL FROM:<alerts> is not local@domain"]
    );
}

#[test]
fn the_decoders_follow_the_rfcs() {
    assert_eq!(decode_base64("TWFu").unwrap(), b"Man");
    assert_eq!(decode_base64("QWRyacOhbg==").unwrap(), "Adrián".as_bytes());
    assert_eq!(decode_base64("8J+R\r\njg==").unwrap(), "👎".as_bytes());
    assert_eq!(decode_base64("no base64!"), None);

    let qp = "caf=C3=A9 au =\r\nlait  \r\n=E2=98=85=3d 1 = 1 =4";
    assert_eq!(
        decode_quoted_printable(qp),
        "café au lait\r\n★= 1 = 1 =4".as_bytes()
    );

    assert_eq!(
        decode_header("=?utf-8?b?TG93?=\r\n =?UTF-8?Q?_rating_=F0=9F=91=8E?="),
        "Low rating 👎"
    );
    assert_eq!(
        decode_header("Re: =?utf-8*en?q?caf=C3=A9?= ok"),
        "Re: café ok"
    );
    assert_eq!(decode_header("a =? b ?= c"), "a =? b ?= c");
    assert_eq!(
        decode_header("=?iso-8859-1?q?caf=E9?="),
        "=?iso-8859-1?q?caf=E9?="
    );
}
