//! What a supervisor does about a rating from its session's page, each a form that works
//! without script: respond (write, edit, send to the client), flag or unflag the comment,
//! appeal, evaluate the session, and (admins) decide an appeal.
//!
//! Each goes through the same engine operation as its API call, so the same rules hold
//! (who may, on which lines, the change limits, one appeal per rating), and the person
//! signed in is recorded as its author or decider. Success comes back to the session's page
//! with a message saying what was done; a refusal shows the page again with the rule that
//! refused it next to the form, and changes nothing. Forms from other sites are refused
//! before they get here (see the dashboard's router).

use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rateline_domain::{AppealBody, DecisionBody, EvaluationBody, FlagBody, ResponseBody};

use super::pages::session;
use super::pages::session::Problem;
use super::visit::{Visit, flash, viewer};
use crate::engine::ResponseGuard;
use crate::http::{ApiError, AppState};
use crate::policy::Caller;

/// Which form a request came from, and its fields.
pub enum Action {
    Respond {
        text: String,
        send: bool,
        /// The response's version the form was shown with (0: none); `None` from a form
        /// that did not say.
        version: Option<i64>,
        /// "Send it as a second message" was ticked.
        second: bool,
    },
    Flag {
        abusive: bool,
    },
    Appeal {
        reason: String,
    },
    Evaluate {
        stars: String,
        comment: String,
    },
    /// `approve` is `None` when the form said neither yes nor no.
    Decide {
        appeal_id: String,
        approve: Option<bool>,
        note: String,
    },
}

impl Action {
    /// The form's name, as the page ties a problem to it.
    fn form(&self) -> &'static str {
        match self {
            Action::Respond { .. } => "respond",
            Action::Flag { .. } => "flag",
            Action::Appeal { .. } => "appeal",
            Action::Evaluate { .. } => "evaluate",
            Action::Decide { .. } => "decide",
        }
    }
}

/// Does `action` on session `id` as `caller`; what to say when it is done.
///
/// One piece: one match over the workbench's actions, each arm the engine call and the message
/// it leaves.
async fn act(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &Action,
) -> Result<String, ApiError> {
    let engine = &state.engine;
    if let Action::Decide {
        appeal_id,
        approve,
        note,
    } = action
    {
        let Some(approve) = *approve else {
            return Err(ApiError::from(rateline_domain::Invalid::new(
                "approve",
                "choose approve (void the rating) or reject (keep it); nothing was decided",
            )));
        };
        let body = DecisionBody {
            approve,
            note: (!note.trim().is_empty()).then(|| note.trim().to_owned()),
            decided_by: None,
        };
        let a = engine.decide_appeal(caller, appeal_id, body).await?;
        return Ok(format!(
            "The appeal was {}{}.",
            a.status,
            if a.status == "approved" {
                ": the rating is voided and out of the report"
            } else {
                ""
            }
        ));
    }
    if let Action::Evaluate { stars, comment } = action {
        if stars.trim().is_empty() {
            return Err(ApiError::from(rateline_domain::Invalid::new(
                "stars",
                "choose how many stars you give, 1 to 5; nothing was saved",
            )));
        }
        let body = EvaluationBody {
            stars: stars.parse().unwrap_or(0),
            comment: (!comment.trim().is_empty()).then(|| comment.trim().to_owned()),
            author_id: None,
        };
        let session = crate::engine::known_session(id)?;
        let (e, _) = engine.put_evaluation(caller, &session, body).await?;
        return Ok(format!("Your evaluation is saved: {} ★.", e.stars));
    }
    let (view, _) = engine
        .session_view_for(caller, &crate::engine::known_session(id)?)
        .await?;
    if !caller.sees_session(&view.session.line_id, view.session.operator_id.as_deref()) {
        return Err(crate::engine::session_not_found(id).into());
    }
    let Some((rating, _)) = &view.rating else {
        return Err(ApiError::from(crate::engine::rating_not_found(id)));
    };
    Ok(match action {
        Action::Respond {
            text,
            send,
            version,
            second,
        } => {
            let body = ResponseBody {
                text: text.clone(),
                send_to_client: *send,
                author_id: None,
            };
            let guard = ResponseGuard {
                expected: *version,
                second_message: *second,
            };
            let (r, created) = engine.put_response(caller, &rating.id, body, guard).await?;
            let what = if created { "saved" } else { "edited" };
            match r.delivery {
                Some(_) if *send => format!("The response is {what} and on its way to the client."),
                _ => format!("The response is {what}; it was not sent to the client."),
            }
        }
        Action::Flag { abusive } => {
            engine
                .flag_comment(caller, &rating.id, FlagBody { abusive: *abusive })
                .await?;
            if *abusive {
                "The comment is hidden as abusive: from the inbox, the report and the alerts."
                    .into()
            } else {
                "The comment is shown again.".into()
            }
        }
        Action::Appeal { reason } => {
            engine
                .appeal(
                    caller,
                    &rating.id,
                    AppealBody {
                        reason: reason.clone(),
                    },
                )
                .await?;
            "The rating is appealed; an admin decides it in the appeals queue.".into()
        }
        Action::Evaluate { .. } | Action::Decide { .. } => unreachable!("handled above"),
    })
}

