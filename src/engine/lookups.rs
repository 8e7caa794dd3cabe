//! What the other parts read (or note) through the engine rather than the store: the
//! channels' look-ups of the request an answer is for, the API keys and their scopes, the
//! report's queries, the server's own keys. Each is one store statement; they are here so
//! that the store has one caller above it, and what it is asked for is named in one place.

use chrono::{DateTime, Utc};
use rateline_domain::{Channel, HelpdeskConversation, LineId, PersonId, RequestId, SessionId};

use super::base::Engine;
use crate::store::Result;
use crate::store::{
    AnswerTarget, Breakdown, Directory, LineRecord, PlatformStatus, ReportFilter, SignIns,
};

impl Engine {
    /// The request an answer names, with its line and rating: what a tap or a reply is for.
    pub async fn answer_target(&self, request_id: &RequestId) -> Result<Option<AnswerTarget>> {
        self.store.ratings().answer_target(request_id).await
    }

    /// The newest request a client of `channel` was sent that is still open to an answer
    /// (what a typed reply answers).
    pub async fn latest_answer_target(
        &self,
        channel: Channel,
        client_id: &str,
    ) -> Result<Option<AnswerTarget>> {
        self.store
            .ratings()
            .latest_answer_target(channel, client_id)
            .await
    }

