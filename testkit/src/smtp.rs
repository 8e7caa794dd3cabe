//! A local SMTP server for the e-mail alert tests, built on `mailin`'s SMTP state machine.
//!
//! Rateline sends alerts with lettre over a real SMTP session, so the fake is a real server on
//! `127.0.0.1:0` rather than a stub transport: a test then covers the dialogue, the envelope and
//! the MIME that lettre builds from Rateline's settings. Point Rateline at [`FakeSmtp::url`]
//! (`smtp://127.0.0.1:PORT`: plain text, no AUTH, which lettre's `from_url` reads as such).
//!
//! It is strict where receiving servers are strict, and refuses with a 5xx, so that lettre
//! reports a permanent error, and lists in [`FakeSmtp::violations`], every mail that breaks a rule:
//! - an envelope address must be `local@domain` (553 5.1.3, as Gmail answers);
//! - a message must carry exactly one `Date` and one `From` header (RFC 5322 §3.6), and one
//!   `Message-ID`: RFC 5322 only recommends it, but Gmail refuses mail without one, and an alert
//!   Gmail refuses is an alert lost.
//!
//! mailin's own state machine refuses commands out of order (503: RCPT before MAIL, DATA before
//! RCPT) and its parser a null reverse-path `MAIL FROM:<>` (500); those never reach the fake, so
//! the client sees the error but [`FakeSmtp::violations`] does not list them.
//!
//! [`FakeSmtp::fail_next`] plays a server briefly unable to take mail: `451 4.3.0` at the end of
//! DATA, the transient reply a sender must retry after.
//!
//! A [`Mail`] holds the envelope and, decoded, the Subject and the first text/plain part. The
//! decoding covers what lettre writes: RFC 2047 encoded words, quoted-printable and base64 bodies,
//! nested multiparts. Charsets other than UTF-8 and US-ASCII are left encoded.
//!
//! The loop around the state machine is the fake's own (a thread per connection, reading a
//! line at a time), since `mailin-embedded`, which has one, builds a TLS stack (aws-lc) into
//! every test build for a STARTTLS no test uses. Dropping the last clone of a `FakeSmtp` stops
//! the acceptor and frees the port; a session in progress ends when its client hangs up or
//! after [`IDLE`] without a line.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mailin::response::OK;
use mailin::{Action, Handler, Response, SessionBuilder};

/// The name the server greets with.
const NAME: &str = "fake-smtp.test";
/// How long a session waits for the client's next line before it hangs up, as a receiving
/// server drops an idle client (RFC 5321 §4.5.3.2 gives the client 5 minutes; a test has
/// ended long before).
const IDLE: Duration = Duration::from_secs(60);
const REQUIRED_HEADERS: [&str; 3] = ["Date", "From", "Message-ID"];

/// The handle tests hold; clones share one server.
#[derive(Clone)]
pub struct FakeSmtp {
    url: String,
    state: Arc<Mutex<State>>,
    _acceptor: Arc<Acceptor>,
}

/// Stops the acceptor when the last handle goes.
struct Acceptor {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor's `accept`, which then sees the flag; an error means it is gone.
        let _ = TcpStream::connect(self.address);
    }
}

#[derive(Default)]
struct State {
    mails: Vec<Mail>,
    fail_next: usize,
    refused: usize,
    violations: Vec<String>,
}

/// A mail the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender, `MAIL FROM`.
    pub from: String,
    /// The envelope recipients, `RCPT TO`, Bcc included.
    pub to: Vec<String>,
    /// The Subject header, decoded; empty without one.
    pub subject: String,
    /// The first text/plain part, transfer-decoded, with line breaks as `\n`.
    pub body: String,
    /// The message as received, dot-unstuffed, CRLF line breaks.
    pub raw: String,
}

