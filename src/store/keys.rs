//! API keys: made by `rateline keys create`, checked on every `/v1` call once any exists.

use chrono::{DateTime, Utc};
use rateline_domain::{LineId, PersonId, RequestId, Role};
use sqlx::Row;

use super::base::Keys;
use super::error::{Result, StoreError};
use super::sql::{ms, opt_time, time};

/// A stored key, without its secret (which is never stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct KeyRecord {
    /// The key's id: the part after `rl_`, 8 hexadecimal digits.
    pub id: String,
    /// Who or what holds the key, as its maker named it.
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// The operator an `operator` key acts as.
    pub person_id: Option<PersonId>,
    /// The lines a `supervisor` key covers; `None` covers every line.
    pub lines: Option<Vec<String>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; `null` while it works.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it last opened a call or a sign-in, to the minute; `null` if never.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A key to store: its record and the SHA-256 of its secret, hex.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The key as it is listed.
    pub record: KeyRecord,
    /// The SHA-256 of the key's secret, hex: what a call's key is checked against.
    pub secret_hash: String,
}

/// A key as the store holds it, for checking a call that names it.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// The key as it is listed.
    pub record: KeyRecord,
    /// The SHA-256 of the secret, hex.
    pub secret_hash: String,
    /// For an operator key, the lines its person works on (empty if the person is gone).
    pub person_lines: Vec<String>,
    /// For an operator key, whether its person exists and is active; true for keys without
    /// a person.
    pub person_active: bool,
}

const KEY_COLUMNS: &str = "api_keys.id, api_keys.name, api_keys.role, api_keys.person_id, \
    api_keys.lines, api_keys.created_at, api_keys.revoked_at, api_keys.last_used_at";

fn read_key(row: &sqlx::any::AnyRow) -> Result<(KeyRecord, String)> {
    let corrupt = |e: String| StoreError::Corrupt(format!("api key: {e}"));
    let role: Role = row.try_get("role")?;
    let lines = row
        .try_get::<Option<String>, _>("lines")?
        .map(|l| serde_json::from_str(&l).map_err(|e| corrupt(e.to_string())))
        .transpose()?;
    let record = KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role,
        person_id: row.try_get("person_id")?,
        lines,
        created_at: time(row.try_get("created_at")?),
        revoked_at: opt_time(row.try_get("revoked_at")?),
        last_used_at: opt_time(row.try_get("last_used_at")?),
    };
    let hash = row.try_get("secret_hash").unwrap_or_default();
    Ok((record, hash))
}

impl Keys<'_> {
    /// Stores a new key, its secret as a hash only.
    pub async fn create(self, key: &NewKey) -> Result<()> {
        let r = &key.record;
        sqlx::query(
            "INSERT INTO api_keys (id, name, role, person_id, lines, secret_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.role)
        .bind(r.person_id.as_deref())
        .bind(
            r.lines
                .as_ref()
                .map(|l| serde_json::to_string(l).expect("ids serialise")),
        )
        .bind(&key.secret_hash)
        .bind(ms(r.created_at))
        .execute(&self.0.pool)
        .await?;
        Ok(())
    }

    /// Every key, oldest first, revoked ones included.
    pub async fn list(self) -> Result<Vec<KeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.0.reads)
            .await?;
        rows.iter().map(|r| Ok(read_key(r)?.0)).collect()
    }

    /// The key `id`, revoked or not, with its secret's hash and, for an operator key, the
    /// lines its person works on.
    pub async fn get(self, id: &str) -> Result<Option<StoredKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS}, secret_hash, p.lines AS person_lines, p.active AS person_active
             FROM api_keys LEFT JOIN people p ON p.id = api_keys.person_id
             WHERE api_keys.id = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.0.reads)
            .await?
        else {
            return Ok(None);
        };
        let (record, secret_hash) = read_key(&row)?;
        let person_lines = match row.try_get::<Option<String>, _>("person_lines")? {
            Some(l) => serde_json::from_str(&l)
                .map_err(|e| StoreError::Corrupt(format!("lines of person: {e}")))?,
            None => Vec::new(),
        };
        let person_active = match record.person_id {
            None => true,
            Some(_) => row.try_get::<Option<i64>, _>("person_active")? == Some(1),
        };
        Ok(Some(StoredKey {
            record,
            secret_hash,
            person_lines,
            person_active,
        }))
    }

    /// Revokes key `id`; returns false when there is no such key. Revoking twice keeps the
    /// first time.
    pub async fn revoke(self, id: &str, now: DateTime<Utc>) -> Result<bool> {
        let done =
            sqlx::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1")
                .bind(id)
                .bind(ms(now))
                .execute(&self.0.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Notes when keys were last used (each id with its latest use); a use older than the
    /// one noted changes nothing.
    pub async fn note_uses(self, uses: &[(String, DateTime<Utc>)]) -> Result<()> {
        for (id, at) in uses {
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $2
                 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
            )
            .bind(id)
            .bind(ms(*at))
            .execute(&self.0.pool)
            .await?;
        }
        Ok(())
    }

    /// Whether any key was ever made or any person's password set (the open mode's end).
    pub async fn any_credential(self) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM api_keys UNION ALL SELECT 1 FROM person_passwords LIMIT 1")
                .fetch_optional(&self.0.reads)
                .await?
                .is_some(),
        )
    }
}

impl Keys<'_> {
    /// The line and operator of rating `id`, for access checks.
    pub async fn rating_scope(self, id: &str) -> Result<Option<(LineId, Option<PersonId>)>> {
        self.scope(
            "SELECT r.line_id, r.operator_id FROM ratings g
             JOIN rating_requests r ON r.id = g.request_id WHERE g.id = $1",
            id,
        )
        .await
    }

    /// The line and operator of rating request `id`, for access checks.
    pub async fn request_scope(self, id: &RequestId) -> Result<Option<(LineId, Option<PersonId>)>> {
        self.scope(
            "SELECT line_id, operator_id FROM rating_requests WHERE id = $1",
            id,
        )
        .await
    }

    async fn scope(
        self,
        sql: &'static str,
        id: &str,
    ) -> Result<Option<(LineId, Option<PersonId>)>> {
        let Some(row) = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&self.0.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((row.try_get("line_id")?, row.try_get("operator_id")?)))
    }
}
