//! The audit log: every change to lines, people, groups and keys, every client erased, and
//! what people did that matters to security (sign-ins, invitations, responses, decisions).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::base::AuditLog;
use super::error::{Result, StoreError};
use super::sql::{ms, time};

/// One changed field.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// The field's path, e.g. `rating.delay_seconds`.
    pub field: String,
    /// `null` when it was not set; `"(secret)"` for a secret, whose value is never kept.
    pub before: serde_json::Value,
    /// `null` when it was unset afterwards; `"(secret)"` for a secret, whose value is never kept.
    pub after: serde_json::Value,
}

/// A change as the log keeps it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// The entry's id; a summary kept up to date (a person's failed sign-ins of a day) keeps one.
    pub id: String,
    /// When it happened; for a summary, the latest time.
    pub at: DateTime<Utc>,
    /// Who: a person's id, `key <id>`, `config file`, or `no key` (the command line, or a
    /// server with no key yet).
    pub actor: String,
    /// line, person, group, key, client, retention, subscription, connector, sign_in,
    /// rating, session or appeal.
    pub kind: String,
    /// The id of what it happened to: the line, person, key, client, ….
    pub subject: String,
    /// What happened: created, changed, revoked, erased, purged; invited, password_set;
    /// signed_in, sign_in_failed, signed_out; responded, response_changed,
    /// comment_flagged, comment_unflagged; evaluated; appealed, approved, rejected.
    pub action: String,
    /// The fields changed, each before and after; empty where there is nothing to compare.
    pub changes: Vec<FieldChange>,
}

/// Which entries to list, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries of this kind.
    pub kind: Option<String>,
    /// Only entries about this subject.
    pub subject: Option<String>,
    /// The most entries listed.
    pub limit: i64,
}

impl AuditLog<'_> {
    /// Writes entry `r`, or replaces the one with its id: a summary kept up to date (the
    /// failed sign-ins of a person and day).
    pub async fn put(self, r: &AuditRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (id, at, actor, kind, subject, action, changes)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at, actor = excluded.actor,
                                            changes = excluded.changes",
        )
        .bind(&r.id)
        .bind(ms(r.at))
        .bind(&r.actor)
        .bind(&r.kind)
        .bind(&r.subject)
        .bind(&r.action)
        .bind(serde_json::to_string(&r.changes).expect("changes serialise"))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// The changes entry `id` holds, if it exists.
    pub async fn audit_changes(self, id: &str) -> Result<Option<Vec<FieldChange>>> {
        let Some(text) = sqlx::query_scalar::<_, String>("SELECT changes FROM audit WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("audit entry '{id}': {e}")))
    }

    /// The entries `f` asks for, newest first.
    pub async fn audit(self, f: &AuditFilter) -> Result<Vec<AuditRecord>> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        for (column, value) in [("kind", &f.kind), ("subject", &f.subject)] {
            if let Some(v) = value {
                binds.push(v.clone());
                conditions.push(format!("{column} = ${}", binds.len() + 1));
            }
        }
        let filter = super::filter::where_(conditions);
        let sql = format!(
            "SELECT id, at, actor, kind, subject, action, changes FROM audit{filter}
             ORDER BY at DESC, id DESC LIMIT $1"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(f.limit);
        for b in binds {
            query = query.bind(b);
        }
        query
            .fetch_all(&self.0.reads)
            .await?
            .iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(AuditRecord {
                    at: time(r.try_get("at")?),
                    actor: r.try_get("actor")?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    action: r.try_get("action")?,
                    changes: serde_json::from_str(&r.try_get::<String, _>("changes")?)
                        .map_err(|e| StoreError::Corrupt(format!("audit entry '{id}': {e}")))?,
                    id,
                })
            })
            .collect()
    }
}