/// Runs a form: done, back to `back` with a message; refused, the session's page again with
/// the problem next to the form.
async fn run(state: AppState, visit: Visit, id: &str, action: Action, back: &str) -> Response {
    let Visit { caller, session } = visit;
    let id = rateline_domain::normalize_id(id);
    let said = match act(&state, &caller, &id, &action).await {
        Ok(done) => done,
        // From the appeals queue: back there, saying why nothing changed.
        Err(e) if id.is_empty() && e.status.is_client_error() => {
            let viewer = viewer(&state, &caller).await;
            format!(
                "Nothing changed: {}",
                super::words::for_people(e.code, &e.message, &viewer)
            )
        }
        Err(e) if e.status.is_client_error() && e.status.as_u16() != 404 => {
            return refused(&state, &caller, &id, &action, e).await;
        }
        Err(e) => return e.into_response(),
    };
    flash(&session, said).await;
    Redirect::to(back).into_response()
}

/// The session's page again, with why `action` was refused next to its form and what was
/// typed kept.
async fn refused(
    state: &AppState,
    caller: &Caller,
    id: &str,
    action: &Action,
    e: ApiError,
) -> Response {
    let problem = Problem {
        form: action.form(),
        message: String::new(),
        draft: match action {
            Action::Respond { text, .. } => Some(text.clone()),
            Action::Appeal { reason } => Some(reason.clone()),
            _ => None,
        },
    };
    let view = match crate::engine::known_session(id) {
        Ok(session) => state.engine.session_view_for(caller, &session).await,
        Err(e) => Err(e),
    };
    match view {
        // A session the caller may not see is not shown, whatever refused the form.
        Ok((view, _))
            if !caller.sees_session(&view.session.line_id, view.session.operator_id.as_deref()) =>
        {
            ApiError::from(crate::engine::session_not_found(id)).into_response()
        }
        Ok((view, hidden)) => {
            let viewer = viewer(state, caller).await;
            let problem = Problem {
                message: in_their_words(&e, &view, &viewer)
                    .unwrap_or_else(|| super::words::for_people(e.code, &e.message, &viewer)),
                ..problem
            };
            let can = session::Abilities {
                ratings_hidden: hidden,
                ..super::visit::abilities(state, caller, &view).await
            };
            (
                e.status,
                session::session(
                    &view,
                    &super::visit::line_rating(state, &view.session.line_id).await,
                    &viewer,
                    &can,
                    None,
                    Some(&problem),
                    state.engine.now(),
                ),
            )
                .into_response()
        }
        Err(_) => e.into_response(),
    }
}

