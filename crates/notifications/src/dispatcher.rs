//! The outbox dispatcher: claims queued emails, sends them, records outcomes.

use std::sync::Arc;
use std::time::Duration;

use domain::{ClaimedEmail, EmailOutbox, EmailSender, SendError, Timestamp};
use futures_util::StreamExt as _;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// How the dispatcher paces itself.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Emails claimed per round trip; all of them are sent at once, so none
    /// waits out its lease in a local queue.
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
            batch_size: 16,
            lease: Duration::from_secs(60),
            sweep_interval: Duration::from_secs(5),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// Drains the email outbox in the background.
pub struct OutboxDispatcher {
    outbox: Arc<dyn EmailOutbox>,
    sender: Arc<dyn EmailSender>,
    config: DispatcherConfig,
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
        Self { outbox, sender, config }
    }

    /// Runs until `shutdown` is cancelled. A batch being sent when that happens
    /// is finished first (each send is bounded by `send_timeout`); emails not
    /// yet claimed stay queued for the next start.
    ///
    /// Sending is at least once: a process that dies after the transport took
    /// an email but before the outcome was stored sends it again after the
    /// lease. The stable Message-ID lets mail systems drop such a duplicate.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(config = ?self.config, "email dispatcher started");
        // Earliest time a retry we scheduled becomes due.
        let mut next_retry: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            match self.outbox.claim_due(Timestamp::now(), self.config.batch_size, self.config.lease).await {
                Ok(batch) if !batch.is_empty() => {
                    if let Some(retry) = self.deliver(batch).await {
                        // A retry time already past was claimed in this round; only later ones count.
                        let pending = next_retry.filter(|known| *known > Instant::now());
                        next_retry = Some(pending.map_or(retry, |known| known.min(retry)));
                    }
                    // More may be waiting: claim again before sleeping.
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(error = %error, cause = ?std::error::Error::source(&error), "could not claim queued emails");
                }
            }
            let now = Instant::now();
            let mut wake_at = now + self.config.sweep_interval;
            if let Some(retry) = next_retry.filter(|retry| *retry > now) {
                wake_at = wake_at.min(retry);
            } else {
                next_retry = None;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.outbox.wait_for_new() => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        tracing::info!("email dispatcher stopped");
    }

    /// Sends a batch; returns when the earliest retry it scheduled is due.
    async fn deliver(&self, batch: Vec<ClaimedEmail>) -> Option<Instant> {
        futures_util::stream::iter(batch)
            .map(|email| {
                let span =
                    tracing::info_span!("send_email", order_id = %email.message.order_id, attempt = email.attempt);
                self.deliver_one(email).instrument(span)
            })
            .buffer_unordered(self.config.batch_size)
            .fold(None, |earliest: Option<Instant>, retry| async move {
                match (earliest, retry) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            })
            .await
    }

    async fn deliver_one(&self, email: ClaimedEmail) -> Option<Instant> {
        let outcome = match tokio::time::timeout(self.config.send_timeout, self.sender.send(&email.message)).await {
            Ok(result) => result,
            Err(_) => Err(SendError::Transient(format!("send timed out after {:?}", self.config.send_timeout))),
        };
        let (recorded, retry) = match outcome {
            Ok(()) => (self.outbox.record_sent(&email, Timestamp::now()).await, None),
            Err(error) => {
                let delay = match error {
                    SendError::Transient(_) if email.attempt < self.config.max_attempts => {
                        Some(backoff(email.attempt, self.config.backoff_base, self.config.backoff_max))
                    }
                    _ => None,
                };
                match delay {
                    Some(delay) => tracing::warn!(error = %error, retry_in = ?delay, "email send failed; will retry"),
                    None => tracing::error!(error = %error, "email send failed for good"),
                }
                let retry_at = delay.map(|delay| Timestamp::now().plus(delay));
                let recorded = self.outbox.record_failure(&email, &error.to_string(), retry_at).await;
                (recorded, delay.map(|delay| Instant::now() + delay))
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => tracing::warn!("claim was lost before the outcome was recorded (lease ran out)"),
            // The lease runs out and the email is claimed again: at least once.
            Err(error) => tracing::error!(error = %error, "could not record the email outcome"),
        }
        retry
    }
}

/// `base × 2^(attempt-1)`, capped at `max`, then scaled by a random factor in
/// [0.5, 1) so retries of many emails do not arrive in lock-step.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponential = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    exponential.min(max).mul_f64(0.5 + fastrand::f64() / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 1..=3u32 {
            let full = base * 2u32.pow(attempt - 1);
            let delay = backoff(attempt, base, max);
            assert!(delay >= full / 2 && delay < full, "attempt {attempt}: {delay:?}");
        }
        for _ in 0..100 {
            assert!(backoff(30, base, max) < max);
        }
    }
}
