//! What the config file itself defines: lines, people, groups and helpdesks,
//! each checked like its `PUT` body.

use rateline_domain::{
    ChatwootSettings, HelpdeskSettings, LineId, LineSettings, RocketChatSettings, ZammadSettings,
};

use super::load::Settings;

/// A line from the config file, validated.
#[derive(Debug, Clone)]
pub struct ConfiguredLine {
    /// The line's id, as the file's `id` gives it (checked by `with_ids`).
    pub id: LineId,
    /// The rest of the entry, checked as a `PUT /v1/lines/{id}` body is.
    pub settings: LineSettings,
}

/// People and groups from the config file, validated.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredPeople {
    /// The file's `[[people]]`, each by its id, checked as a `PUT /v1/people/{id}` body is.
    pub people: Vec<(rateline_domain::PersonId, rateline_domain::Person)>,
    /// The file's `[[groups]]`, each by its id, checked as a `PUT /v1/groups/{id}` body is.
    pub groups: Vec<(rateline_domain::NameId, rateline_domain::Group)>,
}

/// The helpdesks of the config file, checked.
#[derive(Debug, Clone, Default)]
pub struct ConfiguredHelpdesks {
    /// Account id → settings.
    pub chatwoot: Vec<(String, ChatwootSettings)>,
    /// Instance name → settings.
    pub zammad: Vec<(String, ZammadSettings)>,
    /// Server name → settings.
    pub rocketchat: Vec<(String, RocketChatSettings)>,
}

/// Each `[[chatwoot]]` (`[[zammad]]`) entry with its `account` (`instance`) taken out,
/// checked as its `PUT` would be, or the problem with it.
fn helpdesks_of<S: HelpdeskSettings>(
    list: &[serde_json::Value],
    policy: &rateline_adapters::outbound::Policy,
    problems: &mut Vec<String>,
) -> Vec<(String, S)> {
    let helpdesk = S::HELPDESK;
    let (what, unit) = (helpdesk.as_str(), helpdesk.unit());
    let mut found: Vec<(String, S)> = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let mut raw = raw.clone();
        let id = match raw.as_object_mut().and_then(|o| o.remove(unit)) {
            Some(serde_json::Value::String(s)) => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                problems.push(format!("{what}[{i}]: needs `{unit}`"));
                continue;
            }
        };
        let at = format!("{what} ({unit} {id:?})");
        if let Err(e) = helpdesk.check_id(unit, &id) {
            problems.push(format!("{at}: {e}"));
            continue;
        }
        if found.iter().any(|(other, _)| *other == id) {
            problems.push(format!(
                "{at} is configured twice: one [[{what}]] per {unit}"
            ));
            continue;
        }
        let checked = serde_json::from_value::<S>(raw)
            .map_err(|e| e.to_string())
            .and_then(|s| {
                s.validate().map_err(|e| e.to_string())?;
                policy.check_url(s.url()).map_err(|refused| {
                    format!("url {:?} is {refused}", crate::store::redact_url(s.url()))
                })?;
                Ok(s)
            });
        match checked {
            Ok(s) => found.push((id, s)),
            Err(e) => problems.push(format!("{at}: {e}")),
        }
    }
    found
}

/// Each entry of a file's list (`lines`, `people`, `groups`) with its `id` taken out and
/// checked, or the problem with it.
fn with_ids(
    list: &[serde_json::Value],
    what: &str,
    problems: &mut Vec<String>,
) -> Vec<(String, serde_json::Value)> {
    let mut entries = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        let mut raw = raw.clone();
        let id = raw
            .as_object_mut()
            .and_then(|o| o.remove("id"))
            .and_then(|v| v.as_str().map(String::from));
        let Some(id) = id else {
            problems.push(format!("{what}[{i}]: needs an `id`"));
            continue;
        };
        let id = rateline_domain::normalize_id(&id);
        if let Err(e) = rateline_domain::check_name_id(&format!("{what}[{i}].id"), &id) {
            problems.push(e.to_string());
            continue;
        }
        entries.push((id, raw));
    }
    entries
}

