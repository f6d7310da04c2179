//! What the dispatchers report to `/metrics` of each delivery they finish,
//! labelled by outbox (`kind`) only: never an id or an address.

use domain::{DeliveryKind, Timestamp};

/// A delivery was sent on its `attempt`th try, `queued_at` being when it
/// was committed.
pub(crate) fn sent(kind: DeliveryKind, attempt: u32, queued_at: Timestamp) {
    let kind = kind.as_str();
    metrics::counter!("outbox_sent_total", "kind" => kind).increment(1);
    metrics::histogram!("outbox_delivery_attempts", "kind" => kind).record(f64::from(attempt));
    metrics::histogram!("outbox_delivery_latency_seconds", "kind" => kind)
        .record(Timestamp::now().since(queued_at).as_secs_f64());
}

/// An attempt failed: the delivery will be retried, or it was given up on
/// after `attempt` tries.
pub(crate) fn failed(kind: DeliveryKind, attempt: u32, will_retry: bool) {
    let kind = kind.as_str();
    if will_retry {
        metrics::counter!("outbox_retries_total", "kind" => kind).increment(1);
    } else {
        metrics::counter!("outbox_failed_total", "kind" => kind).increment(1);
        metrics::histogram!("outbox_delivery_attempts", "kind" => kind).record(f64::from(attempt));
    }
}

/// Gives the outbox metrics their help text and unit, and serves the
/// counters at zero before anything happens: a rate over "no data" is no
/// data, not zero, on a dashboard.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    for kind in [DeliveryKind::Email, DeliveryKind::Webhook].map(DeliveryKind::as_str) {
        for counter in ["outbox_sent_total", "outbox_failed_total", "outbox_retries_total"] {
            metrics::counter!(counter, "kind" => kind).increment(0);
        }
    }
    describe_counter!("outbox_sent_total", "Deliveries sent, by outbox.");
    describe_counter!("outbox_failed_total", "Deliveries given up on after their last attempt, by outbox.");
    describe_counter!("outbox_retries_total", "Failed attempts that will be retried, by outbox.");
    describe_histogram!("outbox_delivery_attempts", "Attempts a delivery took, sent or given up on, by outbox.");
    describe_histogram!(
        "outbox_delivery_latency_seconds",
        Unit::Seconds,
        "Time from a delivery's commit to its sending, by outbox."
    );
}