/// A response's refusal in a supervisor's words, with what the page shows now: who
/// answered meanwhile, when and what; or that the client got the reply already. `None` for
/// any other refusal, whose message is plain already.
fn in_their_words(
    e: &ApiError,
    view: &crate::store::SessionView,
    viewer: &super::viewer::Viewer,
) -> Option<String> {
    use rateline_domain::ErrorCode;
    let current = view.response.as_ref();
    match (e.code, current) {
        (ErrorCode::PreconditionFailed, Some(r)) => Some(format!(
            "{who} answered while you were writing ({at}): “{text}”. Your reply was not saved \
             or sent; it is kept below. Read theirs, then save yours if it should replace it.",
            who = r
                .author_id
                .as_deref()
                .map_or("Someone".to_owned(), |a| viewer.actor_name(a)),
            at = viewer.at(r.updated_at),
            text = r.text,
        )),
        (ErrorCode::ResponseSentAlready, Some(r)) => Some(format!(
            "The client {got} already. Tick “Send it as a second message” to send this one \
             too, or untick “Send it to the client” to change only the saved text.",
            got = match r.with_client().and_then(|d| d.sent_at) {
                Some(at) => format!("got the reply ({})", viewer.at(at)),
                None => "has a reply on its way".to_owned(),
            },
        )),
        _ => None,
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct RespondForm {
    text: String,
    send_to_client: Option<String>,
    version: String,
    second_message: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct FlagForm {
    abusive: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct AppealForm {
    reason: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct EvaluateForm {
    stars: String,
    comment: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct DecideForm {
    approve: String,
    note: String,
    session: String,
}

fn session_page(id: &str) -> String {
    format!("/dashboard/sessions/{id}")
}

/// `POST /dashboard/sessions/{id}/response`.
pub async fn respond(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
    Form(f): Form<RespondForm>,
) -> Response {
    let action = Action::Respond {
        text: f.text,
        send: f.send_to_client.is_some(),
        version: f.version.trim().parse().ok(),
        second: f.second_message.is_some(),
    };
    run(state, visit, &id, action, &session_page(&id)).await
}

/// `POST /dashboard/sessions/{id}/flag`.
pub async fn flag(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
    Form(f): Form<FlagForm>,
) -> Response {
    let action = Action::Flag {
        abusive: f.abusive == "true",
    };
    run(state, visit, &id, action, &session_page(&id)).await
}

/// `POST /dashboard/sessions/{id}/appeal`.
pub async fn appeal(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
    Form(f): Form<AppealForm>,
) -> Response {
    let action = Action::Appeal { reason: f.reason };
    run(state, visit, &id, action, &session_page(&id)).await
}

/// `POST /dashboard/sessions/{id}/evaluation`.
pub async fn evaluate(
    State(state): State<AppState>,
    visit: Visit,
    Path(id): Path<String>,
    Form(f): Form<EvaluateForm>,
) -> Response {
    let action = Action::Evaluate {
        stars: f.stars,
        comment: f.comment,
    };
    run(state, visit, &id, action, &session_page(&id)).await
}

/// `POST /dashboard/appeals/{id}/decision`, from the appeals queue or a session's page
/// (`session` names it; back to the queue otherwise).
pub async fn decide(
    State(state): State<AppState>,
    visit: Visit,
    Path(appeal_id): Path<String>,
    Form(f): Form<DecideForm>,
) -> Response {
    let session_id = rateline_domain::normalize_id(&f.session);
    let back =
        if session_id.is_empty() || rateline_domain::check_id("session", &session_id).is_err() {
            "/dashboard/appeals".to_owned()
        } else {
            session_page(&session_id)
        };
    let approve = match f.approve.as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    };
    let action = Action::Decide {
        appeal_id: rateline_domain::normalize_id(&appeal_id),
        approve,
        note: f.note,
    };
    run(state, visit, &session_id, action, &back).await
}
