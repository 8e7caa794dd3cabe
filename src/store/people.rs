//! People and groups.

use chrono::{DateTime, Utc};

use rateline_domain::{Group, ManagedBy, Notify, Person, PersonId, Role};
use sqlx::Row;

use super::base::People;
use super::error::{Result, StoreError};
use super::sql::ms;

impl People<'_> {
    /// Creates or replaces a person; whether they were new. With `expected`, only the person
    /// at that version is replaced (none is created): `None` when they are not at it.
    pub async fn upsert_person(
        self,
        id: &str,
        p: &Person,
        managed_by: ManagedBy,
        expected: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>> {
        let mut tx = self.0.pool.begin().await?;
        let existed = sqlx::query("SELECT 1 FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        let sql = if expected.is_some() {
            "UPDATE people
             SET name = $2, role = $3, manager_id = $4, notify = $5, notifications_enabled = $6,
                 updated_at = $7, lines = $8, time_zone = $9, active = $10, managed_by = $11,
                 version = version + 1
             WHERE id = $1 AND version = $12"
        } else {
            "INSERT INTO people (id, name, role, manager_id, notify, notifications_enabled, updated_at,
                                 lines, time_zone, active, managed_by)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, role = excluded.role, manager_id = excluded.manager_id,
                 notify = excluded.notify, notifications_enabled = excluded.notifications_enabled,
                 updated_at = excluded.updated_at, lines = excluded.lines,
                 time_zone = excluded.time_zone, active = excluded.active,
                 managed_by = excluded.managed_by, version = people.version + 1"
        };
        let mut query = sqlx::query(sql)
            .bind(id)
            .bind(&p.name)
            .bind(p.role)
            .bind(p.manager_id.as_deref())
            .bind(serde_json::to_string(&p.notify).expect("notify serialises"))
            .bind(i64::from(p.notifications_enabled))
            .bind(ms(now))
            .bind(serde_json::to_string(&p.lines).expect("ids serialise"))
            .bind(p.time_zone.as_deref())
            .bind(i64::from(p.active))
            .bind(managed_by);
        if let Some(v) = expected {
            query = query.bind(v);
        }
        if query.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(None);
        }
        tx.commit().await?;
        Ok(Some(!existed))
    }

    /// Creates or replaces a group and its members; returns whether it was new.
    pub async fn upsert_group(
        self,
        id: &str,
        g: &Group,
        managed_by: ManagedBy,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.0.pool.begin().await?;
        let existed = sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        sqlx::query(
            "INSERT INTO groups (id, name, updated_at, managed_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO UPDATE
             SET name = excluded.name, updated_at = excluded.updated_at,
                 managed_by = excluded.managed_by",
        )
        .bind(id)
        .bind(&g.name)
        .bind(ms(now))
        .bind(managed_by)
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
    pub role: Role,
    /// Not deactivated.
    pub active: bool,
    pub notifications_enabled: bool,
    pub notify: Notify,
}

/// Who is who, for showing names where the records hold ids: every person's name and
/// time zone, and every line's name.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Person id → (name, time zone as set).
    pub people: std::collections::HashMap<String, (String, Option<String>)>,
    /// Line id → name.
    pub lines: std::collections::HashMap<String, String>,
}

impl Directory {
    /// Person `id`'s name, or the id when no person has it.
    pub fn name_of(&self, id: &str) -> String {
        self.people
            .get(id)
            .map_or_else(|| id.to_owned(), |(name, _)| name.clone())
    }

    /// The zone person `id` reads times in, when they have set one that is a zone.
    pub fn zone_of(&self, id: Option<&str>) -> Option<chrono_tz::Tz> {
        let (_, zone) = self.people.get(id?)?;
        zone.as_deref()?.parse().ok()
    }
}

/// A person as stored, with whether they can sign in to the dashboard.
#[derive(Debug, Clone)]
pub struct PersonRecord {
    /// The person's id, as their creator chose it.
    pub id: PersonId,
    /// Without `notify.webhook_secret`, which is never read back.
    pub person: Person,
    /// They have set a password.
    pub signs_in: bool,
    /// Raised by every write (the API's `ETag`).
    pub version: i64,
    /// `config` for a person from the config file (read-only over HTTP).
    pub managed_by: ManagedBy,
}

