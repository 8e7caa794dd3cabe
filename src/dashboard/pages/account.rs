//! Signing in and out of the dashboard, and setting a password from an invitation link.
//!
//! - `GET /dashboard/login?next=`: the sign-in page. People sign in with their id and
//!   password; programs' API keys still sign in too (under "Sign in with an API key").
//! - `POST /dashboard/login`: checks either, then goes back to `next`, a dashboard page
//!   (never another site).
//! - `GET /dashboard/home`: where signing in lands when no page was asked for: an
//!   operator's own feedback, everyone else's inbox.
//! - `POST /dashboard/logout`: ends the sign-in.
//! - `GET /dashboard/invitation?token=`: the page where an invited person sets their
//!   password; `POST /dashboard/invitation` sets it and signs them in.
//!
//! - `GET /dashboard/account`: the person's own account: who they are, and their time zone,
//!   which `POST /dashboard/account/time-zone` sets (as `PUT /v1/people/{id}/time-zone`).
//!
//! An address that keeps getting ids, passwords or keys wrong is held off with `429` before
//! anything is looked up, as on `/v1`.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use rateline_domain::{AlertPace, ErrorCode, PaceMode, QuietHours};
use tower_sessions::Session;

use super::login;
use super::login::Tried;
use crate::dashboard::layout;
use crate::dashboard::sign_in::{self, SignedIn};
use crate::dashboard::visit::sign_in_page;
use crate::engine::EngineError;
use crate::http::{ApiError, AppState, ClientIp};

/// Where a person lands after signing in when no page was asked for: their first page
/// (see [`home`]).
pub const HOME: &str = "/dashboard/home";

/// Where to go after signing in: a dashboard page, never another site (`//evil.example`
/// and `/\\evil.example` are other sites to a browser).
pub fn safe_next(next: &str) -> &str {
    let ours = next.starts_with("/dashboard")
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ours { next } else { HOME }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

/// `GET /dashboard/login`: the sign-in form.
pub async fn login_form(Query(q): Query<NextQuery>) -> Response {
    login::login(None, &Tried::Nothing, safe_next(&q.next), None).into_response()
}

/// The sign-in form: a person's id and password, or an API key; and the form that was sent
/// when the sign-in had ended, if one was (`kept_action` and its `kept:` fields).
#[derive(Default)]
pub struct LoginForm {
    person: String,
    password: String,
    key: String,
    next: String,
    kept: Option<login::Kept>,
}

impl LoginForm {
    fn of(fields: Vec<(String, String)>) -> Self {
        let mut form = LoginForm::default();
        let mut kept = login::Kept::default();
        for (name, value) in fields {
            match name.as_str() {
                "person" => form.person = value,
                "password" => form.password = value,
                "key" => form.key = value,
                "next" => form.next = value,
                "kept_action" => kept.action = value,
                _ => {
                    if let Some(field) = name.strip_prefix(login::KEPT)
                        && login::Kept::may_keep(field)
                    {
                        kept.fields.push((field.to_owned(), value));
                    }
                }
            }
        }
        // Sent again only to a dashboard page of this server, never the sign-in itself.
        if kept.action.starts_with("/dashboard/")
            && safe_next(&kept.action) == kept.action
            && kept.action != "/dashboard/login"
        {
            form.kept = Some(kept);
        }
        form
    }
}

/// `POST /dashboard/login`: checks the password (or the key) and signs the browser in;
/// then back to the page that was asked for.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let form = LoginForm::of(fields);
    let next = safe_next(&form.next).to_owned();
    let kept = form.kept.as_ref();
    let signed_in = if form.key.is_empty() {
        match person(&state, ip, &form).await {
            Ok(s) => s,
            Err(e) => {
                let tried = Tried::Person {
                    id: form.person.trim().to_owned(),
                };
                return sign_in_page(e, tried, &next, kept);
            }
        }
    } else {
        let value = HeaderValue::from_str(&format!("Bearer {}", form.key.trim())).ok();
        let open_allowed = crate::http::open_mode_allows(&headers);
        match crate::http::caller(&state, value, open_allowed, ip).await {
            Ok(c) => match c.key_id() {
                Some(key_id) => {
                    let who = format!("key {key_id}");
                    state.engine.audit_sign_in(&who, "key", ip).await;
                    SignedIn::Key {
                        key_id: key_id.to_owned(),
                    }
                }
                // No key exists: the dashboard is open, there is nothing to sign in with.
                None => return Redirect::to(&next).into_response(),
            },
            Err(e) => {
                // A refused key is counted among the sign-ins that named nobody; its text is
                // a secret and is not kept.
                if e.status == StatusCode::UNAUTHORIZED {
                    state.engine.audit_failed_sign_in(None, ip).await;
                }
                return sign_in_page(e, Tried::Key, &next, kept);
            }
        }
    };
    match sign_in::sign_in(&session, signed_in).await {
        // A form sent when the sign-in had ended: offered to be sent now.
        Ok(()) => match kept {
            Some(kept) => login::resend(kept, &next).into_response(),
            None => Redirect::to(&next).into_response(),
        },
        Err(e) => e.into_response(),
    }
}

