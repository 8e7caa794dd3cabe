//! Identifiers chosen by the contact center (lines, sessions, people, groups), and the
//! characters any stored text may hold.
//!
//! An id is compared character by character, so two ids that look alike on screen must
//! not differ in what cannot be seen. Ids are kept in Unicode's composed form (NFC): every
//! edge that takes one ([`normalize_id`]) composes it first, and [`check_id`] refuses one
//! that is not, so `é` typed either way is one id. Control characters, format characters
//! (zero-width spaces and joiners, soft hyphens, byte-order marks) and bidirectional
//! controls (which reorder what is shown) are refused, naming the character.
//!
//! The ids of lines, people and groups name things people pick from lists and act on, so
//! they must also be written in one script ([`check_name_id`], Unicode's UTS #39
//! single-script rule, where digits and punctuation belong to every script and Japanese
//! mixes its scripts as it always does): `оlga` with a Cyrillic `о` is refused rather than
//! becoming a second Olga. Session and client ids come from other systems and only keep the
//! first rules.

use unicode_normalization::{UnicodeNormalization, is_nfc};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
use unicode_security::MixedScript;

use super::Invalid;

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

std::thread_local! {
    /// The refusal that made the last failed deserialization on this thread fail, when a
    /// value was refused (an id that breaks the rules) rather than the shape (a number
    /// where an id belongs). See [`refusal_of`].
    static REFUSED: std::cell::RefCell<Option<Invalid>> = const { std::cell::RefCell::new(None) };
}

/// Runs `deserialize` and returns its result with the value refusal that made it fail, if
/// one did. serde's errors carry only text; this keeps the refusal itself, so that the
/// HTTP layer answers a refused value `422` and a wrong shape `400`, as it does for values
/// checked after parsing. Deserialization is synchronous: what it records is on this
/// thread, and taken before and after.
pub fn refusal_of<T, E>(
    deserialize: impl FnOnce() -> Result<T, E>,
) -> (Result<T, E>, Option<Invalid>) {
    REFUSED.with(|r| r.borrow_mut().take());
    let result = deserialize();
    let refused = REFUSED.with(|r| r.borrow_mut().take());
    let refused = if result.is_err() { refused } else { None };
    (result, refused)
}

fn refuse<E: serde::de::Error>(invalid: Invalid) -> E {
    let message = invalid.message.clone();
    REFUSED.with(|r| *r.borrow_mut() = Some(invalid));
    E::custom(message)
}

/// The OpenAPI schema of an id: the rule [`check_id`] enforces, as a pattern (the 128 is
/// bytes there, characters here).
pub(crate) fn id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_ID_LEN))
        .pattern(Some(
            r"^[^\s/\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff]+$",
        ))
        .description(Some(
            "Chosen by the contact center: 1 to 128 bytes, no whitespace, control, format \
             or bidirectional characters, no '/'; kept in Unicode's composed form (NFC). \
             The ids of lines, people and groups are written in one script.",
        ))
        .into()
}

/// An absolute `http://` or `https://` URL without a user name or password, as a pattern:
/// the form [`check_http_url`] takes. One of that form that its URL parser cannot read, the
/// check refuses besides.
const HTTP_URL: &str = r"^[hH][tT][tT][pP][sS]?://[^\s/?#@]+(?:[/?#][^\s]*)?$";

/// The OpenAPI schema of a URL Rateline calls, which [`check_http_url`] checks, with an
/// example of its form.
pub(crate) fn http_url_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(HTTP_URL))
        .examples(["https://example.com/rateline"])
        .into()
}

/// The OpenAPI schema of a list of `min` to `max` ids, each as [`id_schema`] states it: for
/// a `schema_with` whose list has its bounds in a constant beside the check.
pub(crate) fn id_list_schema(
    min: usize,
    max: usize,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(id_schema())
        .min_items(Some(min))
        .max_items(Some(max))
        .into()
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// `text` composed (NFC) and checked; `field` names it in the refusal.
            pub fn parse(field: &str, text: &str) -> Result<Self, Invalid> {
                let id = normalize_id(text);
                $check(field, &id)?;
                Ok(Self(id))
            }

            /// An id checked already: read back from the store, which only ever holds checked
            /// ones, or checked where it entered (the config file's ids, say).
            pub fn stored(id: String) -> Self {
                Self(id)
            }

            /// The id's text, as stored and compared.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id's text, without a copy.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        // An id hashes and compares as its text, so a map keyed by ids is looked up by text.
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                Self::parse("id", &text).map_err(refuse)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                id_schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// An id the contact center chose for a session or a client: composed (NFC), checked by
    /// [`check_id`], once, where it enters; the inside never checks it again.
    Id,
    check_id
);

