//! The inbox of low ratings, what a supervisor acts on and empties. Each low rating is in one
//! state: *unanswered* (nobody has it), *assigned* (someone took it), *handled* (responded to,
//! or closed with "no follow-up needed") or *voided* (an approved appeal). The dashboard's
//! inbox and `GET /v1/ratings` read it a page at a time, numbered, with the total: open work
//! first, oldest first unless asked otherwise, and filters by line, operator, channel,
//! period, stars, reason, comment, words in the comment and assignee. Here too are the
//! writes that move ratings between states (assign, close, and their undoing).

use chrono::{DateTime, Utc};
use rateline_domain::Scale;
use serde::Serialize;
use sqlx::Row;

use super::base::Inbox;
use super::error::{Result, StoreError};
use super::sql::{ms, opt_time, time};

/// Which low ratings: the inbox's states, and two narrower views kept from before there were
/// states (responded, appealed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InboxState {
    /// Nobody has it: no response, not closed, not assigned (not voided).
    Unanswered,
    /// Someone took it, and has not answered or closed it yet.
    Assigned,
    /// Responded to, or closed with no follow-up needed.
    Handled,
    /// Responded to (not voided): part of handled.
    Responded,
    /// Appealed, whatever the decision (not voided).
    Appealed,
    /// Voided by an approved appeal.
    Voided,
}

/// What `ratings.state_rank` is, worked out from the rating, its response and its handling:
/// 0 unanswered, 1 assigned, 2 handled, 3 voided. It is the inbox's first sort key and the
/// first column of its indexes; [`restate`] writes it after every change to one of them.
const STATE: &str = "CASE WHEN voided_at IS NOT NULL THEN 3 \
     WHEN EXISTS (SELECT 1 FROM rating_responses p WHERE p.rating_id = ratings.id) \
       OR EXISTS (SELECT 1 FROM rating_handling h \
                  WHERE h.rating_id = ratings.id AND h.closed_at IS NOT NULL) THEN 2 \
     WHEN EXISTS (SELECT 1 FROM rating_handling h \
                  WHERE h.rating_id = ratings.id AND h.assignee_id IS NOT NULL) THEN 1 \
     ELSE 0 END";

/// Writes rating `id`'s state again, in the transaction that changed its response, its
/// handling or its voiding; every such write calls it, so the inbox's indexes never lag.
pub(super) async fn restate(conn: &mut sqlx::AnyConnection, id: &str) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE ratings SET state_rank = {STATE} WHERE id = $1"
    )))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The joins a page or a count needs besides the ratings, for the filters that are about
/// them: the handling for the assignee, the response for `responded`, the appeal for
/// `appealed`. Every other filter is a column of the rating.
fn filter_joins(f: &InboxFilter) -> String {
    let mut joins = Vec::new();
    if f.assignee.is_some() {
        joins.push(HANDLING_JOIN);
    }
    if f.state == Some(InboxState::Responded) {
        joins.push(RESPONSE_JOIN);
    }
    if f.state == Some(InboxState::Appealed) {
        joins.push(APPEALS_JOIN);
    }
    joins.join("\n")
}

/// How each rating is handled (a primary-key look-up).
pub(super) const HANDLING_JOIN: &str = "LEFT JOIN rating_handling h ON h.rating_id = g.id";
/// Its response, if any.
pub(super) const RESPONSE_JOIN: &str = "LEFT JOIN rating_responses p ON p.rating_id = g.id";
/// Its appeal, if any.
pub(super) const APPEALS_JOIN: &str = "LEFT JOIN appeals a ON a.rating_id = g.id";

impl InboxState {
    /// Every state, for reading a name and listing the choices.
    pub const ALL: [InboxState; 6] = [
        InboxState::Unanswered,
        InboxState::Assigned,
        InboxState::Handled,
        InboxState::Responded,
        InboxState::Appealed,
        InboxState::Voided,
    ];

