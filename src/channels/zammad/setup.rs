//! The Zammad instance's side, set up by Rateline: a webhook to this server signed with the
//! instance's token (`admin.webhook`), and two triggers that send it on every ticket
//! created and every ticket updated (`admin.trigger`); removed on Disconnect, triggers
//! first. And the live check `check-config` and the Helpdesks page make, which reads the
//! webhooks and triggers back and says whether a trigger can fire, by Zammad's own rules.
//!
//! Zammad's rules, from its source (`lib/selector/sql.rb`, `app/models/trigger.rb`,
//! `app/models/ticket.rb#perform_triggers`):
//! - `ticket.action` is compared with one value: `options[:ticket_action] ==
//!   block_condition[:value]`. A list never equals it, so `is [create, update]` never fires
//!   (and any operator but `is` acts as `is not`). Zammad's API takes such a trigger
//!   without a word. Hence two triggers, one a value.
//! - `execution_condition_mode` is `selective` unless set (the column's default). Then an
//!   update fires only when an attribute the conditions name changed, or an article was
//!   added: with `ticket.action` alone, a close or a new owner without an article is never
//!   sent. Rateline's triggers are `always`.
//! - `activator: time` triggers run on reminders and escalations only.

use std::time::Duration;

use rateline_domain::{Helpdesk, HelpdeskSettings, ZammadSettings};
use serde_json::{Value, json};

use super::Zammad;
use crate::channels::helpdesk::setup::{self, SetupReport};
use crate::engine::Result;
use crate::policy::Caller;
use rateline_adapters::zammad::{ZammadApi, api_of};

const HELPDESK: Helpdesk = Helpdesk::Zammad;

/// The ticket actions Rateline's triggers fire on, one trigger each.
const ACTIONS: [(&str, &str); 2] = [("create", "created"), ("update", "updated")];

/// The name of Rateline's trigger for `action` on instance `id`: trigger names are unique
/// in Zammad, and one Zammad may serve several Rateline instances.
fn trigger_name(id: &str, done: &str) -> String {
    format!("Rateline ({id}): ticket {done}")
}

/// On what a trigger that sends the webhook fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fires {
    Create,
    /// On every update.
    Update,
    /// On an update that adds an article only (`selective`).
    Article,
}

/// When trigger `t` fires, by Zammad's rules (see the module's docs), or why it never does
/// in a way that helps Rateline. `Ok(vec![])` for conditions this check cannot judge.
fn fires(t: &Value) -> std::result::Result<Vec<Fires>, String> {
    let activator = t
        .get("activator")
        .and_then(Value::as_str)
        .unwrap_or("action");
    if activator != "action" {
        return Err("it is activated by time (reminders and escalations), not by a change".into());
    }
    let selective = t.get("execution_condition_mode").and_then(Value::as_str) != Some("always");
    let Some(condition) = t.get("condition").and_then(Value::as_object) else {
        return Ok(Vec::new());
    };
    let on_update = if selective {
        Fires::Article
    } else {
        Fires::Update
    };
    let Some(action) = condition.get("ticket.action") else {
        return Ok(if condition.is_empty() {
            vec![Fires::Create, on_update]
        } else {
            Vec::new()
        });
    };
    let operator = action.get("operator").and_then(Value::as_str);
    let Some(value) = action.get("value").and_then(Value::as_str) else {
        return Err(
            "its condition compares Action with a list, and Zammad compares Action with one \
             value, so a list never matches: make one trigger for \"created\" and one for \
             \"updated\""
                .into(),
        );
    };
    let is = operator == Some("is");
    let mut when = Vec::new();
    if is == (value == "create") {
        when.push(Fires::Create);
    }
    if is == (value == "update") {
        when.push(on_update);
    }
    Ok(when)
}

