//! The helpdesks (Chatwoot accounts, Zammad instances), for admins: listed, read,
//! created or replaced (one field at a time through the API's `PATCH`), deleted; and the
//! config file's, written at every start and read-only over HTTP. A token or secret is
//! write-only: never shown, kept when a write leaves it out, audited only as changed.
//! The channels read the helpdesks through [`Engine::helpdesk_settings`]. The API, the
//! pages and the audit log call them connectors.

use chrono::{DateTime, Utc};
use rateline_domain::{ErrorCode, Helpdesk, HelpdeskSettings, ManagedBy};
use serde_json::Value;

use super::base::Engine;
use super::config::{FILE, managed_by_config, stale};
use super::error::{EngineError, Result};
use crate::policy::Caller;
use crate::settings::ConfiguredHelpdesks;
use crate::store::{MadeInHelpdesk, StoreError, StoredHelpdesk, redact_url};

/// A helpdesk as stored.
#[derive(Debug, Clone)]
pub struct HelpdeskRecord<S> {
    /// The helpdesk's id: a Chatwoot account's number, or a Zammad instance's name.
    pub id: String,
    /// With the token and secret: [`HelpdeskSettings::shown`] is what may be shown.
    pub settings: S,
    /// Whether the config file or the API owns it; the file's helpdesks are read-only over HTTP.
    pub managed_by: ManagedBy,
    /// Raised by every write (the API's `ETag`).
    pub version: i64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// The answer for a helpdesk that does not exist.
fn helpdesk_not_found(helpdesk: Helpdesk, id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::HelpdeskNotFound,
        message: format!(
            "no {} is connected; connect it with PUT /v1/connectors/{helpdesk}/{id} or on the \
             Helpdesks page",
            helpdesk.named(id)
        ),
    }
}

fn typed<S: HelpdeskSettings>(stored: StoredHelpdesk) -> crate::store::Result<HelpdeskRecord<S>> {
    let settings = serde_json::from_value(stored.settings).map_err(|e| {
        StoreError::Corrupt(format!(
            "settings of {} '{}': {e}",
            stored.helpdesk, stored.id
        ))
    })?;
    Ok(HelpdeskRecord {
        id: stored.id,
        settings,
        managed_by: stored.managed_by,
        version: stored.version,
        updated_at: stored.updated_at,
    })
}

/// What the audit log keeps of a helpdesk's settings: its URL without a password; the
/// log masks the token and secret itself.
fn audited(settings: &impl serde::Serialize) -> Value {
    let mut value = serde_json::to_value(settings).expect("helpdesk settings serialise");
    if let Some(url) = value.get("url").and_then(Value::as_str) {
        value["url"] = Value::from(redact_url(url));
    }
    value
}

/// How a helpdesk is named in messages and the audit log: `chatwoot/3`.
fn subject(helpdesk: Helpdesk, id: &str) -> String {
    format!("{helpdesk}/{id}")
}

impl Engine {
    /// Every helpdesk of kind `S`, or the one with `id`: admins.
    pub async fn helpdesks<S: HelpdeskSettings>(
        &self,
        caller: &Caller,
        id: Option<&str>,
    ) -> Result<Vec<HelpdeskRecord<S>>> {
        caller.admin("reading the helpdesk connectors")?;
        let found = self.stored_helpdesks::<S>(id).await?;
        match id {
            Some(id) if found.is_empty() => Err(helpdesk_not_found(S::HELPDESK, id)),
            _ => Ok(found),
        }
    }

    /// Every helpdesk of kind `S` with its token and secret, for the channel that
    /// calls the helpdesk and checks its webhooks.
    pub async fn helpdesk_settings<S: HelpdeskSettings>(
        &self,
    ) -> crate::store::Result<Vec<HelpdeskRecord<S>>> {
        self.stored_helpdesks(None).await
    }

    /// Raised by every helpdesk write in this process: a reading taken before it is stale.
    pub fn helpdesks_generation(&self) -> u64 {
        self.store.helpdesks().helpdesks_generation()
    }

    async fn stored_helpdesks<S: HelpdeskSettings>(
        &self,
        id: Option<&str>,
    ) -> crate::store::Result<Vec<HelpdeskRecord<S>>> {
        self.store
            .helpdesks()
            .list(S::HELPDESK, id)
            .await?
            .into_iter()
            .map(typed)
            .collect()
    }

