//! Per-session change signals inside one process: a web chat widget's live connection
//! waits on its session's signal, and the engine raises it when the session closes or a
//! client writes, so a card appears the moment it is due rather than at the next check.
//!
//! Only sessions someone listens to hold an entry; raising an unheard signal is a map
//! lookup. Other processes sharing a PostgreSQL database are not signalled: their widgets
//! notice at their next periodic check (see `channels::webchat`).

use std::collections::HashMap;
use std::sync::Mutex;

use rateline_domain::SessionId;
use tokio::sync::watch;

/// The signals of the sessions someone in this process listens to, by session id.
#[derive(Debug, Default)]
pub struct SessionSignals {
    senders: Mutex<HashMap<String, watch::Sender<u64>>>,
}

impl SessionSignals {
    /// A receiver that sees every signal of `session_id` raised after this call.
    pub fn subscribe(&self, session_id: &SessionId) -> watch::Receiver<u64> {
        let mut senders = self.senders.lock().expect("signals lock");
        // Listeners that went away leave senders nobody hears: drop them as we go.
        senders.retain(|_, s| s.receiver_count() > 0);
        senders
            .entry(session_id.to_string())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Wakes everyone listening to `session_id`.
    pub fn raise(&self, session_id: &SessionId) {
        let senders = self.senders.lock().expect("signals lock");
        if let Some(s) = senders.get(session_id.as_str()) {
            s.send_modify(|n| *n = n.wrapping_add(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(text: &str) -> SessionId {
        SessionId::parse("session_id", text).unwrap()
    }

    #[tokio::test]
    async fn a_listener_hears_its_session_only() {
        let signals = SessionSignals::default();
        let mut one = signals.subscribe(&id("s-1"));
        let two = signals.subscribe(&id("s-2"));
        signals.raise(&id("s-1"));
        signals.raise(&id("nobody-listens"));
        assert!(one.has_changed().unwrap());
        assert!(!two.has_changed().unwrap());
        one.mark_unchanged();
        drop(two);
        // The dropped listener's entry goes at the next subscription.
        let _three = signals.subscribe(&id("s-3"));
        assert_eq!(signals.senders.lock().unwrap().len(), 2);
    }
}