id_type!(
    /// The id of a line, a person or a group: an [`Id`] that is also written in one script
    /// ([`check_name_id`]).
    NameId,
    check_name_id
);

id_type!(
    /// A session's id, chosen by the contact center's software: an [`Id`]'s rules.
    SessionId,
    check_id
);

id_type!(
    /// A line's id: a [`NameId`]'s rules.
    LineId,
    check_name_id
);

id_type!(
    /// A rating request's id: made by Rateline at the close (a UUID), carried by the
    /// request's buttons and named by its answer. Read from outside, an [`Id`]'s rules: one
    /// that breaks them names no request.
    RequestId,
    check_id
);

id_type!(
    /// A person's id (an operator, a supervisor, an admin, a manager): a [`NameId`]'s rules.
    PersonId,
    check_name_id
);

/// A name in the OpenAPI description (a line's, a person's, a group's): one line of 1 to
/// 200 characters, not all blank, as [`check_line`] and the types' `validate` enforce.
pub struct Name;

impl utoipa::PartialSchema for Name {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(200))
            .pattern(Some(
                r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Name {}

/// An id as Rateline keeps it: in Unicode's composed form (NFC).
pub fn normalize_id(id: &str) -> String {
    if is_nfc(id) {
        id.to_owned()
    } else {
        id.nfc().collect()
    }
}

/// Composes `id` in place (see [`normalize_id`]).
pub fn normalize_in_place(id: &mut String) {
    if !is_nfc(id) {
        *id = id.nfc().collect();
    }
}

/// A character that may not stand in an id, named for the message that refuses it.
fn forbidden_in_id(c: char) -> Option<String> {
    let name = match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2060}' => "WORD JOINER",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE (byte-order mark)",
        '/' => return Some("'/'".into()),
        c if c.is_whitespace() => "whitespace",
        c if c.is_control() => "a control character",
        c if c.general_category() == GeneralCategory::Format => "a format character",
        _ => return None,
    };
    Some(format!("U+{:04X} ({name})", c as u32))
}

/// Checks an identifier: 1–128 bytes of NFC text without whitespace, control, format or
/// bidirectional characters or `/`, so it can stand in a URL path as it is and no two ids
/// differ only in what cannot be seen.
pub fn check_id(field: &str, id: &str) -> Result<(), Invalid> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {MAX_ID_LEN} bytes long, got {}", id.len()),
        ));
    }
    if let Some(what) = id.chars().find_map(forbidden_in_id) {
        return Err(Invalid::new(
            field,
            format!("must not contain {what}: use letters, digits and punctuation other than '/'"),
        ));
    }
    if !is_nfc(id) {
        return Err(Invalid::new(
            field,
            "must be in Unicode's composed form (NFC); compose it before sending",
        ));
    }
    Ok(())
}

/// Checks the id of a line, a person or a group: what [`check_id`] checks, and written in
/// one script (see the module's docs).
pub fn check_name_id(field: &str, id: &str) -> Result<(), Invalid> {
    check_id(field, id)?;
    if !id.is_single_script() {
        let mut scripts: Vec<&str> = id
            .chars()
            .map(|c| unicode_script::UnicodeScript::script(&c))
            .filter(|s| {
                !matches!(
                    s,
                    unicode_script::Script::Common | unicode_script::Script::Inherited
                )
            })
            .map(|s| s.full_name())
            .collect();
        scripts.sort_unstable();
        scripts.dedup();
        return Err(Invalid::new(
            field,
            format!(
                "mixes the {} scripts: the ids of lines, people and groups are written in one \
                 script, so that two that look alike are one",
                scripts.join(" and ")
            ),
        ));
    }
    Ok(())
}

/// Checks a URL Rateline will call: absolute http(s) with a host, as written (the URL
/// parser would quietly drop or encode control characters the stored text kept), and with
/// no user name or password in it: a URL is shown to those who read the settings and kept
/// in the audit log, while a secret belongs in its write-only field.
pub fn check_http_url(field: &str, url: &str) -> Result<(), Invalid> {
    let parsed = (!url.chars().any(|c| c.is_control() || c.is_whitespace()))
        .then(|| url::Url::parse(url).ok())
        .flatten()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    let Some(parsed) = parsed else {
        return Err(Invalid::new(
            field,
            "must be an absolute http:// or https:// URL",
        ));
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let secret = match field {
            "webhook.url" => "webhook.secret",
            "notify.webhook_url" => "notify.webhook_secret",
            _ => "the secret or token field beside it",
        };
        return Err(Invalid::new(
            field,
            format!(
                "holds a user name or password (https://user:password@…), which everyone who \
                 reads the settings would see; remove it, and put the secret in {secret}, which \
                 is never shown"
            ),
        ));
    }
    Ok(())
}