    /// The newest request of a session that reached its client, with its line and rating:
    /// what a reply in a helpdesk's conversation is about.
    pub async fn session_answer_target(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<AnswerTarget>> {
        self.store.ratings().session_answer_target(session_id).await
    }

    /// Notes which helpdesk conversation a session is.
    pub async fn note_conversation(
        &self,
        session_id: &SessionId,
        conversation: &HelpdeskConversation,
    ) -> Result<()> {
        self.store
            .helpdesks()
            .note_conversation(session_id, conversation, self.now())
            .await
    }

    /// The helpdesk conversation a session is, if it came from one.
    pub async fn conversation_of(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<HelpdeskConversation>> {
        self.store.helpdesks().conversation_of(session_id).await
    }

    /// Notes that session `session_id`'s conversation, noted as `from`, is now `to`; false
    /// when it was not `from`.
    pub async fn change_medium(
        &self,
        session_id: &SessionId,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        self.store
            .helpdesks()
            .change_medium(session_id, from, to)
            .await
    }

    /// Notes that the helpdesk's state of session `session_id`'s conversation as of
    /// `updated_at` is applied; false when a newer one was (the event is stale).
    pub async fn note_seen(
        &self,
        session_id: &SessionId,
        updated_at: DateTime<Utc>,
    ) -> Result<bool> {
        self.store
            .helpdesks()
            .note_seen(session_id, updated_at)
            .await
    }

    /// How far a helpdesk's account or instance is caught up, if it ever was.
    pub async fn caught_up_until(
        &self,
        helpdesk: &str,
        account: &str,
    ) -> Result<Option<DateTime<Utc>>> {
        self.store
            .helpdesks()
            .caught_up_until(helpdesk, account)
            .await
    }

    /// Notes how far a helpdesk's account or instance is caught up, and forgets the items
    /// applied before `forget_before`.
    pub async fn note_caught_up(
        &self,
        helpdesk: &str,
        account: &str,
        until: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<()> {
        self.store
            .helpdesks()
            .note_caught_up(helpdesk, account, until, forget_before)
            .await
    }

    /// Whether a helpdesk's message or article was applied already (by its webhook or a
    /// catch-up).
    pub async fn applied_item(&self, helpdesk: &str, account: &str, item: &str) -> Result<bool> {
        self.store
            .helpdesks()
            .applied_item(helpdesk, account, item)
            .await
    }

    /// Notes that a helpdesk's message or article was applied.
    pub async fn note_applied_item(&self, helpdesk: &str, account: &str, item: &str) -> Result<()> {
        self.store
            .helpdesks()
            .note_applied_item(helpdesk, account, item, self.now())
            .await
    }

    /// Holds a helpdesk's webhook call until `conversation`'s hand-over is applied.
    pub async fn hold_event(
        &self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
        item: &str,
        body: &str,
    ) -> Result<()> {
        self.store
            .helpdesks()
            .hold_event(helpdesk, account, conversation, item, body, self.now())
            .await
    }

    /// The calls held for `conversation`, oldest first: `(item, body)`.
    pub async fn held_events(
        &self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
    ) -> Result<Vec<(String, String)>> {
        self.store
            .helpdesks()
            .held_events(helpdesk, account, conversation)
            .await
    }

    /// Lets go of a held call, once applied.
    pub async fn release_event(&self, helpdesk: &str, account: &str, item: &str) -> Result<()> {
        self.store
            .helpdesks()
            .release_event(helpdesk, account, item)
            .await
    }

    /// The status of session `session_id`'s newest request and when it last changed, if it
    /// has one.
    pub async fn session_request_status(
        &self,
        session_id: &SessionId,
    ) -> Result<Option<(rateline_domain::RequestStatus, DateTime<Utc>)>> {
        self.store.requests().status_of_session(session_id).await
    }

    /// Notes a ticket a helpdesk opened for an answer to session `session_id`'s request.
    pub async fn note_answer_ticket(
        &self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
        session_id: &SessionId,
    ) -> Result<()> {
        self.store
            .helpdesks()
            .note_answer_ticket(helpdesk, account, conversation, session_id, self.now())
            .await
    }

    /// The session whose answer a helpdesk's ticket carries, if it was opened for one.
    pub async fn answer_ticket_of(
        &self,
        helpdesk: &str,
        account: &str,
        conversation: &str,
    ) -> Result<Option<SessionId>> {
        self.store
            .helpdesks()
            .answer_ticket_of(helpdesk, account, conversation)
            .await
    }

    /// Credits an open session to another operator, or to nobody (a helpdesk's assignee
    /// changed or was removed).
    pub async fn assign_operator(
        &self,
        session_id: &SessionId,
        operator_id: Option<&str>,
    ) -> Result<bool> {
        self.store
            .helpdesks()
            .assign_operator(session_id, operator_id)
            .await
    }

    /// A web chat session's newest request, with its line and rating.
    pub async fn webchat_target(&self, session_id: &SessionId) -> Result<Option<AnswerTarget>> {
        self.store.webchat().webchat_target(session_id).await
    }

    /// A client's message that reached Rateline from the platform itself (Meta's
    /// webhooks): it opens the client's 24-hour window, whatever session they are in.
    pub async fn client_wrote(
        &self,
        channel: Channel,
        client_id: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.store
            .sessions()
            .touch_client_message(channel, client_id, at)
            .await
    }

    /// A platform's report on a message Rateline sent (WhatsApp's statuses); the request's
    /// id and new status when it changed something.
    pub async fn platform_status(
        &self,
        message_id: &str,
        news: &PlatformStatus,
    ) -> Result<Option<(String, rateline_domain::RequestStatus)>> {
        let changed = self
            .store
            .requests()
            .record_whatsapp_status(message_id, news, self.now())
            .await?;
        if changed.is_some() {
            self.events_queued().await;
        }
        Ok(changed)
    }

    /// The server's key `name`, made from `candidate` at the first start and kept in the
    /// store, so that every process shares it.
    pub async fn server_key(&self, name: &str, candidate: &str) -> Result<String> {
        self.store
            .webchat()
            .server_key(name, candidate, self.now())
            .await
    }

    /// The line and operator of rating `id`, for deciding who may see it.
    pub async fn rating_scope(&self, id: &str) -> Result<Option<(LineId, Option<PersonId>)>> {
        self.store.keys().rating_scope(id).await
    }

    /// The line and operator of rating request `id`, for deciding who may see it.
    pub async fn request_scope(
        &self,
        id: &RequestId,
    ) -> Result<Option<(LineId, Option<PersonId>)>> {
        self.store.keys().request_scope(id).await
    }

    /// Whether person `id` exists.
    pub async fn person_exists(&self, id: &PersonId) -> Result<bool> {
        Ok(self.store.people().person_reachability(id).await?.is_some())
    }

    /// Every line, by id.
    pub async fn lines(&self) -> Result<Vec<LineRecord>> {
        self.store.lines().list().await
    }

    /// The id of every line, for the helpdesks' checks of where their chats go.
    pub async fn line_ids(&self) -> Result<Vec<String>> {
        Ok(self
            .lines()
            .await?
            .into_iter()
            .map(|l| l.id.into())
            .collect())
    }

    /// The report's funnel and distribution of values for `filter`.
    pub async fn breakdown(&self, filter: &ReportFilter) -> Result<Breakdown> {
        self.store.reports().breakdown(filter, self.now()).await
    }

    /// Who is who: people's names and zones, lines' names.
    pub async fn directory(&self) -> Result<Directory> {
        self.store.people().directory().await
    }

    /// Closes the store's connections (a command is done).
    pub async fn close_store(&self) {
        self.store.close().await;
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> Result<()> {
        self.store.ping().await
    }

    /// Requests waiting to be sent: the queue's depth.
    pub async fn queue_depth(&self) -> Result<i64> {
        self.store.requests().queue_depth().await
    }

    /// The dashboard's sign-ins: a named handle on the store's `sign_ins` table, for the
    /// session layer, whose purpose is only that.
    pub fn sign_ins(&self) -> SignIns {
        self.store.sign_ins()
    }
}