    /// Its name in the API's `state` and the dashboard's URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxState::Unanswered => "unanswered",
            InboxState::Assigned => "assigned",
            InboxState::Handled => "handled",
            InboxState::Responded => "responded",
            InboxState::Appealed => "appealed",
            InboxState::Voided => "voided",
        }
    }

    /// The state's condition over `g` (and `p` responses and `a` appeals, which
    /// [`filter_joins`] joins for the two states about them).
    pub(super) fn condition(self) -> &'static str {
        match self {
            InboxState::Unanswered => "g.state_rank = 0",
            InboxState::Assigned => "g.state_rank = 1",
            InboxState::Handled => "g.state_rank = 2",
            InboxState::Responded => "p.rating_id IS NOT NULL AND g.state_rank < 3",
            InboxState::Appealed => "a.id IS NOT NULL AND g.state_rank < 3",
            InboxState::Voided => "g.state_rank = 3",
        }
    }

    /// The order a list in this state is read in when none is asked for: the work still to
    /// do oldest first (the one waiting longest), what is done newest first.
    pub fn default_sort(state: Option<InboxState>) -> InboxSort {
        match state {
            None | Some(InboxState::Unanswered | InboxState::Assigned) => InboxSort::Oldest,
            Some(_) => InboxSort::Newest,
        }
    }
}

impl std::str::FromStr for InboxState {
    type Err = ();
    fn from_str(s: &str) -> std::result::Result<Self, ()> {
        InboxState::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or(())
    }
}

/// The inbox's order within a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxSort {
    /// The one waiting longest first.
    Oldest,
    /// The latest first.
    Newest,
}

impl InboxSort {
    /// Its name in the API's `sort` and the dashboard's URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            InboxSort::Oldest => "oldest",
            InboxSort::Newest => "newest",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            InboxSort::Oldest => "ASC",
            InboxSort::Newest => "DESC",
        }
    }
}

/// Which ratings a list holds: the low ones (the inbox), the praise (👍, 4–5 ★), or all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RatingKind {
    /// The low ratings: the inbox.
    #[default]
    Low,
    /// The praise: 👍 and 4–5 ★.
    Praise,
    /// Every rating.
    All,
}

impl RatingKind {
    /// Every kind, for reading a name and listing the choices.
    pub const ALL: [RatingKind; 3] = [RatingKind::Low, RatingKind::Praise, RatingKind::All];

    /// Its name in the API's `show` and the dashboard's URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            RatingKind::Low => "low",
            RatingKind::Praise => "praise",
            RatingKind::All => "all",
        }
    }

    fn condition(self) -> Option<&'static str> {
        match self {
            RatingKind::Low => Some("g.low = 1"),
            RatingKind::Praise => Some("g.positive = 1"),
            RatingKind::All => None,
        }
    }
}

/// Whose ratings, by assignee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// The ratings given to this person (by id).
    Person(String),
    /// The ratings given to nobody.
    Nobody,
}

/// The inbox's filters and page.
#[derive(Debug, Clone, Default)]
pub struct InboxFilter {
    /// Low ratings (the inbox) unless asked otherwise. The states and the assignee are
    /// about low ratings only: a list of others goes by time alone.
    pub show: RatingKind,
    /// The caller's reach: only these lines; every line when `None`.
    pub lines: Option<Vec<String>>,
    /// Lines whose ratings the caller may not see one by one.
    pub except_lines: Vec<String>,
    /// Only ratings of this line.
    pub line: Option<String>,
    /// Only ratings of this operator.
    pub operator: Option<String>,
    /// Only ratings on this channel.
    pub channel: Option<String>,
    /// Rated (last changed) at or after.
    pub from: Option<DateTime<Utc>>,
    /// Rated before.
    pub to: Option<DateTime<Utc>>,
    /// Any state but voided when `None`.
    pub state: Option<InboxState>,
    /// The rating's value (0 👎; 1–5 stars).
    pub value: Option<i64>,
    /// One of the line's low-rating reasons, by id.
    pub reason: Option<String>,
    /// With a comment (`true`) or without.
    pub has_comment: Option<bool>,
    /// Words in the comment (not in a comment flagged as abusive), any case.
    pub text: Option<String>,
    /// Only ratings given to this person, or to nobody.
    pub assignee: Option<Assignee>,
    /// [`InboxState::default_sort`] when `None`.
    pub sort: Option<InboxSort>,
    /// 1 for the first.
    pub page: i64,
    /// The most ratings on a page.
    pub limit: i64,
}

impl InboxFilter {
    /// The order the page is read in.
    pub fn sort(&self) -> InboxSort {
        match (self.sort, self.show) {
            (Some(sort), _) => sort,
            (None, RatingKind::Low) => InboxState::default_sort(self.state),
            (None, _) => InboxSort::Newest,
        }
    }

    /// The list's first sort key: the state for low ratings (open work first), none for
    /// the others.
    fn rank(&self) -> &'static str {
        match self.show {
            RatingKind::Low => "g.state_rank",
            _ => "0",
        }
    }
}

