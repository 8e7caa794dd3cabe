//! The Chatwoot channel: Chatwoot's account webhooks become Rateline's sessions, and the
//! rating request and its follow-ups are posted into the conversation the client already
//! sees, through Chatwoot's API. docs/chatwoot.md is the team's guide.
//!
//! - A conversation is one session, `chatwoot-{account}-{conversation}`, opened at the first
//!   event seen on a mapped inbox, on the line the inbox maps to. The client is the contact.
//! - The operator is the assignee: followed while the conversation is open, fixed at the
//!   resolve. A resolve closes the session, and the line's delay starts. A conversation
//!   held by an AgentBot (`meta.assignee_type: "AgentBot"`; bot and user ids are separate
//!   sequences) is credited to no person: to `chatwoot-bot-{id}`, which the report shows as
//!   the bot's.
//! - The client's messages count as the client writing (one before the request is due
//!   cancels it) unless they answer: a tapped button, a digit or emoji, "yes"/"no", the
//!   reasons, the comment. An answer is never taken as the client writing again.
//! - A reopened conversation resolved again is the same session, so it is asked at most
//!   once. When the client's answer reopened it (an inbox locked to a single conversation
//!   reopens a resolved one on any client message), it is resolved again, unless
//!   `resolve_after_answer = false`.
//! - An inbox that is not locked (Chatwoot's default) opens a new conversation for a client
//!   message after the resolve. Its first client message, when it answers the contact's
//!   waiting request on the same kind of inbox, makes it that request's answer conversation
//!   (`helpdesk_answer_tickets`): its answers go to the rated session, the dialogue speaks
//!   into it, it is resolved after each answer, and it is never rated itself.
//! - Taps come back as Chatwoot sends them: `message_updated` with `submitted_values` from
//!   the web widget, a new message carrying the button's value (Telegram) or its title
//!   (WhatsApp). A value is a signed payload, checked before anything is stored; a tap on
//!   another conversation's button is refused.
//!
//! The folder holds the channel whole: [`receive`] (the webhook), [`send`] (the
//! `ChannelAdapter`), `setup` (the helpdesk's side made by Rateline) and `catch_up` (what a
//! lost webhook call would have brought). Chatwoot's API is `rateline_adapters::chatwoot`.

mod catch_up;
pub mod receive;
pub mod send;
mod setup;

pub use receive::{CALLBACK_KEY_NAME, Chatwoot};
pub use send::{Account, ChatwootAdapter};
