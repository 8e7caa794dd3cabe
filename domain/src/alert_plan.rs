//! Who hears of a low rating: the alert plan.
//!
//! Pure: the store reads the facts inside the rating's transaction (the request's operator
//! and their manager, the members of each group named, each person named) and writes the
//! rows this decides. Whether a row that is to be sent goes alone or into a digest is the
//! person's pace ([`crate::AlertPace::holds`]) and the line's burst, decided by the store
//! with the counts it reads.
//!
//! No entry is dropped silently: an entry that names nobody, and a person who cannot or may
//! not hear of it, each get a row that says why (`failed` or `skipped`), so the list of
//! alerts shows why someone heard nothing.

use std::collections::{BTreeMap, HashSet};

use crate::{AlertPace, MAX_ALERTED_PEOPLE, Notify, Recipient, Role};

/// The request a low rating answers: its session, and who served it.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    /// The session's id, named when nobody served it.
    pub session_id: &'a str,
    /// The operator who served the session, if one did.
    pub operator_id: Option<&'a str>,
    /// That operator's manager, if they have one and Rateline knows the operator.
    pub manager_id: Option<&'a str>,
}

/// A person an alert may go to, as the store holds them.
#[derive(Debug, Clone)]
pub struct Listener {
    /// Their role: an operator hears nothing of a line that keeps ratings from operators.
    pub role: Role,
    /// Where they hear of it.
    pub notify: Notify,
    /// Deactivated people hear nothing.
    pub active: bool,
    /// Their own switch for notifications.
    pub notifications_enabled: bool,
    /// Their pace and quiet hours.
    pub pace: AlertPace,
    /// Their zone, or the server's when they have none: their quiet hours'.
    pub zone: chrono_tz::Tz,
}

/// Why no alert goes to a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// There is nobody to reach: the row's status is `failed`, its sink `none`.
    Failed,
    /// They are not to hear of it: `skipped`.
    Skipped,
}

impl Unsent {
    /// The alert row's status.
    pub fn status(self) -> &'static str {
        match self {
            Unsent::Failed => "failed",
            Unsent::Skipped => "skipped",
        }
    }
}

/// One alert row the plan makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedAlert {
    /// A row that says why nothing goes to `recipient`.
    Unsent {
        /// A person's id, or the entry that named nobody (`responsible_manager`,
        /// `group:{id}`, `notify_low`).
        recipient: String,
        /// Failed or skipped.
        unsent: Unsent,
        /// What happened, and what to do about it.
        why: String,
    },
    /// An alert to send to `recipient` at `address` through `sink` (`email`, `telegram`,
    /// `webhook`), one per address they have.
    Send {
        /// The person's id.
        recipient: String,
        /// The sink's name.
        sink: &'static str,
        /// Their address on that sink.
        address: String,
    },
}

/// The people `recipients` name, each once, in the order named and at most
/// [`MAX_ALERTED_PEOPLE`]; and a row for each entry that names nobody. `members` holds the
/// members of each group named (a group missing from it has none).
pub fn audience(
    recipients: &[Recipient],
    served: Served<'_>,
    members: &BTreeMap<String, Vec<String>>,
) -> (Vec<String>, Vec<PlannedAlert>) {
    let mut people: Vec<String> = Vec::new();
    let mut nobody = Vec::new();
    let mut failed = |recipient: String, why: String| {
        nobody.push(PlannedAlert::Unsent {
            recipient,
            unsent: Unsent::Failed,
            why,
        })
    };
    for r in recipients {
        match r {
            Recipient::Supervisor { id } => people.push(id.clone()),
            Recipient::ResponsibleManager => match (served.operator_id, served.manager_id) {
                (_, Some(m)) => people.push(m.to_owned()),
                (None, None) => failed(
                    "responsible_manager".into(),
                    format!(
                        "session '{}' has no operator, so no responsible manager",
                        served.session_id
                    ),
                ),
                (Some(o), None) => failed(
                    "responsible_manager".into(),
                    format!(
                        "operator '{o}' has no manager_id (or is not a person Rateline knows); \
                         set it with PUT /v1/people/{o}"
                    ),
                ),
            },
            Recipient::Group { id } => match members.get(id).filter(|m| !m.is_empty()) {
                Some(m) => people.extend(m.iter().cloned()),
                None => failed(
                    format!("group:{id}"),
                    format!("group '{id}' does not exist or has no members"),
                ),
            },
        }
    }
    // A person named twice (a supervisor who is also in the group) hears it once.
    let mut seen = HashSet::new();
    people.retain(|p| seen.insert(p.clone()));
    // One rating never fans out into thousands of alerts, however big the groups are.
    if people.len() > MAX_ALERTED_PEOPLE {
        failed(
            "notify_low".into(),
            format!(
                "notify_low reaches {} people; a low rating alerts at most {MAX_ALERTED_PEOPLE}, \
                 the first of them in notify_low's order",
                people.len()
            ),
        );
        people.truncate(MAX_ALERTED_PEOPLE);
    }
    (people, nobody)
}

