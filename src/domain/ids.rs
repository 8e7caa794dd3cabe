//! Identifiers chosen by the contact center (lines, sessions, people, groups).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_pass_and_odd_ones_are_named() {
        assert!(check_id("id", "s-42:chat.7").is_ok());
        assert!(check_id("id", "").is_err());
        assert!(check_id("id", "a b").is_err());
        assert!(check_id("id", "a/b").is_err());
        assert!(check_id("id", &"x".repeat(129)).is_err());
    }
}
