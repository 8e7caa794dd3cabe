//! People and groups.

use chrono::{DateTime, Utc};

use rateline_domain::{Group, Notify, Person};
use sqlx::Row;

use super::{Result, Store, ms};

impl Store {
    /// Creates or replaces a person; returns whether they were new.
    pub async fn upsert_person(&self, id: &str, p: &Person, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let existed = sqlx::query("SELECT 1 FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO people (id, name, role, manager_id, notify, notifications_enabled, updated_at,
                                 lines)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, role = excluded.role, manager_id = excluded.manager_id,
                 notify = excluded.notify, notifications_enabled = excluded.notifications_enabled,
                 updated_at = excluded.updated_at, lines = excluded.lines",
        )
        .bind(id)
        .bind(&p.name)
        .bind(p.role.as_str())
        .bind(p.manager_id.as_deref())
        .bind(serde_json::to_string(&p.notify).expect("notify serialises"))
        .bind(i64::from(p.notifications_enabled))
        .bind(ms(now))
        .bind(serde_json::to_string(&p.lines).expect("ids serialise"))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(!existed)
    }

    /// Creates or replaces a group and its members; returns whether it was new.
    pub async fn upsert_group(&self, id: &str, g: &Group, now: DateTime<Utc>) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let existed = sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO groups (id, name, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
        )
        .bind(id)
        .bind(&g.name)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM group_members WHERE group_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for member in &g.members {
            sqlx::query(
                "INSERT INTO group_members (group_id, person_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(member.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(!existed)
    }
}

/// What a person offers as an alert recipient.
#[derive(Debug, Clone)]
pub struct Reachability {
    pub notifications_enabled: bool,
    pub notify: Notify,
}

impl Store {
    /// A person's notification settings; `None` when there is no such person.
    pub async fn person_reachability(&self, id: &str) -> Result<Option<Reachability>> {
        let Some(row) =
            sqlx::query("SELECT notify, notifications_enabled FROM people WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
        else {
            return Ok(None);
        };
        let notify: Notify = serde_json::from_str(&row.try_get::<String, _>("notify")?)
            .map_err(|e| super::StoreError::Corrupt(format!("notify of person '{id}': {e}")))?;
        Ok(Some(Reachability {
            notifications_enabled: row.try_get::<i64, _>("notifications_enabled")? == 1,
            notify,
        }))
    }

    /// A group's members; `None` when there is no such group.
    pub async fn group_members(&self, id: &str) -> Result<Option<Vec<String>>> {
        if sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT person_id FROM group_members WHERE group_id = $1 ORDER BY person_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok(Some(
            rows.iter()
                .map(|r| r.try_get("person_id"))
                .collect::<std::result::Result<_, _>>()?,
        ))
    }
}
