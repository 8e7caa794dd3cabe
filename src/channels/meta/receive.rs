//! The Meta channels' way in: their webhook's events become answers, statuses and the
//! clients' messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rateline_adapters::meta::{MetaAccount, MetaEvent};
use rateline_adapters::signed::CallbackSigner;
use rateline_adapters::{SendOutcome, webhook};
use rateline_domain::{Channel, RequestStatus};

use super::send::MetaAdapter;
use crate::channels::dialogue::{Chat, Dialogue};
use crate::engine::Engine;
use crate::settings::MetaSettings;
use crate::store::{PlatformStatus, StoreError};

/// WhatsApp's code for a message sent outside the 24-hour window.
const WHATSAPP_WINDOW_CLOSED: i64 = 131047;

/// The Meta channels of one server.
pub struct Meta {
    engine: Engine,
    app_secret: String,
    verify_token: String,
    accounts: HashMap<Channel, Arc<MetaAccount>>,
    dialogue: Dialogue,
}

impl Meta {
    /// The settings were checked at load: the app secret and verify token are set.
    pub fn new(
        settings: &MetaSettings,
        send_timeout: Duration,
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
    ) -> Self {
        let app_secret = settings.app_secret.clone().unwrap_or_default();
        let signer =
            CallbackSigner::new(settings.callback_secret.as_deref().unwrap_or(&app_secret));
        let http = policy
            .client(send_timeout)
            .build()
            .expect("the HTTP client builds with static settings");
        let accounts = settings
            .accounts()
            .into_iter()
            .map(|(channel, id, token)| {
                let account = MetaAccount::new(
                    channel,
                    &settings.graph_url,
                    &settings.graph_version,
                    id,
                    token,
                    http.clone(),
                    signer.clone(),
                );
                (channel, Arc::new(account))
            })
            .collect();
        Self {
            engine: engine.clone(),
            app_secret,
            verify_token: settings.verify_token.clone().unwrap_or_default(),
            accounts,
            dialogue: Dialogue::new(engine.clone(), signer),
        }
    }