impl Settings {
    /// The lines of the config file, each checked like a `PUT /v1/lines/{id}` body.
    pub fn configured_lines(&self) -> Result<Vec<ConfiguredLine>, Vec<String>> {
        let mut lines = Vec::new();
        let mut problems = Vec::new();
        for (id, raw) in with_ids(&self.lines, "lines", &mut problems) {
            match serde_json::from_value::<LineSettings>(raw) {
                Ok(mut settings) => match settings.validate().and_then(|()| {
                    let policy = self.outbound_policy().unwrap_or_default();
                    match &settings.webhook {
                        Some(w) => policy.check_url(&w.url).map_err(|r| {
                            rateline_domain::Invalid::new("webhook.url", r.to_string())
                        }),
                        None => Ok(()),
                    }
                }) {
                    Ok(())
                        if settings
                            .webhook
                            .as_ref()
                            .is_some_and(|w| w.secret.is_none()) =>
                    {
                        problems.push(format!("line '{id}': webhook.secret is required"));
                    }
                    Ok(()) => lines.push(ConfiguredLine {
                        id: LineId::stored(id),
                        settings,
                    }),
                    Err(e) => problems.push(format!("line '{id}': {e}")),
                },
                Err(e) => problems.push(format!("line '{id}': {e}")),
            }
        }
        if problems.is_empty() {
            Ok(lines)
        } else {
            Err(problems)
        }
    }

    /// The helpdesks of the config file (`[[chatwoot]]` with its `account`,
    /// `[[zammad]]` with its `instance`, `[[rocketchat]]` with its `server`), each checked like its `PUT` body, the outbound
    /// policy included.
    pub fn configured_helpdesks(&self) -> Result<ConfiguredHelpdesks, Vec<String>> {
        let mut problems = Vec::new();
        let policy = self.outbound_policy().unwrap_or_default();
        let found = ConfiguredHelpdesks {
            chatwoot: helpdesks_of(&self.chatwoot, &policy, &mut problems),
            zammad: helpdesks_of(&self.zammad, &policy, &mut problems),
            rocketchat: helpdesks_of(&self.rocketchat, &policy, &mut problems),
        };
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(problems)
        }
    }

    /// The people and groups of the config file, each checked like its `PUT` body.
    pub fn configured_people(&self) -> Result<ConfiguredPeople, Vec<String>> {
        let mut problems = Vec::new();
        let mut found = ConfiguredPeople::default();
        let policy = self.outbound_policy().unwrap_or_default();
        for (id, raw) in with_ids(&self.people, "people", &mut problems) {
            let id = rateline_domain::PersonId::stored(id);
            let checked = serde_json::from_value::<rateline_domain::Person>(raw)
                .map_err(|e| e.to_string())
                .and_then(|mut p| {
                    p.validate(&id).map_err(|e| e.to_string())?;
                    if let Some(url) = &p.notify.webhook_url {
                        policy
                            .check_url(url)
                            .map_err(|r| format!("notify.webhook_url: {r}"))?;
                    }
                    Ok(p)
                });
            match checked {
                Ok(p) => found.people.push((id, p)),
                Err(e) => problems.push(format!("person '{id}': {e}")),
            }
        }
        for (id, raw) in with_ids(&self.groups, "groups", &mut problems) {
            let id = rateline_domain::NameId::stored(id);
            let checked = serde_json::from_value::<rateline_domain::Group>(raw)
                .map_err(|e| e.to_string())
                .and_then(|g| g.validate().map(|()| g).map_err(|e| e.to_string()));
            match checked {
                Ok(g) => found.groups.push((id, g)),
                Err(e) => problems.push(format!("group '{id}': {e}")),
            }
        }
        if problems.is_empty() {
            Ok(found)
        } else {
            Err(problems)
        }
    }
}
