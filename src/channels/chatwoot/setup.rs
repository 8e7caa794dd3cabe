//! The Chatwoot account's side, set up by Rateline: the account webhook, made with an
//! administrator's token (`app/policies/webhook_policy.rb`), its secret read back and
//! kept (Chatwoot 4.11.2 and later make one per webhook and never take one), removed on
//! Disconnect; and the live check `check-config` and the Helpdesks page make.

use std::time::Duration;

use rateline_adapters::chatwoot::{self as api, ChatwootApi};
use rateline_domain::{ChatwootSettings, Helpdesk, HelpdeskSettings};

use super::Chatwoot;
use crate::channels::helpdesk::setup::{self, SetupReport};
use crate::engine::Result;
use crate::policy::Caller;

const HELPDESK: Helpdesk = Helpdesk::Chatwoot;

impl Chatwoot {
    /// Where account `id`'s webhook posts.
    fn webhook_url(&self, id: &str) -> String {
        format!("{}{}", self.public_url, HELPDESK.webhook_path(id))
    }

    /// Sets up account `id`'s side in Chatwoot: the account webhook to this server with
    /// the events Rateline reads, its secret kept as the account's `webhook_secret`. Made
    /// once: again, it reports what it made (and takes the secret again if it was not
    /// kept). A webhook to this server that a person made is left alone and refused.
    pub async fn set_up(&self, caller: &Caller, id: &str) -> Result<SetupReport> {
        let c = self
            .engine
            .helpdesk_to_set_up::<ChatwootSettings>(caller, id)
            .await?;
        let (_, api) = api::api_of(id, &c.settings, &self.http);
        let url = self.webhook_url(id);
        let role = api.role().await.map_err(setup::refused)?;
        if role != "administrator" {
            return Err(setup::refused(format!(
                "the api_token's user is an {role} of Chatwoot account {id}, and Chatwoot lets \
                 only administrators manage webhooks: set an administrator's access token, \
                 or add the webhook by hand (docs/channels/chatwoot.md, step 5)"
            )));
        }
        let made = self.engine.made_in_helpdesk(caller, HELPDESK, id).await?;
        let hooks = api.webhooks().await.map_err(setup::refused)?;
        let mut report = SetupReport::default();
        let hook = match hooks.into_iter().find(|h| h.url == url) {
            Some(h) if made.iter().any(|m| m.remote_id == h.id.to_string()) => h,
            Some(h) => return Err(setup::set_up_by_hand(HELPDESK, &h.id.to_string(), &url)),
            None => {
                let h = api.add_webhook(&url).await.map_err(setup::refused)?;
                self.engine
                    .note_made(caller, HELPDESK, id, "webhook", &h.id.to_string(), true)
                    .await?;
                h
            }
        };
        report.made.push(format!(
            "account webhook {} to {url}, for {}",
            hook.id,
            hook.subscriptions.join(", ")
        ));
        match &hook.secret {
            Some(secret) if c.settings.webhook_secret.as_deref() != Some(secret.as_str()) => {
                self.engine
                    .set_webhook_secret::<ChatwootSettings>(caller, id, secret)
                    .await?;
                report
                    .found
                    .push("its secret is kept as the account's webhook secret".to_owned());
            }
            Some(_) => {}
            None => report.warnings.push(
                "this Chatwoot (before 4.11.2) signs no webhook: tick \"Take unsigned calls\" \
                 for the account, or upgrade Chatwoot"
                    .to_owned(),
            ),
        }
        if let Some(private) = private_host(&self.public_url).await {
            report.warnings.push(private_warning(&private));
        }
        Ok(report)
    }

    /// Removes what Rateline made in account `id`'s Chatwoot; what could not be removed.
    pub async fn take_down(&self, caller: &Caller, id: &str) -> Result<Vec<String>> {
        let Some(c) = self
            .engine
            .helpdesks::<ChatwootSettings>(caller, Some(id))
            .await?
            .pop()
        else {
            return Ok(Vec::new());
        };
        let (_, api) = api::api_of(id, &c.settings, &self.http);
        setup::take_down(&self.engine, caller, HELPDESK, id, |_, remote| {
            let api = api.clone();
            async move { api.remove_webhook(&remote).await }
        })
        .await
    }

