//! What admins configure: lines and people (read, listed, replaced; every write raises a
//! version, and a write may name the version it expects, so two admins editing one line
//! cannot overwrite each other unknowingly), a person's own time zone, groups, and the
//! config file's lines.

use rateline_domain::{
    AlertPace, ErrorCode, Group, Invalid, LineId, LineSettings, ManagedBy, NameId, Person, PersonId,
};

use super::base::Engine;
use super::error::{EngineError, Result, line_not_found, person_not_found};
use crate::policy::Caller;
use crate::store::{LineRecord, PersonRecord};

/// Who the config file's changes are recorded as.
pub(super) const FILE: &str = "config file";

/// The refusal of an HTTP write to something the config file defines.
pub(super) fn managed_by_config(code: ErrorCode, what: &str) -> EngineError {
    EngineError::Conflict {
        code,
        message: format!("{what} is defined in the config file; change it there and restart"),
    }
}

/// The refusal of a write that expected version `expected` of `what` (`line 'x'`), which is
/// at `current` now (`None`: it does not exist).
pub(super) fn stale(what: &str, expected: i64, current: Option<i64>) -> EngineError {
    EngineError::Conflict {
        code: ErrorCode::PreconditionFailed,
        message: match current {
            Some(v) => format!(
                "{what} was changed since version \"{expected}\": it is at \"{v}\" now (its ETag); \
                 read it again, then send your change with If-Match: \"{v}\""
            ),
            None => format!("{what} does not exist, so it is not at version \"{expected}\""),
        },
    }
}

/// The answer for a group that does not exist.
pub fn group_not_found(id: &str) -> EngineError {
    EngineError::NotFound {
        code: ErrorCode::GroupNotFound,
        message: format!("group '{id}' does not exist; create it with PUT /v1/groups/{id}"),
    }
}

impl Engine {
    /// Creates or replaces a line from the API; the stored line and whether it is new. With
    /// `expected`, only the line at that version is replaced.
    pub async fn put_line(
        &self,
        caller: &Caller,
        id: &LineId,
        mut settings: LineSettings,
        expected: Option<i64>,
    ) -> Result<(LineRecord, bool)> {
        caller.admin("changing a line")?;
        settings.validate()?;
        if let Some(w) = &settings.webhook {
            self.check_destination("webhook.url", &w.url)?;
        }
        let existing = self.store.lines().get(id).await?;
        let what = format!("line '{id}'");
        if let Some(l) = &existing
            && l.managed_by == ManagedBy::Config
        {
            return Err(managed_by_config(ErrorCode::LineManagedByConfig, &what));
        }
        if let Some(v) = expected
            && existing.as_ref().map(|l| l.version) != Some(v)
        {
            return Err(stale(&what, v, existing.map(|l| l.version)));
        }
        // The secret is write-only: a PUT without it keeps the one stored.
        if let Some(w) = settings.webhook.as_mut()
            && w.secret.is_none()
        {
            w.secret = existing
                .as_ref()
                .and_then(|l| l.settings.webhook.as_ref())
                .and_then(|old| old.secret.clone());
            if w.secret.is_none() {
                return Err(Invalid::new(
                    "webhook.secret",
                    "is required: at least 16 characters that sign every request",
                )
                .into());
            }
        }
        if !self
            .store
            .lines()
            .upsert(id, &settings, ManagedBy::Api, expected, self.now())
            .await?
        {
            // Another write came between the read above and this one.
            let current = self.store.lines().get(id).await?.map(|l| l.version);
            return Err(stale(&what, expected.unwrap_or_default(), current));
        }
        let line = self.line(id).await?;
        let before = existing.as_ref().map(|l| &l.settings);
        self.record(
            &super::audit::actor(caller),
            "line",
            id,
            before,
            &line.settings,
            None,
        )
        .await?;
        Ok((line, existing.is_none()))
    }