/// Whether a webhook or trigger names webhook `id` (Zammad writes ids as strings here and
/// numbers there).
fn names_webhook(t: &Value, id: u64) -> bool {
    let named = t.pointer("/perform/notification.webhook/webhook_id");
    named.and_then(Value::as_u64) == Some(id)
        || named.and_then(Value::as_str) == Some(id.to_string().as_str())
}

impl Zammad {
    /// Where instance `id`'s webhook posts.
    fn webhook_url(&self, id: &str) -> String {
        format!("{}{}", self.public_url, HELPDESK.webhook_path(id))
    }

    /// Sets up instance `id`'s side in Zammad: a webhook to this server signed with the
    /// instance's webhook token (one is made and kept when it has none), and Rateline's two
    /// triggers. What exists already is not made twice; a webhook to this server that a
    /// person made is left alone and refused.
    pub async fn set_up(&self, caller: &Caller, id: &str) -> Result<SetupReport> {
        let c = self
            .engine
            .helpdesk_to_set_up::<ZammadSettings>(caller, id)
            .await?;
        let api = api_of(id, &c.settings, &self.http);
        let url = self.webhook_url(id);
        let made = self.engine.made_in_helpdesk(caller, HELPDESK, id).await?;
        let ours = |kind: &str, remote: u64| {
            made.iter()
                .any(|m| m.kind == kind && m.remote_id == remote.to_string())
        };
        let hooks = api.webhooks().await.map_err(needs_admin)?;
        let existing = hooks
            .iter()
            .find(|h| h.get("endpoint").and_then(Value::as_str) == Some(url.as_str()))
            .and_then(|h| h.get("id").and_then(Value::as_u64));
        let mut report = SetupReport::default();
        let webhook = match existing {
            Some(w) if ours("webhook", w) => w,
            Some(w) => return Err(setup::set_up_by_hand(HELPDESK, &w.to_string(), &url)),
            None => {
                let token = match &c.settings.webhook_token {
                    Some(t) => t.clone(),
                    None => {
                        let t = hex::encode(rand::random::<[u8; 32]>());
                        self.engine
                            .set_webhook_secret::<ZammadSettings>(caller, id, &t)
                            .await?;
                        t
                    }
                };
                let record = json!({
                    "name": format!("Rateline ({id})"),
                    "endpoint": url,
                    "signature_token": token,
                    "ssl_verify": true,
                    "active": true,
                    "note": "Made by Rateline: every ticket change, for its ratings.",
                });
                let w = api.make("webhooks", &record).await.map_err(needs_admin)?;
                self.engine
                    .note_made(caller, HELPDESK, id, "webhook", &w.to_string(), true)
                    .await?;
                w
            }
        };
        report.made.push(format!(
            "webhook {webhook} to {url}, signed with the webhook token"
        ));
        let triggers = api.triggers().await.map_err(needs_admin)?;
        for (action, done) in ACTIONS {
            let name = trigger_name(id, done);
            let found = triggers
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some(name.as_str()))
                .and_then(|t| t.get("id").and_then(Value::as_u64));
            let trigger = match found {
                Some(t) if ours("trigger", t) => t,
                _ => {
                    let record = json!({
                        "name": name,
                        "activator": "action",
                        "execution_condition_mode": "always",
                        "condition": {
                            "ticket.action": {"operator": "is", "value": action},
                        },
                        "perform": {
                            "notification.webhook": {"webhook_id": webhook.to_string()},
                        },
                        "active": true,
                        "note": "Made by Rateline: sends its webhook.",
                    });
                    let t = api.make("triggers", &record).await.map_err(needs_admin)?;
                    self.engine
                        .note_made(caller, HELPDESK, id, "trigger", &t.to_string(), true)
                        .await?;
                    t
                }
            };
            report.made.push(format!(
                "trigger {trigger} \"{name}\": on every ticket {done}, always, sends webhook \
                 {webhook}"
            ));
        }
        Ok(report)
    }

    /// Removes what Rateline made in instance `id`'s Zammad, triggers first; what could not
    /// be removed.
    pub async fn take_down(&self, caller: &Caller, id: &str) -> Result<Vec<String>> {
        let Some(c) = self
            .engine
            .helpdesks::<ZammadSettings>(caller, Some(id))
            .await?
            .pop()
        else {
            return Ok(Vec::new());
        };
        let api = api_of(id, &c.settings, &self.http);
        setup::take_down(&self.engine, caller, HELPDESK, id, |kind, remote| {
            let api = api.clone();
            async move { api.remove(&format!("{kind}s"), &remote).await }
        })
        .await
    }

    /// The live check of instance `id`, for the Helpdesks page: what `check-config` says of
    /// it, and what Rateline made there.
    pub async fn check(&self, caller: &Caller, id: &str, lines: &[String]) -> Result<SetupReport> {
        let c = self
            .engine
            .helpdesks::<ZammadSettings>(caller, Some(id))
            .await?
            .pop();
        let Some(c) = c else {
            return Ok(SetupReport::default());
        };
        let mut report = setup::made(&self.engine, caller, HELPDESK, id).await?;
        let api = api_of(id, &c.settings, &self.http);
        let (found, problems) =
            check_instance(&api, id, &c.settings, lines, &self.public_url).await;
        report.take(found, problems);
        Ok(report)
    }

    /// `check-config`'s look at each instance: the token, the mapped groups, the webhook to
    /// `base_url` and the triggers that send it. Returns what was found and the problems.
    pub async fn check_instances(
        settings: &[(String, ZammadSettings)],
        policy: &rateline_adapters::outbound::Policy,
        timeout: Duration,
        lines: &[String],
        base_url: &str,
    ) -> (Vec<String>, Vec<String>) {
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        let Ok(http) = policy.client(timeout).build() else {
            return (found, problems);
        };
        for (instance, s) in settings {
            let api = api_of(instance, s, &http);
            let (f, p) = check_instance(&api, instance, s, lines, base_url).await;
            found.extend(f);
            problems.extend(p);
        }
        (found, problems)
    }
}

