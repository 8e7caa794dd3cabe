//! What a caller may do: the roles and line scopes of API keys, in one place. The
//! extractor that reads the key from a request is the HTTP layer's (`http::auth`); this
//! module only decides.
//!
//! Roles:
//! - `admin`: everything, including configuration (lines, people, groups) and appeal
//!   decisions;
//! - `supervisor`: the sessions, ratings, alerts, responses, evaluations and report of the
//!   lines the key covers (all lines when it names none). A contact center's integration,
//!   which opens and closes sessions and passes on answers, uses a supervisor key;
//! - `operator`: reads the sessions the operator handled and their own numbers in the report, appeals
//!   their own ratings, and opens, messages and closes sessions as themselves on the lines
//!   their person works on.
//!
//! **An operator key never changes what is counted for its own person**
//! ([`Caller::may_write_session`]): it reports no client message (a client's message
//! cancels a pending rating request) and no answer, acts only on its person's lines, and
//! reports events as they happen (no time more than [`OPERATOR_PAST`] before now), so it
//! cannot backdate a close past the request's send deadline.
//!
//! Two kinds of refusal: a role that may never do something gets `403 forbidden`, naming
//! the key; an object (a session, a rating) the key may not see is answered exactly as one
//! that does not exist (`404`), so a key cannot map which ids exist or where.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rateline_domain::{MessageFrom, PersonId, Role};

use crate::store::KeyRecord;

/// How far in the past an operator key may date an event: a little clock skew.
pub const OPERATOR_PAST: Duration = Duration::minutes(5);

/// The caller of one request, put on each `/v1` request by the HTTP layer's
/// authentication and on each dashboard page by its sign-in.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No key exists (local development): everything is allowed.
    Open,
    /// An API key, or a person signed in to the dashboard.
    Known(Arc<Principal>),
}

/// Who a known caller is, and what their role and lines let them do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// How the caller proved who they are; refusals name it.
    pub credential: Credential,
    /// What the caller may do: the key's role, or the signed-in person's.
    pub role: Role,
    /// The person the caller acts as: the one signed in, or an operator key's. Work done in
    /// the dashboard or with such a key is recorded under this id.
    pub person_id: Option<PersonId>,
    /// The lines a supervisor covers; `None` covers every line.
    pub lines: Option<Vec<String>>,
    /// An operator's lines: the ones their person works on.
    pub operator_lines: Vec<String>,
}

/// How a known caller proved who they are.
#[derive(Debug, Clone)]
pub enum Credential {
    /// An API key (programs, or a dashboard sign-in made with a key).
    Key {
        /// The key's id, the part after `rl_`.
        id: String,
        /// Who or what holds the key, as its maker named it.
        name: String,
    },
    /// A person signed in with their password.
    Person {
        /// The person's name, which refusals show.
        name: String,
    },
}

/// A write to a session, as [`Caller::may_write_session`] judges it.
#[derive(Debug, Clone, Copy)]
pub enum SessionWrite {
    /// Opening a session, on its line and as its operator.
    Open {
        /// When the open is dated; `None` is now.
        opened_at: Option<DateTime<Utc>>,
    },
    /// A message written in the session.
    Message {
        /// Who wrote it: an operator key may report only the operator's own messages.
        from: MessageFrom,
        /// When the message is dated; `None` is now.
        at: Option<DateTime<Utc>>,
    },
    /// Closing the session.
    Close {
        /// When the close is dated; `None` is now.
        at: Option<DateTime<Utc>>,
    },
}

/// What a caller may not do, and why (naming the key): answered `403 forbidden`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct Forbidden {
    /// What was refused, naming the key or person and what it covers: the answer's `message`.
    pub message: String,
}

fn forbidden(message: String) -> Forbidden {
    Forbidden { message }
}

fn describe(p: &Principal) -> String {
    match &p.credential {
        Credential::Key { id, name } => {
            format!("key '{id}' ({name}) is a {} key", p.role.as_str())
        }
        Credential::Person { name } => format!(
            "{name} ({}) is signed in as {} {}",
            p.person_id.as_deref().unwrap_or("?"),
            if p.role == Role::Supervisor {
                "a"
            } else {
                "an"
            },
            p.role.as_str()
        ),
    }
}

/// "an admin key" for a key, "an admin" for a person: what a refusal says is needed.
fn needs(p: &Principal, roles: &str) -> String {
    match p.credential {
        Credential::Key { .. } => format!("{roles} key"),
        Credential::Person { .. } => roles.to_owned(),
    }
}

