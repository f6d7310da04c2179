//! What the outbox dispatchers share: when a failed send is tried again, and
//! how an outcome is recorded while the database is failing.

use std::time::Duration;

use domain::{RepositoryError, SendError, Timestamp};

/// The first wait before recording an outcome again after the database
/// failed; short, so a delivery shows its outcome soon after the database is back.
const RECORD_RETRY_BASE: Duration = Duration::from_millis(50);
/// The longest wait between two tries to record an outcome.
const RECORD_RETRY_MAX: Duration = Duration::from_secs(1);

/// When failed sends are tried again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Delay before the first retry; doubled each attempt, with jitter.
    pub base: Duration,
    /// Longest delay between attempts.
    pub max: Duration,
}

impl Retry {
    /// How long to wait after `attempt` failed with `error`, or `None` to give
    /// up: a permanent error, or the last attempt.
    pub fn delay_after(&self, attempt: u32, error: &SendError) -> Option<Duration> {
        match error {
            SendError::Transient(_) if attempt < self.max_attempts => Some(backoff(attempt, self.base, self.max)),
            _ => None,
        }
    }
}

/// `base × 2^(attempt-1)`, capped at `max`, then scaled by a random factor in
/// [0.5, 1) so retries of many deliveries do not arrive in lock-step.
pub(crate) fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponential = base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    exponential.min(max).mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Records an outcome, trying again while the database fails, until the
/// claims' lease (`until`) is about to run out; past it the deliveries are
/// claimed and sent again. Each record is fenced by the attempt number, so
/// repeating one that did land changes nothing. `None` if it gave up.
pub(crate) async fn until_recorded<T, F>(what: &str, until: Timestamp, mut record: impl FnMut() -> F) -> Option<T>
where
    F: Future<Output = Result<T, RepositoryError>>,
{
    let mut failures = 0;
    loop {
        let error = match record().await {
            Ok(recorded) => {
                if failures > 0 {
                    tracing::info!(failures, "{what} recorded once the database answered again");
                }
                return Some(recorded);
            }
            Err(error) => error,
        };
        failures += 1;
        let delay = backoff(failures, RECORD_RETRY_BASE, RECORD_RETRY_MAX);
        if Timestamp::now().plus(delay) >= until {
            tracing::error!(error = %error, failures, "could not record {what} before the lease ran out; it will be claimed and sent again");
            return None;
        }
        if failures == 1 {
            tracing::warn!(error = %error, "could not record {what}; retrying until the lease runs out");
        }
        tokio::time::sleep(delay).await;
    }
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

    #[test]
    fn only_transient_errors_before_the_last_attempt_are_retried() {
        let retry = Retry { max_attempts: 3, base: Duration::from_millis(10), max: Duration::from_secs(1) };
        let transient = SendError::Transient("HTTP 500".to_owned());
        assert!(retry.delay_after(1, &transient).is_some());
        assert!(retry.delay_after(2, &transient).is_some());
        assert_eq!(retry.delay_after(3, &transient), None);
        assert_eq!(retry.delay_after(1, &SendError::Permanent("refused".to_owned())), None);
    }
}
