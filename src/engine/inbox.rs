//! The inbox of low ratings through the engine: the caller's reach applied here, once, for
//! the dashboard's inbox and `GET /v1/ratings` alike; and what else shows ratings one by
//! one (an operator's profile, a session), with the lines that hide them from operators.

use std::collections::HashMap;

use rateline_domain::Role;

use super::{Engine, Result};
use crate::policy::Caller;
use crate::store::{InboxFilter, InboxPage, InboxState, LowRating, ReportFilter, SessionView};

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
        let filter = self.within_reach(caller, filter).await?;
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
        let filter = self.within_reach(caller, filter).await?;
        Ok(self.store.inbox_count(&filter).await?)
    }

    /// The lines whose ratings `caller` may not see one by one: for an operator, the lines
    /// that show their ratings to supervisors only (`rating.operators_see_ratings` off);
    /// none for anyone else.
    pub async fn ratings_hidden_from(&self, caller: &Caller) -> Result<Vec<String>> {
        if caller.role() != Some(Role::Operator) {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .list_lines()
            .await?
            .into_iter()
            .filter(|l| !l.settings.rating.operators_see_ratings)
            .map(|l| l.id)
            .collect())
    }

    /// The period of a report as `caller` may read it. An operator kept from single ratings
    /// (some line has `rating.operators_see_ratings` off) reads whole UTC days that have
    /// ended: `from` back to its day's midnight, `to` on to the next midnight and no later
    /// than the last one. UTC days are the report's own (`by=day` and `by=week` group by
    /// them), the same for every operator whatever zone they pick, and a day still going on
    /// is left out, so neither a narrow window nor asking again a minute later singles out
    /// one rating. Anyone else reads the period asked for.
    pub async fn report_window(
        &self,
        caller: &Caller,
        mut filter: ReportFilter,
    ) -> Result<ReportFilter> {
        if self.ratings_hidden_from(caller).await?.is_empty() {
            return Ok(filter);
        }
        let (from, to) = crate::clock::whole_days(chrono_tz::UTC, filter.from, filter.to);
        let today = crate::clock::midnight(chrono_tz::UTC, self.now().date_naive());
        filter.from = from;
        filter.to = Some(to.map_or(today, |t| t.min(today)));
        Ok(filter)
    }

    /// An operator's newest low ratings (not voided, still low, not on a line that hides
    /// them from `caller`), for the profile page.
    pub async fn low_ratings(
        &self,
        caller: &Caller,
        filter: &ReportFilter,
        limit: i64,
    ) -> Result<Vec<LowRating>> {
        let hidden = self.ratings_hidden_from(caller).await?;
        Ok(self.store.low_ratings(filter, &hidden, limit).await?)
    }

    /// Session `id` as `caller` may see it (whether they may see the session at all is the
    /// caller's to check first): without its rating on a line that hides ratings from them,
    /// and then `true`.
    pub async fn session_view_for(&self, caller: &Caller, id: &str) -> Result<(SessionView, bool)> {
        let view = self.session_view(id).await?;
        if self
            .ratings_hidden_from(caller)
            .await?
            .contains(&view.session.line_id)
        {
            Ok((view.without_rating(), true))
        } else {
            Ok((view, false))
        }
    }

    /// `filter` within what `caller` may see: a supervisor's lines (naming a line outside
    /// them is refused), an operator's own ratings (naming another operator is refused) on
    /// the lines that show them their ratings.
    async fn within_reach(&self, caller: &Caller, mut filter: InboxFilter) -> Result<InboxFilter> {
        if let Some(line) = &filter.line
            && caller.operator().is_none()
        {
            caller.line(line)?;
        }
        if let Some(me) = caller.own_operator(filter.operator.as_deref())? {
            filter.operator = Some(me);
            filter.except_lines = self.ratings_hidden_from(caller).await?;
        } else {
            filter.lines = caller.supervisor_lines().map(<[String]>::to_vec);
        }
        Ok(filter)
    }
}
