//! The audit log through the engine: each change to lines, people, groups and keys is
//! recorded with who made it and each changed field before and after. A secret's value is
//! never kept: a changed secret or token shows as `"(secret)"` on both sides.
//!
//! What people do that matters to security is recorded too, as events with the fields that
//! describe them: invitations made and used, passwords set, sign-ins (how, and from which
//! address), sign-outs, responses, comment flags, evaluations, appeals and their decisions.
//! Failed sign-ins are one entry per person and day (one for every id that is nobody's),
//! counting them, so a guesser cannot flood the log.
//!
//! The entry is written right after the change it records, not in its transaction: a crash
//! between the two keeps the change and loses its entry.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Digest;

use super::base::Engine;
use super::error::Result;
use crate::policy::Caller;
use crate::store::{AuditFilter, AuditRecord, FieldChange};

/// The subject of the failed sign-ins that named nobody: with spaces, so no person's id.
pub const NOBODY: &str = "no such person";

/// An address as the log shows it; `null` when unknown.
fn address(from: Option<IpAddr>) -> Value {
    from.map_or(Value::Null, |ip| Value::from(ip.to_string()))
}

fn sign_in_fields(how: &str, from: Option<IpAddr>) -> [(&'static str, Value); 2] {
    [("with", Value::from(how)), ("address", address(from))]
}

/// An event's fields as the log keeps them: each set, from nothing.
fn set_fields(fields: &[(&str, Value)]) -> Vec<FieldChange> {
    fields
        .iter()
        .map(|(field, value)| FieldChange {
            field: (*field).to_owned(),
            before: Value::Null,
            after: value.clone(),
        })
        .collect()
}

/// Who did what to which thing: an entry's heading.
struct Heading<'a> {
    actor: &'a str,
    kind: &'a str,
    subject: &'a str,
    action: &'a str,
}

/// Who a change is recorded as: the person, `key <id>`, or `no key` (the command line, or a
/// server with no key yet).
pub(super) fn actor(caller: &Caller) -> String {
    caller.recorded_as().unwrap_or_else(|| "no key".to_owned())
}

/// `value`'s fields as dotted paths (objects are entered, arrays and scalars are values).
fn flatten(prefix: &str, value: &Value, into: &mut Map<String, Value>) {
    match value {
        Value::Object(fields) => {
            for (k, v) in fields {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&path, v, into);
            }
        }
        // Nothing at all (what a deletion leaves): no field.
        Value::Null if prefix.is_empty() => {}
        other => {
            into.insert(prefix.to_owned(), other.clone());
        }
    }
}

