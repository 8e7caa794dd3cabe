//! Passing wake-ups between `rateline serve` processes that share a PostgreSQL database:
//! LISTEN/NOTIFY on one channel (see [`crate::store`]). A process's local wake-ups are
//! coalesced into at most one NOTIFY per 10 ms, so a burst of closes costs one NOTIFY, not
//! one per close; a NOTIFY from another process wakes this one's scheduler.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::engine::Wake;
use crate::store::Store;

/// Sends one NOTIFY per burst of local wake-ups, until `stop`.
pub async fn publish(wake: Arc<Wake>, store: Store, owner: String, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = wake.to_pass_on() => {}
            _ = stop.cancelled() => return,
        }
        let sent = store.notify_others(&owner).await;
        if let Err(e) = sent {
            // The others still wake at their own planned time; this only costs latency.
            tracing::warn!(error = %e, "could not NOTIFY the other schedulers");
        }
        // Every NOTIFY is a commit under a global lock: at most one per interval, however
        // many closes asked for one meanwhile (they collapse into the next).
        tokio::select! {
            _ = tokio::time::sleep(NOTIFY_INTERVAL) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// The shortest time between two NOTIFYs of one process.
const NOTIFY_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Wakes this process when another one NOTIFYs, until `stop`. Reconnects by itself.
pub async fn listen(wake: Arc<Wake>, store: Store, owner: String, stop: CancellationToken) {
    loop {
        let listener = store.listen_to_others();
        let mut listener = tokio::select! {
            l = listener => match l {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                        _ = stop.cancelled() => return,
                    }
                }
            },
            _ = stop.cancelled() => return,
        };
        loop {
            tokio::select! {
                n = listener.recv() => match n {
                    Ok(from) if from != owner => wake.poke(),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                        // A wake may have been missed while disconnected: look now.
                        wake.poke();
                        break;
                    }
                },
                _ = stop.cancelled() => return,
            }
        }
    }
}
