//! The webhook dispatcher: claims queued deliveries, posts them, records outcomes.
//!
//! Each delivery is sent in a slot of its own, up to `concurrency` at once,
//! and a slot that frees is filled by a new claim straight away: an endpoint
//! that is down or slow holds only the slots of its own deliveries, never a
//! batch of others, and never more than `endpoint_concurrency` of them, so
//! the other endpoints always have slots. It runs as a task apart from the
//! email dispatcher, so neither waits for the other.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use domain::{
    ClaimedWebhook, DeliveryKind, EndpointId, SendError, SigningSecret, Timestamp, WebhookOutbox, WebhookUrl,
};
use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::outbox_metrics;
use crate::retry::{Retry, until_recorded};
use crate::webhook_client::{Delivered, WebhookClient};

/// Posts one signed delivery; [`WebhookClient`] is the real one.
#[async_trait]
pub trait WebhookSender: Send + Sync + 'static {
    /// See [`WebhookClient::post`].
    async fn post(
        &self,
        url: &WebhookUrl,
        secret: &SigningSecret,
        event_id: &str,
        body: &str,
    ) -> Result<Delivered, SendError>;
}

#[async_trait]
impl WebhookSender for WebhookClient {
    async fn post(
        &self,
        url: &WebhookUrl,
        secret: &SigningSecret,
        event_id: &str,
        body: &str,
    ) -> Result<Delivered, SendError> {
        WebhookClient::post(self, url, secret, event_id, body).await
    }
}

/// How the webhook dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct WebhookDispatcherConfig {
    /// Deliveries in flight at most.
    pub concurrency: usize,
    /// Deliveries to one endpoint in flight at most; no more than `concurrency`.
    pub endpoint_concurrency: usize,
    /// Look for due deliveries at least this often even when nothing woke
    /// us (deliveries queued by another process, retries, endpoints enabled again).
    pub sweep_interval: Duration,
    /// Attempts before a delivery is marked failed.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// The client's own time-out; a send that outlives it by a second is
    /// cut off here, whatever the client does. A claim keeps other claimers
    /// away for twice that, so a send and the recording of its outcome end
    /// before anyone else may claim it; past it, a delivery whose sender
    /// died is claimed again.
    pub send_timeout: Duration,
}

impl Default for WebhookDispatcherConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            endpoint_concurrency: 4,
            sweep_interval: Duration::from_secs(5),
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(3600),
            send_timeout: Duration::from_secs(10),
        }
    }
}

/// Time given to the client to report its own time-out, with its message.
const TIMEOUT_GRACE: Duration = Duration::from_secs(1);

/// Drains the webhook outbox in the background.
pub struct WebhookDispatcher {
    shared: Arc<Shared>,
}

/// What every delivery's task needs.
struct Shared {
    outbox: Arc<dyn WebhookOutbox>,
    sender: Arc<dyn WebhookSender>,
    config: WebhookDispatcherConfig,
    lease: Duration,
}

impl std::fmt::Debug for WebhookDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookDispatcher").field("config", &self.shared.config).finish_non_exhaustive()
    }
}

impl WebhookDispatcher {
    pub fn new(
        outbox: Arc<dyn WebhookOutbox>,
        sender: Arc<dyn WebhookSender>,
        mut config: WebhookDispatcherConfig,
    ) -> Self {
        config.concurrency = config.concurrency.max(1);
        config.endpoint_concurrency = config.endpoint_concurrency.clamp(1, config.concurrency);
        let lease = (config.send_timeout + TIMEOUT_GRACE) * 2;
        Self { shared: Arc::new(Shared { outbox, sender, config, lease }) }
    }

