//! Identifiers chosen by the contact center (lines, sessions, people, groups), and the
//! characters any stored text may hold.

use super::Invalid;

/// The longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

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
