//! The inbox of low ratings through the engine: the caller's reach applied here, once, for
//! the dashboard's inbox and `GET /v1/ratings` alike; the actions that empty it (assign,
//! close, and their undoing), all or none; and what else shows ratings one by one (an
//! operator's profile, a session), with the lines that hide them from operators.

use std::collections::HashMap;

use rateline_domain::{ErrorCode, InboxAction, InboxActionBody, Invalid, Role, SessionId};

use super::audit::actor;
use super::base::Engine;
use super::error::{EngineError, Result};
use super::followup::{rating_not_found, sees_rating};
use crate::policy::Caller;
use crate::store::{
    Assignee, ExportedRating, Handling, InboxFilter, InboxPage, InboxState, LowRating,
    PersonRecord, ReportFilter, SessionView,
};

/// An export of the ratings a filter matches within a caller's reach, ready to stream: made
/// (and refused, for a line or operator outside the reach) before the first byte is sent.
#[derive(Debug, Clone)]
pub struct Export {
    filter: InboxFilter,
    store: crate::store::Store,
}

impl Export {
    /// Sends each rating to `out`, oldest first, until `out` closes; how many.
    pub async fn send_to(&self, out: &tokio::sync::mpsc::Sender<ExportedRating>) -> Result<u64> {
        Ok(self.store.reports().each_rating(&self.filter, out).await?)
    }
}

/// What the inbox's filters and actions offer, each as (id, name), by name.
#[derive(Debug, Clone, Default)]
pub struct InboxChoices {
    /// The operators of the lines the caller covers, for the operator filter; none for an operator,
    /// who sees only their own ratings.
    pub operators: Vec<(String, String)>,
    /// The reasons the caller's lines list, each once, for the reason filter.
    pub reasons: Vec<(String, String)>,
    /// Who ratings of the caller's lines may be given to: the lines' supervisors, admins.
    pub assignees: Vec<(String, String)>,
}

/// A page of the inbox, with the names of the lines it shows.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// The ratings on the page, and where the page stands among all that match.
    pub page: InboxPage,
    /// Line id → name, for every line on the page.
    pub line_names: HashMap<String, String>,
}

impl Engine {
    /// The low ratings `caller` may see that `filter` asks for: a supervisor's lines (a line
    /// outside them is refused), an operator's own ratings (another operator is refused).
    pub async fn inbox(&self, caller: &Caller, filter: InboxFilter) -> Result<Inbox> {
        let filter = self.within_reach(caller, filter).await?;
        let page = self.store.inbox().page(&filter, self.now()).await?;
        let mut line_names = HashMap::new();
        if !page.items.is_empty() {
            for line in self.store.lines().list().await? {
                if page.items.iter().any(|i| i.line_id == line.id) {
                    line_names.insert(line.id.into(), line.settings.name);
                }
            }
        }
        Ok(Inbox { page, line_names })
    }

    /// The ratings `filter` asks for within `caller`'s reach, as an export to stream.
    pub async fn export(&self, caller: &Caller, filter: InboxFilter) -> Result<Export> {
        Ok(Export {
            filter: self.within_reach(caller, filter).await?,
            store: self.store.clone(),
        })
    }

    /// The count every dashboard page shows in its header: the low ratings within
    /// `caller`'s reach that nobody has, and those given to the caller that they have not
    /// handled yet.
    pub async fn unanswered_count(&self, caller: &Caller) -> Result<i64> {
        let unanswered = InboxFilter {
            state: Some(InboxState::Unanswered),
            ..InboxFilter::default()
        };
        let unanswered = self.within_reach(caller, unanswered).await?;
        let Some(me) = caller.person_id().filter(|_| caller.operator().is_none()) else {
            return Ok(self.store.inbox().count(&unanswered).await?);
        };
        let mine = InboxFilter {
            state: Some(InboxState::Assigned),
            assignee: Some(Assignee::Person(me.to_string())),
            ..unanswered.clone()
        };
        let (unanswered, mine) = tokio::try_join!(
            self.store.inbox().count(&unanswered),
            self.store.inbox().count(&mine)
        )?;
        Ok(unanswered + mine)
    }

