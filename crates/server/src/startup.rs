//! Wiring: database, adapters, dispatchers and HTTP server; start and stop.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context as _;
use api::{AppState, MetricsExposition};
use domain::{
    DeliveryService, DestinationPolicy, EmailFormat, EmailSender, EventFormat, IssuedKey, KeyRing, KeyService,
    OrderRepository, OrderService, WebhookService,
};
use notifications::{
    CancellationToken, DestinationGuard, EmailTemplates, HandingOver, LogMailer, OutboxDispatcher, SmtpMailer,
    WebhookClient, WebhookDispatcher,
};
use persistence::Database;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, MailTransport, Settings};
use crate::http_server::{self, ServeOptions};
use crate::scrape::{self, Scrape};

/// How often each process reloads the API keys: a key made or revoked on one
/// process is honoured or refused by every other within this (the promise is 5 s).
const KEY_REFRESH: Duration = Duration::from_secs(2);

/// Connections of the webhook dispatcher: its claims and the outcomes of
/// the sends in flight.
const WEBHOOK_POOL_SIZE: u32 = 4;

/// A built, bound, not yet running service.
pub struct Application {
    port: u16,
    server: Server,
    dispatcher: JoinHandle<()>,
    webhook_dispatcher: JoinHandle<()>,
    /// Whether this process runs the dispatchers (MAIL_DISPATCHER).
    dispatches: bool,
    stop_dispatcher: CancellationToken,
    shutdown_timeout: Duration,
    /// The key made on this start, when the database had none.
    initial_key: Option<IssuedKey>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the service with the mail transport the settings name.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let sender: Arc<dyn EmailSender> = match &settings.mail {
            MailTransport::Log => Arc::new(LogMailer),
            MailTransport::Smtp(config) => Arc::new(SmtpMailer::new(config).context("could not set up SMTP")?),
        };
        Self::build_with_sender(settings, sender).await
    }

    /// Builds the service with a given mail transport (tests record emails).
    ///
    /// The address is taken first: one that cannot be listened on is a bad
    /// setting ([`ConfigError`]), found before the database is touched.
    pub async fn build_with_sender(settings: Settings, sender: Arc<dyn EmailSender>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind_addr)
            .map_err(|e| ConfigError::new("BIND_ADDR", &settings.bind_addr, format!("cannot listen there: {e}")))?;
        let database = Database::open(&settings.database, &settings.pool)
            .await
            .with_context(|| format!("could not open the database at {}", settings.database.redacted()))?;
        tracing::info!(backend = database.backend(), "database ready");

        let stop_dispatcher = CancellationToken::new();
        let ttl = settings.idempotency_ttl;
        // Background work (dispatcher, key janitor) has two connections of its
        // own; requests share DATABASE_POOL_SIZE across the HTTP workers.
        let background = database.with_own_pool("background", 2);
        // Events are written down in the API's JSON, by whichever adapter stores them.
        let events: Arc<dyn EventFormat> = Arc::new(api::EventJson);
        // Confirmation emails are written from the templates, text and HTML.
        let emails: Arc<dyn EmailFormat> = Arc::new(EmailTemplates);
        let mut handoff = None;
        let (dispatcher, webhook_dispatcher) = if settings.dispatch {
            let dispatcher =
                OutboxDispatcher::new(Arc::new(background.outbox(events.clone())), sender, settings.dispatcher.clone());
            handoff = Some(dispatcher.handoff());
            let client = WebhookClient::new(settings.webhook_client.clone()).context("could not set up webhooks")?;
            // A pool of its own: slow endpoints then never keep the emails'
            // outcomes waiting for a connection.
            let outbox = Arc::new(database.with_own_pool("webhooks", WEBHOOK_POOL_SIZE).webhook_outbox());
            let webhooks = WebhookDispatcher::new(outbox, Arc::new(client), settings.webhook_dispatcher.clone());
            (tokio::spawn(dispatcher.run(stop_dispatcher.clone())), tokio::spawn(webhooks.run(stop_dispatcher.clone())))
        } else {
            tracing::info!("MAIL_DISPATCHER=off: queued emails and webhooks are left to other processes");
            (tokio::spawn(async {}), tokio::spawn(async {}))
        };
        let janitor = OrderService::new(Arc::new(background.orders(events.clone()))).with_idempotency_ttl(ttl);
        tokio::spawn(purge_expired_keys(janitor, stop_dispatcher.clone()));

        // One ring for the whole process: every worker checks requests
        // against it, one task keeps it in step with the database.
        let ring = Arc::new(KeyRing::default());
        let keys = KeyService::new(Arc::new(background.api_keys()), ring.clone());
        keys.refresh().await.context("could not load the API keys")?;
        let initial_key = keys.issue_first().await.context("could not make the first API key")?;
        if let Some(issued) = &initial_key {
            // The one place the first key is shown; the log names its id only.
            println!("initial API key (shown once): {}", issued.secret);
            tracing::info!(key_id = %issued.key.key.id, "no API key existed: made one with every scope");
        }
        tokio::spawn(refresh_keys(keys, stop_dispatcher.clone()));

        let recorder = scrape::recorder()?;
        tokio::spawn(scrape::upkeep(recorder.clone(), stop_dispatcher.clone()));
        let scrape: Arc<dyn MetricsExposition> =
            Arc::new(Scrape::new(recorder, database.clone(), DeliveryService::new(Arc::new(background.deliveries()))));

        let port = listener.local_addr().context("listener has no address")?.port();
        let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        // Each HTTP worker gets its own share of the pool (see Database::with_own_pool).
        let per_worker = (settings.pool.max_size / u32::try_from(workers).unwrap_or(u32::MAX)).max(1);
        let body_timeout = settings.http.body_timeout;
        let mail_domain = match &settings.mail {
            MailTransport::Log => "localhost".to_owned(),
            MailTransport::Smtp(config) => config.domain().to_owned(),
        };
        let destinations: Arc<dyn DestinationPolicy> =
            Arc::new(DestinationGuard::new(settings.webhook_client.allow_private));
        let options =
            ServeOptions { limits: settings.http.clone(), workers, shutdown_timeout: settings.shutdown_timeout };
        let server = http_server::serve(listener, options, move || {
            // One pool per worker, shared by its repositories: DATABASE_POOL_SIZE bounds them all.
            let pool = database.with_own_pool("requests", per_worker);
            let mut repository: Arc<dyn OrderRepository> = Arc::new(pool.orders(events.clone()));
            if let Some(handoff) = &handoff {
                repository = Arc::new(HandingOver::new(repository, handoff.clone()));
            }
            let orders = OrderService::new(repository).with_idempotency_ttl(ttl).with_email_format(emails.clone());
            let keys = KeyService::new(Arc::new(pool.api_keys()), ring.clone());
            let webhooks = WebhookService::new(Arc::new(pool.webhook_endpoints()), destinations.clone());
            let deliveries = DeliveryService::new(Arc::new(pool.deliveries()));
            let mail_domain = mail_domain.clone();
            api::app(AppState {
                orders,
                keys,
                webhooks,
                deliveries,
                mail_domain,
                metrics: scrape.clone(),
                body_timeout,
            })
        })
        .context("could not start the HTTP server")?;
        tracing::info!(address = %settings.bind_addr, port, "listening");
        Ok(Self {
            port,
            server,
            dispatcher,
            webhook_dispatcher,
            dispatches: settings.dispatch,
            stop_dispatcher,
            shutdown_timeout: settings.shutdown_timeout,
            initial_key,
        })
    }

    /// The key made on this start (every scope), if the database had none.
    pub fn initial_key(&self) -> Option<&str> {
        self.initial_key.as_ref().map(|issued| issued.secret.as_str())
    }

    /// The port it listens on (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the HTTP server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM or SIGINT; see [`Application::run_until`].
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(async {
            let signal = shutdown_signal().await;
            tracing::info!(signal, "shutting down");
        })
        .await
    }

    /// Serves until `stop` resolves (or the server stops by other means), then
    /// drains: in-flight requests finish, then the dispatchers send what they
    /// hold, all within one shutdown timeout.
    ///
    /// If a dispatcher ends while the server runs (it only would by a bug),
    /// the whole process stops with an error rather than go on taking orders
    /// whose emails or webhooks nobody sends; they stay queued for the next start.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let mut dispatcher = self.dispatcher;
        let mut webhook_dispatcher = self.webhook_dispatcher;
        let mut failure = None;
        tokio::select! {
            result = &mut server => {
                result.context("HTTP server task failed")?.context("HTTP server failed")?;
            }
            () = stop => {}
            ended = &mut dispatcher, if self.dispatches => {
                tracing::error!(outcome = ?ended, "email dispatcher ended unexpectedly; stopping");
                failure = Some(anyhow::anyhow!("the email dispatcher ended unexpectedly"));
            }
            ended = &mut webhook_dispatcher, if self.dispatches => {
                tracing::error!(outcome = ?ended, "webhook dispatcher ended unexpectedly; stopping");
                failure = Some(anyhow::anyhow!("the webhook dispatcher ended unexpectedly"));
            }
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        if !server.is_finished() {
            handle.stop(true).await;
            let _ = server.await;
        }
        self.stop_dispatcher.cancel();
        if !dispatcher.is_finished() && tokio::time::timeout_at(deadline, dispatcher).await.is_err() {
            tracing::warn!(
                "email dispatcher did not stop in time; its claimed emails will be retried after their lease"
            );
        }
        if !webhook_dispatcher.is_finished() && tokio::time::timeout_at(deadline, webhook_dispatcher).await.is_err() {
            tracing::warn!(
                "webhook dispatcher did not stop in time; its claimed deliveries will be retried after their lease"
            );
        }
        tracing::info!("stopped");
        failure.map_or(Ok(()), Err)
    }
}

/// Keeps this process's key ring in step with the database (keys made or
/// revoked by other processes), and stores when keys were last used.
async fn refresh_keys(keys: KeyService, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(KEY_REFRESH) => {}
        }
        if let Err(error) = keys.refresh().await {
            tracing::warn!(error = %error, "could not refresh the API keys; the last known ones stay in force");
        }
    }
    // Last use seen since the last refresh.
    let _ = keys.refresh().await;
}

/// Forgets expired idempotency keys every few minutes, in batches.
async fn purge_expired_keys(orders: OrderService, stop: CancellationToken) {
    const EVERY: Duration = Duration::from_secs(600);
    loop {
        match orders.purge_expired_keys(1000).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired idempotency keys purged"),
            Err(error) => tracing::warn!(error = %error, "could not purge expired idempotency keys"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}

async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