/// The rows for the people [`audience`] found: one to send per address a person has, or
/// one that says why they hear nothing. `listeners` holds each of them Rateline knows;
/// `operators_see_ratings` is the line's setting (when off, an operator is skipped, since
/// the alert carries the rating and the comment).
pub fn reach(
    people: &[String],
    listeners: &BTreeMap<String, Listener>,
    operators_see_ratings: bool,
) -> Vec<PlannedAlert> {
    let mut rows = Vec::new();
    for id in people {
        let unsent = |unsent, why| PlannedAlert::Unsent {
            recipient: id.clone(),
            unsent,
            why,
        };
        let Some(l) = listeners.get(id) else {
            rows.push(unsent(
                Unsent::Failed,
                format!("person '{id}' does not exist; create them with PUT /v1/people/{id}"),
            ));
            continue;
        };
        let kept = if !l.active {
            Some(format!("person '{id}' is deactivated"))
        } else if !l.notifications_enabled {
            Some(format!("person '{id}' has notifications switched off"))
        } else if !operators_see_ratings && l.role == Role::Operator {
            Some(operator_kept_from_ratings(id))
        } else {
            None
        };
        if let Some(why) = kept {
            rows.push(unsent(Unsent::Skipped, why));
            continue;
        }
        let before = rows.len();
        for (sink, _, address) in l.notify.addresses() {
            if let Some(address) = address {
                rows.push(PlannedAlert::Send {
                    recipient: id.clone(),
                    sink,
                    address,
                });
            }
        }
        if rows.len() == before {
            rows.push(unsent(
                Unsent::Failed,
                format!(
                    "person '{id}' has no address: set notify.email, notify.telegram_chat_id \
                     or notify.webhook_url"
                ),
            ));
        }
    }
    rows
}

