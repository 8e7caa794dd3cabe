//! "I never get alerts": who a line's low-rating alerts can actually reach.
//!
//! A line names its recipients in `notify_low`: people, groups, and the responsible
//! manager of the session's operator. Each named person must exist, have notifications
//! on, and have somewhere to receive them (an e-mail address, a Telegram chat or a
//! webhook URL). This check walks the list and names every gap, so a line that would alert
//! nobody is caught by `rateline check-config` and shown by `GET /v1/lines/{id}` before a
//! low rating goes unheard. An address counts only when its sink is configured: e-mail
//! needs `[smtp]`, a Telegram chat needs `[telegram]`; a webhook URL always works. The
//! responsible manager depends on the session's operator: the check names each operator of
//! the line (a person whose `lines` hold it) without a manager, or whose manager cannot be
//! reached, and the alert made for a session names the gap again if it is still there. A
//! line that keeps its ratings from its operators (`rating.operators_see_ratings` off)
//! alerts no recipient who is an operator, and the check names each one it would skip.

use rateline_domain::{
    LineId, LineSettings, MAX_ALERTED_PEOPLE, PersonId, Recipient, Role, operator_kept_from_ratings,
};
use serde::Serialize;

use super::base::{Engine, Sinks};
use crate::store::{Store, StoreError};

/// Who a line's alerts reach, and what stops the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AlertReach {
    /// False when low ratings would alert nobody although the line names recipients.
    pub reaches_someone: bool,
    /// Every recipient that cannot be reached, and why, as sentences.
    pub problems: Vec<String>,
    /// The line's operators (active people whose `lines` hold it), by id: whose responsible
    /// manager the line alerts when it names `responsible_manager`.
    pub operators: Vec<String>,
    /// Every person `notify_low` names (directly, in a group, or as an operator's
    /// responsible manager), in its order, each reachable or not and why.
    pub recipients: Vec<RecipientReach>,
}

/// One person a line's alerts would go to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RecipientReach {
    /// The person's id.
    pub person_id: String,
    /// How the line names them: `supervisor`, `group <id>`, or `manager of <operator id>`.
    pub through: String,
    /// Whether a low rating's alert would be sent to them.
    pub reachable: bool,
    /// Why not, when not.
    pub problem: Option<String>,
}

impl AlertReach {
    /// Records a person the line's alerts would go to, and what stops them, if anything.
    fn found(&mut self, person_id: &str, through: String, problem: Option<String>) {
        self.reaches_someone |= problem.is_none();
        self.recipients.push(RecipientReach {
            person_id: person_id.to_owned(),
            through,
            reachable: problem.is_none(),
            problem,
        });
    }
}

impl Engine {
    /// Who line `id`'s low-rating alerts can reach, and what stops the rest: the same check
    /// for `GET /v1/lines/{id}` and `rateline check-config`.
    pub async fn alert_reach(
        &self,
        id: &LineId,
        line: &LineSettings,
    ) -> Result<AlertReach, StoreError> {
        check(&self.store, id, line, self.sinks).await
    }
}

/// Checks `line`'s `notify_low` against the people and groups in the store and the sinks
/// this deployment can send through.
async fn check(
    store: &Store,
    line_id: &LineId,
    line: &LineSettings,
    sinks: Sinks,
) -> Result<AlertReach, StoreError> {
    let mut reach = AlertReach::default();
    let operators: Vec<_> = store
        .people()
        .list()
        .await?
        .into_iter()
        .filter(|p| {
            p.person.role == Role::Operator
                && p.person.active
                && p.person
                    .lines
                    .iter()
                    .any(|l| l.as_str() == line_id.as_str())
        })
        .collect();
    reach.operators = operators.iter().map(|p| p.id.to_string()).collect();
    let mut people = std::collections::HashSet::new();
    for recipient in &line.notify_low {
        match recipient {
            Recipient::Supervisor { id } => {
                people.insert(id.clone());
                let problem = person_problem(store, id, line, sinks).await?;
                reach.found(id, "supervisor".into(), problem.clone());
                if let Some(problem) = problem {
                    reach.problems.push(problem);
                }
            }
            Recipient::Group { id } => match store.people().group_members(id).await? {
                None => reach.problems.push(format!(
                    "notify_low names group '{id}', which does not exist: create it with PUT /v1/groups/{id}"
                )),
                Some(members) if members.is_empty() => reach
                    .problems
                    .push(format!("group '{id}' has no members")),
                Some(members) => {
                    people.extend(members.iter().cloned());
                    for member in &members {
                        let problem = person_problem(store, member, line, sinks).await?;
                        reach.found(member, format!("group {id}"), problem.clone());
                        if let Some(p) = problem {
                            reach.problems.push(format!("in group '{id}': {p}"));
                        }
                    }
                }
            },
            // Known only per session: counted as a recipient; each operator's manager checked.
            Recipient::ResponsibleManager => {
                reach.reaches_someone = true;
                for op in &operators {
                    match &op.person.manager_id {
                        None => reach.problems.push(format!(
                            "operator '{}' has no manager_id, so no responsible manager hears \
                             of their low ratings: set it with PATCH /v1/people/{} \
                             {{\"manager_id\": \"…\"}}",
                            op.id, op.id
                        )),
                        Some(m) => {
                            let problem = person_problem(store, m.as_str(), line, sinks).await?;
                            reach.found(m.as_str(), format!("manager of {}", op.id), problem.clone());
                            if let Some(p) = problem {
                                reach.problems.push(format!(
                                    "the responsible manager of operator '{}': {p}",
                                    op.id
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    if people.len() > MAX_ALERTED_PEOPLE {
        reach.problems.push(format!(
            "notify_low reaches {} people; a low rating alerts at most {MAX_ALERTED_PEOPLE}, \
             the first of them in notify_low's order",
            people.len()
        ));
    }
    Ok(reach)
}

async fn person_problem(
    store: &Store,
    id: &str,
    line: &LineSettings,
    sinks: Sinks,
) -> Result<Option<String>, StoreError> {
    // The line's recipients and a group's members were checked where they were written.
    let found = store
        .people()
        .person_reachability(&PersonId::stored(id.to_owned()))
        .await?;
    Ok(match found {
        None => Some(format!(
            "person '{id}' does not exist: create them with PUT /v1/people/{id}"
        )),
        Some(p) if !p.active => Some(format!(
            "person '{id}' is deactivated: turn them back on with PATCH /v1/people/{id} {{\"active\": true}}"
        )),
        Some(p) if !p.notifications_enabled => {
            Some(format!("person '{id}' has notifications switched off"))
        }
        Some(p) if p.role == Role::Operator && !line.rating.operators_see_ratings => {
            Some(operator_kept_from_ratings(id))
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
        Some(p)
            if p.notify.webhook_url.is_none()
                && (p.notify.email.is_none() || !sinks.email)
                && (p.notify.telegram_chat_id.is_none() || !sinks.telegram) =>
        {
            let mut missing = Vec::new();
            if p.notify.email.is_some() {
                missing.push("e-mail needs [smtp] (smtp.url and smtp.from)");
            }
            if p.notify.telegram_chat_id.is_some() {
                missing.push("a Telegram chat needs [telegram] (telegram.token)");
            }
            Some(format!(
                "person '{id}' has no address this server can send to: {}",
                missing.join(", ")
            ))
        }
        Some(_) => None,
    })
}
