//! "I never get alerts": who a line's low-rating alerts can actually reach.
//!
//! A line names its recipients in `notify_low`: people, groups, and the responsible
//! manager of the session's operator. Each named person must exist, have notifications
//! on, and have somewhere to receive them (an e-mail address, a Telegram chat or a
//! webhook URL). This check walks the list and names every gap, so a line that would alert
//! nobody is caught by `rateline check-config` and shown by `GET /v1/lines/{id}` before a
//! low rating goes unheard. (The responsible manager depends on the session's operator and
//! is checked when an alert is made.)

use serde::Serialize;

use crate::domain::{LineSettings, Recipient};
use crate::store::{Store, StoreError};

/// Who a line's alerts reach, and what stops the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertReach {
    /// False when low ratings would alert nobody although the line names recipients.
    pub reaches_someone: bool,
    /// Every recipient that cannot be reached, and why, as sentences.
    pub problems: Vec<String>,
}

/// Checks `line`'s `notify_low` against the people and groups in the store.
pub async fn check(store: &Store, line: &LineSettings) -> Result<AlertReach, StoreError> {
    let mut reach = AlertReach::default();
    for recipient in &line.notify_low {
        match recipient {
            Recipient::Supervisor { id } => {
                if let Some(problem) = person_problem(store, id).await? {
                    reach.problems.push(problem);
                } else {
                    reach.reaches_someone = true;
                }
            }
            Recipient::Group { id } => match store.group_members(id).await? {
                None => reach.problems.push(format!(
                    "notify_low names group '{id}', which does not exist: create it with PUT /v1/groups/{id}"
                )),
                Some(members) if members.is_empty() => reach
                    .problems
                    .push(format!("group '{id}' has no members")),
                Some(members) => {
                    for member in &members {
                        match person_problem(store, member).await? {
                            Some(p) => reach.problems.push(format!("in group '{id}': {p}")),
                            None => reach.reaches_someone = true,
                        }
                    }
                }
            },
            // Known only per session; counted as a recipient, checked when an alert is made.
            Recipient::ResponsibleManager => reach.reaches_someone = true,
        }
    }
    Ok(reach)
}

async fn person_problem(store: &Store, id: &str) -> Result<Option<String>, StoreError> {
    Ok(match store.person_reachability(id).await? {
        None => Some(format!(
            "person '{id}' does not exist: create them with PUT /v1/people/{id}"
        )),
        Some(p) if !p.notifications_enabled => {
            Some(format!("person '{id}' has notifications switched off"))
        }
        Some(p)
            if p.notify.email.is_none()
                && p.notify.telegram_chat_id.is_none()
                && p.notify.webhook_url.is_none() =>
        {
            Some(format!(
                "person '{id}' has no address: set notify.email, notify.telegram_chat_id or notify.webhook_url"
            ))
        }
        Some(_) => None,
    })
}