    /// Does one inbox action on every rating `body` names, as `caller` (supervisors and
    /// admins of the ratings' lines), all or none: a rating the caller may not see, one that
    /// is not low, a voided one, or an assignee who is not a supervisor of a rating's line (nor an admin)
    /// refuses the whole action. How many ratings it changed.
    pub async fn act_on_ratings(&self, caller: &Caller, mut body: InboxActionBody) -> Result<u64> {
        caller.not_operator("assigning or closing ratings")?;
        body.validate()?;
        let mut ids: Vec<String> = body
            .rating_ids
            .iter()
            .map(|id| id.as_str().to_owned())
            .collect();
        ids.sort();
        ids.dedup();
        let places = self.store.inbox().rating_places(&ids).await?;
        let hidden = self.ratings_hidden_from(caller).await?;
        for id in &ids {
            let place = places
                .get(id)
                .filter(|p| sees_rating(caller, &p.line_id, p.operator_id.as_deref(), &hidden));
            match place {
                None => return Err(rating_not_found(id)),
                Some(p) if !p.low => {
                    return Err(Invalid::new(
                        "rating_ids",
                        format!(
                            "rating '{id}' is not low: only low ratings are assigned and \
                             closed; untick it and try again"
                        ),
                    )
                    .into());
                }
                Some(p) if p.voided && body.action != InboxAction::Reopen => {
                    return Err(EngineError::Conflict {
                        code: ErrorCode::RatingVoided,
                        message: format!(
                            "rating '{id}' is voided by an approved appeal and needs no \
                             follow-up; untick it and try again"
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        let what = match body.action {
            InboxAction::Assign => {
                let to = match body.assignee_id.take() {
                    Some(id) => id,
                    None => caller.person_id().cloned().ok_or_else(|| {
                        Invalid::new(
                            "assignee_id",
                            "name the person to assign to: this key has no person of its own",
                        )
                    })?,
                };
                let person = self.store.people().person(&to).await?;
                for place in places.values() {
                    if !may_take(person.as_ref(), &place.line_id) {
                        return Err(Invalid::new(
                            "assignee_id",
                            format!(
                                "'{to}' is not an active supervisor of line '{}' nor an admin: \
                                 assign to someone who oversees the line",
                                place.line_id
                            ),
                        )
                        .into());
                    }
                }
                Handling::Assign(to.into_string())
            }
            InboxAction::Unassign => Handling::Unassign,
            InboxAction::Close => Handling::Close(body.note.map(|n| n.trim().to_owned())),
            InboxAction::Reopen => Handling::Reopen,
        };
        let by = caller.recorded_as();
        let changed = self
            .store
            .inbox()
            .handle_ratings(&ids, &what, by.as_deref(), self.now())
            .await?;
        let (action, fields): (&str, Vec<(&str, serde_json::Value)>) = match &what {
            Handling::Assign(to) => ("assigned", vec![("assignee_id", to.as_str().into())]),
            Handling::Unassign => ("unassigned", Vec::new()),
            Handling::Close(note) => ("closed", vec![("note", note.clone().into())]),
            Handling::Reopen => ("reopened", Vec::new()),
        };
        for id in &ids {
            self.note(&actor(caller), "rating", id, action, &fields)
                .await;
        }
        Ok(changed)
    }

    /// What the inbox's filters offer `caller`: the operators whose ratings they may list,
    /// and the low-rating reasons of their lines, each as (id, what a person reads), by
    /// name. An operator, who sees their own ratings, is offered no operators.
    pub async fn inbox_choices(&self, caller: &Caller) -> Result<InboxChoices> {
        let (people, lines) =
            tokio::try_join!(self.store.people().list(), self.store.lines().list())?;
        let lines: Vec<_> = lines
            .into_iter()
            .filter(|l| caller.operator().is_some() || caller.covers_line(&l.id))
            .collect();
        let mut operators: Vec<(String, String)> = if caller.operator().is_some() {
            Vec::new()
        } else {
            people
                .iter()
                .filter(|p| p.person.role == Role::Operator)
                .filter(|p| {
                    caller.all_lines()
                        || p.person
                            .lines
                            .iter()
                            .any(|l| caller.covers_line(l.as_str()))
                })
                .map(|p| (p.id.to_string(), p.person.name.clone()))
                .collect()
        };
        operators.sort_by(|a, b| a.1.cmp(&b.1));
        let mut reasons: Vec<(String, String)> = Vec::new();
        for line in &lines {
            for r in &line.settings.rating.low_reasons {
                if !reasons.iter().any(|(id, _)| id == &r.id) {
                    reasons.push((r.id.clone(), r.text.clone()));
                }
            }
        }
        reasons.sort_by(|a, b| a.1.cmp(&b.1));
        let mut assignees: Vec<(String, String)> = people
            .iter()
            .filter(|p| lines.iter().any(|l| may_take(Some(p), &l.id)))
            .map(|p| (p.id.to_string(), p.person.name.clone()))
            .collect();
        assignees.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(InboxChoices {
            operators,
            reasons,
            assignees,
        })
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
            .lines()
            .list()
            .await?
            .into_iter()
            .filter(|l| !l.settings.rating.operators_see_ratings)
            .map(|l| l.id.into())
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

    /// The one group of the report for `filter` as `caller` may read it (see
    /// [`Engine::report_window`]); `None` when the period has nothing.
    pub async fn report_total(
        &self,
        caller: &Caller,
        filter: ReportFilter,
    ) -> Result<Option<crate::store::ReportGroup>> {
        let filter = self.report_window(caller, filter).await?;
        let groups = self.report(&filter, crate::store::Grouping::All).await?;
        Ok(groups.into_iter().next())
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
        Ok(self
            .store
            .reports()
            .low_ratings(filter, &hidden, limit)
            .await?)
    }

    /// Session `id` as `caller` may see it (whether they may see the session at all is the
    /// caller's to check first): without its rating on a line that hides ratings from them,
    /// and then `true`.
    pub async fn session_view_for(
        &self,
        caller: &Caller,
        id: &SessionId,
    ) -> Result<(SessionView, bool)> {
        let view = self.session_view(id).await?;
        if self
            .ratings_hidden_from(caller)
            .await?
            .iter()
            .any(|hidden| view.session.line_id == hidden.as_str())
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

/// Whether `person` may be given a rating of line `line_id`: an active admin, or an active
/// supervisor of the line.
fn may_take(person: Option<&PersonRecord>, line_id: &str) -> bool {
    person.is_some_and(|p| {
        p.person.active
            && match p.person.role {
                Role::Admin => true,
                Role::Supervisor => p.person.lines.iter().any(|l| l.as_str() == line_id),
                Role::Operator => false,
            }
    })
}