    /// Creates or replaces helpdesk `id` of kind `S`; it as stored and whether it is
    /// new. A token or secret left out keeps the stored one. With `expected`, only the
    /// helpdesk at that version is replaced. Admins.
    pub async fn put_helpdesk<S: HelpdeskSettings>(
        &self,
        caller: &Caller,
        id: &str,
        mut settings: S,
        expected: Option<i64>,
    ) -> Result<(HelpdeskRecord<S>, bool)> {
        let helpdesk = S::HELPDESK;
        caller.admin("changing the helpdesk connectors")?;
        helpdesk.check_id(helpdesk.unit(), id)?;
        let what = helpdesk.named(id);
        let existing = self.stored_helpdesks::<S>(Some(id)).await?.pop();
        if existing
            .as_ref()
            .is_some_and(|c| c.managed_by == ManagedBy::Config)
        {
            return Err(managed_by_config(ErrorCode::HelpdeskManagedByConfig, &what));
        }
        if let Some(v) = expected
            && existing.as_ref().map(|c| c.version) != Some(v)
        {
            return Err(stale(&what, v, existing.map(|c| c.version)));
        }
        if let Some(stored) = &existing {
            settings.keep_secrets(&stored.settings);
        }
        settings.validate()?;
        self.check_destination("url", settings.url())?;
        let json = serde_json::to_value(&settings).expect("helpdesk settings serialise");
        if !self
            .store
            .helpdesks()
            .upsert(helpdesk, id, &json, ManagedBy::Api, expected, self.now())
            .await?
        {
            // Another write came between the read above and this one.
            let current = self
                .stored_helpdesks::<S>(Some(id))
                .await?
                .pop()
                .map(|c| c.version);
            return Err(stale(&what, expected.unwrap_or_default(), current));
        }
        let after = self
            .stored_helpdesks::<S>(Some(id))
            .await?
            .pop()
            .ok_or_else(|| helpdesk_not_found(helpdesk, id))?;
        self.record(
            &super::audit::actor(caller),
            "connector",
            &subject(helpdesk, id),
            existing.as_ref().map(|c| audited(&c.settings)).as_ref(),
            &audited(&after.settings),
            None,
        )
        .await?;
        Ok((after, existing.is_none()))
    }

    /// Deletes helpdesk `id` of kind `helpdesk`: its webhook calls are refused from then on, and
    /// requests still to be sent through it fail saying so. Sessions and ratings stay. With
    /// `expected`, only the helpdesk at that version. Admins.
    pub async fn delete_helpdesk(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
        expected: Option<i64>,
    ) -> Result<()> {
        caller.admin("deleting a helpdesk connector")?;
        let what = helpdesk.named(id);
        let Some(before) = self.store.helpdesks().list(helpdesk, Some(id)).await?.pop() else {
            return Err(helpdesk_not_found(helpdesk, id));
        };
        if before.managed_by == ManagedBy::Config {
            return Err(managed_by_config(ErrorCode::HelpdeskManagedByConfig, &what));
        }
        if !self
            .store
            .helpdesks()
            .delete(helpdesk, id, expected)
            .await?
        {
            let current = self
                .store
                .helpdesks()
                .list(helpdesk, Some(id))
                .await?
                .pop()
                .map(|c| c.version);
            return Err(stale(&what, expected.unwrap_or_default(), current));
        }
        self.record(
            &super::audit::actor(caller),
            "connector",
            &subject(helpdesk, id),
            Some(&audited(&before.settings)),
            &Value::Null,
            Some("deleted"),
        )
        .await
    }

