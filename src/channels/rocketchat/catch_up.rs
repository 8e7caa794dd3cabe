//! The catch-up of the Rocket.Chat servers. Rocket.Chat tries a webhook call five times,
//! 20 s apart, and holds the tries in memory (`apps/meteor/app/livechat/server/lib/
//! webhooks.ts`): a hand-over or a close posted while Rateline was down for two minutes, or
//! while Rocket.Chat restarted, is never posted again. Each pass reads, as the Ratings user:
//!
//! - the open rooms it holds (`livechat/rooms?open=true&agents[]=…`): a hand-over no call
//!   brought is applied (its operator unknown: the room's list entry does not say who
//!   handed it over); a room whose request ended, or whose rating is complete, is closed;
//!   one the visitor took back (the request `cancelled`) is handed back again;
//! - the rooms closed since the last pass (`livechat/rooms?open=false&closedAt=…`): a close
//!   no call brought is applied, as the call would have been, and so is a visitor's close of
//!   a room the Ratings user held.

use rateline_adapters::rocketchat::{self as api, Event, ROOMS_PAGE};
use rateline_domain::{Channel, RequestStatus};
use serde_json::{Value, json};

use super::receive::{HELPDESK, RocketChat, close_room};
use super::send::Server;
use crate::channels::helpdesk::{self, CaughtUp};

/// At most this many pages of closed rooms a pass reads (2,500 rooms); the rest is read by
/// the next pass, from where this one ended.
const MAX_PAGES: usize = 50;

/// A room as `livechat/rooms` lists it (`IOmnichannelRoom`), read as the webhook event
/// `kind` would have carried it.
fn event_of(room: &Value, kind: &str) -> Option<Event> {
    let v = room.get("v")?;
    let body = json!({
        "_id": room.get("_id")?,
        "type": kind,
        "createdAt": room.get("ts"),
        "visitor": {
            "_id": v.get("_id")?,
            "token": v.get("token").cloned().unwrap_or(json!("")),
            "username": v.get("username"),
            "name": room.get("fname"),
        },
        "departmentId": room.get("departmentId"),
        "servedBy": room.get("servedBy"),
        "closedAt": room.get("closedAt"),
        "closedBy": room.get("closedBy"),
        "closer": room.get("closer"),
    });
    api::parse_event(body.to_string().as_bytes()).ok()
}

impl RocketChat {
    /// Catches up every connected server.
    pub async fn catch_up(&self) {
        helpdesk::catch_up_all(self, &self.servers, HELPDESK, |me, s| {
            Box::pin(me.catch_up_server(s))
        })
        .await
    }

    async fn catch_up_server(&self, s: &Server) -> Result<CaughtUp, String> {
        let store = |e: crate::store::StoreError| e.to_string();
        let started = self.engine.now();
        let mut caught = CaughtUp::default();
        for room in s.api.rooms_served_by(&s.settings.user_id).await? {
            let Some(event) = event_of(&room, "LivechatSessionForwarded") else {
                continue;
            };
            caught.conversations += 1;
            caught.events += usize::from(self.held_room(s, &event).await.map_err(store)?);
        }
        let Some(since) = helpdesk::catch_up_from(&self.engine, HELPDESK, &s.id)
            .await
            .map_err(store)?
        else {
            return Ok(caught);
        };
        let mut until = started;
        for page in 0..MAX_PAGES {
            let list = s.api.rooms_closed_since(since, page * ROOMS_PAGE).await?;
            for room in &list.rooms {
                let Some(event) = event_of(room, "LivechatSession") else {
                    continue;
                };
                caught.conversations += 1;
                let session_id = helpdesk::session_id(Channel::RocketChat, &s.id, &event.room_id);
                let opened = room
                    .get("ts")
                    .and_then(Value::as_str)
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc));
                let missed = helpdesk::close_missed(&self.engine, &session_id, opened, since)
                    .await
                    .map_err(store)?;
                // A visitor's close of a room the Ratings user held is applied too: the
                // question is then not written into the closed room.
                let left = event.closer == Some(api::Closer::Visitor);
                if (missed || left) && helpdesk::caught(self.closed(s, &event).await, HELPDESK)? {
                    caught.events += 1;
                }
            }
            if (page + 1) * ROOMS_PAGE >= list.total as usize || list.rooms.is_empty() {
                break;
            }
            if page + 1 == MAX_PAGES {
                tracing::warn!(server = %s.id, pages = MAX_PAGES, "a Rocket.Chat catch-up read as many closed rooms as it reads at once; the next one goes on from there");
                until = since + helpdesk::CATCH_UP_MARGIN;
            }
        }
        helpdesk::caught_up(&self.engine, HELPDESK, &s.id, until).await?;
        Ok(caught)
    }

    /// A room the Ratings user holds: handed over without a call Rateline got (applied now),
    /// done with (closed), or taken back by its visitor (handed back again). Whether
    /// something was done.
    async fn held_room(&self, s: &Server, event: &Event) -> Result<bool, crate::store::StoreError> {
        let session_id = helpdesk::session_id(Channel::RocketChat, &s.id, &event.room_id);
        if self.engine.conversation_of(&session_id).await?.is_none() {
            self.hand_over(s, event, None).await?;
            return Ok(true);
        }
        // Taken back by its visitor, the session is open again until the agent hands the
        // chat over again: a room still held then is one whose hand-back failed.
        let open = self.engine.session(&session_id).await.map_or_else(
            |e| match e {
                crate::engine::EngineError::Store(e) => Err(e),
                _ => Ok(false),
            },
            |session| Ok(session.closed_at.is_none()),
        )?;
        let found = self.engine.session_request_status(&session_id).await?;
        let taken_back = found.is_some_and(|(status, _)| status == RequestStatus::Cancelled);
        if taken_back && open {
            self.hand_back(s, &session_id, &event.room_id).await?;
            return Ok(true);
        }
        if let Some(comment) = self.closing_comment(found) {
            close_room(&s.api, &session_id, &event.room_id, &comment).await;
            return Ok(true);
        }
        Ok(false)
    }
}
