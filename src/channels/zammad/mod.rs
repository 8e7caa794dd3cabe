//! The Zammad channel: a Zammad trigger's webhook becomes Rateline's sessions, and the
//! rating request and its follow-ups are posted into the ticket as articles in the
//! ticket's own channel, through Zammad's API. docs/channels/zammad.md is the team's guide.
//!
//! - A ticket is one session, `zammad-{instance}-{ticket}`, opened at the first call seen for
//!   it, on the line its group maps to. The client is the ticket's customer.
//! - The operator is the ticket's owner: followed while it is open, fixed at the close. A
//!   change to a state of type `closed` (`closed`, or one a team named itself, read from
//!   `GET /api/v1/ticket_states`) closes the session, and the line's delay starts.
//! - The customer's articles count as the client writing (one before the request is due
//!   cancels it) unless they answer: a digit or emoji, "yes"/"no", the reasons' numbers,
//!   the comment. Zammad shows no buttons, so every answer is typed; an e-mail's reply is
//!   read without what it quotes. An answer is never taken as the client writing again.
//! - A ticket reopened and closed again is the same session, so it is asked at most once.
//!   When the customer's answer reopened it (Zammad reopens a closed ticket on a customer's
//!   follow-up), it is closed again, unless `close_after_answer = false`.
//! - Zammad's webhooks carry no time, so a captured call could be replayed: handling is
//!   idempotent, so a replay changes nothing that was not already so.
//!
//! The folder holds the channel whole: [`receive`] (the webhook), [`send`] (the
//! `ChannelAdapter`), `setup` (the helpdesk's side made by Rateline) and `catch_up` (what a
//! lost webhook call would have brought). Zammad's API is `rateline_adapters::zammad`.

mod catch_up;
pub mod receive;
pub mod send;
mod setup;

pub use receive::Zammad;
pub use send::{Instance, ZammadAdapter};