    /// Helpdesk `id` of kind `S` for setting up its side: admins, and one the
    /// config file does not hold (the setup may write its webhook secret).
    pub async fn helpdesk_to_set_up<S: HelpdeskSettings>(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<HelpdeskRecord<S>> {
        caller.admin("setting up a helpdesk")?;
        let c = self
            .stored_helpdesks::<S>(Some(id))
            .await?
            .pop()
            .ok_or_else(|| helpdesk_not_found(S::HELPDESK, id))?;
        if c.managed_by == ManagedBy::Config {
            return Err(managed_by_config(
                ErrorCode::HelpdeskManagedByConfig,
                &S::HELPDESK.named(id),
            ));
        }
        Ok(c)
    }

    /// Where helpdesk `id` of kind `helpdesk` is managed: admins; not found when it is not.
    pub async fn helpdesk_managed_by(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
    ) -> Result<ManagedBy> {
        caller.admin("reading the helpdesk connectors")?;
        self.store
            .helpdesks()
            .list(helpdesk, Some(id))
            .await?
            .pop()
            .map(|c| c.managed_by)
            .ok_or_else(|| helpdesk_not_found(helpdesk, id))
    }

    /// What Rateline made in helpdesk `id` when it set it up: admins.
    pub async fn made_in_helpdesk(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
    ) -> Result<Vec<MadeInHelpdesk>> {
        caller.admin("reading a helpdesk's setup")?;
        Ok(self.store.helpdesks().made(helpdesk.as_str(), id).await?)
    }

    /// Notes, and audits, that Rateline made `kind` `remote_id` in helpdesk `id` (`made`)
    /// or removed it (`!made`). Admins.
    pub async fn note_made(
        &self,
        caller: &Caller,
        helpdesk: Helpdesk,
        id: &str,
        kind: &str,
        remote_id: &str,
        made: bool,
    ) -> Result<()> {
        caller.admin("setting up a helpdesk")?;
        if made {
            let now = self.now();
            self.store
                .helpdesks()
                .note_made(helpdesk.as_str(), id, kind, remote_id, now)
                .await?;
        } else {
            self.store
                .helpdesks()
                .forget_made(helpdesk.as_str(), id, kind, remote_id)
                .await?;
        }
        let action = if made {
            "made in the helpdesk"
        } else {
            "removed from the helpdesk"
        };
        self.note(
            &super::audit::actor(caller),
            "connector",
            &subject(helpdesk, id),
            action,
            &[(kind, Value::from(remote_id))],
        )
        .await;
        Ok(())
    }

    /// Sets the webhook secret of helpdesk `id` of kind `S` to the one its setup made
    /// or read back: audited as changed, never shown.
    pub async fn set_webhook_secret<S: HelpdeskSettings>(
        &self,
        caller: &Caller,
        id: &str,
        secret: &str,
    ) -> Result<()> {
        let c = self.helpdesk_to_set_up::<S>(caller, id).await?;
        let mut settings = c.settings;
        *settings.secrets_mut().1 = Some(secret.to_owned());
        self.put_helpdesk(caller, id, settings, Some(c.version))
            .await
            .map(|_| ())
    }

    /// Writes the config file's helpdesks, read-only over HTTP, and deletes those an
    /// earlier file had that this one no longer has.
    pub async fn apply_configured_helpdesks(&self, found: &ConfiguredHelpdesks) -> Result<()> {
        self.apply_file::<rateline_domain::ChatwootSettings>(&found.chatwoot)
            .await?;
        self.apply_file::<rateline_domain::ZammadSettings>(&found.zammad)
            .await?;
        self.apply_file::<rateline_domain::RocketChatSettings>(&found.rocketchat)
            .await
    }

    async fn apply_file<S: HelpdeskSettings>(&self, file: &[(String, S)]) -> Result<()> {
        let helpdesk = S::HELPDESK;
        let stored = self.stored_helpdesks::<S>(None).await?;
        for (id, settings) in file {
            let before = stored.iter().find(|c| c.id == *id);
            let json = serde_json::to_value(settings).expect("helpdesk settings serialise");
            self.store
                .helpdesks()
                .upsert(helpdesk, id, &json, ManagedBy::Config, None, self.now())
                .await?;
            self.record(
                FILE,
                "connector",
                &subject(helpdesk, id),
                before.map(|c| audited(&c.settings)).as_ref(),
                &audited(settings),
                None,
            )
            .await?;
        }
        for gone in stored
            .iter()
            .filter(|c| c.managed_by == ManagedBy::Config)
            .filter(|c| !file.iter().any(|(id, _)| *id == c.id))
        {
            self.store
                .helpdesks()
                .delete(helpdesk, &gone.id, None)
                .await?;
            self.record(
                FILE,
                "connector",
                &subject(helpdesk, &gone.id),
                Some(&audited(&gone.settings)),
                &Value::Null,
                Some("removed from the config file"),
            )
            .await?;
        }
        Ok(())
    }
}
