//! The Rocket.Chat server's side, checked live by Rateline as the Ratings user: its token,
//! its roles, whether a chat handed back can wait in its department's queue, the mapped
//! departments' rule for the close, and the webhook an administrator sets on Omnichannel →
//! Webhooks. Changing those settings takes `edit-privileged-setting`, an administrator's
//! right the Ratings user should never hold, so Rateline makes nothing in Rocket.Chat: "set
//! up" runs the same check and names each step still to take, in the page's own words.

use std::time::Duration;

use rateline_adapters::rocketchat::{self, RocketChatApi};
use rateline_domain::{Helpdesk, HelpdeskSettings, RocketChatSettings};

use super::RocketChat;
use super::send::Server;
use crate::channels::helpdesk::setup::SetupReport;
use crate::engine::Result;
use crate::policy::Caller;

const HELPDESK: Helpdesk = Helpdesk::RocketChat;

/// The roles the Ratings user needs, and what each gives it (`apps/meteor/server/startup/
/// migrations` and `app/authorization/server/constant/permissions.ts`: the default
/// permissions of each role).
const ROLES: [(&str, &str, bool); 3] = [
    (
        "livechat-agent",
        "lets agents hand chats to the Ratings user; without it no chat reaches Rateline",
        true,
    ),
    (
        "livechat-manager",
        "lets it hand a chat back to its agent (transfer-livechat-guest), list the rooms \
         for the catch-up (view-livechat-rooms) and read the webhook's settings for this check",
        true,
    ),
    (
        "bot",
        "lifts Rocket.Chat's limit of 10 calls a minute per route (api-bypass-rate-limit); \
         without it a busy server's questions wait their turn",
        false,
    ),
];

impl RocketChat {
    /// "Set up" on the Helpdesks page: Rateline makes nothing in Rocket.Chat (see the
    /// module's docs), so this is the live check, whose problems are the steps left.
    pub async fn set_up(&self, caller: &Caller, id: &str) -> Result<SetupReport> {
        self.engine
            .helpdesk_to_set_up::<RocketChatSettings>(caller, id)
            .await?;
        let lines = self.engine.line_ids().await?;
        self.check(caller, id, &lines).await
    }

    /// Disconnecting leaves nothing behind: Rateline made nothing there.
    pub async fn take_down(&self, _caller: &Caller, _id: &str) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// The live check of server `id`, for the Helpdesks page.
    pub async fn check(&self, caller: &Caller, id: &str, lines: &[String]) -> Result<SetupReport> {
        let Some(c) = self
            .engine
            .helpdesks::<RocketChatSettings>(caller, Some(id))
            .await?
            .pop()
        else {
            return Ok(SetupReport::default());
        };
        let server = Server::new(id, c.settings, &self.http);
        let (found, problems) = check_server(&server, lines, &self.public_url).await;
        let mut report = SetupReport::default();
        report.take(found, problems);
        Ok(report)
    }

    /// `check-config`'s look at each server. Returns what was found and the problems.
    pub async fn check_servers(
        settings: &[(String, RocketChatSettings)],
        policy: &rateline_adapters::outbound::Policy,
        timeout: Duration,
        lines: &[String],
        base_url: &str,
    ) -> (Vec<String>, Vec<String>) {
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        let Ok(http) = policy.client(timeout).build() else {
            return (found, problems);
        };
        for (id, s) in settings {
            let server = Server::new(id, s.clone(), &http);
            let (f, p) = check_server(&server, lines, base_url).await;
            found.extend(f);
            problems.extend(p);
        }
        (found, problems)
    }
}