/// The sign-in a person's id and password make, or the 401 (429) that refuses it.
async fn person(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    form: &LoginForm,
) -> Result<SignedIn, ApiError> {
    if let Some(ip) = ip
        && let Err(limited) = state.limits.credential_allowed(ip)
    {
        state.metrics.auth_failure("throttled");
        return Err(limited.into());
    }
    let id = rateline_domain::normalize_id(form.person.trim());
    match state.engine.sign_in_person(&id, &form.password, ip).await? {
        Some(password) => Ok(SignedIn::Person {
            person_id: id,
            password,
        }),
        None => {
            state.metrics.auth_failure("wrong_password");
            if let Some(ip) = ip {
                state.limits.credential_refused(ip);
            }
            Err(ApiError::new(
                ErrorCode::InvalidCredentials,
                "this id and password do not match a person who can sign in; check both, or \
                 ask an admin for an invitation link (`rateline people invite ID`)",
            ))
        }
    }
}

/// `GET /dashboard/home`: the first page of whoever is signed in: an operator's own
/// feedback, everyone else's inbox.
pub async fn home(
    crate::dashboard::visit::Visit { caller, .. }: crate::dashboard::visit::Visit,
) -> Response {
    match caller.operator() {
        Some(me) => Redirect::to(&format!("/dashboard/operators/{me}")).into_response(),
        None => Redirect::to("/dashboard/inbox").into_response(),
    }
}

