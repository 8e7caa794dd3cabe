//! Where Rateline calls out to and how alerts leave: `[outbound]`, `[alerts]` and
//! `[smtp]`.

use serde::{Deserialize, Serialize};

/// The outbound policy: Rateline calls public addresses only, and these networks besides.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundSettings {
    /// Networks (CIDRs such as `10.20.0.0/16`, or single addresses) that connectors, alert
    /// webhooks and platform APIs may be reached at although they are not public: an
    /// on-premises connector, a local Bot API server. In the environment, a
    /// comma-separated list: `RATELINE__OUTBOUND__ALLOWED_NETWORKS=10.20.0.0/16,fd00::/8`.
    pub allowed_networks: Vec<String>,
}

/// How low-rating alerts are sent.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertSettings {
    /// Signs alert webhooks (`X-Rateline-Signature`) for people without a
    /// `notify.webhook_secret` of their own; unset, a key made at the first start and kept
    /// in the database signs them.
    pub webhook_secret: Option<String>,
}

impl AlertSettings {
    /// What is wrong with `[alerts]`, as sentences.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self
            .webhook_secret
            .as_ref()
            .is_some_and(|s| s.chars().count() < 16)
        {
            problems.push(
                "alerts.webhook_secret must be at least 16 characters: it signs alert webhooks"
                    .into(),
            );
        }
        problems
    }
}

impl std::fmt::Debug for AlertSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertSettings")
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// The mail server low-rating alerts are sent through.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// `smtp://host:port` (no TLS: a relay on the same machine), `smtp://host:587?tls=required`
    /// (STARTTLS), `smtps://host` (TLS from the start); `user:password@host` to log in.
    pub url: String,
    /// The sender, e.g. `Rateline <rateline@example.com>`.
    pub from: String,
}

impl SmtpSettings {
    /// What is wrong with the mail server's settings, as sentences.
    pub fn problems(&self) -> Vec<String> {
        use lettre::{AsyncSmtpTransport, Tokio1Executor, message::Mailbox};
        let mut problems = Vec::new();
        // lettre's message names the URL's part it could not read, never the password.
        if let Err(e) = AsyncSmtpTransport::<Tokio1Executor>::from_url(&self.url) {
            problems.push(format!("smtp.url: {e}"));
        }
        if self.from.parse::<Mailbox>().is_err() {
            problems.push(format!(
                "smtp.from: '{}' is not an e-mail address",
                self.from
            ));
        }
        problems
    }
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &crate::store::redact_url(&self.url))
            .field("from", &self.from)
            .finish()
    }
}