    /// The live check of account `id`, for the Helpdesks page: what `check-config` says of
    /// it, and what Rateline made there.
    pub async fn check(&self, caller: &Caller, id: &str, lines: &[String]) -> Result<SetupReport> {
        let c = self
            .engine
            .helpdesks::<ChatwootSettings>(caller, Some(id))
            .await?
            .pop();
        let Some(c) = c else {
            return Ok(SetupReport::default());
        };
        let mut report = setup::made(&self.engine, caller, HELPDESK, id).await?;
        let (_, api) = api::api_of(id, &c.settings, &self.http);
        let (found, problems) = check_account(&api, id, &c.settings, lines, &self.public_url).await;
        report.take(found, problems);
        if let Some(private) = private_host(&self.public_url).await {
            report.warnings.push(private_warning(&private));
        }
        Ok(report)
    }

    /// `check-config`'s look at each account: the token, the mapped inboxes, how each
    /// takes an answer after the resolve, Chatwoot's own survey and the webhook; and whether
    /// Chatwoot may post to this server's `base_url`. Lines are those `serve` will have.
    /// Returns what was found and the problems.
    pub async fn check_accounts(
        settings: &[(String, ChatwootSettings)],
        policy: &rateline_adapters::outbound::Policy,
        timeout: Duration,
        lines: &[String],
        base_url: &str,
    ) -> (Vec<String>, Vec<String>) {
        let (mut found, mut problems) = (Vec::new(), Vec::new());
        let Ok(http) = policy.client(timeout).build() else {
            return (found, problems);
        };
        if !settings.is_empty()
            && let Some(private) = private_host(base_url).await
        {
            found.push(format!("warning: chatwoot: {}", private_warning(&private)));
        }
        for (account, s) in settings {
            let (_, api) = api::api_of(account, s, &http);
            let (f, p) = check_account(&api, account, s, lines, base_url).await;
            found.extend(f);
            problems.extend(p);
        }
        (found, problems)
    }
}

fn private_warning(private: &str) -> String {
    format!(
        "this server's address {private} is private or loopback; Chatwoot 4.14 and later \
         post webhooks only to public addresses unless Chatwoot's environment sets \
         SAFE_FETCH_ALLOW_PRIVATE_NETWORK=true (lib/safe_fetch.rb), so set it there (on its \
         web and Sidekiq processes) or give this server a public server.public_url"
    )
}