    /// The adapters of the Meta channels this server has set up, one per channel.
    pub fn adapters(&self) -> impl Iterator<Item = Arc<MetaAdapter>> + '_ {
        self.accounts
            .values()
            .map(|a| Arc::new(MetaAdapter::new(a.clone())))
    }

    /// Handles every event of one webhook call, each on its own. Only an unreachable
    /// database is an error: the call is then refused with a 503 and Meta delivers it again
    /// (the events already handled change nothing the second time). Any other failure would
    /// repeat on every delivery, so it is logged and that event let go.
    pub async fn handle(&self, events: Vec<MetaEvent>) -> Result<(), StoreError> {
        for event in events {
            match self.handle_one(event).await {
                Err(StoreError::Unavailable(e)) => return Err(StoreError::Unavailable(e)),
                Err(e) => {
                    tracing::error!(error = %e, "a Meta event could not be handled; it is skipped")
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    fn ours(&self, channel: Channel, account: &str) -> bool {
        // Events for another Page or number of the same app are not ours.
        self.accounts
            .get(&channel)
            .is_some_and(|a| a.account() == account)
    }

    async fn handle_one(&self, event: MetaEvent) -> Result<(), StoreError> {
        match event {
            MetaEvent::Message {
                channel,
                account,
                sender,
                at,
                payload,
                text,
            } => {
                if !self.ours(channel, &account) {
                    tracing::debug!(%channel, %account, "an event for an account not configured here");
                    return Ok(());
                }
                // A timestamp from the future cannot stretch the window.
                let at = at.min(self.engine.now());
                self.engine.client_wrote(channel, &sender, at).await?;
                if let Some(payload) = payload {
                    self.on_payload(channel, &sender, &payload, at).await
                } else if let Some(text) = text {
                    self.on_text(channel, &sender, &text, at).await
                } else {
                    Ok(())
                }
            }
            MetaEvent::Status {
                account,
                message_id,
                status,
                error,
            } if self.ours(Channel::Whatsapp, &account) => {
                self.on_status(&message_id, &status, error).await
            }
            MetaEvent::Status { .. } => Ok(()),
        }
    }

    /// The conversation with `sender` on `channel`, as the dialogue speaks into it.
    fn chat<'a>(&'a self, channel: Channel, sender: &'a str) -> Option<MetaChat<'a>> {
        let account = self.accounts.get(&channel)?;
        Some(MetaChat { account, sender })
    }

    async fn on_payload(
        &self,
        channel: Channel,
        sender: &str,
        payload: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        // Payloads of the contact center's own buttons are not Rateline's to judge.
        let Ok((request_id, action)) = self.dialogue.signer().decode(payload) else {
            tracing::debug!(%channel, "a button payload Rateline did not sign: ignored");
            return Ok(());
        };
        let Some(target) = self.engine.answer_target(&request_id).await? else {
            return Ok(());
        };
        if target.request.channel != channel || target.client_id != sender {
            tracing::warn!(%request_id, %channel, "an answer from another sender: refused, nothing stored");
            return Ok(());
        }
        let Some(chat) = self.chat(channel, sender) else {
            return Ok(());
        };
        self.dialogue.on_action(&chat, &target, action, at).await
    }

    async fn on_text(
        &self,
        channel: Channel,
        sender: &str,
        text: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let Some(target) = self.engine.latest_answer_target(channel, sender).await? else {
            return Ok(());
        };
        let Some(chat) = self.chat(channel, sender) else {
            return Ok(());
        };
        self.dialogue.on_text(&chat, &target, text, at).await?;
        Ok(())
    }

    async fn on_status(
        &self,
        message_id: &str,
        status: &str,
        error: Option<(i64, String)>,
    ) -> Result<(), StoreError> {
        let news = match (status, error) {
            ("delivered" | "read", _) => PlatformStatus::Delivered,
            ("failed", Some((WHATSAPP_WINDOW_CLOSED, title))) => PlatformStatus::Failed {
                status: RequestStatus::WindowClosed,
                error: format!("WhatsApp error {WHATSAPP_WINDOW_CLOSED}: {title}"),
            },
            // The client cannot be reached: the same codes as a refused send.
            ("failed", Some((code @ (131026 | 131049 | 131050), title))) => {
                PlatformStatus::Failed {
                    status: RequestStatus::Undeliverable,
                    error: format!("WhatsApp error {code}: {title}"),
                }
            }
            ("failed", Some((code, title))) => PlatformStatus::Failed {
                status: RequestStatus::Failed,
                error: format!("WhatsApp error {code}: {title}"),
            },
            ("failed", None) => PlatformStatus::Failed {
                status: RequestStatus::Failed,
                error: "WhatsApp reported the message failed, without a code".into(),
            },
            _ => return Ok(()),
        };
        let changed = self.engine.platform_status(message_id, &news).await?;
        if let Some((request_id, status)) = changed {
            tracing::info!(%request_id, %status, "WhatsApp status applied");
        }
        Ok(())
    }
}

impl Meta {
    /// Whether `token` is `meta.verify_token` (Meta's subscription check).
    pub fn verify_token_matches(&self, token: &str) -> bool {
        crate::channels::secret_matches(&self.verify_token, token.as_bytes())
    }

    /// Whether `signature` (`X-Hub-Signature-256`) signs `body` with the app secret.
    pub fn signed(&self, body: &[u8], signature: &str) -> bool {
        webhook::verify(self.app_secret.as_bytes(), body, signature)
    }
}

/// One client's chat on one Meta channel.
struct MetaChat<'a> {
    account: &'a MetaAccount,
    sender: &'a str,
}

#[async_trait::async_trait]
impl Chat for MetaChat<'_> {
    async fn choices(
        &self,
        text: &str,
        choices: &[(String, String)],
        list_label: &str,
    ) -> SendOutcome {
        self.account
            .post_choices(self.sender, text, choices, list_label)
            .await
    }

    async fn say(&self, text: &str) -> SendOutcome {
        self.account.post_text(self.sender, text).await
    }
}