/// One server's look: the token and its user, the user's roles, whether a chat handed back
/// can queue, the lines its chats go to and their departments' rule for the close, and the
/// webhook's settings. What was found (a `warning: ` prefix marks a warning) and the
/// problems, each saying how to mend it.
async fn check_server(s: &Server, lines: &[String], base_url: &str) -> (Vec<String>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let at = format!("rocketchat (server '{}')", s.id);
    let api: &RocketChatApi = &s.api;
    let me = match api.me().await {
        Ok(me) => me,
        Err(e) => {
            problems.push(format!("{at}: {e}"));
            return (found, problems);
        }
    };
    found.push(format!("{at}: reached as {}", me.username));
    if me.id != s.settings.user_id {
        problems.push(format!(
            "{at}: the token belongs to user {}, not to user_id {}: give the Ratings user's id \
             and its own token",
            me.id, s.settings.user_id
        ));
    }
    for (role, gives, needed) in ROLES {
        if me.roles.iter().any(|r| r == role) {
            found.push(format!("{at}: {} has the {role} role", me.username));
        } else if needed {
            problems.push(format!(
                "{at}: give {} the {role} role (Administration → Users), which {gives}",
                me.username
            ));
        } else {
            found.push(format!(
                "warning: {at}: {} lacks the {role} role, which {gives}",
                me.username
            ));
        }
    }
    found.push(offline_forward(api, &at).await);
    let own = format!("{}-{}", HELPDESK, s.id);
    if s.settings.departments.is_empty() && !lines.contains(&own) {
        problems.push(format!(
            "{at}: no department is mapped and there is no line '{own}': map departments \
             with departments, or make that line"
        ));
    }
    departments(s, lines, &at, &mut found, &mut problems).await;
    let url = format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        HELPDESK.webhook_path(&s.id)
    );
    match api.webhook_settings().await {
        Ok(hook) => {
            let steps = hook.steps(&url, s.settings.secret().unwrap_or_default());
            if steps.is_empty() {
                found.push(format!(
                    "{at}: the webhook posts to {url} with the token, on each event Rateline needs"
                ));
            }
            problems.extend(steps.into_iter().map(|step| format!("{at}: {step}")));
        }
        Err(e) => found.push(format!(
            "warning: {at}: the webhook's settings could not be read ({e}); check Omnichannel → \
             Webhooks by hand (docs/channels/rocketchat.md)"
        )),
    }
    (found, problems)
}

/// Each mapped department: its line exists, and its rule for the close lets the Ratings
/// user close the chats it rated.
async fn departments(
    s: &Server,
    lines: &[String],
    at: &str,
    found: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    for (department, line) in &s.settings.departments {
        if !lines.contains(line) {
            problems.push(format!(
                "{at}: department {department} maps to line '{line}', which does not exist"
            ));
        }
        // The Ratings user closes each chat it rated: a department's rule for the close
        // must let it.
        match s.api.department(department).await {
            Ok(Some(d)) if d.refuses_every_close() => {
                problems.push(format!("{at}: {}", rocketchat::tags_fix(&d.name)));
            }
            Ok(Some(d)) if d.requests_tags => found.push(format!(
                "{at}: department {} asks for tags before the close: the Ratings user closes \
                 its chats with the department's closing tags ({})",
                d.name,
                d.closing_tags.join(", ")
            )),
            Ok(Some(_)) => {}
            Ok(None) => problems.push(format!(
                "{at}: Rocket.Chat has no department {department}: map departments by id \
                 (Omnichannel → Departments; the id ends a department's address)"
            )),
            Err(e) => found.push(format!(
                "warning: {at}: department {department} could not be read ({e})"
            )),
        }
    }
}

/// Whether a chat its visitor takes back can wait in its department's queue while nobody
/// there is available: a chat goes to its department when its agent is offline
/// (`RocketChat::hand_back`), and with nobody available there this setting decides. A finding
/// (a `warning: ` prefix marks a warning).
async fn offline_forward(api: &RocketChatApi, at: &str) -> String {
    let offline = rocketchat::OFFLINE_FORWARD;
    let waits = "a chat its visitor takes back while nobody in its department is available \
                 stays with the Ratings user until someone is";
    match api.setting(offline).await {
        Ok(Some(serde_json::Value::Bool(true))) => format!(
            "{at}: {offline} is on: a chat taken back while nobody in its department is \
             available waits in the department's queue"
        ),
        Ok(Some(_)) => format!(
            "warning: {at}: {offline} is off, so {waits}; an administrator can turn it on to \
             queue such chats in their department instead"
        ),
        Ok(None) => format!(
            "warning: {at}: the Ratings user may not read {offline} (reading it takes \
             view-privileged-setting, an administrator's right it should not hold): ask an \
             administrator whether it is on; while it is off, {waits}"
        ),
        Err(e) => format!("warning: {at}: {offline} could not be read ({e})"),
    }
}