/// The response to a low rating, as the inbox shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxResponse {
    /// The response, as its author wrote it last.
    pub text: String,
    /// Who wrote it (a person id); `null` when written without a person.
    pub author_id: Option<String>,
    /// How many times the text was changed after it was first written.
    pub edits: i64,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
    /// Its delivery to the client when it was sent to them: pending, sending, sent,
    /// window_closed, undeliverable or failed; `null` when it was not sent.
    pub delivery_status: Option<String>,
}

/// An appeal of a low rating, as the inbox shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxAppeal {
    /// The appeal's id.
    pub id: String,
    /// open, approved or rejected.
    pub status: String,
}

/// A low rating closed with no follow-up needed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Closure {
    /// When it was closed.
    pub at: DateTime<Utc>,
    /// Who closed it: a person's id, or `key <id>`.
    pub by: Option<String>,
    /// Why no follow-up is needed, if the closer said.
    pub note: Option<String>,
}

/// How a low rating's alerts went.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct AlertCounts {
    /// Alerts that reached their recipient's sink.
    pub sent: i64,
    /// pending or sending.
    pub pending: i64,
    /// Alerts that could not be sent, or whose recipient cannot be reached.
    pub failed: i64,
    /// Alerts not to be sent, each saying why (notifications off, a person deactivated, …).
    pub skipped: i64,
}

/// One low rating in the inbox.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// The rating's id.
    pub rating_id: String,
    /// Its session.
    pub session_id: String,
    /// The session's line.
    pub line_id: String,
    /// The session's operator; `null` when it names none.
    pub operator_id: Option<String>,
    /// The operator's name, when they are a known person.
    pub operator_name: Option<String>,
    /// The client, as the session names them (`erased-…` once erased).
    pub client_id: String,
    /// The client's name, when the session gave one.
    pub client_name: Option<String>,
    /// The session's channel.
    pub channel: String,
    /// The line's scale.
    pub scale: Scale,
    /// The rating's value: 0 (👎) or 1 (👍), or 1 to 5 stars.
    pub value: i64,
    /// Whether the client said the issue was resolved; `null` when not asked.
    pub resolved: Option<bool>,
    /// `null` when there is none, or it was flagged as abusive (`comment_flagged`).
    pub comment: Option<String>,
    /// Whether a supervisor flagged the comment as abusive: it is then left out of reports and
    /// alerts.
    pub comment_flagged: bool,
    /// When the rating got its current value.
    pub rated_at: DateTime<Utc>,
    /// unanswered, assigned, handled or voided; `none` for a rating that is not low.
    pub state: String,
    /// Who has it (a person's id); `null` when nobody.
    pub assignee_id: Option<String>,
    /// Whether an approved appeal voided the rating: out of the report, kept here.
    pub voided: bool,
    /// Until when the rating is in its grace period (not yet in the report); `null` when it
    /// counts already.
    pub grace_until: Option<DateTime<Utc>>,
    /// The response to the rating; `null` when there is none.
    pub response: Option<InboxResponse>,
    /// Closed with no follow-up needed; `null` when not.
    pub closed: Option<Closure>,
    /// Its appeal; `null` when there is none.
    pub appeal: Option<InboxAppeal>,
    /// How its alerts went.
    pub alerts: AlertCounts,
}

/// One page of the inbox, and how many ratings match in all.
#[derive(Debug, Clone)]
pub struct InboxPage {
    /// The ratings on the page, in the inbox's order.
    pub items: Vec<InboxItem>,
    /// How many ratings match, on every page.
    pub total: i64,
    /// 1 for the first.
    pub page: i64,
    /// The most ratings a page holds.
    pub limit: i64,
}

impl InboxPage {
    /// How many pages the matches fill (1 when there are none).
    pub fn pages(&self) -> i64 {
        let per = self.limit.max(1);
        ((self.total + per - 1) / per).max(1)
    }
}

/// What an inbox action does to a rating's handling.
#[derive(Debug, Clone)]
pub enum Handling {
    /// Gives it to this person (by id).
    Assign(String),
    /// Gives it back to nobody.
    Unassign,
    /// Closes it with no follow-up needed, with the note if one is given.
    Close(Option<String>),
    /// Undoes a close.
    Reopen,
}

/// Where a rating is, for judging an action on it: its line and operator, whether it is
/// voided, and whether it is low (only low ratings are assigned and closed).
#[derive(Debug, Clone)]
pub struct RatingPlace {
    /// The session's line.
    pub line_id: String,
    /// The session's operator, if it names one.
    pub operator_id: Option<String>,
    /// Whether an approved appeal voided it.
    pub voided: bool,
    /// Whether it is low.
    pub low: bool,
}