/// Why an operator named as a recipient hears nothing of a line that keeps its ratings from
/// its operators: the alert would show them the rating and the comment.
pub fn operator_kept_from_ratings(id: &str) -> String {
    format!(
        "person '{id}' is an operator, and this line keeps clients' ratings from its operators \
         (rating.operators_see_ratings is off): name a supervisor, or switch it on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served<'a>(operator: Option<&'a str>, manager: Option<&'a str>) -> Served<'a> {
        Served {
            session_id: "s1",
            operator_id: operator,
            manager_id: manager,
        }
    }

    fn listener(role: Role, email: Option<&str>) -> Listener {
        Listener {
            role,
            notify: Notify {
                email: email.map(str::to_owned),
                ..Notify::default()
            },
            active: true,
            notifications_enabled: true,
            pace: AlertPace::default(),
            zone: chrono_tz::UTC,
        }
    }

    fn why_unsent(rows: &[PlannedAlert]) -> Vec<(&str, Unsent, &str)> {
        rows.iter()
            .filter_map(|r| match r {
                PlannedAlert::Unsent {
                    recipient,
                    unsent,
                    why,
                } => Some((recipient.as_str(), *unsent, why.as_str())),
                PlannedAlert::Send { .. } => None,
            })
            .collect()
    }

    #[test]
    fn a_person_named_twice_hears_once_in_the_order_named() {
        let members = BTreeMap::from([("leads".to_owned(), vec!["ann".into(), "bob".into()])]);
        let recipients = [
            Recipient::Supervisor { id: "bob".into() },
            Recipient::Group { id: "leads".into() },
            Recipient::ResponsibleManager,
        ];
        let (people, nobody) = audience(&recipients, served(Some("op"), Some("ann")), &members);
        assert_eq!(people, ["bob", "ann"]);
        assert!(nobody.is_empty());
    }

    #[test]
    fn an_entry_that_names_nobody_says_why() {
        let recipients = [
            Recipient::ResponsibleManager,
            Recipient::Group { id: "empty".into() },
        ];
        let members = BTreeMap::from([("empty".to_owned(), Vec::new())]);
        let (people, nobody) = audience(&recipients, served(Some("op"), None), &members);
        assert!(people.is_empty());
        let nobody = why_unsent(&nobody);
        assert_eq!(nobody[0].0, "responsible_manager");
        assert!(nobody[0].2.contains("operator 'op' has no manager_id"));
        assert_eq!(nobody[1].0, "group:empty");
        assert_eq!(nobody[1].1, Unsent::Failed);

        let (_, nobody) = audience(&recipients[..1], served(None, None), &members);
        assert!(
            why_unsent(&nobody)[0]
                .2
                .contains("session 's1' has no operator")
        );
    }

    #[test]
    fn a_big_group_alerts_at_most_the_first_hundred() {
        let many: Vec<String> = (0..MAX_ALERTED_PEOPLE + 5)
            .map(|i| format!("p{i}"))
            .collect();
        let members = BTreeMap::from([("all".to_owned(), many)]);
        let (people, nobody) = audience(
            &[Recipient::Group { id: "all".into() }],
            served(None, None),
            &members,
        );
        assert_eq!(people.len(), MAX_ALERTED_PEOPLE);
        assert_eq!(people[0], "p0");
        let nobody = why_unsent(&nobody);
        assert_eq!(nobody[0].0, "notify_low");
        assert!(nobody[0].2.contains("reaches 105 people"));
    }

    #[test]
    fn each_address_gets_an_alert_and_who_cannot_hear_is_told_why() {
        let mut both = listener(Role::Supervisor, Some("sue@example.com"));
        both.notify.telegram_chat_id = Some(42);
        let mut off = listener(Role::Supervisor, Some("off@example.com"));
        off.notifications_enabled = false;
        let mut gone = listener(Role::Admin, Some("gone@example.com"));
        gone.active = false;
        let listeners = BTreeMap::from([
            ("sue".to_owned(), both),
            ("off".to_owned(), off),
            ("gone".to_owned(), gone),
            (
                "op".to_owned(),
                listener(Role::Operator, Some("op@example.com")),
            ),
            ("mute".to_owned(), listener(Role::Supervisor, None)),
        ]);
        let people: Vec<String> = ["sue", "off", "gone", "op", "mute", "ghost"]
            .map(String::from)
            .to_vec();

        let rows = reach(&people, &listeners, false);
        let sent: Vec<_> = rows
            .iter()
            .filter_map(|r| match r {
                PlannedAlert::Send { sink, address, .. } => Some((*sink, address.as_str())),
                PlannedAlert::Unsent { .. } => None,
            })
            .collect();
        assert_eq!(sent, [("email", "sue@example.com"), ("telegram", "42")]);
        let unsent = why_unsent(&rows);
        let kinds: Vec<_> = unsent.iter().map(|(who, u, _)| (*who, *u)).collect();
        assert_eq!(
            kinds,
            [
                ("off", Unsent::Skipped),
                ("gone", Unsent::Skipped),
                ("op", Unsent::Skipped),
                ("mute", Unsent::Failed),
                ("ghost", Unsent::Failed),
            ]
        );
        assert!(unsent[2].2.contains("operators_see_ratings is off"));
        assert!(unsent[4].2.contains("PUT /v1/people/ghost"));

        // A line that shows operators their ratings alerts an operator it names.
        let rows = reach(&people[3..4], &listeners, true);
        assert!(matches!(&rows[..], [PlannedAlert::Send { recipient, .. }] if recipient == "op"));
    }
}
