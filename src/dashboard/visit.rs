//! Who is visiting a dashboard page: the sign-in every page asks for ([`Visit`]; the
//! sign-in page, which comes back to the page asked for, when there is none), how the
//! visitor sees the pages ([`viewer`]), what they may do on a session's page, and the
//! message a page shows once after an action, and the secrets a form made that its page
//! shows ([`Shown`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use tower_sessions::Session;

use rateline_domain::LineId;

use super::layout;
use super::pages::login;
use super::pages::login::Kept;
use super::pages::login::Tried;
use super::pages::session;
use super::sign_in;
use super::viewer::Viewer;
use crate::http::{ApiError, AppState, ClientIp};
use crate::policy::Caller;

/// The session value that carries a message to the next page.
const FLASH: &str = "flash";

/// The message a page shows once, after an action: what was done.
pub async fn take_flash(session: &Session) -> Option<String> {
    session.remove::<String>(FLASH).await.ok().flatten()
}

/// How long a secret a form made (an invitation link) stays to be shown after the form.
pub const SHOWN_FOR: std::time::Duration = std::time::Duration::from_secs(600);

/// Secrets a form made and its page shows (an invitation link), held in this process's
/// memory for [`SHOWN_FOR`], for whoever made them alone, under a random handle: the form
/// redirects to a page naming the handle, and a refresh of that page shows the secret again
/// instead of making a new one. They are never written to the sign-in store, and a page
/// served by another process does not have them (it says so).
pub struct Shown<T>(std::sync::Mutex<HashMap<String, Held<T>>>);

struct Held<T> {
    owner: String,
    what: T,
    until: std::time::Instant,
}

impl<T> Default for Shown<T> {
    fn default() -> Self {
        Shown(std::sync::Mutex::new(HashMap::new()))
    }
}

impl<T: Clone> Shown<T> {
    /// Holds `what`, made by `owner`; its handle. What ran out is forgotten.
    pub fn keep(&self, owner: &str, what: T) -> String {
        let now = std::time::Instant::now();
        let handle = uuid::Uuid::new_v4().simple().to_string();
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|_, h| h.until > now);
        held.insert(
            handle.clone(),
            Held {
                owner: owner.to_owned(),
                what,
                until: now + SHOWN_FOR,
            },
        );
        handle
    }

    /// What `handle` holds, if `owner` made it and it has not run out.
    pub fn read(&self, handle: &str, owner: &str) -> Option<T> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.get(handle)
            .filter(|h| h.owner == owner && h.until > std::time::Instant::now())
            .map(|h| h.what.clone())
    }
}

/// Keeps `said` for the next page to show once.
pub async fn flash(session: &Session, said: impl Into<String>) {
    if let Err(e) = session.insert(FLASH, said.into()).await {
        tracing::warn!(error = %e, "the message after an action could not be kept");
    }
}

/// The sign-in page for a refusal `e` (a 401 or 429), or `e` itself for anything else.
/// `tried` says which form was just sent (its field then shows what was wrong).
pub fn sign_in_page(e: ApiError, tried: Tried, next: &str, kept: Option<&Kept>) -> Response {
    match e.status {
        StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => {
            let problem = (!matches!(tried, Tried::Nothing)
                || e.status == StatusCode::TOO_MANY_REQUESTS)
                .then_some(e.message.as_str());
            let mut response =
                (e.status, login::login(problem, &tried, next, kept)).into_response();
            if let Some(seconds) = e.retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        StatusCode::FORBIDDEN if e.code == rateline_domain::ErrorCode::OpenModeRefused => {
            (e.status, layout::problem("Open mode", &e.message)).into_response()
        }
        _ => e.into_response(),
    }
}

/// A dashboard request from someone signed in (in the open mode, from anyone): who asks,
/// and their sign-in session (which carries the message a page shows once). Where no one
/// is signed in, the request is answered with the sign-in page, which comes back to the
/// page asked for.
pub struct Visit {
    pub caller: Caller,
    pub session: Session,
}

impl FromRequestParts<AppState> for Visit {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, state).await;
        match sign_in::caller(state, &session, &parts.headers, ip).await {
            Ok(caller) => {
                if let Some(Seen(seen)) = parts.extensions.get::<Seen>() {
                    let _ = seen.set(caller.clone());
                }
                Ok(Visit { caller, session })
            }
            Err(e) => Err(sign_in_page(
                e,
                Tried::Nothing,
                &come_back_to(&parts.method, &parts.uri),
                parts.extensions.get::<Kept>(),
            )),
        }
    }
}