/// A URL as Rateline shows it: a user name and password written into it (stored before
/// such URLs were refused) are shown as `***`, never as they are.
pub fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Checks free text: no control characters but line breaks and tabs (PostgreSQL cannot
/// store NUL, and the rest only garble what operators read).
pub fn check_text(field: &str, text: &str) -> Result<(), Invalid> {
    match text
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Some(c) => Err(Invalid::new(
            field,
            format!("must not contain the control character {c:?}"),
        )),
        None => Ok(()),
    }
}

/// The fewest characters of a signing secret (a line's webhook, a subscription, a person's
/// alert webhook). The OpenAPI description states it as each field's `minLength`.
pub const SECRET_MIN_CHARS: usize = 16;

/// Checks a signing secret: one line of at least [`SECRET_MIN_CHARS`] characters
/// (characters, as JSON Schema's `minLength` counts them, not bytes). `signs` names what it
/// signs, for the message.
pub fn check_secret(field: &str, secret: &str, signs: &str) -> Result<(), Invalid> {
    check_line(field, secret)?;
    if secret.chars().count() < SECRET_MIN_CHARS {
        return Err(Invalid::new(
            field,
            format!("must be at least {SECRET_MIN_CHARS} characters: it signs {signs}"),
        ));
    }
    Ok(())
}

/// Checks a name or other one-line text: no control characters at all, and no line or
/// paragraph separator (U+2028, U+2029), which some clients show as a line break: a name
/// could otherwise start a line of its own in an alert.
pub fn check_line(field: &str, text: &str) -> Result<(), Invalid> {
    match text
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        Some(c) => Err(Invalid::new(
            field,
            format!("must be one line without control characters, found {c:?}"),
        )),
        None => Ok(()),
    }
}