impl FakeSmtp {
    /// Starts the server on a free loopback port, on threads of its own; it stops when the last
    /// handle goes.
    pub async fn start() -> FakeSmtp {
        // Bound here, so the port is known and connections wait in the backlog until `serve` runs.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let address = listener.local_addr().unwrap();
        let url = format!("smtp://{address}");
        let state = Arc::<Mutex<State>>::default();
        let prototype = Session {
            state: state.clone(),
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("fake-smtp".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stopped.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = conn else { continue };
                    let session = prototype.clone();
                    let _ = std::thread::Builder::new()
                        .name("fake-smtp-session".into())
                        .spawn(move || serve(stream, session));
                }
            })
            .expect("spawn the SMTP server");
        FakeSmtp {
            url,
            state,
            _acceptor: Arc::new(Acceptor { address, stop }),
        }
    }

    /// The address to give Rateline's `[smtp]`: `smtp://127.0.0.1:PORT`, plain text, no AUTH.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The mails accepted so far, in order.
    pub fn messages(&self) -> Vec<Mail> {
        self.state().mails.clone()
    }

    /// Waits (in real time, up to 10 s) until `n` mails have been accepted; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Mail> {
        crate::wait_until(|| self.state().mails.len() >= n, || self.describe(n)).await;
        self.messages()
    }

    /// Refuses the next `n` messages with `451 4.3.0` at the end of DATA, without keeping them.
    pub fn fail_next(&self, n: usize) {
        self.state().fail_next = n;
    }

    /// How many messages [`FakeSmtp::fail_next`] has refused.
    pub fn refused(&self) -> usize {
        self.state().refused
    }

    /// Every refusal for a broken rule, in order.
    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn describe(&self, n: usize) -> String {
        let state = self.state();
        let mut text = format!(
            "expected {n} mails within 10 s, {} arrived:\n",
            state.mails.len()
        );
        for m in &state.mails {
            text += &format!("  <{}> -> {:?}: {}\n", m.from, m.to, m.subject);
        }
        text + &format!(
            "refused by fail_next: {}\nviolations: {:#?}",
            state.refused, state.violations
        )
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One client's session, as `mailin-embedded` runs one: the greeting, then a reply to each
/// line the state machine answers, until it closes the session (QUIT, 221) or the client
/// hangs up.
fn serve(stream: TcpStream, handler: Session) -> io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    let mut session = SessionBuilder::new(NAME).build(stream.peer_addr()?.ip(), handler);
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    send(&mut writer, &session.greeting())?;
    let mut line = Vec::with_capacity(80);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let reply = session.process(&line);
        match reply.action {
            Action::NoReply => {}
            Action::Reply => send(&mut writer, &reply)?,
            // STARTTLS is not offered, so an upgrade is never asked for.
            Action::Close | Action::UpgradeTls => return send(&mut writer, &reply),
        }
    }
}

/// Writes a reply in one piece: `Response::write_to` writes it in several, and small writes
/// on a socket wait for the client's delayed acknowledgement (Nagle), some 40 ms a reply.
fn send(writer: &mut TcpStream, reply: &Response) -> io::Result<()> {
    writer.write_all(&reply.buffer()?)
}

/// One SMTP session's handler: the acceptor clones a prototype per connection.
#[derive(Clone)]
struct Session {
    state: Arc<Mutex<State>>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Session {
    fn violation(&self, text: String) {
        lock(&self.state).violations.push(text);
    }

    /// mailin hands over what is between the angle brackets.
    fn check_address(&self, command: &str, address: &str) -> Response {
        match address.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => OK,
            _ => {
                self.violation(format!("{command}:<{address}> is not local@domain"));
                Response::custom(553, "5.1.3 Not a valid RFC 5321 address".into())
            }
        }
    }
}

impl Handler for Session {
    fn mail(&mut self, _ip: IpAddr, _domain: &str, from: &str) -> Response {
        self.check_address("MAIL FROM", from)
    }

    fn rcpt(&mut self, to: &str) -> Response {
        self.check_address("RCPT TO", to)
    }

    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
        let (fields, _) = split_entity(&raw);
        let problems: Vec<String> = REQUIRED_HEADERS
            .iter()
            .filter_map(|name| match count(&fields, name) {
                1 => None,
                0 => Some(format!("no {name} header")),
                n => Some(format!("{n} {name} headers")),
            })
            .collect();
        if !problems.is_empty() {
            let problems = problems.join(", ");
            let to = &self.to;
            self.violation(format!("mail from <{}> to {to:?}: {problems}", self.from));
            return end_of_data(550, format!("5.6.0 Refused: {problems}"));
        }
        let mut state = lock(&self.state);
        if state.fail_next > 0 {
            state.fail_next -= 1;
            state.refused += 1;
            return end_of_data(451, "4.3.0 Temporarily unable to accept mail".into());
        }
        let (from, to) = (std::mem::take(&mut self.from), std::mem::take(&mut self.to));
        state.mails.push(Mail::parse(from, to, raw));
        OK
    }
}

/// A refusal at the end of DATA. Any reply there ends the transaction (RFC 5321 §4.1.1.4), but
/// mailin keeps its state machine in DATA after an error reply, so the client's next command
/// would be taken as message text: lettre, which sends QUIT after an error, would wait for the
/// reply until the session hangs up after [`IDLE`]. Marked as no error, the reply moves
/// mailin on; the client still reads the code.
fn end_of_data(code: u16, text: String) -> Response {
    let mut reply = Response::custom(code, text);
    reply.is_error = false;
    reply
}

