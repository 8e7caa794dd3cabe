//! One helpdesk's accounts (instances) as this process uses them: read from the store, each
//! made once with its API client, and read again when another process may have changed them.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rateline_domain::{HelpdeskConversation, HelpdeskSettings, SessionId};

use crate::engine::{Engine, HelpdeskRecord};
use crate::store::StoreError;

/// How long a process uses what it read of the helpdesks: a change made in another
/// process applies here within this; one made in this process, at once.
pub const HELPDESKS_TTL: Duration = Duration::from_secs(5);

/// One helpdesk's accounts (instances) as this process uses them, each made once from its
/// stored settings (with its API client), by id. Read again after [`HELPDESKS_TTL`], or at
/// once when a change in this process made the reading stale.
pub struct Registry<S, A> {
    engine: Engine,
    make: Make<S, A>,
    held: Mutex<Option<Reading<A>>>,
}

/// Makes what a channel works with for one helpdesk from its id and settings.
type Make<S, A> = Box<dyn Fn(&str, S) -> A + Send + Sync>;

struct Reading<A> {
    at: Instant,
    /// The engine's helpdesk generation the reading started at.
    generation: u64,
    items: Arc<BTreeMap<String, Arc<A>>>,
}

impl<S: HelpdeskSettings, A> Registry<S, A> {
    /// `make` turns one helpdesk's id and settings into what the channel works with.
    pub fn new(engine: Engine, make: impl Fn(&str, S) -> A + Send + Sync + 'static) -> Self {
        Self {
            engine,
            make: Box::new(make),
            held: Mutex::new(None),
        }
    }

    /// The HTTP client a helpdesk channel calls its helpdesk with (under `policy`, each
    /// call within `timeout`), and the registry whose items `make` builds with it.
    pub fn connected(
        engine: Engine,
        policy: &rateline_adapters::outbound::Policy,
        timeout: Duration,
        make: impl Fn(&str, S, &reqwest::Client) -> A + Send + Sync + 'static,
    ) -> (reqwest::Client, Arc<Self>) {
        let http = policy
            .client(timeout)
            .build()
            .expect("the HTTP client builds with static settings");
        let calls = http.clone();
        let registry = Self::new(engine, move |id, settings| make(id, settings, &calls));
        (http, Arc::new(registry))
    }

    /// Every account (instance), by id.
    pub async fn all(&self) -> Result<Arc<BTreeMap<String, Arc<A>>>, StoreError> {
        let generation = self.engine.helpdesks_generation();
        if let Some(r) = self.held.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && r.generation == generation
            && r.at.elapsed() < HELPDESKS_TTL
        {
            return Ok(r.items.clone());
        }
        let records: Vec<HelpdeskRecord<S>> = self.engine.helpdesk_settings().await?;
        let items: Arc<BTreeMap<_, _>> = Arc::new(
            records
                .into_iter()
                .map(|r| {
                    let made = (self.make)(&r.id, r.settings);
                    (r.id, Arc::new(made))
                })
                .collect(),
        );
        // A change made while this was read leaves the generation it started at behind, so
        // the next call reads again.
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(Reading {
            at: Instant::now(),
            generation,
            items: items.clone(),
        });
        Ok(items)
    }

    /// The account (instance) `id`, when it is connected.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<A>>, StoreError> {
        Ok(self.all().await?.get(id).cloned())
    }

    /// The conversation (ticket) session `session_id` came from, if it came from a helpdesk.
    pub async fn conversation_of(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<HelpdeskConversation>, StoreError> {
        self.engine.conversation_of(session_id).await
    }
}
