//! Signed button payloads: what a rating button sends back when a client taps it.
//!
//! Every button Rateline puts under a rating question (a Telegram inline button, a Meta quick
//! reply, a WhatsApp reply button or list row) carries `rl1:<request id>:<action>:<MAC>`.
//! The MAC, HMAC-SHA256 truncated to 64 bits, covers the request and the action, so a
//! client cannot pick a value the card never offered, nor replay a button onto another
//! request. The whole stays within Telegram's 64 bytes, the tightest platform limit.

use hmac::{Hmac, KeyInit, Mac};
use rateline_domain::RequestId;
use sha2::Sha256;

use crate::Scale;

/// The longest payload any platform takes: Telegram's `callback_data` limit, in bytes.
pub const MAX_PAYLOAD: usize = 64;

/// The version tag that starts every callback Rateline issues; a new format gets a new tag
/// so buttons already in clients' chats keep working.
const CALLBACK_TAG: &str = "rl1";

/// What a button on a rating card does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardAction {
    /// Rate with this value (0/1 binary, 1..=5 five-star).
    Rate(i64),
    /// Answer "Was your issue resolved?".
    Resolved(bool),
    /// The reasons for a low rating: picked on the card, or given as the answer.
    Reasons {
        /// Bit `i` picks the line's reason `i` (a line lists at most 8).
        picked: u8,
        /// `true` answers with the reasons picked; `false` only shows the card with them
        /// picked (Telegram's toggles).
        done: bool,
    },
}

impl CardAction {
    fn code(self) -> String {
        match self {
            CardAction::Rate(v) => char::from_digit(v.clamp(0, 9) as u32, 10)
                .unwrap_or('0')
                .into(),
            CardAction::Resolved(true) => "y".into(),
            CardAction::Resolved(false) => "n".into(),
            CardAction::Reasons { picked, done } => {
                format!("{}{picked:02x}", if done { 'd' } else { 'r' })
            }
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        let mut chars = code.chars();
        let first = chars.next()?;
        let rest = chars.as_str();
        match (first, rest.len()) {
            ('y', 0) => Some(CardAction::Resolved(true)),
            ('n', 0) => Some(CardAction::Resolved(false)),
            ('r' | 'd', 2) => {
                let picked = u8::from_str_radix(rest, 16).ok()?;
                // Lowercase hex only, so one action has one code (and one MAC).
                (format!("{picked:02x}") == rest).then_some(CardAction::Reasons {
                    picked,
                    done: first == 'd',
                })
            }
            (d, 0) => d.to_digit(10).map(|v| CardAction::Rate(i64::from(v))),
            _ => None,
        }
    }
}

/// Signs and checks callback data. The key is the bot's own secret, never sent anywhere.
#[derive(Clone)]
pub struct CallbackSigner {
    key: [u8; 32],
}

impl std::fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackSigner([redacted])")
    }
}

/// Why callback data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// Not a button Rateline made: another format (the contact center's own buttons, say), or one
    /// cut short.
    #[error("not a Rateline button")]
    Foreign,
    /// A Rateline button whose MAC does not match: altered, forged, or signed with another key.
    #[error("the button's signature does not match")]
    BadMac,
}

/// Bytes of HMAC kept in a callback: 64 bits make guessing hopeless over the Bot API, and
/// the whole data stays within Telegram's 64 bytes.
const MAC_BYTES: usize = 8;

impl CallbackSigner {
    /// A signer whose key is derived from `secret` (the bot token, or a configured secret).
    pub fn new(secret: &str) -> Self {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"rateline telegram callback key v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(body.as_bytes());
        mac
    }

    /// `rl1:<request id>:<action>:<mac>`; a UUID request id is written without dashes so the
    /// whole fits in 64 bytes. `None` when an unusual id would not fit.
    pub fn encode(&self, request_id: &str, action: CardAction) -> Option<String> {
        let id = match uuid_simple(request_id) {
            Some(simple) => simple,
            None => request_id.to_owned(),
        };
        let body = format!("{CALLBACK_TAG}:{id}:{}", action.code());
        let tag = self.mac(&body).finalize().into_bytes();
        let data = format!("{body}:{}", hex::encode(&tag[..MAC_BYTES]));
        (data.len() <= MAX_PAYLOAD).then_some(data)
    }

