//! Ids as the outside sends them: checked before the store is asked, and a client's id in
//! the one form Rateline keeps it.

use rateline_domain::{Channel, Id, Invalid, LineId, PersonId, RequestId, SessionId, check_id};

use super::error::{
    Result, line_not_found, person_not_found, request_not_found, session_not_found,
};

// Text that names a thing (a dashboard path, a form, an answer's `request_id`) typed where
// it enters. An id Rateline would never accept names nothing: it is answered as the thing
// not found, without asking the database, which may refuse such text outright.

/// The session `id` names.
pub fn known_session(id: &str) -> Result<SessionId> {
    SessionId::parse("session_id", id).map_err(|_| session_not_found(id))
}

/// The line `id` names.
pub fn known_line(id: &str) -> Result<LineId> {
    LineId::parse("line_id", id).map_err(|_| line_not_found(id))
}

/// The person `id` names.
pub fn known_person(id: &str) -> Result<PersonId> {
    PersonId::parse("person_id", id).map_err(|_| person_not_found(id))
}

/// The rating request `id` names.
pub fn known_request(id: &str) -> Result<RequestId> {
    RequestId::parse("request_id", id).map_err(|_| request_not_found(id))
}

/// A client's id on `channel` in the form Rateline keeps it: a WhatsApp number's digits,
/// any other id composed (NFC) and checked.
pub(crate) fn client_id(channel: Channel, id: &str) -> Result<String> {
    if channel == Channel::Whatsapp {
        return Ok(whatsapp_number(id)?.into_string());
    }
    let id = rateline_domain::normalize_id(id);
    check_id("client.id", &id)?;
    Ok(id)
}

/// A WhatsApp client as WhatsApp's webhooks name them: the phone number's digits, so
/// "+250-788-123-456" and "250788123456" are the same client.
pub(super) fn whatsapp_number(id: &str) -> Result<Id> {
    let digits: String = id
        .chars()
        .filter(|c| !matches!(c, '+' | '-' | '(' | ')' | '.'))
        .collect();
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(Invalid::new(
            "client.id",
            format!(
                "'{id}' is not a phone number: on the whatsapp channel client.id is the client's \
                 number in international form, such as 250788123456"
            ),
        )
        .into());
    }
    Ok(Id::parse("client.id", &digits)?)
}