impl People<'_> {
    /// Every person, by id.
    pub async fn list(self) -> Result<Vec<PersonRecord>> {
        self.read_people(None).await
    }

    /// Person `id`, as stored.
    pub async fn person(self, id: &PersonId) -> Result<Option<PersonRecord>> {
        Ok(self.read_people(Some(id)).await?.pop())
    }

    /// Every person, or the one with `id`.
    async fn read_people(self, id: Option<&str>) -> Result<Vec<PersonRecord>> {
        let sql = format!(
            "SELECT p.id, p.name, p.role, p.manager_id, p.notify, p.notifications_enabled,
                    p.lines, p.time_zone, p.active, p.version, p.managed_by,
                    w.person_id AS password
             FROM people p LEFT JOIN person_passwords w ON w.person_id = p.id
             {}
             ORDER BY p.id",
            if id.is_some() { "WHERE p.id = $1" } else { "" }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            query = query.bind(id);
        }
        let rows = query.fetch_all(&self.0.pool).await?;
        rows.iter()
            .map(|r| {
                let id: PersonId = r.try_get("id")?;
                let corrupt = |what: &str, e: String| {
                    StoreError::Corrupt(format!("{what} of person '{id}': {e}"))
                };
                let mut notify: Notify = serde_json::from_str(&r.try_get::<String, _>("notify")?)
                    .map_err(|e| corrupt("notify", e.to_string()))?;
                notify.webhook_secret = None;
                let person = Person {
                    name: r.try_get("name")?,
                    role: r.try_get("role")?,
                    manager_id: r.try_get("manager_id")?,
                    notify,
                    notifications_enabled: r.try_get::<i64, _>("notifications_enabled")? == 1,
                    lines: serde_json::from_str(&r.try_get::<String, _>("lines")?)
                        .map_err(|e| corrupt("lines", e.to_string()))?,
                    time_zone: r.try_get("time_zone")?,
                    active: r.try_get::<i64, _>("active")? == 1,
                };
                Ok(PersonRecord {
                    signs_in: r.try_get::<Option<String>, _>("password")?.is_some(),
                    version: r.try_get("version")?,
                    managed_by: r.try_get("managed_by")?,
                    id,
                    person,
                })
            })
            .collect()
    }

    /// Sets a person's time zone; whether the person exists.
    pub async fn set_time_zone(
        self,
        id: &PersonId,
        zone: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE people SET time_zone = $2, updated_at = $3, version = version + 1
             WHERE id = $1",
        )
        .bind(id)
        .bind(zone)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?
        .rows_affected();
        Ok(done == 1)
    }

    /// Person `id`'s alert pace (the default when they chose none); `None` when no such
    /// person exists.
    pub async fn alert_pace(self, id: &PersonId) -> Result<Option<rateline_domain::AlertPace>> {
        let row = sqlx::query("SELECT alert_pace FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?;
        row.map(|r| Ok(super::digests::read_pace(id, r.try_get("alert_pace")?)))
            .transpose()
    }

    /// Sets person `id`'s alert pace; whether the person exists.
    pub async fn set_alert_pace(
        self,
        id: &PersonId,
        pace: &rateline_domain::AlertPace,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE people SET alert_pace = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(serde_json::to_string(pace).expect("a pace serialises"))
            .bind(ms(now))
            .execute(&self.0.pool)
            .await?
            .rows_affected();
        Ok(done == 1)
    }

    /// Every person's and line's name (a page's worth of look-ups in two statements).
    pub async fn directory(self) -> Result<Directory> {
        let people = sqlx::query("SELECT id, name, time_zone FROM people")
            .fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    (r.try_get("name")?, r.try_get("time_zone")?),
                ))
            })
            .collect::<Result<_>>()?;
        let lines = self
            .0
            .lines()
            .list()
            .await?
            .into_iter()
            .map(|l| (l.id.into(), l.settings.name))
            .collect();
        Ok(Directory { people, lines })
    }

    /// A person's notification settings; `None` when there is no such person.
    pub async fn person_reachability(self, id: &PersonId) -> Result<Option<Reachability>> {
        let Some(row) = sqlx::query(
            "SELECT role, notify, notifications_enabled, active FROM people WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(None);
        };
        let notify: Notify = serde_json::from_str(&row.try_get::<String, _>("notify")?)
            .map_err(|e| StoreError::Corrupt(format!("notify of person '{id}': {e}")))?;
        Ok(Some(Reachability {
            role: row.try_get("role")?,
            active: row.try_get::<i64, _>("active")? == 1,
            notifications_enabled: row.try_get::<i64, _>("notifications_enabled")? == 1,
            notify,
        }))
    }

    /// Every group with its members and who manages it, or the one with `id`, by id.
    pub async fn groups(self, id: Option<&str>) -> Result<Vec<(String, Group, ManagedBy)>> {
        let sql = format!(
            "SELECT g.id, g.name, g.managed_by, m.person_id
             FROM groups g LEFT JOIN group_members m ON m.group_id = g.id
             {}
             ORDER BY g.id, m.person_id",
            if id.is_some() { "WHERE g.id = $1" } else { "" }
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(id) = id {
            query = query.bind(id);
        }
        let mut groups: Vec<(String, Group, ManagedBy)> = Vec::new();
        for row in query.fetch_all(&self.0.pool).await? {
            let id: String = row.try_get("id")?;
            if groups.last().is_none_or(|(last, _, _)| *last != id) {
                let name = row.try_get("name")?;
                let managed_by = row.try_get("managed_by")?;
                groups.push((
                    id,
                    Group {
                        name,
                        members: Vec::new(),
                    },
                    managed_by,
                ));
            }
            if let Some(member) = row.try_get("person_id")? {
                let (_, group, _) = groups.last_mut().expect("pushed above");
                group.members.push(member);
            }
        }
        Ok(groups)
    }

    /// A group's members; `None` when there is no such group.
    pub async fn group_members(self, id: &str) -> Result<Option<Vec<String>>> {
        if sqlx::query("SELECT 1 FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT person_id FROM group_members WHERE group_id = $1 ORDER BY person_id",
        )
        .bind(id)
        .fetch_all(&self.0.pool)
        .await?;
        Ok(Some(
            rows.iter()
                .map(|r| r.try_get("person_id"))
                .collect::<std::result::Result<_, _>>()?,
        ))
    }
}