impl Caller {
    /// A caller with `key`; `operator_lines` are its person's lines (operators).
    pub fn with_key(key: KeyRecord, operator_lines: Vec<String>) -> Self {
        Caller::Known(Arc::new(Principal {
            credential: Credential::Key {
                id: key.id,
                name: key.name,
            },
            role: key.role,
            person_id: key.person_id,
            lines: key.lines,
            operator_lines,
        }))
    }

    /// A person signed in as themselves. A supervisor oversees exactly their `lines` (none
    /// when they name none: a person's lines default to none, and taking a supervisor's last
    /// line away must not widen their reach); an operator works on theirs.
    pub fn person(id: &PersonId, name: &str, role: Role, lines: Vec<String>) -> Self {
        let (lines, operator_lines) = match role {
            Role::Admin => (None, Vec::new()),
            Role::Supervisor => (Some(lines), Vec::new()),
            Role::Operator => (None, lines),
        };
        Caller::Known(Arc::new(Principal {
            credential: Credential::Person {
                name: name.to_owned(),
            },
            role,
            person_id: Some(id.clone()),
            lines,
            operator_lines,
        }))
    }

    fn key(&self) -> Option<&Principal> {
        match self {
            Caller::Open => None,
            Caller::Known(p) => Some(p),
        }
    }

    /// The caller's role; `None` in the open mode.
    pub fn role(&self) -> Option<Role> {
        self.key().map(|k| k.role)
    }

    /// The person the caller acts as (signed in, or an operator key's); `None` for a key
    /// without a person and the open mode.
    pub fn person_id(&self) -> Option<&PersonId> {
        self.key()?.person_id.as_ref()
    }

    /// The API key a request came with, for its rate limit; `None` for people and the open
    /// mode.
    pub fn key_id(&self) -> Option<&str> {
        match self.key().map(|p| &p.credential) {
            Some(Credential::Key { id, .. }) => Some(id),
            _ => None,
        }
    }

    /// How the dashboard names who is signed in: the person's name, or the key's; `None` in
    /// the open mode.
    pub fn display_name(&self) -> Option<String> {
        Some(match &self.key()?.credential {
            Credential::Person { name } => name.clone(),
            Credential::Key { name, .. } => format!("key {name}"),
        })
    }

    /// Who this caller is in a record of who did something: the person, else `key <id>`;
    /// `None` in the open mode.
    pub fn recorded_as(&self) -> Option<String> {
        let p = self.key()?;
        Some(match (&p.person_id, &p.credential) {
            (Some(person), _) => person.to_string(),
            (None, Credential::Key { id, .. }) => format!("key {id}"),
            (None, Credential::Person { .. }) => "?".to_owned(),
        })
    }

    /// The person recorded as the author (or decider) of what this caller writes: a
    /// signed-in person, or an operator key's person, is always themselves (`asked`, when
    /// given, must name them); a key without a person, or the open mode, names whom it
    /// likes (`asked`, the program's word). `field` names the body's field.
    pub fn author(&self, field: &str, asked: Option<&str>) -> Result<Option<String>, Forbidden> {
        let Some(p) = self.key() else {
            return Ok(asked.map(str::to_owned));
        };
        match (&p.person_id, asked) {
            (Some(me), Some(other)) if me != other => Err(forbidden(format!(
                "{}, and acts as person '{me}' only: {field} may name only them, not '{other}' \
                 (leave it out)",
                describe(p)
            ))),
            (Some(me), _) => Ok(Some(me.to_string())),
            (None, asked) => Ok(asked.map(str::to_owned)),
        }
    }

    /// No key exists: nothing to check (callers skip the lookups checks would need).
    pub fn is_open(&self) -> bool {
        matches!(self, Caller::Open)
    }

    /// Configuration and decisions: admins only.
    pub fn admin(&self, what: &str) -> Result<(), Forbidden> {
        match self.key() {
            Some(k) if k.role != Role::Admin => Err(forbidden(format!(
                "{what} needs {}; {}",
                needs(k, "an admin"),
                describe(k)
            ))),
            _ => Ok(()),
        }
    }