impl Inbox<'_> {
    /// A page of low ratings: open work first (unanswered, then assigned, then handled),
    /// then by time as `f` sorts it; and how many match in all.
    pub async fn page(self, f: &InboxFilter, now: DateTime<Utc>) -> Result<InboxPage> {
        let Some((conditions, binds)) = where_clause(f) else {
            return Ok(InboxPage {
                items: Vec::new(),
                total: 0,
                page: f.page,
                limit: f.limit,
            });
        };
        // The page's ids first, over the narrow join the filters need; then everything
        // shown, for those rows only (the alerts' counts are not worked out for every low
        // rating in the store).
        let joins = filter_joins(f);
        let (dir, rank) = (f.sort().sql(), f.rank());
        let sql = format!(
            "WITH page AS (
                 SELECT g.id, {rank} AS rank, g.updated_at
                 FROM ratings g
                 {joins}
                 WHERE {conditions}
                 ORDER BY rank, g.updated_at {dir}, g.id {dir}
                 LIMIT {} OFFSET {}
             )
             SELECT g.id, g.session_id, r.line_id, r.operator_id, o.name AS operator_name,
                    r.client_id, s.client_name, r.channel, r.scale, g.value, g.resolved,
                    g.comment, g.comment_flagged_at, g.updated_at, g.voided_at, g.counts_from,
                    g.low, g.state_rank, h.assignee_id, h.closed_at, h.closed_by,
                    h.close_note,
                    p.text AS response_text, p.author_id, p.edits,
                    p.updated_at AS response_updated_at, p.delivery_status,
                    a.id AS appeal_id, a.status AS appeal_status,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'sent') AS alerts_sent,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status IN ('pending', 'sending')) AS alerts_pending,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'failed') AS alerts_failed,
                    (SELECT COUNT(*) FROM alerts x WHERE x.rating_id = g.id
                                                     AND x.kind = 'alert' AND x.status = 'skipped') AS alerts_skipped
             FROM page
             JOIN ratings g ON g.id = page.id
             JOIN rating_requests r ON r.id = g.request_id
             JOIN sessions s ON s.id = g.session_id
             LEFT JOIN people o ON o.id = r.operator_id
             {RESPONSE_JOIN}
             {HANDLING_JOIN}
             {APPEALS_JOIN}
             ORDER BY page.rank, page.updated_at {dir}, page.id {dir}",
            f.limit,
            (f.page - 1).max(0) * f.limit,
        );
        let (rows, total) = tokio::try_join!(
            async { Ok(bound(&sql, binds).fetch_all(&self.0.reads).await?) },
            self.count(f),
        )?;
        let items = rows
            .iter()
            .map(|r| read_item(r, now))
            .collect::<Result<Vec<_>>>()?;
        Ok(InboxPage {
            items,
            total,
            page: f.page,
            limit: f.limit,
        })
    }

    /// How many low ratings `f` matches (its page aside).
    pub async fn count(self, f: &InboxFilter) -> Result<i64> {
        let Some((conditions, binds)) = where_clause(f) else {
            return Ok(0);
        };
        let joins = filter_joins(f);
        let sql = format!("SELECT COUNT(*) AS n FROM ratings g {joins} WHERE {conditions}");
        Ok(bound(&sql, binds)
            .fetch_one(&self.0.reads)
            .await?
            .try_get("n")?)
    }

    /// Where each of `ids` is (line, operator, voided); a rating that does not exist is
    /// missing from the answer.
    pub async fn rating_places(
        self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, RatingPlace>> {
        if ids.is_empty() {
            return Ok(std::collections::HashMap::new());
        }
        let sql = format!(
            "SELECT g.id, g.line_id, g.operator_id, g.voided_at, g.low
             FROM ratings g WHERE g.id IN ({})",
            super::sql::placeholders(0, ids.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            query = query.bind(id.clone());
        }
        query
            .fetch_all(&self.0.pool)
            .await?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    RatingPlace {
                        line_id: r.try_get("line_id")?,
                        operator_id: r.try_get("operator_id")?,
                        voided: opt_time(r.try_get("voided_at")?).is_some(),
                        low: r.try_get::<i64, _>("low")? == 1,
                    },
                ))
            })
            .collect()
    }

    /// Applies `what` to each of `ids` (ratings that exist), recorded as done by `by`, all
    /// in one transaction; how many changed. Closing a closed rating keeps its first close.
    pub async fn handle_ratings(
        self,
        ids: &[String],
        what: &Handling,
        by: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        // Each statement binds the rating ($1), then what it needs of the rest.
        let (sql, value) = match what {
            Handling::Assign(to) => (
                "INSERT INTO rating_handling (rating_id, assignee_id, assigned_by, assigned_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (rating_id) DO UPDATE
                 SET assignee_id = excluded.assignee_id, assigned_by = excluded.assigned_by,
                     assigned_at = excluded.assigned_at
                 WHERE rating_handling.assignee_id IS NULL
                    OR rating_handling.assignee_id <> excluded.assignee_id",
                Some(to.as_str()),
            ),
            Handling::Close(note) => (
                "INSERT INTO rating_handling (rating_id, close_note, closed_by, closed_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (rating_id) DO UPDATE
                 SET closed_at = excluded.closed_at, closed_by = excluded.closed_by,
                     close_note = excluded.close_note
                 WHERE rating_handling.closed_at IS NULL",
                note.as_deref(),
            ),
            Handling::Unassign => (
                "UPDATE rating_handling
                 SET assignee_id = NULL, assigned_by = $2, assigned_at = $3
                 WHERE rating_id = $1 AND assignee_id IS NOT NULL",
                None,
            ),
            Handling::Reopen => (
                "UPDATE rating_handling SET closed_at = NULL, closed_by = NULL, close_note = NULL
                 WHERE rating_id = $1 AND closed_at IS NOT NULL",
                None,
            ),
        };
        let mut tx = self.0.pool.begin().await?;
        let mut changed = 0;
        for id in ids {
            let mut query = sqlx::query(sql).bind(id);
            query = match what {
                Handling::Assign(_) | Handling::Close(_) => {
                    query.bind(value).bind(by).bind(ms(now))
                }
                Handling::Unassign => query.bind(by).bind(ms(now)),
                Handling::Reopen => query,
            };
            let moved = query.execute(&mut *tx).await?.rows_affected();
            if moved > 0 {
                restate(&mut tx, id).await?;
            }
            changed += moved;
        }
        tx.commit().await?;
        Ok(changed)
    }
}

