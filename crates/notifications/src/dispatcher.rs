//! The outbox dispatcher: claims queued emails, sends them, records outcomes.

use std::sync::Arc;
use std::time::Duration;

use domain::{ClaimedEmail, DeliveryKind, EmailOutbox, EmailSender, SendError, Timestamp};
use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::handoff::Handoff;
use crate::outbox_metrics;
use crate::retry::{Retry, until_recorded};

/// How the dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Emails claimed per round trip; all of them are sent at once, so none
    /// waits out its lease in a local queue. New orders' emails are handed
    /// over in memory while one batch's worth is not yet taken.
    pub batch_size: usize,
    /// How long a claim keeps other claimers away; past it, an email whose
    /// sender died is claimed again. Sends are cut off at half of it.
    pub lease: Duration,
    /// The safety net: look for due emails at least this often even when
    /// nothing woke us (emails queued by another process, retries).
    pub sweep_interval: Duration,
    /// Attempts before an email is marked failed.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest delay between attempts.
    pub backoff_max: Duration,
    /// Longest a single send may take before it counts as failed (at most
    /// half the lease, so a send never outlives its claim).
    pub send_timeout: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            lease: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(5),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            send_timeout: Duration::from_secs(30),
        }
    }
}

impl DispatcherConfig {
    fn retry(&self) -> Retry {
        Retry { max_attempts: self.max_attempts, base: self.backoff_base, max: self.backoff_max }
    }
}

/// Drains the email outbox in the background.
pub struct OutboxDispatcher {
    outbox: Arc<dyn EmailOutbox>,
    sender: Arc<dyn EmailSender>,
    config: DispatcherConfig,
    /// Emails this process claimed when it created them.
    handed: mpsc::Receiver<ClaimedEmail>,
    handoff: mpsc::Sender<ClaimedEmail>,
}

impl std::fmt::Debug for OutboxDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxDispatcher").field("config", &self.config).finish_non_exhaustive()
    }
}

impl OutboxDispatcher {
    /// A dispatcher over an outbox and a transport.
    pub fn new(outbox: Arc<dyn EmailOutbox>, sender: Arc<dyn EmailSender>, mut config: DispatcherConfig) -> Self {
        config.send_timeout = config.send_timeout.min(config.lease / 2);
        config.batch_size = config.batch_size.max(1);
        // Room for one batch waiting while one is sent: an email never waits
        // longer than a send before its own send starts.
        let (handoff, handed) = mpsc::channel(config.batch_size);
        Self { outbox, sender, config, handed, handoff }
    }

    /// For the create path ([`HandingOver`](crate::HandingOver)): emails of
    /// new orders, claimed at creation and handed over in memory, skip the
    /// claim query.
    pub fn handoff(&self) -> Handoff {
        Handoff { to_dispatcher: self.handoff.clone(), lease: self.config.lease }
    }

