//! Refusals in the words of the people who read the pages. The engine's messages are
//! written for the API's callers: they name the endpoint that fixes the problem
//! ("create it with PUT /v1/lines/{id}") and give instants as RFC 3339. A page says what is
//! wrong without either: the API instruction is cut, each instant is written in the
//! viewer's zone, and a hint in the pages' terms follows where the code has one.

use chrono::DateTime;
use rateline_domain::ErrorCode;

use super::viewer::Viewer;

/// `message` (an API refusal's, of `code`) as a page says it to `viewer`.
pub fn for_people(code: ErrorCode, message: &str, viewer: &Viewer) -> String {
    let said = with_times(&without_api(message), viewer);
    let said = capitalised(said.trim());
    match hint(code) {
        Some(hint) if said.is_empty() => hint.to_owned(),
        Some(hint) => format!("{}. {hint}", said.trim_end_matches('.')),
        None if said.is_empty() => "That could not be done, and nothing changed.".to_owned(),
        None => said,
    }
}

/// What a person can do about a refusal of `code`, in the pages' terms.
fn hint(code: ErrorCode) -> Option<&'static str> {
    use ErrorCode::*;
    Some(match code {
        LineNotFound | SessionNotFound | RequestNotFound | RatingNotFound | AppealNotFound
        | PersonNotFound | GroupNotFound | KeyNotFound | SubscriptionNotFound
        | HelpdeskNotFound | BadgeNotFound => {
            "It may have been removed, or the link may be mistyped: start again from the page \
             that lists it."
        }
        Forbidden => "If you need this, ask an admin.",
        LineManagedByConfig
        | PersonManagedByConfig
        | GroupManagedByConfig
        | HelpdeskManagedByConfig => {
            "It is set in the server's configuration file, so whoever runs the server changes it \
             there."
        }
        RateLimited => "Wait a minute and try again.",
        _ => return None,
    })
}

/// `message` with every clause that tells an API caller what to call removed: a clause
/// starts at `; `, `: `, `, `, `. ` or ` (` and ends before the next `;` or `. ` (after a
/// ` (`, with the next `)`) or at the message's end.
fn without_api(message: &str) -> String {
    let mut said = message.to_owned();
    while let Some(at) = said.find("/v1/") {
        let start = ["; ", ": ", ", ", ". ", " ("]
            .iter()
            .filter_map(|sep| said[..at].rfind(sep))
            .max()
            .unwrap_or(0);
        let opened = said[start..].starts_with(" (");
        let rest = &said[at..];
        let end = if opened {
            rest.find(')').map(|i| i + 1)
        } else {
            [rest.find(';'), rest.find(". ")]
                .into_iter()
                .flatten()
                .min()
        };
        said.replace_range(start..end.map_or(said.len(), |i| at + i), "");
    }
    said
}

/// `message` with each RFC 3339 instant written as the viewer reads times.
fn with_times(message: &str, viewer: &Viewer) -> String {
    message
        .split(' ')
        .map(|word| {
            let bare = word
                .trim_matches(|c: char| "\"'(),;".contains(c))
                .trim_end_matches('.');
            match DateTime::parse_from_rfc3339(bare) {
                Ok(t) => word.replacen(bare, &viewer.at(t.to_utc()), 1),
                Err(_) => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Viewer {
        Viewer {
            zone: chrono_tz::Europe::Berlin,
            ..Viewer::default()
        }
    }

    #[test]
    fn the_api_instruction_is_cut_and_a_hint_in_the_pages_words_follows() {
        let said = for_people(
            ErrorCode::LineNotFound,
            "line 'sales' does not exist; create it with PUT /v1/lines/sales",
            &Viewer::default(),
        );
        assert_eq!(
            said,
            "Line 'sales' does not exist. It may have been removed, or the link may be \
             mistyped: start again from the page that lists it."
        );
        assert_eq!(
            without_api("person 'p' does not exist: create them with PUT /v1/people/p first"),
            "person 'p' does not exist"
        );
        assert_eq!(
            without_api(
                "no line yet (an admin adds them with PUT /v1/people/ann, \"lines\"); ask them"
            ),
            "no line yet; ask them"
        );
        assert_eq!(
            without_api(
                "line 'x' is paused. An admin turns it back on with PATCH /v1/lines/x. Reports stay."
            ),
            "line 'x' is paused. Reports stay."
        );
    }

    #[test]
    fn instants_are_written_in_the_viewers_zone() {
        let said = with_times(
            "the chat was closed at 2026-11-21T09:00:00.000Z, before it opened",
            &berlin(),
        );
        assert_eq!(
            said,
            "the chat was closed at 2026-11-21 10:00 CET, before it opened"
        );
        assert_eq!(
            with_times("\"2026-06-01T12:00:00Z\"", &berlin()),
            "\"2026-06-01 14:00 CEST\""
        );
        assert_eq!(with_times("nothing to see", &berlin()), "nothing to see");
    }

    #[test]
    fn a_message_that_was_all_instruction_becomes_the_hint() {
        assert_eq!(
            for_people(ErrorCode::KeyNotFound, "GET /v1/keys", &Viewer::default()),
            hint(ErrorCode::KeyNotFound).unwrap_or_default()
        );
        assert_eq!(
            for_people(ErrorCode::InternalError, "", &Viewer::default()),
            "That could not be done, and nothing changed."
        );
    }
}