/// A value bound to the inbox's query.
pub(super) enum Bind {
    Text(String),
    Int(i64),
}

pub(super) fn bound(
    sql: &str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        query = match b {
            Bind::Text(t) => query.bind(t),
            Bind::Int(i) => query.bind(i),
        };
    }
    query
}

/// `text` as a `LIKE` pattern that finds it anywhere, in lower case, its wildcards escaped
/// (with `\`).
fn contains_pattern(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len() + 2);
    escaped.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

/// The `WHERE` of `f` (over `g` ratings, and `h` handling, `p` responses and `a` appeals
/// when [`filter_joins`] joins them) and the values it binds; `None` when it can match
/// nothing (a reach of no lines).
pub(super) fn where_clause(f: &InboxFilter) -> Option<(String, Vec<Bind>)> {
    let mut conditions: Vec<String> = f.show.condition().map(str::to_owned).into_iter().collect();
    let mut binds: Vec<Bind> = Vec::new();
    // Binds a value; its placeholder.
    let mut bind = |b: Bind| {
        binds.push(b);
        format!("${}", binds.len())
    };
    if let Some(lines) = &f.lines {
        if lines.is_empty() {
            return None;
        }
        let each: Vec<String> = lines.iter().map(|l| bind(Bind::Text(l.clone()))).collect();
        conditions.push(format!("g.line_id IN ({})", each.join(", ")));
    }
    if !f.except_lines.is_empty() {
        let each: Vec<String> = f
            .except_lines
            .iter()
            .map(|l| bind(Bind::Text(l.clone())))
            .collect();
        conditions.push(format!("g.line_id NOT IN ({})", each.join(", ")));
    }
    for (column, value) in [
        ("g.line_id", &f.line),
        ("g.operator_id", &f.operator),
        ("g.channel", &f.channel),
    ] {
        if let Some(v) = value {
            let p = bind(Bind::Text(v.clone()));
            conditions.push(format!("{column} = {p}"));
        }
    }
    if let Some(from) = f.from {
        let p = bind(Bind::Int(ms(from)));
        conditions.push(format!("g.updated_at >= {p}"));
    }
    if let Some(to) = f.to {
        let p = bind(Bind::Int(ms(to)));
        conditions.push(format!("g.updated_at < {p}"));
    }
    if let Some(v) = f.value {
        let p = bind(Bind::Int(v));
        conditions.push(format!("g.value = {p}"));
    }
    if let Some(reason) = &f.reason {
        let p = bind(Bind::Text(reason.clone()));
        // Driven from the reason's index (its ratings), not looked up for every low rating.
        conditions.push(format!(
            "g.id IN (SELECT x.rating_id FROM rating_reasons x WHERE x.reason = {p})"
        ));
    }
    match f.has_comment {
        Some(true) => conditions.push("g.comment IS NOT NULL".to_owned()),
        Some(false) => conditions.push("g.comment IS NULL".to_owned()),
        None => {}
    }
    if let Some(text) = &f.text {
        let p = bind(Bind::Text(contains_pattern(text)));
        conditions.push(format!(
            "g.comment_flagged_at IS NULL AND LOWER(g.comment) LIKE {p} ESCAPE '\\'"
        ));
    }
    match &f.assignee {
        Some(Assignee::Person(id)) => {
            let p = bind(Bind::Text(id.clone()));
            conditions.push(format!("h.assignee_id = {p}"));
        }
        Some(Assignee::Nobody) => conditions.push("h.assignee_id IS NULL".to_owned()),
        None => {}
    }
    conditions.push(
        f.state
            .map_or("g.state_rank < 3", InboxState::condition)
            .to_owned(),
    );
    Some((conditions.join(" AND "), binds))
}