/// A setup call Zammad refused, with the rights it takes.
fn needs_admin(e: String) -> crate::engine::EngineError {
    setup::refused(format!(
        "{e}. Setting up Zammad takes a token with admin.webhook and admin.trigger (Profile → \
         Token Access); or make the webhook and triggers by hand (docs/channels/zammad.md, \
         step 5)"
    ))
}

/// One instance's look: what was found and the problems.
async fn check_instance(
    api: &ZammadApi,
    instance: &str,
    s: &ZammadSettings,
    lines: &[String],
    base_url: &str,
) -> (Vec<String>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let at = format!("zammad (instance '{instance}')");
    let user = match api.me().await {
        Ok(u) => u,
        Err(e) => {
            problems.push(format!("{at}: {e}"));
            return (found, problems);
        }
    };
    // Listing groups takes admin.group, which an agent's token may well not have.
    match api.groups().await {
        Err(e) => found.push(format!(
            "warning: {at}: reached as {user}, but its groups could not be listed ({e}); the \
             group mapping is not checked"
        )),
        Ok(groups) => {
            found.push(format!(
                "zammad: instance '{instance}' reached as {user}, {} group(s)",
                groups.len()
            ));
            for key in s.groups.keys() {
                if !groups.iter().any(|(id, _)| id.to_string() == *key) {
                    problems.push(format!(
                        "{at}: groups names group {key}, which Zammad does not have"
                    ));
                }
            }
            for (id, name) in &groups {
                let line = s.line_of(*id);
                if lines.contains(&line) {
                    found.push(format!(
                        "zammad: group {id} \"{name}\" is rated on line '{line}'"
                    ));
                } else if s.groups.contains_key(&id.to_string()) {
                    problems.push(format!(
                        "{at}: group {id} maps to line '{line}', which does not exist"
                    ));
                } else {
                    found.push(format!(
                        "zammad: group {id} \"{name}\" is not rated (no line '{line}')"
                    ));
                }
            }
        }
    }
    let url = format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        HELPDESK.webhook_path(instance)
    );
    check_webhook(api, &at, &url, s, &mut found, &mut problems).await;
    (found, problems)
}

