//! LISTEN/NOTIFY between processes sharing a PostgreSQL database: each says "something is
//! due" on one channel, and the others' schedulers look.

use sqlx::postgres::PgListener;

use super::base::Store;
use super::error::Result;

/// The channel Rateline processes NOTIFY each other on.
pub const NOTIFY_CHANNEL: &str = "rateline_wake";

/// The other processes' NOTIFYs, as they come.
pub struct Others(PgListener);

impl Others {
    /// The next NOTIFY's payload: the process that sent it.
    pub async fn recv(&mut self) -> Result<String> {
        Ok(self.0.recv().await?.payload().to_owned())
    }
}

impl Store {
    /// Tells the other processes that something is due; `from` names this one.
    pub async fn notify_others(&self, from: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(NOTIFY_CHANNEL)
            .bind(from)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A connection of its own that hears the other processes' NOTIFYs.
    pub async fn listen_to_others(&self) -> Result<Others> {
        let mut l = PgListener::connect(&self.url.0).await?;
        l.listen(NOTIFY_CHANNEL).await?;
        Ok(Others(l))
    }
}
