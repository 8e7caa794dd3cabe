//! The web chat widget: the script a site embeds, the token that lets it in, the card it
//! shows, and the messages it sends back.
//!
//! The widget is pull-based: the browser holds a live connection to Rateline and the
//! server pushes the card once the session's request is due. A request therefore never
//! waits on a send that a closed tab would lose: with no widget connected it stays
//! `scheduled` and appears when the client comes back within the answer window. The HTTP
//! side (the live connection, acknowledgements, answers, CORS) lives in the server; this
//! module holds what is independent of it, so it can be tested and fuzzed alone.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::Scale;
use crate::phrases::{Phrases, WidgetPhrases};

/// The widget's script, served as `GET /widget.js`. Dependency-free: a site embeds it with
/// one `<script>` tag.
pub const WIDGET_JS: &str = include_str!("../webchat/widget.js");

/// The version tag that starts every token; a new format gets a new tag.
const TOKEN_TAG: &str = "rlw1";

/// Mints and checks web chat tokens: `rlw1.<expiry>.<session id, hex>.<HMAC-SHA256, hex>`.
///
/// A token names one session and an expiry, both covered by the MAC, and lets its holder
/// read and answer that session's rating request only. Nothing is stored per token: any
/// process holding the key can check one.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner([redacted])")
    }
}

/// Why a token was refused. The messages name the fix, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token this format can read: cut short, altered in its shape, or from another version.
    #[error(
        "the web chat token is malformed; mint one with POST /v1/sessions/{{id}}/webchat-token"
    )]
    Malformed,
    /// A token whose MAC does not match: altered, or minted by another Rateline (another key).
    #[error("the web chat token's signature does not match; it was not minted by this Rateline")]
    Forged,
    /// A genuine token past its expiry, which the message names.
    #[error(
        "the web chat token expired at {0}; mint a new one with POST /v1/sessions/{{id}}/webchat-token"
    )]
    Expired(String),
}

impl TokenSigner {
    /// A signer keyed with `secret` (the configured token secret, or the one the store keeps).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length")
    }

    /// A token for `session_id`, valid until `expires_at` (to the second).
    pub fn mint(&self, session_id: &str, expires_at: DateTime<Utc>) -> String {
        let body = format!(
            "{TOKEN_TAG}.{}.{}",
            expires_at.timestamp(),
            hex::encode(session_id)
        );
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        format!("{body}.{}", hex::encode(mac.finalize().into_bytes()))
    }

    /// The session a token was minted for, if its MAC matches (checked in constant time)
    /// and it has not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, TokenError> {
        let (body, mac_hex) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let mut parts = body.splitn(3, '.');
        let (Some(TOKEN_TAG), Some(expiry), Some(session_hex)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let given = hex::decode(mac_hex).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&given).map_err(|_| TokenError::Forged)?;
        // Signed by us, so what follows was written by `mint`; still parsed with care.
        let expires_at = expiry
            .parse::<i64>()
            .ok()
            .and_then(|s| Utc.timestamp_opt(s, 0).single())
            .ok_or(TokenError::Malformed)?;
        if expires_at <= now {
            return Err(TokenError::Expired(
                expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ));
        }
        let session = hex::decode(session_hex).map_err(|_| TokenError::Malformed)?;
        String::from_utf8(session).map_err(|_| TokenError::Malformed)
    }
}

/// The widget's acknowledgement that it rendered a card: `POST /webchat/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckMessage {
    /// The token the widget was embedded with: it names the session.
    pub token: String,
    /// The request whose card was rendered; the request becomes `delivered`.
    pub request_id: String,
}

/// A client's answer from the card: `POST /webchat/answer`. A follow-up (resolved, or a
/// comment after a low rating) repeats the value it follows.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerMessage {
    /// The token the widget was embedded with: it names the session.
    pub token: String,
    /// The request answered: the one the card shows.
    pub request_id: String,
    /// The rating on the line's scale: the one tapped, or the one a follow-up follows.
    pub value: i64,
    /// The comment written in the card's form after a low rating.
    #[serde(default)]
    pub comment: Option<String>,
    /// The answer to "Was your issue resolved?".
    #[serde(default)]
    pub resolved: Option<bool>,
    /// The ids of the reasons picked after a low rating (`[]`: none).
    #[serde(default)]
    pub reasons: Option<Vec<String>>,
}

/// The rating so far, as the card shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardRating {
    /// The value given, on the card's scale.
    pub value: i64,
    /// Whether the rating is low: the card then asks for the reasons and the comment the line
    /// wants.
    pub low: bool,
    /// The comment stored; `null` while none came.
    pub comment: Option<String>,
    /// The answer to "Was your issue resolved?"; `null` while not given.
    pub resolved: Option<bool>,
    /// The reasons picked; `null` while not given.
    pub reasons: Option<Vec<String>>,
}