/// The webhook to `url` and the triggers that send it.
///
/// One piece: Zammad's webhook and triggers read one after another, as an admin would check
/// them, each problem saying how to mend it.
async fn check_webhook(
    api: &ZammadApi,
    at: &str,
    url: &str,
    s: &ZammadSettings,
    found: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    let hooks = match api.webhooks().await {
        Ok(h) => h,
        Err(e) => {
            found.push(format!(
                "warning: {at}: its webhooks could not be read ({e}); a token with \
                 admin.webhook and admin.trigger can, so the webhook is not checked"
            ));
            return;
        }
    };
    let ours: Vec<&Value> = hooks
        .iter()
        .filter(|h| h.get("endpoint").and_then(Value::as_str) == Some(url))
        .collect();
    let mut ids = Vec::new();
    for h in &ours {
        let Some(id) = h.get("id").and_then(Value::as_u64) else {
            continue;
        };
        if h.get("active").and_then(Value::as_bool) == Some(false) {
            problems.push(format!(
                "{at}: webhook {id} to {url} is inactive: activate it"
            ));
            continue;
        }
        if h.get("customized_payload").and_then(Value::as_bool) == Some(true) {
            problems.push(format!(
                "{at}: webhook {id} sends a custom payload, which Rateline cannot read: switch \
                 the custom payload off"
            ));
            continue;
        }
        // Zammad 7 shows a token as asterisks; an older one shows it as it is.
        let token = h.get("signature_token").and_then(Value::as_str);
        if let (Some(theirs), Some(mine)) = (token, &s.webhook_token)
            && !theirs.chars().all(|c| c == '*')
            && theirs != mine
        {
            problems.push(format!(
                "{at}: webhook {id} signs with a token other than the instance's webhook \
                 token, so every call is refused: set the same on both sides"
            ));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        if ours.is_empty() {
            problems.push(format!(
                "{at}: no webhook posts to {url}: set it up (Helpdesks page, \"Set up in \
                 Zammad\") or make it by hand"
            ));
        }
        return;
    }
    found.push(format!(
        "zammad: webhook {} posts here",
        ids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let triggers = match api.triggers().await {
        Ok(t) => t,
        Err(e) => {
            found.push(format!(
                "warning: {at}: its triggers could not be read ({e}); the triggers are not \
                 checked"
            ));
            return;
        }
    };
    let mut when = Vec::new();
    for t in triggers.iter().filter(|t| {
        t.get("active").and_then(Value::as_bool) != Some(false)
            && ids.iter().any(|id| names_webhook(t, *id))
    }) {
        let name = t.get("name").and_then(Value::as_str).unwrap_or("(no name)");
        match fires(t) {
            Ok(w) if w.is_empty() => found.push(format!(
                "warning: {at}: trigger \"{name}\" has conditions Rateline does not judge; \
                 it may send only some changes"
            )),
            Ok(w) => when.extend(w),
            Err(why) => problems.push(format!("{at}: trigger \"{name}\" never fires: {why}")),
        }
    }
    if when.contains(&Fires::Update) {
        found.push("zammad: a trigger sends the webhook on every ticket update".to_owned());
    } else if when.contains(&Fires::Article) {
        problems.push(format!(
            "{at}: the triggers send the webhook on an update only when an article is added \
             (Action execution: selective), so a close or a new owner alone is never sent: \
             set Action execution to \"Always\""
        ));
    } else {
        problems.push(format!(
            "{at}: no active trigger sends webhook {} on a ticket update: set it up \
             (Helpdesks page) or make the triggers by hand",
            ids[0]
        ));
    }
    if !when.contains(&Fires::Create) {
        found.push(format!(
            "warning: {at}: no trigger sends the webhook when a ticket is created; the first \
             update opens its session instead"
        ));
    }
}