impl Mail {
    fn parse(from: String, to: Vec<String>, raw: String) -> Mail {
        let (fields, body) = split_entity(&raw);
        let subject = field(&fields, "Subject").map(decode_header);
        // The last CRLF ends the line before SMTP's "." and is no part of the text.
        let body = plain_text(&fields, body.strip_suffix("\r\n").unwrap_or(body));
        Mail {
            from,
            to,
            subject: subject.unwrap_or_default(),
            body: body.unwrap_or_default(),
            raw,
        }
    }

    /// A header field, unfolded and decoded; the first one if it repeats.
    pub fn header(&self, name: &str) -> Option<String> {
        field(&split_entity(&self.raw).0, name).map(decode_header)
    }
}

/// The header fields of a message or MIME part, unfolded, and the body after the blank line.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = match raw.strip_prefix("\r\n") {
        Some(body) => ("", body),
        None => raw.split_once("\r\n\r\n").unwrap_or((raw, "")),
    };
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        match fields.last_mut() {
            // Unfolding removes only the CRLF (RFC 5322 §2.2.3).
            Some((_, value)) if line.starts_with([' ', '\t']) => value.push_str(line),
            _ => {
                if let Some((name, value)) = line.split_once(':') {
                    fields.push((name.trim().to_owned(), value.to_owned()));
                }
            }
        }
    }
    (fields, body)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut matching = fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    matching.next().map(|(_, value)| value.trim())
}

fn count(fields: &[(String, String)], name: &str) -> usize {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

/// A parameter of a header value such as `multipart/alternative; boundary="b1"`.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        let value = value.trim().trim_matches('"');
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.to_owned())
    })
}

/// The first text/plain part of an entity, depth first, transfer-decoded, read as UTF-8.
fn plain_text(fields: &[(String, String)], body: &str) -> Option<String> {
    // Without a Content-Type, an entity is US-ASCII text/plain (RFC 2045 §5.2).
    let content_type = field(fields, "Content-Type").unwrap_or("text/plain");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    if mime.len() > 10 && mime[..10].eq_ignore_ascii_case("multipart/") {
        // The CRLF before a boundary delimiter belongs to the delimiter (RFC 2046 §5.1.1), and
        // the rest of the delimiter's line is padding; "--" after it closes the multipart.
        let delimiter = format!("\r\n--{}", param(content_type, "boundary")?);
        return format!("\r\n{body}")
            .split(&delimiter)
            .skip(1)
            .take_while(|part| !part.starts_with("--"))
            .find_map(|part| {
                let (fields, body) = split_entity(part.split_once("\r\n")?.1);
                plain_text(&fields, body)
            });
    }
    if !mime.eq_ignore_ascii_case("text/plain") {
        return None;
    }
    let encoding = field(fields, "Content-Transfer-Encoding").unwrap_or("7bit");
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => decode_base64(body)?,
        _ => body.as_bytes().to_vec(),
    };
    Some(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
}

/// Decodes the RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?UTF-8?Q?...?=`) in a header value.
pub fn decode_header(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        match encoded_word(candidate) {
            Some((text, len)) => {
                // Whitespace between two encoded words is folding, not text (RFC 2047 §6.2).
                if !(after_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[len..];
                after_word = true;
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                after_word = false;
            }
        }
    }
    out + rest
}

/// The text of the encoded word `s` starts with, and its length.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let (charset, rest) = s.strip_prefix("=?")?.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let (text, _) = rest.split_once("?=")?;
    // A charset may carry a language, "utf-8*en" (RFC 2231 §5).
    let name = charset.split('*').next()?;
    let known = name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("us-ascii");
    if !known || text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => decode_base64(text)?,
        // "_" is a space; an underscore itself comes as "=5F" (RFC 2047 §4.2).
        "Q" | "q" => decode_quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    let len = charset.len() + encoding.len() + text.len() + 6;
    Some((String::from_utf8(bytes).ok()?, len))
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` is a byte, `=` ending a line is a soft line break,
/// blanks ending a line are transport padding. Hard line breaks come out as CRLF.
pub fn decode_quoted_printable(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut lines = s.split("\r\n").peekable();
    while let Some(line) = lines.next() {
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line.as_bytes(), true),
            None => (line.as_bytes(), false),
        };
        let mut i = 0;
        while i < line.len() {
            match (line[i], line.get(i + 1..i + 3)) {
                (b'=', Some(&[hi, lo])) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    out.push(hex(hi) << 4 | hex(lo));
                    i += 3;
                }
                // A lone "=" is kept as is, as RFC 2045 suggests of a robust decoder.
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        if !soft && lines.peek().is_some() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn hex(digit: u8) -> u8 {
    (digit as char).to_digit(16).unwrap() as u8
}

/// Base64 (RFC 2045 §6.8), across line breaks; `None` on a byte outside the alphabet.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        // Only the bits not yet written matter; the mask keeps the shift from overflowing.
        acc = (acc << 6 | u32::from(sextet)) & 0xFFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}
