//! The helpdesks' catch-up, run in the background: at the start and every
//! `scheduler.helpdesk_catch_up_seconds`, each connected Chatwoot account, Zammad
//! instance and Rocket.Chat server is read through its API for the events its webhooks did not bring (see each
//! channel's `catch_up`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::chatwoot::Chatwoot;
use super::rocketchat::RocketChat;
use super::zammad::Zammad;

/// Catches up at once, then every `every`, until `stop`.
pub async fn run(
    chatwoot: Arc<Chatwoot>,
    zammad: Arc<Zammad>,
    rocketchat: Arc<RocketChat>,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = async {
                chatwoot.catch_up().await;
                zammad.catch_up().await;
                rocketchat.catch_up().await;
            } => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
