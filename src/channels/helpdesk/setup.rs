//! A helpdesk's side, set up by Rateline: with a token that has the rights, Rateline makes
//! the webhook (and Zammad's triggers) itself, notes what it made, checks it live, and
//! removes it on Disconnect. What each kind makes is its channel's
//! (`chatwoot::setup`, `zammad::setup`); this module holds what they share: the report, the
//! refusal, and the removal in the right order.

use std::future::Future;

use rateline_adapters::helpdesk::Removed;
use rateline_domain::{ErrorCode, Helpdesk};
use serde::Serialize;
use utoipa::ToSchema;

use crate::engine::{Engine, EngineError};
use crate::policy::Caller;

/// What a setup or a live check of the helpdesk's side found, in sentences for the
/// Helpdesks page, the API and the CLI.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct SetupReport {
    /// What Rateline made in the helpdesk, this time or before.
    pub made: Vec<String>,
    /// What is as it should be.
    pub found: Vec<String>,
    /// What works, but a person should look at.
    pub warnings: Vec<String>,
    /// What keeps conversations from being rated, each with its fix.
    pub problems: Vec<String>,
}

impl SetupReport {
    /// Sorts `check-config`'s style of findings (a `warning: ` prefix marks a warning).
    pub fn take(&mut self, found: Vec<String>, problems: Vec<String>) {
        for f in found {
            match f.strip_prefix("warning: ") {
                Some(w) => self.warnings.push(w.to_owned()),
                None => self.found.push(f),
            }
        }
        self.problems.extend(problems);
    }
}

/// A report that lists what Rateline made in helpdesk `id`, and when.
pub async fn made(
    engine: &Engine,
    caller: &Caller,
    helpdesk: Helpdesk,
    id: &str,
) -> Result<SetupReport, EngineError> {
    let mut report = SetupReport::default();
    for m in engine.made_in_helpdesk(caller, helpdesk, id).await? {
        report.made.push(format!(
            "{} {}, made {}",
            m.kind,
            m.remote_id,
            m.made_at.format("%Y-%m-%d %H:%M UTC")
        ));
    }
    Ok(report)
}

/// A setup call the helpdesk refused or did not answer.
pub fn refused(message: String) -> EngineError {
    EngineError::Elsewhere {
        code: ErrorCode::HelpdeskRefused,
        message,
    }
}

/// A webhook to this Rateline that a person made in the helpdesk: Rateline leaves it be.
pub fn set_up_by_hand(helpdesk: Helpdesk, webhook: &str, url: &str) -> EngineError {
    EngineError::Conflict {
        code: ErrorCode::HelpdeskSetUpByHand,
        message: format!(
            "{} already has webhook {webhook} to {url}, which Rateline did not make: remove it \
             there to have Rateline make its own, or keep setting it up by hand",
            helpdesk.title()
        ),
    }
}

/// The kinds of things made, in the order they are removed: Zammad refuses to remove a
/// webhook that a trigger still names.
const REMOVAL_ORDER: [&str; 2] = ["trigger", "webhook"];

/// Removes what Rateline made in helpdesk `id`, with `remove(kind, id)`, triggers before
/// webhooks; forgets each one removed or gone already. What could not be removed, in
/// sentences that say what to remove by hand.
pub async fn take_down<F, Fut>(
    engine: &Engine,
    caller: &Caller,
    helpdesk: Helpdesk,
    id: &str,
    remove: F,
) -> Result<Vec<String>, EngineError>
where
    F: Fn(String, String) -> Fut,
    Fut: Future<Output = Result<Removed, String>>,
{
    let mut made = engine.made_in_helpdesk(caller, helpdesk, id).await?;
    made.sort_by_key(|m| REMOVAL_ORDER.iter().position(|k| *k == m.kind));
    let mut left = Vec::new();
    for m in made {
        match remove(m.kind.clone(), m.remote_id.clone()).await {
            Ok(Removed::Removed | Removed::Gone) => {
                engine
                    .note_made(caller, helpdesk, id, &m.kind, &m.remote_id, false)
                    .await?;
            }
            Err(e) => left.push(format!(
                "{} {} is still in {}: remove it there by hand ({e})",
                m.kind,
                m.remote_id,
                helpdesk.title()
            )),
        }
    }
    Ok(left)
}