    /// Writes the config file's people and groups, then its lines; all are read-only over
    /// HTTP. A person's secret the file leaves out keeps the stored one.
    pub async fn apply_configured(
        &self,
        found: &crate::settings::ConfiguredPeople,
        lines: &[crate::settings::ConfiguredLine],
    ) -> Result<()> {
        for (id, person) in &found.people {
            let mut person = person.clone();
            if person.notify.webhook_secret.is_none() {
                person.notify.webhook_secret = self.stored_secret(id).await?;
            }
            let before = self.store.people().person(id).await?;
            self.store
                .people()
                .upsert_person(id, &person, ManagedBy::Config, None, self.now())
                .await?;
            if let Some(after) = self.store.people().person(id).await? {
                let before = before.map(|b| b.person);
                self.record(FILE, "person", id, before.as_ref(), &after.person, None)
                    .await?;
            }
        }
        for (id, group) in &found.groups {
            let before = self
                .store
                .people()
                .groups(Some(id))
                .await?
                .pop()
                .map(|(_, g, _)| g);
            self.store
                .people()
                .upsert_group(id, group, ManagedBy::Config, self.now())
                .await?;
            self.record(FILE, "group", id, before.as_ref(), group, None)
                .await?;
        }
        for l in lines {
            let before = self.store.lines().get(&l.id).await?.map(|b| b.settings);
            self.store
                .lines()
                .upsert(&l.id, &l.settings, ManagedBy::Config, None, self.now())
                .await?;
            self.record(FILE, "line", &l.id, before.as_ref(), &l.settings, None)
                .await?;
        }
        Ok(())
    }

    /// Line `id`, as stored (with its write-only secret: for the engine's and the HTTP
    /// layer's use, never to be shown).
    pub async fn line(&self, id: &LineId) -> Result<LineRecord> {
        self.store
            .lines()
            .get(id)
            .await?
            .ok_or_else(|| line_not_found(id))
    }

    /// Every person, for admins (with whether each has set a password).
    pub async fn people(&self, caller: &Caller) -> Result<Vec<PersonRecord>> {
        caller.admin("listing people")?;
        Ok(self.store.people().list().await?)
    }

    /// Person `id` as stored, without write-only secrets: admins, or the person themselves.
    pub async fn person(&self, caller: &Caller, id: &PersonId) -> Result<PersonRecord> {
        if caller.person_id() != Some(id) {
            caller.admin("reading another person")?;
        }
        self.store
            .people()
            .person(id)
            .await?
            .ok_or_else(|| person_not_found(id))
    }

