//! Where a helpdesk channel's message goes, for its `ChannelAdapter`: the conversation
//! (ticket) a session came from and the account (instance) it is in, and whether Meta's
//! window lets a message into it now.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rateline_adapters::SendOutcome;
use rateline_domain::{Helpdesk, HelpdeskConversation, HelpdeskSettings, SessionId};

use super::Registry;

/// The account and conversation session `session_id`'s messages go to on `helpdesk`, or the
/// outcome that ends the send here: failed where no conversation is known or its account
/// is gone (sending again changes nothing), retried where the store could not be read.
pub async fn route<S: HelpdeskSettings, A>(
    accounts: &Registry<S, A>,
    helpdesk: Helpdesk,
    session_id: &SessionId,
) -> Result<(Arc<A>, HelpdeskConversation), SendOutcome> {
    let name = helpdesk.title();
    let conversation = match helpdesk {
        Helpdesk::Chatwoot => "conversation",
        Helpdesk::Zammad => "ticket",
        Helpdesk::RocketChat => "room",
    };
    let retry = |reason: String| SendOutcome::Retry {
        after: None,
        reason,
    };
    let to = match accounts.conversation_of(session_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(SendOutcome::Failed {
                reason: format!(
                    "session '{session_id}' is on the {helpdesk} channel but no {name} \
                     {conversation} is known for it; open sessions of this channel through \
                     the {name} webhook"
                ),
            });
        }
        Err(e) => return Err(retry(format!("the {conversation} could not be read: {e}"))),
    };
    match accounts.get(&to.account).await {
        Ok(Some(a)) => Ok((a, to)),
        Ok(None) => Err(SendOutcome::Failed {
            reason: format!(
                "{} is no longer connected to this server (it was removed from the Helpdesks \
                 page, the API or the config file)",
                helpdesk.named(&to.account)
            ),
        }),
        Err(e) => Err(retry(format!(
            "the {name} {} could not be read: {e}",
            helpdesk.unit()
        ))),
    }
}

/// Meta's 24-hour window, where the helpdesk's channel is one of Meta's (`meta`; `channel`
/// names it): the helpdesk would take the message and Meta refuse it.
pub fn window_closed(
    meta: bool,
    channel: &str,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<SendOutcome> {
    if !meta || last.is_some_and(|l| rateline_domain::meta_window_open(l, now)) {
        return None;
    }
    let last = last.map_or_else(
        || "the client has not written in this conversation".to_owned(),
        |t| format!("the client's last message was at {}", t.to_rfc3339()),
    );
    Some(SendOutcome::WindowClosed {
        reason: format!("{last}; {channel}, where Meta allows messages only within 24 hours of it"),
    })
}
