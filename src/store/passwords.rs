//! People's passwords and the invitation links that set them: the dashboard's sign-in as
//! a person. Only hashes are kept: a password's Argon2id hash, an invitation token's
//! SHA-256.

use chrono::{DateTime, Utc};
use rateline_domain::{PersonId, Role};
use sqlx::Row;

use super::base::People;
use super::error::{Result, StoreError};
use super::sql::{ms, opt_time, time};

/// A person as a sign-in sees them: who they are, what they may do, and their password.
#[derive(Debug, Clone)]
pub struct PersonSignIn {
    /// The person's id.
    pub id: PersonId,
    /// Their name, as the dashboard greets them.
    pub name: String,
    /// What they may do once signed in.
    pub role: Role,
    /// The lines they work on or oversee.
    pub lines: Vec<String>,
    /// The password's Argon2id hash; `None` until an invitation has set one.
    pub password_hash: Option<String>,
    /// Not deactivated.
    pub active: bool,
}

/// An invitation link as its page shows it.
#[derive(Debug, Clone)]
pub struct Invitation {
    /// The person it lets set a password.
    pub person_id: PersonId,
    /// Their name, as the page greets them.
    pub person_name: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it set a password; a link works once.
    pub used_at: Option<DateTime<Utc>>,
    /// Who made the link, as the audit log names them (`None`: not recorded).
    pub created_by: Option<String>,
}

impl People<'_> {
    /// Person `id` with their role, lines and password hash; `None` when there is none.
    pub async fn person_sign_in(self, id: &str) -> Result<Option<PersonSignIn>> {
        let Some(row) = sqlx::query(
            "SELECT p.id, p.name, p.role, p.lines, p.active, w.hash
             FROM people p LEFT JOIN person_passwords w ON w.person_id = p.id
             WHERE p.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.0.pool)
        .await?
        else {
            return Ok(None);
        };
        let lines: String = row.try_get("lines")?;
        Ok(Some(PersonSignIn {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            role: row.try_get("role")?,
            lines: serde_json::from_str(&lines)
                .map_err(|e| StoreError::Corrupt(format!("lines of person '{id}': {e}")))?,
            password_hash: row.try_get("hash")?,
            active: row.try_get::<i64, _>("active")? == 1,
        }))
    }

    /// Stores a new invitation for `person_id`, replacing the person's unused ones (the
    /// newest link is the one that works).
    pub async fn create_invitation(
        self,
        token_hash: &str,
        person_id: &PersonId,
        created_by: Option<&str>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.0.pool.begin().await?;
        sqlx::query("DELETE FROM invitations WHERE person_id = $1 AND used_at IS NULL")
            .bind(person_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO invitations (token_hash, person_id, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(person_id)
        .bind(created_by)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The invitation whose token hashes to `token_hash`, used or expired alike.
    pub async fn invitation(self, token_hash: &str) -> Result<Option<Invitation>> {
        let row = sqlx::query(
            "SELECT i.person_id, p.name, i.expires_at, i.used_at, i.created_by
             FROM invitations i JOIN people p ON p.id = i.person_id
             WHERE i.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.0.pool)
        .await?;
        row.map(|r| {
            Ok(Invitation {
                person_id: r.try_get("person_id")?,
                person_name: r.try_get("name")?,
                expires_at: time(r.try_get("expires_at")?),
                used_at: opt_time(r.try_get("used_at")?),
                created_by: r.try_get("created_by")?,
            })
        })
        .transpose()
    }

    /// Sets the password of the invitation's person, if the invitation is still unused and
    /// unexpired at `now`, and marks it used; both or neither. Returns the person's id, or
    /// `None` when the invitation no longer works (another tab used it first).
    pub async fn use_invitation(
        self,
        token_hash: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let mut tx = self.0.pool.begin().await?;
        let Some(row) = sqlx::query(
            "UPDATE invitations SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING person_id",
        )
        .bind(token_hash)
        .bind(ms(now))
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let person_id: String = row.try_get("person_id")?;
        sqlx::query(
            "INSERT INTO person_passwords (person_id, hash, set_at) VALUES ($1, $2, $3)
             ON CONFLICT (person_id) DO UPDATE SET hash = excluded.hash, set_at = excluded.set_at",
        )
        .bind(&person_id)
        .bind(password_hash)
        .bind(ms(now))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(person_id))
    }

    /// Replaces person `person_id`'s password, only while its hash is still `old_hash` (the
    /// one just checked), so two changes at once cannot both pass the check; whether it was
    /// replaced.
    pub async fn change_password(
        self,
        person_id: &PersonId,
        old_hash: &str,
        new_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "UPDATE person_passwords SET hash = $3, set_at = $4 WHERE person_id = $1 AND hash = $2",
        )
        .bind(person_id)
        .bind(old_hash)
        .bind(new_hash)
        .bind(ms(now))
        .execute(&self.0.pool)
        .await?
        .rows_affected()
            == 1)
    }
}