/// Everything the widget needs to draw a card: pushed as the `card` event and answered to
/// every accepted answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    /// The request the card answers.
    pub request_id: String,
    /// Which buttons the card shows: 👍 👎, or 1 to 5 stars.
    pub scale: Scale,
    /// The line's language tag, which the card declares as its `lang` (its words are already in
    /// it).
    pub language: String,
    /// Whether the card asks "Was your issue resolved?" after the rating.
    pub ask_resolved: bool,
    /// Whether the card asks for a comment after a low rating.
    pub ask_comment_on_low: bool,
    /// The reasons offered after a low rating, before the comment; empty: none asked.
    pub low_reasons: Vec<rateline_domain::LowReason>,
    /// The answer so far; `null` while the client has not rated.
    pub rating: Option<CardRating>,
    /// Whether the line's change policy still allows another answer.
    pub can_change: bool,
    /// Every word the card shows.
    pub texts: CardTexts,
}

/// The words on a card: the line's own question and thank-you, the rest in the line's
/// language (English when Rateline has no table for it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardTexts {
    /// The line's question (`rating.request_text`).
    pub question: String,
    /// The line's thanks (`rating.thanks_text`).
    pub thanks: String,
    /// Heads the answer on a rated card.
    pub your_rating: &'static str,
    /// The follow-up "Was your issue resolved?", in the card's language.
    pub resolved_question: &'static str,
    /// The button that answers the follow-up with yes.
    pub yes: &'static str,
    /// The button that answers the follow-up with no.
    pub no: &'static str,
    /// Shown when the answer came after the line's answer window.
    pub window_closed: &'static str,
    /// Shown when the line allows no more changes.
    pub change_refused: &'static str,
    /// Shown when the request takes no answer any more.
    pub not_answerable: &'static str,
    /// Heads the reasons offered after a low rating.
    pub reasons_prompt: &'static str,
    /// The button that sends the reasons picked.
    pub done: &'static str,
    /// The comment form, button labels and aria-labels (`star` has `{n}` for the number).
    #[serde(flatten)]
    pub widget: WidgetPhrases,
}

impl CardTexts {
    /// The words of a card in `language`, with the line's `question` and `thanks`.
    pub fn new(language: &str, question: &str, thanks: &str) -> Self {
        let p = Phrases::for_language(language);
        Self {
            question: question.to_owned(),
            thanks: thanks.to_owned(),
            your_rating: p.your_rating,
            resolved_question: p.resolved_question,
            yes: p.yes,
            no: p.no,
            window_closed: p.window_closed,
            change_refused: p.change_refused,
            not_answerable: p.not_answerable,
            reasons_prompt: p.reasons_prompt,
            done: p.done,
            widget: p.widget,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn a_token_names_its_session_until_it_expires() {
        let signer = TokenSigner::new(b"0123456789abcdef0123456789abcdef");
        let token = signer.mint("s.1:odd id", at(2_000));
        assert_eq!(signer.verify(&token, at(1_999)), Ok("s.1:odd id".into()));
        assert!(matches!(
            signer.verify(&token, at(2_000)),
            Err(TokenError::Expired(_))
        ));
    }

    #[test]
    fn forged_and_altered_tokens_are_refused() {
        let signer = TokenSigner::new(b"key one");
        let other = TokenSigner::new(b"key two");
        let token = signer.mint("s-1", at(2_000));
        assert_eq!(
            other.verify(&token, at(0)),
            Err(TokenError::Forged),
            "another key"
        );
        // The same MAC on another session or a later expiry.
        let mac = token.rsplit_once('.').unwrap().1;
        for body in [
            format!("rlw1.2000.{}", hex::encode("s-2")),
            format!("rlw1.9000.{}", hex::encode("s-1")),
        ] {
            assert_eq!(
                signer.verify(&format!("{body}.{mac}"), at(0)),
                Err(TokenError::Forged)
            );
        }
        for junk in [
            "",
            ".",
            "rlw1",
            "rlw1.1.2",
            "rlw2.1.2.3",
            "rlw1.x.y.zz",
            "a.b.c.d.e",
        ] {
            assert!(signer.verify(junk, at(0)).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn card_texts_follow_the_language_with_english_as_fallback() {
        assert_eq!(CardTexts::new("ru", "q", "t").widget.send, "Отправить");
        assert_eq!(CardTexts::new("de", "q", "t").widget.send, "Send");
        assert_eq!(
            CardTexts::new("de", "Wie war es?", "t").question,
            "Wie war es?"
        );
    }
}