    /// Sets person `person_id`'s own time zone (an IANA name; `None` follows
    /// `server.time_zone`): admins, or the person themselves.
    pub async fn set_time_zone(
        &self,
        caller: &Caller,
        person_id: &PersonId,
        zone: Option<&str>,
    ) -> Result<()> {
        if caller.person_id() != Some(person_id) {
            caller.admin("setting another person's time zone")?;
        }
        if let Some(zone) = zone {
            rateline_domain::time_zone("time_zone", zone)?;
        }
        if self
            .store
            .people()
            .person(person_id)
            .await?
            .is_some_and(|p| p.managed_by == ManagedBy::Config)
        {
            return Err(managed_by_config(
                ErrorCode::PersonManagedByConfig,
                &format!("person '{person_id}' (and their time_zone)"),
            ));
        }
        let before = self.store.people().person(person_id).await?;
        if !self
            .store
            .people()
            .set_time_zone(person_id, zone, self.now())
            .await?
        {
            return Err(person_not_found(person_id));
        }
        if let (Some(before), Some(after)) = (before, self.store.people().person(person_id).await?)
        {
            let actor = super::audit::actor(caller);
            self.record(
                &actor,
                "person",
                person_id,
                Some(&before.person),
                &after.person,
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// Person `person_id`'s alert pace: admins, or the person themselves.
    pub async fn alert_pace(&self, caller: &Caller, person_id: &PersonId) -> Result<AlertPace> {
        if caller.person_id() != Some(person_id) {
            caller.admin("reading another person's alert pace")?;
        }
        self.store
            .people()
            .alert_pace(person_id)
            .await?
            .ok_or_else(|| person_not_found(person_id))
    }

    /// Sets how often person `person_id` hears of low ratings, and their quiet hours:
    /// admins, or the person themselves. It is the person's own choice, so a person from
    /// the config file may set it too. The audit log keeps the change.
    pub async fn set_alert_pace(
        &self,
        caller: &Caller,
        person_id: &PersonId,
        pace: &AlertPace,
    ) -> Result<()> {
        if caller.person_id() != Some(person_id) {
            caller.admin("setting another person's alert pace")?;
        }
        pace.validate()?;
        let before = self
            .store
            .people()
            .alert_pace(person_id)
            .await?
            .ok_or_else(|| person_not_found(person_id))?;
        if !self
            .store
            .people()
            .set_alert_pace(person_id, pace, self.now())
            .await?
        {
            return Err(person_not_found(person_id));
        }
        if before.weekly_report != pace.weekly_report {
            self.wake.replan_weekly(self.now());
        }
        let actor = super::audit::actor(caller);
        self.record(&actor, "alert_pace", person_id, Some(&before), pace, None)
            .await
    }

    /// Creates or replaces a person; them as stored (the write-only secret kept out) and
    /// whether they are new. With `expected`, only the person at that version is replaced.
    pub async fn put_person(
        &self,
        caller: &Caller,
        id: &PersonId,
        mut person: Person,
        expected: Option<i64>,
    ) -> Result<(PersonRecord, bool)> {
        caller.admin("changing people")?;
        person.validate(id)?;
        if let Some(url) = &person.notify.webhook_url {
            self.check_destination("notify.webhook_url", url)?;
        }
        let what = format!("person '{id}'");
        let stored = self.store.people().person(id).await?;
        if stored
            .as_ref()
            .is_some_and(|p| p.managed_by == ManagedBy::Config)
        {
            return Err(managed_by_config(ErrorCode::PersonManagedByConfig, &what));
        }
        let existing = stored.as_ref().map(|p| p.version);
        let old_secret = self.stored_secret(id).await?;
        if let Some(v) = expected
            && existing != Some(v)
        {
            return Err(stale(&what, v, existing));
        }
        // The secret is write-only: a write without it keeps the stored one.
        if person.notify.webhook_secret.is_none() {
            person.notify.webhook_secret.clone_from(&old_secret);
        }
        let Some(created) = self
            .store
            .people()
            .upsert_person(id, &person, ManagedBy::Api, expected, self.now())
            .await?
        else {
            let current = self.store.people().person(id).await?.map(|p| p.version);
            return Err(stale(&what, expected.unwrap_or_default(), current));
        };
        let after = self
            .store
            .people()
            .person(id)
            .await?
            .ok_or_else(|| person_not_found(id))?;
        // Compared with the secret as it was (the log masks both), so a new one shows.
        let before = stored.map(|s| {
            let mut p = s.person;
            p.notify.webhook_secret = old_secret;
            p
        });
        self.record(
            &super::audit::actor(caller),
            "person",
            id,
            before.as_ref(),
            &person,
            None,
        )
        .await?;
        Ok((after, created))
    }

    /// Person `id`'s stored `notify.webhook_secret`, which a write that leaves it out keeps.
    async fn stored_secret(&self, id: &PersonId) -> Result<Option<String>> {
        Ok(self
            .store
            .people()
            .person_reachability(id)
            .await?
            .and_then(|p| p.notify.webhook_secret))
    }

    /// Refuses a URL Rateline would call whose host is an address the outbound policy
    /// refuses, when it is stored rather than at the first send.
    pub(super) fn check_destination(&self, field: &str, url: &str) -> Result<()> {
        self.policy
            .check_url(url)
            .map_err(|refused| Invalid::new(field, refused.to_string()).into())
    }

    /// Every group with its members, or the one with `id`: admins.
    pub async fn groups(
        &self,
        caller: &Caller,
        id: Option<&str>,
    ) -> Result<Vec<(String, Group, ManagedBy)>> {
        caller.admin("reading groups")?;
        let groups = self.store.people().groups(id).await?;
        match id {
            Some(id) if groups.is_empty() => Err(group_not_found(id)),
            _ => Ok(groups),
        }
    }

    /// Creates or replaces a group; returns it as stored and whether it is new.
    pub async fn put_group(
        &self,
        caller: &Caller,
        id: &NameId,
        group: Group,
    ) -> Result<(Group, bool)> {
        caller.admin("changing groups")?;
        group.validate()?;
        let stored = self.store.people().groups(Some(id)).await?.pop();
        if stored
            .as_ref()
            .is_some_and(|(_, _, by)| *by == ManagedBy::Config)
        {
            return Err(managed_by_config(
                ErrorCode::GroupManagedByConfig,
                &format!("group '{id}'"),
            ));
        }
        let created = self
            .store
            .people()
            .upsert_group(id, &group, ManagedBy::Api, self.now())
            .await?;
        let before = stored.map(|(_, g, _)| g);
        self.record(
            &super::audit::actor(caller),
            "group",
            id,
            before.as_ref(),
            &group,
            None,
        )
        .await?;
        Ok((group, created))
    }
}