/// The fields that differ between `before` and `after`, secrets masked.
fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<FieldChange> {
    let (mut b, mut a) = (Map::new(), Map::new());
    if let Some(v) = before {
        flatten("", v, &mut b);
    }
    if let Some(v) = after {
        flatten("", v, &mut a);
    }
    let mut fields: Vec<&String> = b.keys().chain(a.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter_map(|field| {
            let (was, is) = (b.get(field), a.get(field));
            if was == is {
                return None;
            }
            let shown = |v: Option<&Value>| match v {
                None | Some(Value::Null) => Value::Null,
                Some(_) if field.ends_with("secret") || field.ends_with("token") => {
                    Value::from("(secret)")
                }
                // A password written into a URL (refused now, stored by earlier versions).
                Some(Value::String(u)) if field.ends_with("url") => {
                    Value::from(rateline_domain::shown_url(u))
                }
                Some(v) => v.clone(),
            };
            Some(FieldChange {
                field: field.clone(),
                before: shown(was),
                after: shown(is),
            })
        })
        .collect()
}

impl Engine {
    /// Records a change of `kind` `subject` by `actor`, from `before` (`None`: it was made) to
    /// `after`; nothing when no field changed.
    pub(super) async fn record<T: Serialize>(
        &self,
        actor: &str,
        kind: &str,
        subject: &str,
        before: Option<&T>,
        after: &T,
        action: Option<&str>,
    ) -> Result<()> {
        let value = |t: &T| serde_json::to_value(t).expect("settings serialise");
        let changes = changes(before.map(value).as_ref(), Some(&value(after)));
        if changes.is_empty() {
            return Ok(());
        }
        let action = action.unwrap_or(if before.is_some() {
            "changed"
        } else {
            "created"
        });
        let heading = Heading {
            actor,
            kind,
            subject,
            action,
        };
        self.write_entry(None, &heading, changes).await
    }

    /// Records an event (a sign-in, a response, a decision): `actor` did `action` to `kind`
    /// `subject`, described by `fields` (each shown as set, from nothing). Written even
    /// without fields.
    pub(super) async fn note(
        &self,
        actor: &str,
        kind: &str,
        subject: &str,
        action: &str,
        fields: &[(&str, Value)],
    ) {
        let heading = Heading {
            actor,
            kind,
            subject,
            action,
        };
        self.keep_entry(None, &heading, set_fields(fields)).await;
    }

    /// Writes an event's entry. The event has happened: an entry the store cannot take is
    /// logged with everything it would have said, and the action stands.
    async fn keep_entry(&self, id: Option<String>, h: &Heading<'_>, changes: Vec<FieldChange>) {
        let logged = serde_json::to_string(&changes).unwrap_or_default();
        if let Err(e) = self.write_entry(id, h, changes).await {
            tracing::error!(error = %e, actor = h.actor, kind = h.kind, subject = h.subject,
                action = h.action, changes = %logged,
                "an audit entry could not be written; it is in this log line instead");
        }
    }

    /// Writes an entry; with `id`, replaces the entry of that id (a summary kept up to date).
    async fn write_entry(
        &self,
        id: Option<String>,
        h: &Heading<'_>,
        changes: Vec<FieldChange>,
    ) -> Result<()> {
        let at: DateTime<Utc> = self.now();
        self.store
            .audit_log()
            .put(&AuditRecord {
                id: id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
                at,
                actor: h.actor.to_owned(),
                kind: h.kind.to_owned(),
                subject: h.subject.to_owned(),
                action: h.action.to_owned(),
                changes,
            })
            .await?;
        Ok(())
    }

    /// Records a sign-in to the dashboard: who (a person's id, or `key <id>`), how
    /// (`password`, `key`, `invitation`) and from which address.
    pub async fn audit_sign_in(&self, who: &str, how: &str, from: Option<IpAddr>) {
        self.note(who, "sign_in", who, "signed_in", &sign_in_fields(how, from))
            .await;
    }

    /// Records a sign-out: who, from which address.
    pub async fn audit_sign_out(&self, who: &str, from: Option<IpAddr>) {
        let address = [("address", address(from))];
        self.note(who, "sign_in", who, "signed_out", &address).await;
    }

    /// Counts a failed sign-in from `from`: one entry per `person` (a person who exists) and
    /// UTC day, or, for `None`, one per day for every attempt that named nobody, with the
    /// count, the last address and the first and last time. What was typed is never kept: a
    /// password typed into the id field would be. Two failures at the same moment may count
    /// as one: the entry is a summary, the limits count each.
    pub async fn audit_failed_sign_in(&self, person: Option<&str>, from: Option<IpAddr>) {
        let now = self.now();
        let day = now.format("%Y-%m-%d").to_string();
        let subject = person.unwrap_or(NOBODY);
        // One entry per subject and day: its id says which, without the subject's text.
        let digest = hex::encode(&sha2::Sha256::digest(subject.as_bytes())[..8]);
        let id = format!("sign-in-failed-{day}-{digest}");
        let before = match self.store.audit_log().audit_changes(&id).await {
            Ok(before) => before.unwrap_or_default(),
            Err(e) => {
                tracing::error!(error = %e, subject, "a failed sign-in could not be counted in the audit log");
                return;
            }
        };
        let field = |name: &str| {
            before
                .iter()
                .find(|c| c.field == name)
                .map(|c| c.after.clone())
        };
        let count = field("count").and_then(|c| c.as_i64()).unwrap_or(0) + 1;
        let first = field("first_at").unwrap_or_else(|| Value::from(now.to_rfc3339()));
        let fields = [
            ("count", Value::from(count)),
            ("first_at", first),
            ("last_at", Value::from(now.to_rfc3339())),
            ("last_address", address(from)),
        ];
        let heading = Heading {
            actor: "nobody",
            kind: "sign_in",
            subject,
            action: "sign_in_failed",
        };
        self.keep_entry(Some(id), &heading, set_fields(&fields))
            .await;
    }

    /// Erases client `id` of `channel` (see [`crate::store::Erased`]): admins only. The
    /// client's rows take a pseudonym made now, which the audit log names as the subject;
    /// the id itself is kept nowhere. Erasing again changes nothing and logs nothing.
    pub async fn erase_client(
        &self,
        caller: &Caller,
        channel: rateline_domain::Channel,
        id: &str,
    ) -> Result<(String, crate::store::Erased)> {
        caller.admin("erasing a client")?;
        let id = super::ids::client_id(channel, id)?;
        let pseudonym = format!(
            "{}{}",
            crate::store::ERASED_PREFIX,
            uuid::Uuid::new_v4().simple()
        );
        let erased = self
            .store
            .retention()
            .erase_client(channel.as_str(), &id, &pseudonym, self.now())
            .await?;
        if erased.anything() {
            self.record(
                &actor(caller),
                "client",
                &pseudonym,
                None,
                &erased,
                Some("erased"),
            )
            .await?;
        }
        Ok((pseudonym, erased))
    }

    /// Purges the sessions closed more than `days` ago (see [`crate::store::Purged`]) and
    /// logs what went, as `retention` by `retention.days`; nothing when nothing went.
    pub async fn purge_older_than(&self, days: u32) -> Result<crate::store::Purged> {
        let cutoff = self.now() - chrono::Duration::days(i64::from(days));
        let purged = self.store.retention().purge_closed_before(cutoff).await?;
        if purged.sessions > 0 {
            let subject = format!(
                "closed-before-{}",
                cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            self.record(
                "retention.days",
                "retention",
                &subject,
                None,
                &purged,
                Some("purged"),
            )
            .await?;
        }
        Ok(purged)
    }

    /// The audit log, newest first: admins.
    pub async fn audit_log(
        &self,
        caller: &Caller,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditRecord>> {
        caller.admin("reading the audit log")?;
        let mut entries = self.store.audit_log().audit(filter).await?;
        // Entries written before passwords in URLs were refused show them masked too.
        for c in entries.iter_mut().flat_map(|e| e.changes.iter_mut()) {
            if c.field.ends_with("url") {
                for v in [&mut c.before, &mut c.after] {
                    if let Value::String(u) = v {
                        *u = rateline_domain::shown_url(u);
                    }
                }
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_fields_are_kept_and_secrets_never() {
        let before = json!({"name": "Sales", "rating": {"delay_seconds": 3, "scale": "binary"},
                            "webhook": {"url": "https://a", "secret": "old secret value"}});
        let after = json!({"name": "Sales", "rating": {"delay_seconds": 7, "scale": "binary"},
                           "webhook": {"url": "https://a", "secret": "new secret value"},
                           "public_badge": true});
        let c = changes(Some(&before), Some(&after));
        let text = serde_json::to_string(&c).unwrap();
        assert!(!text.contains("secret value"), "{text}");
        let fields: Vec<_> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            ["public_badge", "rating.delay_seconds", "webhook.secret"]
        );
        assert_eq!(
            (c[1].before.clone(), c[1].after.clone()),
            (json!(3), json!(7))
        );
        assert_eq!(c[2].after, json!("(secret)"));
        assert_eq!(c[0].before, Value::Null);
        assert!(changes(Some(&before), Some(&before)).is_empty());
    }
}