/// A row's state by name, from its `low` and its `state_rank`: `none` for a
/// rating that is not low.
pub(super) fn state_of(r: &sqlx::any::AnyRow) -> Result<&'static str> {
    Ok(
        match (
            r.try_get::<i64, _>("low")?,
            r.try_get::<i64, _>("state_rank")?,
        ) {
            (0, _) => "none",
            (_, 0) => "unanswered",
            (_, 1) => "assigned",
            (_, 2) => "handled",
            _ => "voided",
        },
    )
}

fn read_item(r: &sqlx::any::AnyRow, now: DateTime<Utc>) -> Result<InboxItem> {
    let scale: String = r.try_get("scale")?;
    let id: String = r.try_get("id")?;
    let counts_from = time(r.try_get("counts_from")?);
    let response = match r.try_get::<Option<String>, _>("response_text")? {
        Some(text) => Some(InboxResponse {
            text,
            author_id: r.try_get("author_id")?,
            edits: r.try_get("edits")?,
            updated_at: time(r.try_get("response_updated_at")?),
            delivery_status: r.try_get("delivery_status")?,
        }),
        None => None,
    };
    let appeal = match r.try_get::<Option<String>, _>("appeal_id")? {
        Some(id) => Some(InboxAppeal {
            id,
            status: r.try_get("appeal_status")?,
        }),
        None => None,
    };
    let closed = match opt_time(r.try_get("closed_at")?) {
        Some(at) => Some(Closure {
            at,
            by: r.try_get("closed_by")?,
            note: r.try_get("close_note")?,
        }),
        None => None,
    };
    let flagged = r.try_get::<Option<i64>, _>("comment_flagged_at")?.is_some();
    let state = state_of(r)?;
    Ok(InboxItem {
        session_id: r.try_get("session_id")?,
        line_id: r.try_get("line_id")?,
        operator_id: r.try_get("operator_id")?,
        operator_name: r.try_get("operator_name")?,
        client_id: r.try_get("client_id")?,
        client_name: r.try_get("client_name")?,
        channel: r.try_get("channel")?,
        scale: scale
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("scale of rating '{id}': {e}")))?,
        value: r.try_get("value")?,
        resolved: r.try_get::<Option<i64>, _>("resolved")?.map(|v| v == 1),
        comment: if flagged { None } else { r.try_get("comment")? },
        comment_flagged: flagged,
        rated_at: time(r.try_get("updated_at")?),
        state: state.to_owned(),
        assignee_id: r.try_get("assignee_id")?,
        voided: opt_time(r.try_get("voided_at")?).is_some(),
        grace_until: (counts_from > now).then_some(counts_from),
        response,
        closed,
        appeal,
        alerts: AlertCounts {
            sent: r.try_get("alerts_sent")?,
            pending: r.try_get("alerts_pending")?,
            failed: r.try_get("alerts_failed")?,
            skipped: r.try_get("alerts_skipped")?,
        },
        rating_id: id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_anywhere_and_wildcards_only_match_themselves() {
        assert_eq!(contains_pattern("Slow"), "%slow%");
        assert_eq!(contains_pattern("100%_off\\"), "%100\\%\\_off\\\\%");
    }
}