/// `POST /dashboard/logout`: ends the sign-in, and the audit log records it.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
) -> Response {
    let who = sign_in::signed_in_as(&session).await;
    if let Err(e) = sign_in::sign_out(&session).await {
        return e.into_response();
    }
    if let Some(who) = who {
        state.engine.audit_sign_out(&who, ip).await;
    }
    Redirect::to("/dashboard/login").into_response()
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct TokenQuery {
    token: String,
}

/// `GET /dashboard/invitation?token=`: the form that sets an invited person's password.
pub async fn invitation_form(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> Response {
    match state.engine.invitation(&q.token).await {
        Ok(i) => login::invitation(&i.person_id, &i.person_name, &q.token, None).into_response(),
        Err(e) => refused_invitation(e),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct InvitationForm {
    token: String,
    password: String,
    repeat: String,
}

/// `POST /dashboard/invitation`: sets the password, signs the person in, and opens the
/// dashboard.
pub async fn accept_invitation(
    State(state): State<AppState>,
    session: Session,
    ClientIp(ip): ClientIp,
    Form(form): Form<InvitationForm>,
) -> Response {
    match state
        .engine
        .accept_invitation(&form.token, &form.password, &form.repeat, ip)
        .await
    {
        Ok((person_id, password)) => {
            // A password exists: the open mode, if it lasted, is over from this page on.
            state.open_mode.end();
            let signed_in = SignedIn::Person {
                person_id,
                password,
            };
            match sign_in::sign_in(&session, signed_in).await {
                Ok(()) => Redirect::to(HOME).into_response(),
                Err(e) => e.into_response(),
            }
        }
        // The form again, with the problem next to its field.
        Err(EngineError::Invalid(invalid)) => match state.engine.invitation(&form.token).await {
            Ok(i) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                login::invitation(&i.person_id, &i.person_name, &form.token, Some(&invalid)),
            )
                .into_response(),
            Err(e) => refused_invitation(e),
        },
        Err(e) => refused_invitation(e),
    }
}

/// An invitation that does not work (unknown, used, expired), as a page that says why.
fn refused_invitation(e: EngineError) -> Response {
    let e = ApiError::from(e);
    if e.status.is_server_error() {
        return e.into_response();
    }
    (e.status, layout::problem("Invitation", &e.message)).into_response()
}

/// `GET /dashboard/account`: who is signed in, and their own settings.
pub async fn account(
    State(state): State<AppState>,
    crate::dashboard::visit::Visit { caller, session }: crate::dashboard::visit::Visit,
) -> Response {
    let flash = crate::dashboard::visit::take_flash(&session).await;
    account_page(&state, &caller, flash.as_deref(), None).await
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current: String,
    password: String,
    repeat: String,
}

/// `POST /dashboard/account/password`: the person's own new password, given their current
/// one. This sign-in goes on with it; every other sign-in of theirs ends.
pub async fn change_password(
    State(state): State<AppState>,
    crate::dashboard::visit::Visit { caller, session }: crate::dashboard::visit::Visit,
    ClientIp(ip): ClientIp,
    Form(form): Form<PasswordForm>,
) -> Response {
    // Guessing the current password is limited as guessing at the sign-in is.
    if let Some(ip) = ip
        && let Err(limited) = state.limits.credential_allowed(ip)
    {
        state.metrics.auth_failure("throttled");
        return ApiError::from(limited).into_response();
    }
    let changed = state
        .engine
        .change_password(&caller, &form.current, &form.password, &form.repeat, ip)
        .await;
    if let (Err(EngineError::Invalid(i)), Some(ip)) = (&changed, ip)
        && i.field == "current"
    {
        state.metrics.auth_failure("wrong_password");
        state.limits.credential_refused(ip);
    }
    match changed {
        Ok((person_id, password)) => {
            let signed_in = SignedIn::Person {
                person_id,
                password,
            };
            if let Err(e) = sign_in::sign_in(&session, signed_in).await {
                return e.into_response();
            }
            let said = "Your password is changed: your other sign-ins have ended.";
            crate::dashboard::visit::flash(&session, said).await;
            Redirect::to("/dashboard/account").into_response()
        }
        Err(EngineError::Invalid(invalid)) => {
            let problem = (invalid.field.clone(), invalid.to_string());
            let mut page = account_page(&state, &caller, None, Some(problem)).await;
            *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            page
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct TimeZoneForm {
    time_zone: String,
}

/// `POST /dashboard/account/time-zone`: the person's own zone; empty follows the server's.
pub async fn set_time_zone(
    State(state): State<AppState>,
    crate::dashboard::visit::Visit { caller, session }: crate::dashboard::visit::Visit,
    Form(form): Form<TimeZoneForm>,
) -> Response {
    let Some(me) = caller.person_id().cloned() else {
        return account_page(&state, &caller, None, None).await;
    };
    let zone = Some(form.time_zone.trim()).filter(|z| !z.is_empty());
    match state.engine.set_time_zone(&caller, &me, zone).await {
        Ok(()) => {
            let said = format!(
                "Your times are now shown in {}.",
                zone.unwrap_or("the server's time zone")
            );
            crate::dashboard::visit::flash(&session, said).await;
            Redirect::to("/dashboard/account").into_response()
        }
        Err(e) => refused(&state, &caller, e.into(), "time_zone", None).await,
    }
}

/// The account page again after a refusal `e` of one of its forms: the message next to the
/// field it names (else `field`), and the pace form as `typed`; a server error as it is.
async fn refused(
    state: &AppState,
    caller: &crate::policy::Caller,
    e: ApiError,
    field: &str,
    typed: Option<PaceForm>,
) -> Response {
    if e.status.is_server_error() {
        return e.into_response();
    }
    let problem = (e.field.unwrap_or_else(|| field.to_owned()), e.message);
    let mut page = account_page_with(state, caller, None, Some(problem), typed).await;
    *page.status_mut() = e.status;
    page
}

/// The pace form, as typed: every field a string, so what cannot be read is named.
#[derive(serde::Deserialize, Default, Clone)]
#[serde(default)]
pub struct PaceForm {
    mode: String,
    digest_minutes: String,
    per_hour: String,
    quiet_from: String,
    quiet_to: String,
    /// A ticked box sends `on`; an unticked one sends nothing.
    weekly_report: String,
}

impl PaceForm {
    /// The form as a stored pace fills it.
    fn of(pace: &AlertPace) -> Self {
        let (quiet_from, quiet_to) = pace
            .quiet_hours
            .as_ref()
            .map_or_else(Default::default, |q| (q.from.clone(), q.to.clone()));
        PaceForm {
            mode: match pace.mode {
                PaceMode::Each => "each",
                PaceMode::Digest => "digest",
                PaceMode::Capped => "capped",
            }
            .to_owned(),
            digest_minutes: pace.digest_minutes.to_string(),
            per_hour: pace.per_hour.to_string(),
            quiet_from,
            quiet_to,
            weekly_report: if pace.weekly_report { "on" } else { "" }.to_owned(),
        }
    }

    /// The pace it says, or the field that cannot be read and why.
    fn pace(&self) -> Result<AlertPace, (String, String)> {
        let number = |field: &str, typed: &str| {
            typed
                .trim()
                .parse::<u32>()
                .map_err(|_| (field.to_owned(), format!("{typed:?} is not a whole number")))
        };
        let mode = match self.mode.as_str() {
            "each" => PaceMode::Each,
            "digest" => PaceMode::Digest,
            "capped" => PaceMode::Capped,
            _ => return Err(("mode".into(), "choose one of the three".into())),
        };
        let quiet_hours = match (self.quiet_from.trim(), self.quiet_to.trim()) {
            ("", "") => None,
            ("", _) => return Err(("quiet_hours.from".into(), "say when they start".into())),
            (_, "") => return Err(("quiet_hours.to".into(), "say when they end".into())),
            (from, to) => Some(QuietHours {
                from: from.to_owned(),
                to: to.to_owned(),
            }),
        };
        Ok(AlertPace {
            mode,
            digest_minutes: number("digest_minutes", &self.digest_minutes)?,
            per_hour: number("per_hour", &self.per_hour)?,
            quiet_hours,
            weekly_report: !self.weekly_report.is_empty(),
        })
    }
}

/// `POST /dashboard/account/alert-pace`: how often the person hears of low ratings.
pub async fn set_alert_pace(
    State(state): State<AppState>,
    crate::dashboard::visit::Visit { caller, session }: crate::dashboard::visit::Visit,
    Form(form): Form<PaceForm>,
) -> Response {
    let Some(me) = caller.person_id().cloned() else {
        return account_page(&state, &caller, None, None).await;
    };
    let pace = match form.pace() {
        Ok(p) => p,
        Err((field, message)) => {
            let e = ApiError {
                field: Some(field),
                ..ApiError::new(ErrorCode::InvalidField, message)
            };
            return refused(&state, &caller, e, "mode", Some(form)).await;
        }
    };
    match state.engine.set_alert_pace(&caller, &me, &pace).await {
        Ok(()) => {
            let mut said = match pace.mode {
                PaceMode::Each => "You will hear of each low rating at once.".to_owned(),
                PaceMode::Digest => format!(
                    "You will get one message every {} minutes, naming the low ratings that came.",
                    pace.digest_minutes
                ),
                PaceMode::Capped => format!(
                    "You will hear of each low rating at once, up to {} an hour; then one \
                     message every {} minutes.",
                    pace.per_hour, pace.digest_minutes
                ),
            };
            if pace.weekly_report {
                said.push_str(" Your weekly report comes by e-mail on Mondays at 08:00.");
            }
            crate::dashboard::visit::flash(&session, said).await;
            Redirect::to("/dashboard/account").into_response()
        }
        Err(e) => refused(&state, &caller, e.into(), "mode", Some(form)).await,
    }
}

/// The pace form: the three ways, their numbers, and the quiet hours.
fn pace_form(pace: &PaceForm, about: &dyn Fn(&str) -> Option<String>) -> maud::Markup {
    let (from, to) = (pace.quiet_from.as_str(), pace.quiet_to.as_str());
    let ways = [
        ("each", "Each low rating at once"),
        (
            "digest",
            "One message every few minutes, naming each low rating that came",
        ),
        (
            "capped",
            "Each at once, up to a number an hour; then one message every few minutes",
        ),
    ];
    let invalid = |field: &str| about(field).map(|_| "true");
    maud::html! {
        form.stacked method="post" action="/dashboard/account/alert-pace" aria-label="How often you hear about low ratings" {
            h2 { "How often you hear about low ratings" }
            fieldset aria-describedby=[about("mode").map(|_| "mode-problem")] {
                legend { "Tell me of low ratings" }
                @for (value, label) in ways {
                    label { input type="radio" name="mode" value=(value) checked[pace.mode == value]; " " (label) }
                }
                (layout::field_problem("mode", about("mode").as_deref()))
            }
            label for="digest_minutes" { "Minutes between two messages" }
            input type="number" name="digest_minutes" id="digest_minutes" min="5" max="1440"
                value=(pace.digest_minutes) aria-invalid=[invalid("digest_minutes")];
            (layout::field_problem("digest_minutes", about("digest_minutes").as_deref()))
            label for="per_hour" { "At once, up to this many an hour" }
            input type="number" name="per_hour" id="per_hour" min="1" max="500"
                value=(pace.per_hour) aria-invalid=[invalid("per_hour")];
            (layout::field_problem("per_hour", about("per_hour").as_deref()))
            fieldset {
                legend { "Quiet hours, in your time zone" }
                label for="quiet_from" { "From" }
                input type="text" name="quiet_from" id="quiet_from" value=(from) placeholder="22:00" size="5" autocomplete="off"
                    aria-invalid=[invalid("quiet_hours.from")];
                (layout::field_problem("quiet_hours.from", about("quiet_hours.from").as_deref()))
                label for="quiet_to" { "To" }
                input type="text" name="quiet_to" id="quiet_to" value=(to) placeholder="07:00" size="5" autocomplete="off"
                    aria-invalid=[invalid("quiet_hours.to")];
                (layout::field_problem("quiet_hours.to", about("quiet_hours.to").as_deref()))
                p.muted { "Times as HH:MM, such as 22:00 to 07:00. What comes then waits, and reaches you in one message when they end. Leave both empty for none." }
            }
            p.muted { "When one line has a burst of low ratings, you hear of it as one message every 10 minutes, whichever you choose." }
            label.check {
                input type="checkbox" name="weekly_report" id="weekly_report" checked[!pace.weekly_report.is_empty()];
                " Send me a weekly report by e-mail"
            }
            p.muted { "Every Monday at 08:00 in your zone: your lines and each operator on them last week, against the week before. It goes to your e-mail address, which an admin sets." }
            button type="submit" id="save-pace" { "Save" }
        }
    }
}

/// The account page; `problem` (field, message) stands next to its field.
async fn account_page(
    state: &AppState,
    caller: &crate::policy::Caller,
    flash: Option<&str>,
    problem: Option<(String, String)>,
) -> Response {
    account_page_with(state, caller, flash, problem, None).await
}

/// The account page, with the pace form as typed when it was refused.
async fn account_page_with(
    state: &AppState,
    caller: &crate::policy::Caller,
    flash: Option<&str>,
    problem: Option<(String, String)>,
    typed: Option<PaceForm>,
) -> Response {
    let about = |field: &str| {
        problem
            .as_ref()
            .filter(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    };
    let problem = about("time_zone");
    let viewer = crate::dashboard::visit::viewer(state, caller).await;
    let pace = match (typed, caller.person_id()) {
        (Some(typed), _) => typed,
        (None, Some(me)) => PaceForm::of(
            &state
                .engine
                .alert_pace(caller, me)
                .await
                .unwrap_or_default(),
        ),
        (None, None) => PaceForm::of(&AlertPace::default()),
    };
    let pace_problem = |field: &str| about(field).map(str::to_owned);
    let own = caller
        .person_id()
        .and_then(|me| viewer.directory.people.get(me.as_str()))
        .and_then(|(_, zone)| zone.clone())
        .unwrap_or_default();
    let server = state.time_zone.name();
    layout::page(
        "Your account",
        &viewer,
        maud::html! {
            @if let Some(f) = flash { p.notice #flash role="status" { (f) } }
            @match caller.person_id() {
                None => p { "You are signed in with an API key, which has no settings of its own. People sign in with their id and password." },
                Some(me) => {
                    p { (viewer.person(me)) " · " code { (me) }
                        @if let Some(role) = caller.role() { " · " (role.as_str()) } }
                    form.stacked method="post" action="/dashboard/account/time-zone" aria-label="Your time zone" {
                        label for="time_zone" { "Your time zone" }
                        select name="time_zone" id="time_zone"
                            aria-invalid=[problem.map(|_| "true")]
                            aria-describedby=[problem.map(|_| "time_zone-problem")] {
                            option value="" selected[own.is_empty()] { "The server's (" (server) ")" }
                            @for zone in chrono_tz::TZ_VARIANTS {
                                option value=(zone.name()) selected[own == zone.name()] { (zone.name()) }
                            }
                        }
                        (layout::field_problem("time_zone", problem))
                        p.muted { "Times on every page are shown in it, and the filters' dates are its days." }
                        button type="submit" id="save-zone" { "Save" }
                    }
                    form.stacked method="post" action="/dashboard/account/password" aria-label="Your password" {
                        h2 { "Change your password" }
                        label for="current" { "Your current password" }
                        input type="password" name="current" id="current" autocomplete="current-password" required
                            aria-invalid=[about("current").map(|_| "true")];
                        (layout::field_problem("current", about("current")))
                        label for="password" { "The new password" }
                        input type="password" name="password" id="password" autocomplete="new-password" required
                            minlength=(crate::engine::MIN_PASSWORD_CHARS)
                            aria-invalid=[about("password").map(|_| "true")];
                        (layout::field_problem("password", about("password")))
                        label for="repeat" { "The new password again" }
                        input type="password" name="repeat" id="repeat" autocomplete="new-password" required
                            aria-invalid=[about("repeat").map(|_| "true")];
                        (layout::field_problem("repeat", about("repeat")))
                        p.muted { "Your other sign-ins end; this one goes on." }
                        button type="submit" id="change-password" { "Change my password" }
                    }
                    (pace_form(&pace, &pace_problem))
                    p { a href={ "/dashboard/people/" (me) } #my-alerts { "Where you hear about low ratings" }
                        ", with a test alert to each of your addresses." }
                }
            }
        },
    )
    .into_response()
}