/// One account's look: what was found and the problems.
///
/// One piece: Chatwoot's settings read one after another, as an admin would check them, each
/// problem saying how to mend it.
async fn check_account(
    api: &ChatwootApi,
    account: &str,
    s: &ChatwootSettings,
    lines: &[String],
    base_url: &str,
) -> (Vec<String>, Vec<String>) {
    let (mut found, mut problems) = (Vec::new(), Vec::new());
    let user = match api.profile().await {
        Ok(u) => u,
        Err(e) => {
            problems.push(format!("chatwoot (account {account}): {e}"));
            return (found, problems);
        }
    };
    let inboxes = match api.inboxes().await {
        Ok(i) => i,
        Err(e) => {
            problems.push(format!("chatwoot (account {account}): {e}"));
            return (found, problems);
        }
    };
    found.push(format!(
        "chatwoot: account {account} reached as {user}, {} inbox(es)",
        inboxes.len()
    ));
    for key in s.inboxes.keys() {
        if !inboxes.iter().any(|i| i.id.to_string() == *key) {
            problems.push(format!(
                "chatwoot (account {account}): inboxes names inbox {key}, which the \
                     account does not have (it has {})",
                inboxes
                    .iter()
                    .map(|i| format!("{} \"{}\"", i.id, i.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for inbox in &inboxes {
        let line = s.line_of(inbox.id);
        if lines.contains(&line) {
            found.push(format!(
                "chatwoot: inbox {} \"{}\" ({}) is rated on line '{line}'{}",
                inbox.id,
                inbox.name,
                inbox.channel_type,
                if api::renders_buttons(&inbox.channel_type) {
                    " with buttons"
                } else {
                    ", answered by typing a digit"
                }
            ));
            if let Some(locked) = inbox.lock_to_single_conversation
                && api::new_conversation_unless_locked(&inbox.channel_type)
            {
                found.push(format!(
                    "chatwoot: inbox {} \"{}\" {}",
                    inbox.id,
                    inbox.name,
                    if locked {
                        "keeps one conversation per contact (lock to single \
                             conversation on): an answer reopens the resolved \
                             conversation"
                    } else {
                        "opens a new conversation for a message after the resolve \
                             (lock to single conversation off, Chatwoot's default): \
                             Rateline takes the answer there and resolves it"
                    }
                ));
            }
            if inbox.csat_survey_enabled {
                found.push(format!(
                    "warning: chatwoot inbox {} \"{}\" has Chatwoot's own CSAT survey on: \
                         switch it off (Inbox settings → CSAT) or clients are asked twice",
                    inbox.id, inbox.name
                ));
            }
        } else if s.inboxes.contains_key(&inbox.id.to_string()) {
            problems.push(format!(
                    "chatwoot (account {account}): inbox {} maps to line '{line}', which does not exist",
                    inbox.id
                ));
        } else {
            found.push(format!(
                "chatwoot: inbox {} \"{}\" is not rated (no line '{line}')",
                inbox.id, inbox.name
            ));
        }
    }
    let url = format!(
        "{}{}",
        base_url.trim_end_matches('/'),
        HELPDESK.webhook_path(account)
    );
    match api.webhooks().await {
        Err(e) => found.push(format!(
            "warning: chatwoot (account {account}): its webhooks could not be read ({e}); only \
             an administrator's token can, so the webhook is not checked"
        )),
        Ok(hooks) => match hooks.iter().find(|h| h.url == url) {
            None => problems.push(format!(
                "chatwoot (account {account}): no account webhook posts to {url}: set it up \
                 (Helpdesks page, \"Set up in Chatwoot\") or add it by hand"
            )),
            Some(h) => {
                let missing: Vec<&str> = api::WEBHOOK_EVENTS
                    .into_iter()
                    .filter(|e| !h.subscriptions.iter().any(|s| s == e))
                    .collect();
                if missing.is_empty() {
                    found.push(format!(
                        "chatwoot: account {account}'s webhook {} posts here with every event \
                         Rateline reads",
                        h.id
                    ));
                } else {
                    problems.push(format!(
                        "chatwoot (account {account}): webhook {} leaves out {}: tick them in \
                         the webhook's settings",
                        h.id,
                        missing.join(", ")
                    ));
                }
                if let (Some(theirs), Some(ours)) = (&h.secret, &s.webhook_secret)
                    && theirs != ours
                {
                    problems.push(format!(
                        "chatwoot (account {account}): webhook {} signs with a secret other \
                         than the account's webhook secret, so every call is refused: set \
                         the one Chatwoot shows",
                        h.id
                    ));
                }
            }
        },
    }
    (found, problems)
}

/// The host of `base_url` when it is, or resolves to, an address that is not public: one
/// Chatwoot 4.14 and later refuse to post to by default. `None` for a public one, or a name
/// that does not resolve here.
async fn private_host(base_url: &str) -> Option<String> {
    let url = reqwest::Url::parse(base_url).ok()?;
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(80);
    // No network allowed: what is left is only what is public.
    let public = rateline_adapters::outbound::Policy::new(Vec::new());
    let addresses: Vec<std::net::IpAddr> = match host.parse() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::lookup_host((host, port)),
        )
        .await
        .ok()?
        .ok()?
        .map(|a| a.ip())
        .collect(),
    };
    addresses
        .iter()
        .any(|ip| !public.permits(*ip))
        .then(|| host.to_owned())
}