    /// The request and action a button names, once its MAC checks out (in constant time).
    pub fn decode(&self, data: &str) -> Result<(RequestId, CardAction), CallbackError> {
        let mut parts = data.rsplitn(2, ':');
        let (Some(tag_hex), Some(body)) = (parts.next(), parts.next()) else {
            return Err(CallbackError::Foreign);
        };
        let mut fields = body.splitn(3, ':');
        let (Some(CALLBACK_TAG), Some(id), Some(code)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(CallbackError::Foreign);
        };
        let action = CardAction::from_code(code).ok_or(CallbackError::Foreign)?;
        let tag = hex::decode(tag_hex).map_err(|_| CallbackError::Foreign)?;
        if tag.len() != MAC_BYTES {
            return Err(CallbackError::Foreign);
        }
        self.mac(body)
            .verify_truncated_left(&tag)
            .map_err(|_| CallbackError::BadMac)?;
        // What the MAC covers this key made, from a stored request's id.
        let id = uuid_hyphenated(id).unwrap_or_else(|| id.to_owned());
        Ok((RequestId::stored(id), action))
    }
}

fn uuid_simple(id: &str) -> Option<String> {
    let hex: String = id.chars().filter(|c| *c != '-').collect();
    (id.len() == 36 && hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| hex.to_ascii_lowercase())
}

fn uuid_hyphenated(simple: &str) -> Option<String> {
    (simple.len() == 32 && simple.chars().all(|c| c.is_ascii_hexdigit())).then(|| {
        format!(
            "{}-{}-{}-{}-{}",
            &simple[0..8],
            &simple[8..12],
            &simple[12..16],
            &simple[16..20],
            &simple[20..32]
        )
    })
}

/// How a rating value reads on a button and on a rated card.
pub fn rating_label(scale: Scale, value: i64) -> String {
    match scale {
        Scale::Binary if value == 1 => "👍".into(),
        Scale::Binary => "👎".into(),
        Scale::FiveStar => format!("{value} ★"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0190f5a2-7c3e-7b1a-9d4e-2f6a8b0c1d2e";

    #[test]
    fn callbacks_round_trip_within_64_bytes() {
        let signer = CallbackSigner::new("123:token");
        for action in [
            CardAction::Rate(0),
            CardAction::Rate(5),
            CardAction::Resolved(true),
            CardAction::Resolved(false),
            CardAction::Reasons {
                picked: 0,
                done: false,
            },
            CardAction::Reasons {
                picked: 0xff,
                done: true,
            },
        ] {
            let data = signer.encode(ID, action).unwrap();
            assert!(data.len() <= MAX_PAYLOAD, "{data} is {} bytes", data.len());
            assert_eq!(
                signer.decode(&data),
                Ok((RequestId::stored(ID.to_owned()), action))
            );
        }
    }

    #[test]
    fn forged_and_foreign_callbacks_are_refused() {
        let signer = CallbackSigner::new("123:token");
        let data = signer.encode(ID, CardAction::Rate(1)).unwrap();
        // Another value, the same MAC: a client editing the data to rate differently.
        let forged = data.replacen(":1:", ":0:", 1);
        assert_eq!(signer.decode(&forged), Err(CallbackError::BadMac));
        // Another request, the same MAC: replaying a button onto someone else's request.
        let other = data.replacen("0190f5a2", "0190f5a3", 1);
        assert_eq!(signer.decode(&other), Err(CallbackError::BadMac));
        // Other reasons picked than the card offered.
        let picked = signer
            .encode(
                ID,
                CardAction::Reasons {
                    picked: 0x01,
                    done: true,
                },
            )
            .unwrap();
        let forged = picked.replacen(":d01:", ":d03:", 1);
        assert_eq!(signer.decode(&forged), Err(CallbackError::BadMac));
        // Signed with another bot's key.
        let theirs = CallbackSigner::new("456:other")
            .encode(ID, CardAction::Rate(1))
            .unwrap();
        assert_eq!(signer.decode(&theirs), Err(CallbackError::BadMac));
        for junk in [
            "",
            "hello",
            "rl1:x",
            "rl2:abc:1:0011223344556677",
            "rl1:abc:10:00",
            "rl1:abc:rFF:0011223344556677",
            "rl1:abc:r1:0011223344556677",
            "rl1:abc:x01:0011223344556677",
        ] {
            assert_eq!(signer.decode(junk), Err(CallbackError::Foreign), "{junk}");
        }
    }
}