/// Asserts that a pattern of the OpenAPI description matches each sample exactly when the
/// check it describes takes it.
#[cfg(test)]
pub(crate) fn pattern_states_the_rule(
    pattern: &str,
    takes: impl Fn(&str) -> bool,
    samples: &[&str],
) {
    let compiled = regex::Regex::new(pattern).expect("the pattern compiles");
    for sample in samples {
        assert_eq!(compiled.is_match(sample), takes(sample), "{sample:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_must_be_http_with_a_host_and_hold_no_control_characters() {
        assert!(check_http_url("u", "https://cc.example/hook?x=1").is_ok());
        for with_credentials in [
            "https://user:pass@cc.example/hook",
            "https://user@cc.example/hook",
            "https://:pass@cc.example/hook",
        ] {
            let e = check_http_url("webhook.url", with_credentials).unwrap_err();
            assert!(e.message.contains("webhook.secret"), "{e}");
        }
        assert_eq!(
            shown_url("https://user:s3cret@cc.example/hook"),
            "https://***:***@cc.example/hook"
        );
        assert_eq!(shown_url("https://cc.example/h"), "https://cc.example/h");
        for bad in [
            "ftp://cc.example/",
            "https://",
            "/relative",
            "http://a.example/\u{0}x",
            "http://a.example/ x",
            "http://a.example/\tx",
        ] {
            assert_eq!(check_http_url("u", bad).unwrap_err().field, "u", "{bad:?}");
        }
    }

    /// The description's URL pattern takes what `check_http_url` takes.
    #[test]
    fn the_url_pattern_states_the_rule_it_describes() {
        pattern_states_the_rule(
            HTTP_URL,
            |url| check_http_url("url", url).is_ok(),
            &[
                "https://example.com/rateline",
                "HTTP://0",
                "http://127.0.0.1:8080/?a=b#c",
                "https://example.com",
                "ftp://example.com/",
                "https://user:pw@example.com/",
                "https://exa mple.com/",
                "example.com",
                "",
            ],
        );
    }

    /// A session's id takes what another system chose (any script), a line's and a person's
    /// are written in one script; all refuse what an id never holds, say so in the
    /// description, and are looked up in a map by their text.
    #[test]
    fn each_kind_of_id_keeps_its_own_rules() {
        use utoipa::PartialSchema;
        let mixed = "\u{043E}lga";
        assert!(SessionId::parse("id", mixed).is_ok());
        assert!(LineId::parse("line_id", mixed).is_err());
        let refused = PersonId::parse("person_id", mixed).unwrap_err();
        assert_eq!(refused.field, "person_id");
        for spaced in ["a b", "", "a/b"] {
            assert!(SessionId::parse("id", spaced).is_err(), "{spaced:?}");
            assert!(LineId::parse("id", spaced).is_err(), "{spaced:?}");
            assert!(PersonId::parse("id", spaced).is_err(), "{spaced:?}");
        }
        let described = serde_json::to_value(id_schema()).expect("a schema");
        for schema in [SessionId::schema(), LineId::schema(), PersonId::schema()] {
            assert_eq!(serde_json::to_value(schema).expect("a schema"), described);
        }
        let composed = SessionId::parse("id", "cafe\u{301}").expect("an id");
        let opened = std::collections::HashMap::from([(composed, 1)]);
        assert_eq!(opened.get("caf\u{e9}"), Some(&1));
    }

    #[test]
    fn every_secret_is_described_with_the_length_the_check_counts() {
        use utoipa::PartialSchema;
        fn min_length(
            schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
            field: &str,
        ) -> serde_json::Value {
            serde_json::to_value(schema).expect("a schema")["properties"][field]["minLength"]
                .clone()
        }
        let described = [
            min_length(crate::SubscriptionSettings::schema(), "secret"),
            min_length(crate::Notify::schema(), "webhook_secret"),
            min_length(crate::line::WebhookSettings::schema(), "secret"),
        ];
        for min in described {
            assert_eq!(min, serde_json::json!(SECRET_MIN_CHARS));
        }
        // Characters, as minLength counts them: 16 Cyrillic letters (32 bytes) pass, and
        // 15 do not, though they are 30 bytes.
        assert!(check_secret("secret", &"ж".repeat(16), "every event").is_ok());
        let short = check_secret("secret", &"ж".repeat(15), "every event").unwrap_err();
        assert_eq!(short.field, "secret");
        assert!(
            short
                .message
                .contains("at least 16 characters: it signs every event")
        );
        assert!(check_secret("secret", "0123456789abcdef\n", "every event").is_err());
    }

    #[test]
    fn texts_keep_line_breaks_but_not_nul() {
        assert!(check_text("comment", "slow\nbut kind\t!").is_ok());
        assert!(check_text("comment", "a\u{0}b").is_err());
        assert!(check_line("name", "Ann\nB").is_err());
        assert!(check_line("name", "Ann\u{2028}Session: https://phish.example").is_err());
        assert!(check_line("name", "Ann\u{2029}B").is_err());
        assert!(check_line("name", "Ann B").is_ok());
    }

    #[test]
    fn invisible_and_reordering_characters_are_refused_by_name() {
        for (id, named) in [
            ("olga\u{200B}", "U+200B (ZERO WIDTH SPACE)"),
            ("op-\u{202E}1", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
            ("\u{FEFF}op", "U+FEFF"),
            ("o\u{00AD}p", "U+00AD (SOFT HYPHEN)"),
            ("op\u{2066}x", "U+2066"),
            ("op\u{E0001}", "U+E0001 (a format character)"),
        ] {
            let e = check_id("id", id).unwrap_err();
            assert!(e.message.contains(named), "{id:?}: {}", e.message);
        }
    }

    #[test]
    fn ids_are_composed_and_a_decomposed_one_is_refused_until_it_is() {
        let decomposed = "jose\u{0301}";
        assert!(check_id("id", decomposed).is_err());
        let composed = normalize_id(decomposed);
        assert_eq!(composed, "jos\u{00E9}");
        assert!(check_id("id", &composed).is_ok());
    }

    #[test]
    fn names_of_lines_and_people_are_written_in_one_script() {
        assert!(check_name_id("id", "olga").is_ok());
        assert!(check_name_id("id", "ольга-2").is_ok());
        assert!(
            check_name_id("id", "サポート東京").is_ok(),
            "Japanese mixes its scripts"
        );
        let e = check_name_id("id", "\u{043E}lga").unwrap_err();
        assert!(e.message.contains("Cyrillic and Latin"), "{}", e.message);
        // Sessions and clients come from other systems and may mix.
        assert!(check_id("id", "tg-Иван").is_ok());
    }

    #[test]
    fn ordinary_ids_pass_and_odd_ones_are_named() {
        assert!(check_id("id", "s-42:chat.7").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "a b").is_err());
        assert!(check_id("id", "a/b").is_err());
        assert!(check_id("id", &"x".repeat(129)).is_err());
    }
}