    /// Runs until `stop` is cancelled; deliveries in flight then are finished
    /// (each bounded by the send time-out), the rest stay queued.
    ///
    /// Delivery is at least once: a process that dies after the endpoint took
    /// a delivery but before the outcome was stored sends it again after the
    /// lease, with the same event id, by which the receiver drops it.
    pub async fn run(self, stop: CancellationToken) {
        let shared = self.shared;
        let (config, lease) = (&shared.config, shared.lease);
        tracing::info!(config = ?config, lease = ?lease, "webhook dispatcher started");
        // Each delivery is a task of its own: it goes on (and gives its
        // database connection back) while this loop waits for a claim.
        let mut in_flight: JoinSet<Option<Instant>> = JoinSet::new();
        // Each task's endpoint, so a claim knows which endpoints are at their cap.
        let mut endpoints: HashMap<task::Id, EndpointId> = HashMap::new();
        // Look at the queue now (deliveries left by an earlier run), on a
        // wake-up, when a slot frees, at each sweep, and when a retry we
        // scheduled is due.
        let mut claim_now = true;
        let mut next_sweep = Instant::now() + config.sweep_interval;
        let mut next_retry: Option<Instant> = None;
        while !stop.is_cancelled() {
            let free = config.concurrency - in_flight.len();
            let now = Instant::now();
            if free > 0 && (claim_now || now >= next_sweep || next_retry.is_some_and(|retry| retry <= now)) {
                claim_now = false;
                next_sweep = now + config.sweep_interval;
                next_retry = next_retry.filter(|retry| *retry > now);
                let busy: Vec<EndpointId> = endpoints.values().copied().collect();
                let per_endpoint = config.endpoint_concurrency;
                match shared.outbox.claim_due(Timestamp::now(), free, lease, per_endpoint, &busy).await {
                    Ok(claimed) => {
                        // Every free slot taken: more may be waiting.
                        claim_now = claimed.len() == free;
                        for delivery in claimed {
                            let endpoint = delivery.endpoint_id;
                            let task = in_flight.spawn(Shared::deliver(shared.clone(), delivery));
                            endpoints.insert(task.id(), endpoint);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "could not claim queued webhook deliveries");
                    }
                }
            }
            let free = config.concurrency - in_flight.len();
            let wake_at = next_retry.map_or(next_sweep, |retry| retry.min(next_sweep));
            tokio::select! {
                () = stop.cancelled() => break,
                Some(ended) = in_flight.join_next_with_id(), if !in_flight.is_empty() => {
                    // A slot is free, and the next event of the order just
                    // sent may be due now.
                    claim_now = true;
                    next_retry = earliest_of(next_retry, retry_of(ended, &mut endpoints));
                    // Take every other send that ended too, so one claim fills their slots.
                    while let Some(ended) = in_flight.try_join_next_with_id() {
                        next_retry = earliest_of(next_retry, retry_of(ended, &mut endpoints));
                    }
                }
                () = shared.outbox.wait_for_new(), if free > 0 => claim_now = true,
                () = tokio::time::sleep_until(wake_at), if free > 0 => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        tracing::info!("webhook dispatcher stopped");
    }
}

/// When an ended delivery's task asked to be retried, its endpoint's slot
/// given back; a task that panicked asks nothing (its delivery is claimed
/// again after the lease).
fn retry_of(
    ended: Result<(task::Id, Option<Instant>), JoinError>,
    endpoints: &mut HashMap<task::Id, EndpointId>,
) -> Option<Instant> {
    match ended {
        Ok((id, retry)) => {
            endpoints.remove(&id);
            retry
        }
        Err(error) => {
            endpoints.remove(&error.id());
            tracing::error!(error = %error, "a webhook delivery task failed");
            None
        }
    }
}

impl Shared {
    /// One attempt: posts, records the outcome, and returns when the retry
    /// it scheduled is due, if it did. Its log lines carry the delivery's
    /// ids (never the secret).
    async fn deliver(self: Arc<Self>, delivery: ClaimedWebhook) -> Option<Instant> {
        let event_id = delivery.event_id.to_string();
        let span = tracing::info_span!(
            "webhook",
            delivery_id = %delivery.id,
            event_id,
            event_type = delivery.event_type.as_str(),
            endpoint_id = %delivery.endpoint_id,
            attempt = delivery.attempt,
        );
        self.attempt(&delivery, &event_id).instrument(span).await
    }

    async fn attempt(&self, delivery: &ClaimedWebhook, event_id: &str) -> Option<Instant> {
        let sending = self.sender.post(&delivery.url, &delivery.secret, event_id, &delivery.payload);
        let outcome = match tokio::time::timeout(self.config.send_timeout + TIMEOUT_GRACE, sending).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Transient(format!("timed out after {:?}", self.config.send_timeout))),
        };
        let (delay, recorded) = match outcome {
            Ok(Delivered { status }) => {
                tracing::info!(http_status = status, status = "sent", "webhook delivered");
                outbox_metrics::sent(DeliveryKind::Webhook, delivery.attempt, delivery.queued_at);
                let at = Timestamp::now();
                let recorded = until_recorded("the webhook outcome", delivery.lease_ends, || {
                    self.outbox.record_delivered(delivery, at)
                })
                .await;
                (None, recorded)
            }
            Err(error) => {
                let delay = self.retry().delay_after(delivery.attempt, &error);
                outbox_metrics::failed(DeliveryKind::Webhook, delivery.attempt, delay.is_some());
                match delay {
                    Some(delay) => tracing::warn!(
                        status = "pending", error = %error, retry_in = ?delay, "webhook delivery failed; will retry"
                    ),
                    None => tracing::error!(status = "failed", error = %error, "webhook delivery failed for good"),
                }
                let (retry_at, error) = (delay.map(|delay| Timestamp::now().plus(delay)), error.to_string());
                let recorded = until_recorded("the webhook outcome", delivery.lease_ends, || {
                    self.outbox.record_failure(delivery, &error, retry_at)
                })
                .await;
                (delay, recorded)
            }
        };
        if recorded == Some(false) {
            tracing::warn!("webhook claim was lost before its outcome was recorded (lease ran out)");
        }
        delay.map(|delay| Instant::now() + delay)
    }

