//! What `/metrics` serves: the process-wide Prometheus recorder every crate
//! records into, and the state read fresh at each scrape (pools, outbox
//! backlogs, the process), which no event reports.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context as _;
use domain::{DeliveryService, Timestamp};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use persistence::Database;
use tokio_util::sync::CancellationToken;

/// How long a scrape waits for the backlog query; a database that does not
/// answer leaves the backlog gauges at their last values.
const BACKLOG_TIMEOUT: Duration = Duration::from_secs(2);

/// How often recorded histogram samples are folded into their buckets when
/// nobody scrapes: without it they would pile up in memory.
const UPKEEP: Duration = Duration::from_secs(5);

/// Request and database latencies: half a millisecond to ten seconds.
const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Commit to delivery: from a handed-over email's milliseconds to a webhook
/// retried for a day.
const DELIVERY_BUCKETS: &[f64] =
    &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4.0 * 3600.0, 24.0 * 3600.0];

const ATTEMPT_BUCKETS: &[f64] = &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0];

/// The recorder of this process, installed on first use: tests build many
/// applications in one process, at the same time, and there is one global
/// recorder.
pub fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE.get_or_init(|| install().map_err(|error| format!("{error:#}"))).clone().map_err(anyhow::Error::msg)
}

fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("outbox_delivery_latency_seconds".into()), DELIVERY_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full("outbox_delivery_attempts".into()), ATTEMPT_BUCKETS)?
        .install_recorder()
        .context("could not install the metrics recorder")?;
    api::describe_metrics();
    persistence::describe_metrics();
    notifications::describe_metrics();
    metrics::describe_gauge!("outbox_pending", "Deliveries not yet sent nor given up on, by outbox.");
    metrics::describe_gauge!(
        "outbox_oldest_pending_age_seconds",
        metrics::Unit::Seconds,
        "How long the oldest pending delivery has waited since its commit, by outbox (0 when none waits)."
    );
    metrics_process::Collector::default().describe();
    Ok(handle)
}

/// Folds histogram samples into buckets every few seconds until `stop`.
pub async fn upkeep(handle: PrometheusHandle, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(UPKEEP) => handle.run_upkeep(),
        }
    }
}

/// Renders `/metrics` after reading the state that is sampled, not counted.
pub struct Scrape {
    handle: PrometheusHandle,
    database: Database,
    deliveries: DeliveryService,
    process: metrics_process::Collector,
}

impl std::fmt::Debug for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrape").finish_non_exhaustive()
    }
}

impl Scrape {
    /// `deliveries` should use a pool of its own, so a scrape never waits
    /// behind requests for a connection.
    pub fn new(handle: PrometheusHandle, database: Database, deliveries: DeliveryService) -> Self {
        Self { handle, database, deliveries, process: metrics_process::Collector::default() }
    }

    async fn record_backlog(&self) {
        match tokio::time::timeout(BACKLOG_TIMEOUT, self.deliveries.backlog()).await {
            Ok(Ok(backlogs)) => {
                let now = Timestamp::now();
                for backlog in backlogs {
                    let kind = backlog.kind.as_str();
                    metrics::gauge!("outbox_pending", "kind" => kind).set(backlog.pending as f64);
                    metrics::gauge!("outbox_oldest_pending_age_seconds", "kind" => kind)
                        .set(backlog.oldest_age(now).as_secs_f64());
                }
            }
            Ok(Err(error)) => tracing::warn!(error = %error, "could not read the outbox backlog for /metrics"),
            Err(_) => tracing::warn!(timeout = ?BACKLOG_TIMEOUT, "the outbox backlog query for /metrics timed out"),
        }
    }
}

#[async_trait::async_trait]
impl api::MetricsExposition for Scrape {
    async fn render(&self) -> String {
        self.record_backlog().await;
        self.database.record_pool_metrics();
        self.process.collect();
        self.handle.render()
    }
}
