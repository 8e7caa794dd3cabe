//! Identifiers chosen by the contact center (lines, sessions, people, groups), and the
//! characters any stored text may hold.

use super::Invalid;

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// An identifier in the OpenAPI description: the rule [`check_id`] enforces, as a pattern
/// (the 128 is bytes there, characters here).
pub struct Id;

impl utoipa::PartialSchema for Id {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_ID_LEN))
            .pattern(Some(r"^[^\s/\u0000-\u001f\u007f-\u009f]+$"))
            .description(Some(
                "Chosen by the contact center: 1 to 128 bytes, no whitespace, control \
                 characters or '/'.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Id {}

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

/// Checks an identifier: 1–128 bytes, no whitespace, control characters or `/`, so it
/// can stand in a URL path as it is.
pub fn check_id(field: &str, id: &str) -> Result<(), Invalid> {
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Invalid::new(
            field,
            format!("must be 1 to {MAX_ID_LEN} bytes long, got {}", id.len()),
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || *c == '/')
    {
        return Err(Invalid::new(
            field,
            format!("must not contain {c:?}: use letters, digits and punctuation other than '/'"),
        ));
    }
    Ok(())
}

/// Checks a URL Rateline will call: absolute http(s) with a host, as written (the URL
/// parser would quietly drop or encode control characters the stored text kept).
pub fn check_http_url(field: &str, url: &str) -> Result<(), Invalid> {
    let ok = !url.chars().any(|c| c.is_control() || c.is_whitespace())
        && reqwest::Url::parse(url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            field,
            "must be an absolute http:// or https:// URL",
        ))
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

/// Checks a name or other one-line text: no control characters at all.
pub fn check_line(field: &str, text: &str) -> Result<(), Invalid> {
    match text.chars().find(|c| c.is_control()) {
        Some(c) => Err(Invalid::new(
            field,
            format!("must be one line without control characters, found {c:?}"),
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_must_be_http_with_a_host_and_hold_no_control_characters() {
        assert!(check_http_url("u", "https://cc.example/hook?x=1").is_ok());
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

    #[test]
    fn texts_keep_line_breaks_but_not_nul() {
        assert!(check_text("comment", "slow\nbut kind\t!").is_ok());
        assert!(check_text("comment", "a\u{0}b").is_err());
        assert!(check_line("name", "Ann\nB").is_err());
        assert!(check_line("name", "Ann B").is_ok());
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