    /// Runs until `shutdown` is cancelled. A batch being sent when that happens
    /// is finished first (each send is bounded by `send_timeout`); emails not
    /// yet claimed stay queued for the next start.
    ///
    /// Sending is at least once: a process that dies after the transport took
    /// an email but before the outcome was stored sends it again after the
    /// lease. The stable Message-ID lets mail systems drop such a duplicate.
    pub async fn run(mut self, shutdown: CancellationToken) {
        tracing::info!(config = ?self.config, "email dispatcher started");
        // Look at the shared queue now (emails left by an earlier run), on a
        // wake-up, at each sweep, and when a retry we scheduled is due.
        let mut claim_now = true;
        let mut next_sweep = Instant::now() + self.config.sweep_interval;
        let mut next_retry: Option<Instant> = None;
        let mut carried: Option<ClaimedEmail> = None;
        loop {
            let mut batch: Vec<ClaimedEmail> = carried.take().into_iter().collect();
            while batch.len() < self.config.batch_size {
                match self.handed.try_recv() {
                    Ok(email) => batch.push(email),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if claim_now || now >= next_sweep || next_retry.is_some_and(|retry| retry <= now) {
                claim_now = false;
                next_sweep = now + self.config.sweep_interval;
                next_retry = next_retry.filter(|retry| *retry > now);
                match self.outbox.claim_due(Timestamp::now(), self.config.batch_size, self.config.lease).await {
                    Ok(claimed) => {
                        // A full batch: more may be waiting.
                        claim_now = claimed.len() == self.config.batch_size;
                        batch.extend(claimed);
                    }
                    Err(error) => {
                        tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "could not claim queued emails");
                    }
                }
            }
            if !batch.is_empty() {
                if let Some(retry) = self.deliver(batch).await {
                    next_retry = Some(next_retry.map_or(retry, |known| known.min(retry)));
                }
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
            let wake_at = next_retry.map_or(next_sweep, |retry| retry.min(next_sweep));
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(email) = self.handed.recv() => carried = Some(email),
                () = self.outbox.wait_for_new() => claim_now = true,
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        // Emails handed over but not yet sent were claimed by this process:
        // send them now rather than leave them to wait out their lease.
        self.handed.close();
        let mut rest = Vec::new();
        while let Ok(email) = self.handed.try_recv() {
            rest.push(email);
        }
        for batch in rest.chunks(self.config.batch_size) {
            self.deliver(batch.to_vec()).await;
        }
        tracing::info!("email dispatcher stopped");
    }

    /// Sends a batch at once, records the sent ones in one statement and each
    /// failure on its own; returns when the earliest retry it scheduled is due.
    async fn deliver(&self, claimed: Vec<ClaimedEmail>) -> Option<Instant> {
        // A claim that would run out before its send could finish is left
        // alone: someone may claim it again then, and two sends would race.
        let latest_start = Timestamp::now().plus(self.config.send_timeout);
        let (batch, expiring): (Vec<_>, Vec<_>) =
            claimed.into_iter().partition(|email| email.lease_ends > latest_start);
        if !expiring.is_empty() {
            tracing::warn!(emails = expiring.len(), "claims about to run out were left to be claimed again");
        }
        let outcomes: Vec<(ClaimedEmail, Result<(), SendError>)> = futures_util::stream::iter(batch)
            .map(|email| {
                let span =
                    tracing::info_span!("send_email", order_id = %email.message.order_id, attempt = email.attempt);
                async move {
                    let outcome = self.send(&email).await;
                    (email, outcome)
                }
                .instrument(span)
            })
            .buffer_unordered(self.config.batch_size)
            .collect()
            .await;
        let (sent, failed): (Vec<_>, Vec<_>) = outcomes.into_iter().partition(|(_, outcome)| outcome.is_ok());
        let sent: Vec<ClaimedEmail> = sent.into_iter().map(|(email, _)| email).collect();
        for email in &sent {
            outbox_metrics::sent(DeliveryKind::Email, email.attempt, email.queued_at);
        }
        let (sent_at, until) = (Timestamp::now(), sent.iter().map(|email| email.lease_ends).max());
        if let Some(until) = until {
            let recorded = until_recorded("sent emails", until, || self.outbox.record_sent(&sent, sent_at)).await;
            if let Some(recorded) = recorded.filter(|recorded| *recorded < sent.len()) {
                tracing::warn!(
                    lost = sent.len() - recorded,
                    "claims were lost before their outcome was recorded (lease ran out)"
                );
            }
        }
        let mut earliest: Option<Instant> = None;
        for (email, outcome) in failed {
            if let Err(error) = outcome {
                let span =
                    tracing::info_span!("send_email", order_id = %email.message.order_id, attempt = email.attempt);
                if let Some(retry) = self.record_failure(&email, error).instrument(span).await {
                    earliest = Some(earliest.map_or(retry, |known| known.min(retry)));
                }
            }
        }
        earliest
    }

    async fn send(&self, email: &ClaimedEmail) -> Result<(), SendError> {
        match tokio::time::timeout(self.config.send_timeout, self.sender.send(&email.message)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Transient(format!("send timed out after {:?}", self.config.send_timeout))),
        }
    }

    /// Schedules a retry (returned) or fails the email for good.
    async fn record_failure(&self, email: &ClaimedEmail, error: SendError) -> Option<Instant> {
        let delay = self.config.retry().delay_after(email.attempt, &error);
        outbox_metrics::failed(DeliveryKind::Email, email.attempt, delay.is_some());
        match delay {
            Some(delay) => tracing::warn!(error = %error, retry_in = ?delay, "email send failed; will retry"),
            None => tracing::error!(error = %error, "email send failed for good"),
        }
        let (retry_at, error) = (delay.map(|delay| Timestamp::now().plus(delay)), error.to_string());
        let recorded = until_recorded("the email outcome", email.lease_ends, || {
            self.outbox.record_failure(email, &error, retry_at)
        })
        .await;
        if recorded == Some(false) {
            tracing::warn!("claim was lost before the outcome was recorded (lease ran out)");
        }
        delay.map(|delay| Instant::now() + delay)
    }
}