    fn retry(&self) -> Retry {
        Retry { max_attempts: self.config.max_attempts, base: self.config.backoff_base, max: self.config.backoff_max }
    }
}

fn earliest_of(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use domain::{DeliveryId, EndpointId, EventId, EventType, RepositoryError};
    use tokio::sync::Notify;

    use super::*;

    /// A delivery as the fake table holds it.
    #[derive(Debug, Clone)]
    struct Row {
        delivery: ClaimedWebhook,
        state: &'static str,
        attempts: u32,
        available_at: Timestamp,
        last_error: Option<String>,
    }

    /// The outbox in memory, claimed and fenced as the SQL one is. Each
    /// path is an endpoint of its own.
    #[derive(Default)]
    struct FakeOutbox {
        rows: Mutex<Vec<Row>>,
        endpoints: Mutex<HashMap<String, EndpointId>>,
        queued: Notify,
    }

    impl FakeOutbox {
        fn queue(&self, path: &str) -> DeliveryId {
            let endpoint_id =
                *self.endpoints.lock().unwrap().entry(path.to_owned()).or_insert_with(EndpointId::generate);
            // Any fresh UUID will do.
            let id = DeliveryId::from(EventId::generate().as_uuid());
            let delivery = ClaimedWebhook {
                id,
                event_id: EventId::generate(),
                event_type: EventType::OrderCreated,
                endpoint_id,
                url: WebhookUrl::parse(&format!("http://hooks.example{path}")).unwrap(),
                secret: SigningSecret::generate().unwrap(),
                payload: format!(r#"{{"path":"{path}"}}"#),
                attempt: 0,
                lease_ends: Timestamp::now(),
                queued_at: Timestamp::now(),
            };
            let row = Row { delivery, state: "pending", attempts: 0, available_at: Timestamp::now(), last_error: None };
            self.rows.lock().unwrap().push(row);
            self.queued.notify_one();
            id
        }

        fn row(&self, id: DeliveryId) -> Row {
            self.rows.lock().unwrap().iter().find(|row| row.delivery.id == id).unwrap().clone()
        }

        fn fenced(&self, delivery: &ClaimedWebhook, change: impl FnOnce(&mut Row)) -> bool {
            let mut rows = self.rows.lock().unwrap();
            let row = rows.iter_mut().find(|row| {
                row.delivery.id == delivery.id && row.attempts == delivery.attempt && row.state == "pending"
            });
            row.map(change).is_some()
        }
    }

    #[async_trait]
    impl WebhookOutbox for FakeOutbox {
        async fn claim_due(
            &self,
            now: Timestamp,
            limit: usize,
            lease: Duration,
            per_endpoint: usize,
            in_flight: &[EndpointId],
        ) -> Result<Vec<ClaimedWebhook>, RepositoryError> {
            let mut held: HashMap<EndpointId, usize> = HashMap::new();
            for endpoint in in_flight {
                *held.entry(*endpoint).or_default() += 1;
            }
            let mut rows = self.rows.lock().unwrap();
            let due = rows
                .iter_mut()
                .filter(|row| row.state == "pending" && row.available_at <= now)
                .filter(|row| {
                    let held = held.entry(row.delivery.endpoint_id).or_default();
                    *held += 1;
                    *held <= per_endpoint
                })
                .take(limit);
            Ok(due
                .map(|row| {
                    row.attempts += 1;
                    row.available_at = now.plus(lease);
                    ClaimedWebhook { attempt: row.attempts, lease_ends: row.available_at, ..row.delivery.clone() }
                })
                .collect())
        }

        async fn record_delivered(&self, delivery: &ClaimedWebhook, _: Timestamp) -> Result<bool, RepositoryError> {
            Ok(self.fenced(delivery, |row| row.state = "sent"))
        }

        async fn record_failure(
            &self,
            delivery: &ClaimedWebhook,
            error: &str,
            retry_at: Option<Timestamp>,
        ) -> Result<bool, RepositoryError> {
            Ok(self.fenced(delivery, |row| {
                row.last_error = Some(error.to_owned());
                match retry_at {
                    Some(at) => row.available_at = at,
                    None => row.state = "failed",
                }
            }))
        }

        async fn wait_for_new(&self) {
            self.queued.notified().await;
        }
    }

    /// Answers by the URL's path: `/ok`, `/hang`, `/fail` (transient),
    /// `/refused` (permanent), `/flaky` (three transient failures, then ok).
    #[derive(Default)]
    struct FakeSender {
        posts: Mutex<Vec<(String, String)>>,
        failures: Mutex<HashMap<String, usize>>,
    }

    impl FakeSender {
        fn posts_to(&self, path: &str) -> Vec<String> {
            let posts = self.posts.lock().unwrap();
            posts.iter().filter(|(p, _)| p == path).map(|(_, event_id)| event_id.clone()).collect()
        }
    }

    #[async_trait]
    impl WebhookSender for FakeSender {
        async fn post(
            &self,
            url: &WebhookUrl,
            _: &SigningSecret,
            event_id: &str,
            _: &str,
        ) -> Result<Delivered, SendError> {
            let path = url.as_str().trim_start_matches("http://hooks.example").to_owned();
            self.posts.lock().unwrap().push((path.clone(), event_id.to_owned()));
            let failed = {
                let mut failures = self.failures.lock().unwrap();
                let count = failures.entry(path.clone()).or_default();
                *count += 1;
                *count
            };
            match path.as_str() {
                "/ok" => Ok(Delivered { status: 200 }),
                "/hang" => std::future::pending().await,
                "/refused" => Err(SendError::Permanent("refused".to_owned())),
                "/flaky" if failed > 3 => Ok(Delivered { status: 204 }),
                _ => Err(SendError::Transient("HTTP 500".to_owned())),
            }
        }
    }

    fn config(concurrency: usize) -> WebhookDispatcherConfig {
        WebhookDispatcherConfig {
            concurrency,
            endpoint_concurrency: concurrency,
            sweep_interval: Duration::from_secs(60),
            max_attempts: 3,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(50),
            send_timeout: Duration::from_secs(60),
        }
    }

    /// A running dispatcher over fakes; stopped (and not waited for) when dropped.
    struct Running {
        outbox: Arc<FakeOutbox>,
        sender: Arc<FakeSender>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    fn start(outbox: Arc<FakeOutbox>, concurrency: usize) -> Running {
        let sender = Arc::new(FakeSender::default());
        let dispatcher = WebhookDispatcher::new(outbox.clone(), sender.clone(), config(concurrency));
        let task = tokio::spawn(dispatcher.run(CancellationToken::new()));
        Running { outbox, sender, task }
    }

    async fn until(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn each_delivery_is_posted_once_and_recorded_sent() {
        let outbox = Arc::new(FakeOutbox::default());
        let ids: Vec<DeliveryId> = (0..5).map(|_| outbox.queue("/ok")).collect();
        let running = start(outbox, 2);
        until("every delivery sent", || ids.iter().all(|id| running.outbox.row(*id).state == "sent")).await;
        assert_eq!(running.sender.posts_to("/ok").len(), 5);
        assert!(ids.iter().all(|id| running.outbox.row(*id).attempts == 1));
    }

    #[tokio::test]
    async fn transient_failures_are_retried_with_the_same_event_then_failed() {
        let outbox = Arc::new(FakeOutbox::default());
        let id = outbox.queue("/fail");
        let running = start(outbox, 4);
        until("the delivery to fail", || running.outbox.row(id).state == "failed").await;
        let row = running.outbox.row(id);
        assert_eq!((row.attempts, row.last_error.as_deref()), (3, Some("HTTP 500")));
        let posts = running.sender.posts_to("/fail");
        assert_eq!(posts, vec![row.delivery.event_id.to_string(); 3]);
    }

    #[tokio::test]
    async fn a_failure_then_success_is_sent_on_the_attempt_that_worked() {
        let outbox = Arc::new(FakeOutbox::default());
        let id = outbox.queue("/flaky");
        let mut config = config(4);
        config.max_attempts = 8;
        let sender = Arc::new(FakeSender::default());
        let task =
            tokio::spawn(WebhookDispatcher::new(outbox.clone(), sender.clone(), config).run(CancellationToken::new()));
        until("the delivery to be sent", || outbox.row(id).state == "sent").await;
        assert_eq!(outbox.row(id).attempts, 4);
        assert_eq!(sender.posts_to("/flaky").len(), 4);
        task.abort();
    }

    #[tokio::test]
    async fn a_permanent_failure_is_not_retried() {
        let outbox = Arc::new(FakeOutbox::default());
        let id = outbox.queue("/refused");
        let running = start(outbox, 4);
        until("the delivery to fail", || running.outbox.row(id).state == "failed").await;
        assert_eq!(running.outbox.row(id).attempts, 1);
        assert_eq!(running.sender.posts_to("/refused").len(), 1);
    }

    #[tokio::test]
    async fn a_hanging_endpoint_holds_only_its_own_slot() {
        let outbox = Arc::new(FakeOutbox::default());
        let hanging = outbox.queue("/hang");
        let running = start(outbox.clone(), 2);
        until("the hanging post", || running.sender.posts_to("/hang").len() == 1).await;
        // Queued after the hang began: each goes out through the one slot left.
        let ids: Vec<DeliveryId> = (0..5).map(|_| outbox.queue("/ok")).collect();
        until("the others sent", || ids.iter().all(|id| running.outbox.row(*id).state == "sent")).await;
        assert_eq!(running.outbox.row(hanging).state, "pending");
    }

    #[tokio::test]
    async fn a_hanging_endpoint_with_a_backlog_holds_no_more_than_its_cap() {
        let outbox = Arc::new(FakeOutbox::default());
        // Due first: without a cap they would take every slot, for good.
        let hanging: Vec<DeliveryId> = (0..50).map(|_| outbox.queue("/hang")).collect();
        let ids: Vec<DeliveryId> = (0..5).map(|_| outbox.queue("/ok")).collect();
        let sender = Arc::new(FakeSender::default());
        let config = WebhookDispatcherConfig { endpoint_concurrency: 4, ..config(8) };
        let task =
            tokio::spawn(WebhookDispatcher::new(outbox.clone(), sender.clone(), config).run(CancellationToken::new()));
        until("the other endpoint's deliveries sent", || ids.iter().all(|id| outbox.row(*id).state == "sent")).await;
        // Time for any claim still to come.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(sender.posts_to("/hang").len(), 4, "the hanging endpoint holds its cap and no more");
        let claimed = hanging.iter().filter(|id| outbox.row(**id).attempts > 0).count();
        assert_eq!(claimed, 4);
        task.abort();
    }

    #[tokio::test]
    async fn stopping_finishes_what_is_in_flight_and_claims_nothing_more() {
        let outbox = Arc::new(FakeOutbox::default());
        let sender = Arc::new(FakeSender::default());
        let stop = CancellationToken::new();
        let dispatcher = WebhookDispatcher::new(outbox.clone(), sender.clone(), config(2));
        let task = tokio::spawn(dispatcher.run(stop.clone()));
        let first = outbox.queue("/ok");
        until("the first delivery", || outbox.row(first).state == "sent").await;
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.unwrap().unwrap();
        let later = outbox.queue("/ok");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(outbox.row(later).attempts, 0);
    }
}