    /// Work that only supervisors and admins do (responses, flags, evaluations, answers,
    /// widget tokens): an operator key is refused before anything is looked up.
    pub fn not_operator(&self, what: &str) -> Result<(), Forbidden> {
        match self.key() {
            Some(k) if k.role == Role::Operator => Err(forbidden(format!(
                "{what} needs {}; {}",
                needs(k, "a supervisor or admin"),
                describe(k)
            ))),
            _ => Ok(()),
        }
    }

    /// Deciding an appeal of a rating on line `line_id` made by `made_by`: admins, and the
    /// line's supervisors where the line lets them (`supervisors_allowed`,
    /// `rating.supervisors_decide_appeals`); never the person (or key) who made it.
    pub fn decides_appeal(
        &self,
        line_id: &str,
        supervisors_allowed: bool,
        made_by: Option<&str>,
    ) -> Result<(), Forbidden> {
        if let Some(me) = self.recorded_as()
            && made_by == Some(me.as_str())
        {
            return Err(forbidden(
                "this appeal was made by you: someone else decides it".to_owned(),
            ));
        }
        match self.key() {
            None => Ok(()),
            Some(k) if k.role == Role::Admin => Ok(()),
            Some(k) if k.role == Role::Supervisor && self.covers_line(line_id) => {
                if supervisors_allowed {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "deciding an appeal on line '{line_id}' needs an admin: the line's \
                         supervisors decide its appeals only with \
                         rating.supervisors_decide_appeals on; {}",
                        describe(k)
                    )))
                }
            }
            Some(k) => Err(forbidden(format!(
                "deciding an appeal needs {}, or a supervisor of line '{line_id}' where \
                 rating.supervisors_decide_appeals is on; {}",
                needs(k, "an admin"),
                describe(k)
            ))),
        }
    }

    /// Whether the key covers every line (admins, and supervisors naming no lines).
    pub fn all_lines(&self) -> bool {
        match self.key() {
            None => true,
            Some(k) => match k.role {
                Role::Admin => true,
                Role::Supervisor => k.lines.is_none(),
                Role::Operator => false,
            },
        }
    }

    /// Whether a supervisor's or admin's key covers line `line_id`.
    pub fn covers_line(&self, line_id: &str) -> bool {
        match self.key() {
            None => true,
            Some(k) => match k.role {
                Role::Admin => true,
                Role::Supervisor => k
                    .lines
                    .as_ref()
                    .is_none_or(|l| l.iter().any(|l| l == line_id)),
                Role::Operator => false,
            },
        }
    }

    /// Work on line `line_id` that names the line: admins, and supervisors whose key covers
    /// it. The message names only what the caller asked for and the key's own lines.
    pub fn line(&self, line_id: &str) -> Result<(), Forbidden> {
        self.not_operator("this")?;
        match self.key() {
            Some(k) if !self.covers_line(line_id) => Err(forbidden(format!(
                "{} covering lines {}, not line '{line_id}'",
                describe(k),
                k.lines.as_deref().unwrap_or_default().join(", ")
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the caller may see a session of line `line_id` handled by `operator_id` (and
    /// its request and rating): a supervisor's lines, an operator's own sessions. A caller
    /// that may not is answered as if the session did not exist.
    pub fn sees_session(&self, line_id: &str, operator_id: Option<&str>) -> bool {
        match self.role() {
            Some(Role::Operator) => operator_id.is_some() && operator_id == self.operator(),
            _ => self.covers_line(line_id),
        }
    }

    /// Whether a write to a session of line `line_id` handled by `operator_id` is allowed:
    /// the rule that an operator key never changes what is counted for its own person (see
    /// the module's docs). The caller must see the session (or, for an open, name the line
    /// and operator it opens with). `now` is the engine's clock.
    pub fn may_write_session(
        &self,
        line_id: &str,
        operator_id: Option<&str>,
        write: SessionWrite,
        now: DateTime<Utc>,
    ) -> Result<(), Forbidden> {
        let Caller::Known(k) = self else {
            return Ok(());
        };
        if k.role != Role::Operator {
            return self.line(line_id);
        }
        let me = k.person_id.as_deref().unwrap_or("?");
        if operator_id != Some(me) {
            return Err(forbidden(format!(
                "{} for operator '{me}': it acts only as that operator (operator_id \"{me}\")",
                describe(k)
            )));
        }
        if !k.operator_lines.iter().any(|l| l == line_id) {
            let lines = if k.operator_lines.is_empty() {
                "no line yet (an admin adds them with PUT /v1/people/{id}, \"lines\")"
                    .replace("{id}", me)
            } else {
                format!("lines {}", k.operator_lines.join(", "))
            };
            return Err(forbidden(format!(
                "{} for operator '{me}', who works on {lines}, not line '{line_id}'",
                describe(k)
            )));
        }
        let at = match write {
            SessionWrite::Message {
                from: MessageFrom::Client,
                ..
            } => {
                return Err(forbidden(format!(
                    "{}: client messages come from the contact center's integration (a \
                     supervisor key), since they cancel the session's rating request",
                    describe(k)
                )));
            }
            SessionWrite::Open { opened_at: at }
            | SessionWrite::Message { at, .. }
            | SessionWrite::Close { at } => at,
        };
        if let Some(at) = at
            && at < now - OPERATOR_PAST
        {
            return Err(forbidden(format!(
                "{}: an operator key reports events as they happen, and {} is more than {} \
                 minutes before now ({}); omit the time to use now",
                describe(k),
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                OPERATOR_PAST.num_minutes(),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        Ok(())
    }

    /// Reports over several lines (`GET /v1/stats` without `line`, an operator's summary,
    /// the alert list): admins and supervisors covering every line.
    /// `what` names the report; `hint` says how to ask for one line instead, if one can.
    pub fn every_line(&self, what: &str, hint: &str) -> Result<(), Forbidden> {
        match self.key() {
            _ if self.all_lines() => Ok(()),
            Some(k) if k.role == Role::Supervisor => Err(forbidden(format!(
                "{what} spans every line, and {} covering lines {}{hint}",
                describe(k),
                k.lines.as_deref().unwrap_or_default().join(", ")
            ))),
            Some(k) => Err(forbidden(format!(
                "{what} needs {}; {}",
                needs(k, "a supervisor or admin"),
                describe(k)
            ))),
            None => Ok(()),
        }
    }

    /// An operator key's report filter: its own operator, refused when `asked` names another.
    /// `None` for other callers.
    pub fn own_operator(&self, asked: Option<&str>) -> Result<Option<String>, Forbidden> {
        let (Some(k), Some(me)) = (self.key(), self.operator()) else {
            return Ok(None);
        };
        match asked {
            Some(other) if other != me => Err(forbidden(format!(
                "{} for operator '{me}': it sees that operator's numbers only, not '{other}'",
                describe(k)
            ))),
            _ => Ok(Some(me.to_owned())),
        }
    }

    /// One operator's numbers across lines (`GET /v1/operators/{id}/summary`, the
    /// dashboard's profile): the operator themselves, or a key covering every line.
    pub fn operator_numbers(&self, operator_id: &str, what: &str) -> Result<(), Forbidden> {
        if self.operator() == Some(operator_id) {
            Ok(())
        } else {
            self.every_line(what, "")
        }
    }

    /// The operator an operator key acts as.
    pub fn operator(&self) -> Option<&str> {
        match self.key() {
            Some(k) if k.role == Role::Operator => k.person_id.as_deref(),
            _ => None,
        }
    }

    /// The lines a supervisor key names; `None` for every line (and for other roles, which
    /// [`Caller::every_line`] and [`Caller::line`] judge).
    pub fn supervisor_lines(&self) -> Option<&[String]> {
        match self.key() {
            Some(k) if k.role == Role::Supervisor => k.lines.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(role: Role, person: Option<&str>, lines: Option<&[&str]>) -> Caller {
        let lines = lines.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
        let operator_lines = if role == Role::Operator {
            vec!["sales".to_owned()]
        } else {
            Vec::new()
        };
        Caller::with_key(
            KeyRecord {
                id: "0123abcd".into(),
                name: "k".into(),
                role,
                person_id: person.map(|p| PersonId::stored(p.to_owned())),
                lines,
                created_at: Utc::now(),
                revoked_at: None,
                last_used_at: None,
            },
            operator_lines,
        )
    }

    #[test]
    fn roles_and_scopes() {
        let admin = key(Role::Admin, None, None);
        let all = key(Role::Supervisor, None, None);
        let sales = key(Role::Supervisor, None, Some(&["sales"]));
        let olga = key(Role::Operator, Some("op-1"), None);
        assert!(admin.admin("x").is_ok() && Caller::Open.admin("x").is_ok());
        for k in [&all, &sales, &olga] {
            assert!(k.admin("x").is_err());
        }
        assert!(all.line("support").is_ok() && sales.line("sales").is_ok());
        let e = sales.line("support").unwrap_err();
        assert!(e.message.contains("covering lines sales"), "{}", e.message);
        assert!(olga.line("sales").is_err());
        assert!(olga.sees_session("support", Some("op-1")));
        assert!(!olga.sees_session("sales", Some("op-2")));
        assert!(!olga.sees_session("sales", None));
        assert!(sales.sees_session("sales", Some("op-2")));
        assert!(!sales.sees_session("support", Some("op-2")));
        assert!(admin.all_lines() && all.all_lines() && !sales.all_lines() && !olga.all_lines());
        let e = sales
            .every_line("the report", "; name one of them with ?line=")
            .unwrap_err();
        assert!(
            e.message.contains("spans every line") && e.message.contains("covering lines sales")
        );
    }

    #[test]
    fn a_person_is_recorded_as_themselves_and_a_key_without_one_names_whom_it_likes() {
        let olga = Caller::person(
            &PersonId::stored("sup-olga".into()),
            "Olga",
            Role::Supervisor,
            vec![],
        );
        assert_eq!(
            olga.author("author_id", None).unwrap().as_deref(),
            Some("sup-olga")
        );
        assert!(olga.author("author_id", Some("sup-olga")).is_ok());
        let e = olga.author("author_id", Some("sup-ivan")).unwrap_err();
        assert!(
            e.message
                .contains("Olga (sup-olga) is signed in as a supervisor")
                && e.message.contains("not 'sup-ivan'"),
            "{}",
            e.message
        );
        let program = key(Role::Supervisor, None, None);
        assert_eq!(
            program
                .author("author_id", Some("sup-ivan"))
                .unwrap()
                .as_deref(),
            Some("sup-ivan")
        );
        assert_eq!(program.author("author_id", None).unwrap(), None);
        // A supervisor person oversees their lines only: none when they name none.
        assert!(!olga.all_lines() && !olga.covers_line("support"));
        let sales = Caller::person(
            &PersonId::stored("sup-s".into()),
            "S",
            Role::Supervisor,
            vec!["sales".into()],
        );
        assert!(sales.covers_line("sales") && !sales.covers_line("support"));
        let ben = Caller::person(
            &PersonId::stored("op-1".into()),
            "Ben",
            Role::Operator,
            vec!["sales".into()],
        );
        assert!(ben.sees_session("support", Some("op-1")) && !ben.sees_session("sales", None));
        assert!(
            ben.admin("x")
                .unwrap_err()
                .message
                .contains("needs an admin;")
        );
    }

    #[test]
    fn an_operator_key_never_changes_what_is_counted_for_its_person() {
        let now = Utc::now();
        let olga = key(Role::Operator, Some("op-1"), None);
        let ok = |w| olga.may_write_session("sales", Some("op-1"), w, now);
        assert!(ok(SessionWrite::Open { opened_at: None }).is_ok());
        assert!(
            ok(SessionWrite::Close {
                at: Some(now - Duration::minutes(4))
            })
            .is_ok()
        );
        assert!(
            ok(SessionWrite::Message {
                from: MessageFrom::Operator,
                at: None
            })
            .is_ok()
        );
        for refused in [
            SessionWrite::Message {
                from: MessageFrom::Client,
                at: None,
            },
            SessionWrite::Close {
                at: Some(now - Duration::hours(1)),
            },
            SessionWrite::Open {
                opened_at: Some(now - Duration::hours(2)),
            },
        ] {
            assert!(ok(refused).is_err(), "{refused:?}");
        }
        let e = olga
            .may_write_session(
                "support",
                Some("op-1"),
                SessionWrite::Open { opened_at: None },
                now,
            )
            .unwrap_err();
        assert!(e.message.contains("works on lines sales"), "{}", e.message);
        let e = olga
            .may_write_session(
                "sales",
                Some("op-2"),
                SessionWrite::Open { opened_at: None },
                now,
            )
            .unwrap_err();
        assert!(e.message.contains("only as that operator"), "{}", e.message);
        // A supervisor's writes are judged by its lines only.
        let sales = key(Role::Supervisor, None, Some(&["sales"]));
        let client = SessionWrite::Message {
            from: MessageFrom::Client,
            at: Some(now - Duration::hours(1)),
        };
        assert!(sales.may_write_session("sales", None, client, now).is_ok());
        assert!(
            sales
                .may_write_session("support", None, client, now)
                .is_err()
        );
    }
}
