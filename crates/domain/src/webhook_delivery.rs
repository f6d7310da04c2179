//! The webhook outbox: deliveries of events to endpoints, queued with each
//! event and sent by a dispatcher, claimed and fenced like the emails.

use std::time::Duration;

use async_trait::async_trait;

use crate::delivery::DeliveryId;
use crate::event::{EventId, EventType};
use crate::ports::RepositoryError;
use crate::signature::SigningSecret;
use crate::time::Timestamp;
use crate::webhook::EndpointId;
use crate::webhook_url::WebhookUrl;

/// A queued webhook delivery claimed for one attempt, with what sending it takes.
#[derive(Debug, Clone)]
pub struct ClaimedWebhook {
    pub id: DeliveryId,
    pub event_id: EventId,
    pub event_type: EventType,
    pub endpoint_id: EndpointId,
    /// Where to, as the endpoint is now.
    pub url: WebhookUrl,
    /// The endpoint's secret, as it is now.
    pub secret: SigningSecret,
    /// The exact JSON body to send: the event as stored.
    pub payload: String,
    /// Which attempt this is (1 for the first). It fences the claim, as
    /// [`ClaimedEmail::attempt`](crate::ClaimedEmail) does.
    pub attempt: u32,
    /// When the claim runs out and anyone may claim the delivery again.
    pub lease_ends: Timestamp,
    /// When the delivery was committed, with its event.
    pub queued_at: Timestamp,
}

/// The webhook outbox: deliveries queued in the transaction of their event.
#[async_trait]
pub trait WebhookOutbox: Send + Sync + 'static {
    /// Claims up to `limit` deliveries due at `now` for `lease` (see
    /// [`EmailOutbox::claim_due`](crate::EmailOutbox::claim_due)). Only
    /// deliveries to enabled endpoints are claimed: a disabled endpoint's
    /// wait until it is enabled again. A delivery is not claimed while an
    /// earlier event of the same order to the same endpoint is still
    /// pending, so an endpoint gets each order's events in order.
    ///
    /// `in_flight` names the endpoint of each delivery the caller is sending
    /// now (an endpoint as often as it has deliveries in flight); no endpoint
    /// is claimed so much that it would then have more than `per_endpoint`,
    /// so one endpoint cannot take every slot.
    async fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease: Duration,
        per_endpoint: usize,
        in_flight: &[EndpointId],
    ) -> Result<Vec<ClaimedWebhook>, RepositoryError>;

    /// Records that the endpoint took the delivery. `false` if the claim
    /// was lost (its lease ran out and another attempt took over).
    async fn record_delivered(&self, delivery: &ClaimedWebhook, at: Timestamp) -> Result<bool, RepositoryError>;

    /// Records a failed attempt: due again at `retry_at`, or failed for good
    /// if `None`. `false` if the claim was lost.
    async fn record_failure(
        &self,
        delivery: &ClaimedWebhook,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, RepositoryError>;

    /// Resolves when a delivery may have been queued since the last call (a
    /// hint, as [`EmailOutbox::wait_for_new`](crate::EmailOutbox::wait_for_new)).
    async fn wait_for_new(&self);
}
