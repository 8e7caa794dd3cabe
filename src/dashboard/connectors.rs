//! `/dashboard/connectors` (admins): each helpdesk account and instance this server rates
//! the conversations of (Chatwoot, Zammad), with the webhook URL to give it, which inboxes
//! or groups go to which line, and who is credited; as `GET /v1/connectors`. They are
//! configured in the file, so the page reads them and says where to change them.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::page::{self, refused};
use super::visit::{Visit, viewer};
use crate::http::AppState;

const TITLE: &str = "Helpdesks";

/// `GET /dashboard/connectors`.
pub async fn list(State(state): State<AppState>, Visit { caller, .. }: Visit) -> Response {
    if let Err(e) = caller.admin("see the helpdesk connectors") {
        return refused(TITLE, e.into());
    }
    let viewer = viewer(&state, &caller).await;
    let connectors = state.connectors();
    page::page(
        TITLE,
        &viewer,
        html! {
            p.muted {
                "Helpdesks are connected in the configuration file ([[chatwoot]], [[zammad]]); change them there and restart. "
                "docs/channels/chatwoot.md and docs/channels/zammad.md take a team from nothing to the first rating."
            }
            @if connectors.is_empty() {
                p #no-connectors { "No helpdesk is connected to this server." }
            }
            @for c in &connectors {
                section.connector #{ "connector-" (c.helpdesk) "-" (c.id) } {
                    h2 { @if c.helpdesk == "chatwoot" { "Chatwoot account " } @else { "Zammad instance " } (c.id) }
                    dl {
                        dt { "Address" } dd { (c.url) }
                        dt { "Webhook URL" } dd { code.webhook-url { (c.webhook_url) } }
                        dt { "Calls" } dd {
                            @if c.signed { "must be signed" } @else { "may be unsigned (allow_unsigned): anyone who can reach the URL can post events" }
                        }
                        dt { @if c.helpdesk == "chatwoot" { "Inboxes" } @else { "Groups" } }
                        dd {
                            @for (id, line) in &c.lines { (id) " → " (viewer.line(line)) br; }
                            "others → " code { (c.default_line) } ", when that line exists"
                        }
                        dt { "Credited to" }
                        dd {
                            @for (id, person) in &c.agents { (id) " → " (viewer.person(person)) br; }
                            "others → " code { (c.default_operator) }
                        }
                        dt { "Note for agents" } dd { @if c.note_for_agents { "each rating" } @else { "none" } }
                        dt { "Reopened by the answer" }
                        dd { @if c.closed_again { "closed again" } @else { "left open" } }
                    }
                }
            }
        },
    )
    .into_response()
}
