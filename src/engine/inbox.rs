//! The inbox of low ratings through the engine: the caller's reach applied here, once, for
//! the dashboard's inbox and `GET /v1/ratings` alike.

use std::collections::HashMap;

use super::{Engine, Result};
use crate::policy::Caller;
use crate::store::{InboxFilter, InboxPage, InboxState};

/// A page of the inbox, with the names of the lines it shows.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub page: InboxPage,
    /// Line id → name, for every line on the page.
    pub line_names: HashMap<String, String>,
}

impl Engine {
    /// The low ratings `caller` may see that `filter` asks for: a supervisor's lines (a line
    /// outside them is refused), an operator's own ratings (another operator is refused).
    pub async fn inbox(&self, caller: &Caller, filter: InboxFilter) -> Result<Inbox> {
        let filter = within_reach(caller, filter)?;
        let page = self.store.inbox(&filter, self.now()).await?;
        let mut line_names = HashMap::new();
        if !page.items.is_empty() {
            for line in self.store.list_lines().await? {
                if page.items.iter().any(|i| i.line_id == line.id) {
                    line_names.insert(line.id, line.settings.name);
                }
            }
        }
        Ok(Inbox { page, line_names })
    }

    /// How many low ratings within `caller`'s reach have no response yet: the count every
    /// dashboard page shows in its header.
    pub async fn unanswered_count(&self, caller: &Caller) -> Result<i64> {
        let filter = InboxFilter {
            state: Some(InboxState::Unanswered),
            ..InboxFilter::default()
        };
        Ok(self
            .store
            .inbox_count(&within_reach(caller, filter)?)
            .await?)
    }
}

/// `filter` within what `caller` may see: a supervisor's lines (naming a line outside them
/// is refused), an operator's own ratings (naming another operator is refused).
fn within_reach(caller: &Caller, mut filter: InboxFilter) -> Result<InboxFilter> {
    if let Some(line) = &filter.line
        && caller.operator().is_none()
    {
        caller.line(line)?;
    }
    if let Some(me) = caller.own_operator(filter.operator.as_deref())? {
        filter.operator = Some(me);
    } else {
        filter.lines = caller.supervisor_lines().map(<[String]>::to_vec);
    }
    Ok(filter)
}