/// Who a page's request turned out to be from, once [`Visit`] knew: put on each request by
/// the dashboard's error layer, so that a refusal is shown with the visitor's own header and
/// in their zone.
#[derive(Clone, Default)]
pub struct Seen(std::sync::Arc<std::sync::OnceLock<Caller>>);

impl Seen {
    pub fn caller(&self) -> Option<&Caller> {
        self.0.get()
    }
}

/// The most a form's body is read to be kept (forms are far smaller).
const KEEP_AT_MOST: usize = 256 * 1024;

/// Middleware: reads a form sent to a dashboard page and keeps it with the request
/// ([`Kept`], without any credential), so that when its sign-in has ended the sign-in page
/// can carry it and offer to send it again. The sign-in and invitation forms are not kept.
pub async fn keep_form(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path().to_owned();
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if request.method() != Method::POST
        || !is_form
        || [
            "/dashboard/login",
            "/dashboard/logout",
            "/dashboard/invitation",
        ]
        .contains(&path.as_str())
    {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, KEEP_AT_MOST).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the form is too large").into_response();
    };
    let fields = url::form_urlencoded::parse(&bytes)
        .filter(|(n, _)| Kept::may_keep(n))
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect();
    parts.extensions.insert(Kept {
        action: path,
        fields,
    });
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// The page to come back to after signing in: the page asked for, or for a form, the page
/// it is on (the session's page, or the list it belongs to).
pub fn come_back_to(method: &Method, uri: &Uri) -> String {
    if method == Method::GET {
        return uri
            .path_and_query()
            .map_or_else(|| "/dashboard".to_owned(), |p| p.as_str().to_owned());
    }
    let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
    let keep = if segments.get(1) == Some(&"sessions") {
        3
    } else {
        2
    };
    format!("/{}", segments[..keep.min(segments.len())].join("/"))
}

/// How `caller` sees the pages: the header's unanswered count (a page still shows when it
/// cannot be counted), their zone (their own, else `server.time_zone`), and the names.
pub async fn viewer(state: &AppState, caller: &Caller) -> Viewer {
    let (unanswered, directory, appeals) = tokio::join!(
        state.engine.unanswered_count(caller),
        state.engine.directory(),
        state.engine.appeals_to_decide(caller)
    );
    let appeals = appeals
        .inspect_err(|e| tracing::warn!(error = %e, "the appeals to decide could not be counted"))
        .ok();
    let unanswered = unanswered
        .inspect_err(
            |e| tracing::warn!(error = %e, "the unanswered low ratings could not be counted"),
        )
        .ok();
    let directory = directory
        .inspect_err(
            |e| tracing::warn!(error = %e, "the names of people and lines could not be read"),
        )
        .unwrap_or_default();
    let zone = directory
        .zone_of(caller.person_id().map(|me| me.as_str()))
        .unwrap_or(state.time_zone);
    let admin = caller
        .role()
        .is_none_or(|r| r == rateline_domain::Role::Admin);
    let events_trouble = if admin {
        state
            .engine
            .troubled_subscriptions()
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "event subscriptions could not be read"))
            .unwrap_or_default()
            .into_iter()
            .map(|s| (s.id, !s.active))
            .collect()
    } else {
        Vec::new()
    };
    Viewer {
        who: caller.display_name(),
        open_mode: caller.is_open(),
        links: true,
        unanswered,
        appeals,
        me: caller.person_id().map(ToString::to_string),
        operator: caller.operator().map(str::to_owned),
        admin,
        events_trouble,
        zone,
        directory: std::sync::Arc::new(directory),
    }
}

/// How line `id` asks, to name a rating's reasons by their texts; the defaults (no
/// reasons: their ids are shown) when the line cannot be read.
pub async fn line_rating(state: &AppState, id: &LineId) -> rateline_domain::RatingSettings {
    state
        .engine
        .line(id)
        .await
        .map(|l| l.settings.rating)
        .unwrap_or_default()
}

/// Which of a session page's forms `caller` may use, for the session `view` shows: deciding
/// its appeal as the engine would allow it (admins; the line's supervisors where the line
/// lets them; never who made it).
pub async fn abilities(
    state: &AppState,
    caller: &Caller,
    view: &crate::store::SessionView,
) -> session::Abilities {
    let role = caller.role();
    session::Abilities {
        supervise: role != Some(rateline_domain::Role::Operator),
        decide: may_decide(state, caller, view.appeal.as_ref()).await,
        ratings_hidden: false,
    }
}

/// Whether `caller` may decide `appeal` (none: there is nothing to decide).
pub async fn may_decide(
    state: &AppState,
    caller: &Caller,
    appeal: Option<&crate::store::AppealRecord>,
) -> bool {
    match appeal {
        Some(a) => state.engine.may_decide(caller, a).await.is_ok(),
        None => false,
    }
}
