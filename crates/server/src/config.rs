//! Configuration from the environment, checked once at start-up.

use std::net::ToSocketAddrs as _;
use std::time::Duration;

use notifications::{DispatcherConfig, SmtpConfig, SmtpConfigError, WebhookClientConfig, WebhookDispatcherConfig};
use persistence::{DatabaseUrl, PoolOptions, Synchronous};

/// Every environment variable the server reads (besides `RUST_LOG`, read by
/// the log filter). The README documents each; tests check the container
/// files use no other.
pub const VARIABLES: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "DATABASE_TIMEOUT_MS",
    "SQLITE_SYNCHRONOUS",
    "BIND_ADDR",
    "HTTP_WORKERS",
    "HTTP_HEAD_TIMEOUT_MS",
    "HTTP_BODY_TIMEOUT_MS",
    "HTTP_KEEP_ALIVE_SECS",
    "HTTP_MAX_CONNECTIONS",
    "LOG_FORMAT",
    "MAIL_TRANSPORT",
    "SMTP_URL",
    "MAIL_FROM",
    "SMTP_TIMEOUT_SECS",
    "MAIL_DISPATCHER",
    "MAIL_BATCH_SIZE",
    "MAIL_MAX_ATTEMPTS",
    "MAIL_RETRY_BASE_MS",
    "MAIL_SWEEP_INTERVAL_MS",
    "MAIL_LEASE_SECS",
    "WEBHOOK_ALLOW_PRIVATE",
    "WEBHOOK_TIMEOUT_MS",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_MS",
    "WEBHOOK_CONCURRENCY",
    "WEBHOOK_ENDPOINT_CONCURRENCY",
    "WEBHOOK_SWEEP_INTERVAL_MS",
    "IDEMPOTENCY_TTL_SECS",
    "SHUTDOWN_TIMEOUT_SECS",
];

/// A setting that cannot be used, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}{}", shown(.value))]
pub struct ConfigError {
    name: &'static str,
    /// `None` for a setting that may hold a password.
    value: Option<String>,
    reason: String,
}

fn shown(value: &Option<String>) -> String {
    value.as_ref().map_or_else(String::new, |value| format!(" (got {value:?})"))
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable, for terminals.
    Pretty,
    /// One JSON object per line, for collectors.
    Json,
}

/// Where confirmation emails go.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// `log`: one `mock email sent` line per email, nothing sent.
    Log,
    /// `smtp`: `SMTP_URL`, `MAIL_FROM`, `SMTP_TIMEOUT_SECS`.
    Smtp(SmtpConfig),
}

/// Time-outs and caps for client connections.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    /// `HTTP_HEAD_TIMEOUT_MS`: every request line and headers must arrive
    /// within this of their first byte (a connection's first: of its opening),
    /// or the connection is closed. At least one second: actix-http checks the
    /// first against a clock it refreshes every 500 ms.
    pub head_timeout: Duration,
    /// `HTTP_BODY_TIMEOUT_MS`: the body must arrive within this (408 and the
    /// connection closed otherwise).
    pub body_timeout: Duration,
    /// `HTTP_KEEP_ALIVE_SECS`: an idle keep-alive connection is closed after this.
    pub keep_alive: Duration,
    /// `HTTP_MAX_CONNECTIONS`: open connections at most, over all workers. At
    /// the limit the one that has waited longest for a request is closed to make
    /// room; only if none is waiting do new connections wait in the backlog.
    pub max_connections: usize,
}

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: which database, and so which backend.
    pub database: DatabaseUrl,
    /// `DATABASE_POOL_SIZE`, `DATABASE_TIMEOUT_MS`, `SQLITE_SYNCHRONOUS`.
    pub pool: PoolOptions,
    /// `BIND_ADDR`: host:port to listen on (port 0 picks a free one); it resolves.
    pub bind_addr: String,
    /// `HTTP_WORKERS`: worker threads; default one per core.
    pub workers: Option<usize>,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `HTTP_*`: guards against slow and abusive clients.
    pub http: HttpLimits,
    /// `MAIL_TRANSPORT` and its settings.
    pub mail: MailTransport,
    /// `MAIL_DISPATCHER`: whether this process sends queued emails (`on`), or
    /// only serves the API and leaves sending to other processes (`off`).
    pub dispatch: bool,
    /// `MAIL_*`: the dispatcher's pacing.
    pub dispatcher: DispatcherConfig,
    /// `WEBHOOK_ALLOW_PRIVATE`, `WEBHOOK_TIMEOUT_MS`: what deliveries may reach, and for how long.
    pub webhook_client: WebhookClientConfig,
    /// `WEBHOOK_*`: the webhook dispatcher's pacing. It runs where the email
    /// dispatcher does (`MAIL_DISPATCHER`).
    pub webhook_dispatcher: WebhookDispatcherConfig,
    /// `IDEMPOTENCY_TTL_SECS`: how long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
    /// `SHUTDOWN_TIMEOUT_SECS`: how long in-flight requests and sends may take to finish.
    pub shutdown_timeout: Duration,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings from any source of `NAME → value` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&lookup);
        let url = env.text("DATABASE_URL", "sqlite://data/orders.db");
        let database = DatabaseUrl::parse(&url).map_err(|e| ConfigError::secret("DATABASE_URL", e))?;
        let defaults = DispatcherConfig::default();
        let webhook_defaults = WebhookDispatcherConfig::default();
        let webhook_timeout = Duration::from_millis(env.number("WEBHOOK_TIMEOUT_MS", 10_000, 100..=600_000)?);
        let webhook_concurrency = env.number("WEBHOOK_CONCURRENCY", webhook_defaults.concurrency, 1..=1000)?;
        Ok(Self {
            database,
            pool: PoolOptions {
                max_size: env.number("DATABASE_POOL_SIZE", 10, 1..=1000)?,
                timeout: Duration::from_millis(env.number("DATABASE_TIMEOUT_MS", 3000, 1..=600_000)?),
                sqlite_synchronous: match env.text("SQLITE_SYNCHRONOUS", "full").as_str() {
                    "full" => Synchronous::Full,
                    "normal" => Synchronous::Normal,
                    other => return Err(ConfigError::new("SQLITE_SYNCHRONOUS", other, "must be full or normal")),
                },
            },
            bind_addr: env.address("BIND_ADDR", "127.0.0.1:8000")?,
            workers: env.optional_number("HTTP_WORKERS", 1..=1024)?,
            log_format: match env.text("LOG_FORMAT", "pretty").as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                other => return Err(ConfigError::new("LOG_FORMAT", other, "must be json or pretty")),
            },
            http: HttpLimits {
                head_timeout: Duration::from_millis(env.number("HTTP_HEAD_TIMEOUT_MS", 5000, 1000..=600_000)?),
                body_timeout: Duration::from_millis(env.number("HTTP_BODY_TIMEOUT_MS", 10_000, 100..=600_000)?),
                keep_alive: Duration::from_secs(env.number("HTTP_KEEP_ALIVE_SECS", 30, 0..=3600)?),
                max_connections: env.number("HTTP_MAX_CONNECTIONS", 10_000, 1..=1_000_000)?,
            },
            mail: match env.text("MAIL_TRANSPORT", "log").as_str() {
                "log" => MailTransport::Log,
                "smtp" => {
                    let url = (lookup)("SMTP_URL")
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| ConfigError::secret("SMTP_URL", "is required when MAIL_TRANSPORT=smtp"))?;
                    let from = env.text("MAIL_FROM", "Orders <orders@localhost>");
                    let timeout = Duration::from_secs(env.number("SMTP_TIMEOUT_SECS", 10, 1..=600)?);
                    let config = SmtpConfig::parse(&url, &from, timeout).map_err(|e| match e {
                        SmtpConfigError::Url(_) => ConfigError::secret("SMTP_URL", e),
                        SmtpConfigError::From(_) => ConfigError::new("MAIL_FROM", &from, e),
                    })?;
                    MailTransport::Smtp(config)
                }
                other => return Err(ConfigError::new("MAIL_TRANSPORT", other, "must be log or smtp")),
            },
            dispatch: match env.text("MAIL_DISPATCHER", "on").as_str() {
                "on" => true,
                "off" => false,
                other => return Err(ConfigError::new("MAIL_DISPATCHER", other, "must be on or off")),
            },
            dispatcher: DispatcherConfig {
                max_attempts: env.number("MAIL_MAX_ATTEMPTS", defaults.max_attempts, 1..=100)?,
                batch_size: env.number("MAIL_BATCH_SIZE", defaults.batch_size, 1..=1000)?,
                backoff_base: Duration::from_millis(env.number("MAIL_RETRY_BASE_MS", 1000, 1..=3_600_000)?),
                sweep_interval: Duration::from_millis(env.number("MAIL_SWEEP_INTERVAL_MS", 5000, 10..=3_600_000)?),
                lease: Duration::from_secs(env.number("MAIL_LEASE_SECS", 60, 1..=86_400)?),
                ..defaults
            },
            webhook_client: WebhookClientConfig {
                timeout: webhook_timeout,
                allow_private: match env.text("WEBHOOK_ALLOW_PRIVATE", "false").as_str() {
                    "true" => true,
                    "false" => false,
                    other => return Err(ConfigError::new("WEBHOOK_ALLOW_PRIVATE", other, "must be true or false")),
                },
                ..WebhookClientConfig::default()
            },
            webhook_dispatcher: WebhookDispatcherConfig {
                concurrency: webhook_concurrency,
                endpoint_concurrency: env.number(
                    "WEBHOOK_ENDPOINT_CONCURRENCY",
                    webhook_defaults.endpoint_concurrency.min(webhook_concurrency),
                    1..=webhook_concurrency,
                )?,
                max_attempts: env.number("WEBHOOK_MAX_ATTEMPTS", webhook_defaults.max_attempts, 1..=100)?,
                backoff_base: Duration::from_millis(env.number("WEBHOOK_RETRY_BASE_MS", 1000, 1..=3_600_000)?),
                sweep_interval: Duration::from_millis(env.number("WEBHOOK_SWEEP_INTERVAL_MS", 5000, 10..=3_600_000)?),
                send_timeout: webhook_timeout,
                ..webhook_defaults
            },
            idempotency_ttl: Duration::from_secs(env.number("IDEMPOTENCY_TTL_SECS", 86_400, 1..=31_536_000)?),
            shutdown_timeout: Duration::from_secs(env.number("SHUTDOWN_TIMEOUT_SECS", 10, 0..=3600)?),
        })
    }
}

impl ConfigError {
    pub(crate) fn new(name: &'static str, value: &str, reason: impl ToString) -> Self {
        Self { name, value: Some(value.to_owned()), reason: reason.to_string() }
    }

    /// For a setting that may hold a password: the reason must not quote it.
    pub(crate) fn secret(name: &'static str, reason: impl ToString) -> Self {
        Self { name, value: None, reason: reason.to_string() }
    }
}

struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn text(&self, name: &str, default: &str) -> String {
        (self.0)(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
    }

    /// `host:port`, resolved now so a bad one is found before anything starts.
    fn address(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let address = self.text(name, default);
        match address.to_socket_addrs().map(|mut resolved| resolved.next()) {
            Ok(Some(_)) => Ok(address),
            Ok(None) => Err(ConfigError::new(name, &address, "names no address")),
            Err(e) => {
                Err(ConfigError::new(name, &address, format!("must be host:port, the port from 0 to 65535: {e}")))
            }
        }
    }

    fn optional_number<T>(
        &self,
        name: &'static str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        let Some(raw) = (self.0)(name).filter(|v| !v.is_empty()) else { return Ok(None) };
        match raw.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::new(
                name,
                &raw,
                format!("must be a whole number from {} to {}", range.start(), range.end()),
            )),
        }
    }

    fn number<T>(&self, name: &'static str, default: T, range: std::ops::RangeInclusive<T>) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display,
    {
        Ok(self.optional_number(name, range)?.unwrap_or(default))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn variables_lists_exactly_what_is_read() {
        let read = std::cell::RefCell::new(Vec::new());
        Settings::from_lookup(|name| {
            read.borrow_mut().push(name.to_owned());
            (name == "MAIL_TRANSPORT")
                .then(|| "smtp".to_owned())
                .or_else(|| (name == "SMTP_URL").then(|| "smtp://127.0.0.1:25".to_owned()))
        })
        .unwrap();
        let mut read = read.into_inner();
        read.sort();
        read.dedup();
        let mut listed: Vec<String> = VARIABLES.iter().map(|v| (*v).to_owned()).collect();
        listed.sort();
        assert_eq!(read, listed);
    }

    #[test]
    fn defaults_work_on_a_laptop() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.database, DatabaseUrl::Sqlite("data/orders.db".into()));
        assert_eq!(s.bind_addr, "127.0.0.1:8000");
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.pool.max_size, 10);
        assert_eq!(s.pool.sqlite_synchronous, Synchronous::Full, "durable unless told otherwise");
    }

    #[test]
    fn postgres_urls_pick_postgres() {
        let s = settings(&[("DATABASE_URL", "postgres://u@h/db")]).unwrap();
        assert_eq!(s.database, DatabaseUrl::Postgres("postgres://u@h/db".into()));
    }

    #[test]
    fn smtp_needs_a_usable_url_and_never_echoes_it() {
        let err = settings(&[("MAIL_TRANSPORT", "smtp")]).unwrap_err().to_string();
        assert!(err.starts_with("SMTP_URL:"), "{err}");
        let err = settings(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "ftp://u:secret@x")]).unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
        let ok = settings(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtp://u:secret@127.0.0.1:2525")]).unwrap();
        assert!(matches!(ok.mail, MailTransport::Smtp(_)));
        assert!(!format!("{ok:?}").contains("secret"));
    }

    #[test]
    fn sqlite_may_be_told_to_flush_less() {
        let s = settings(&[("SQLITE_SYNCHRONOUS", "normal")]).unwrap();
        assert_eq!(s.pool.sqlite_synchronous, Synchronous::Normal);
        let err = settings(&[("SQLITE_SYNCHRONOUS", "off")]).unwrap_err().to_string();
        assert!(err.starts_with("SQLITE_SYNCHRONOUS:"), "{err}");
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = settings(&[("DATABASE_POOL_SIZE", "lots")]).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_POOL_SIZE:"), "{err}");
        let err = settings(&[("DATABASE_URL", "mysql://x")]).unwrap_err().to_string();
        assert!(err.starts_with("DATABASE_URL:"), "{err}");
        let err = settings(&[("LOG_FORMAT", "xml")]).unwrap_err().to_string();
        assert!(err.starts_with("LOG_FORMAT:"), "{err}");
        let err = settings(&[("BIND_ADDR", "127.0.0.1:99999")]).unwrap_err().to_string();
        assert!(err.starts_with("BIND_ADDR:") && err.contains("99999"), "{err}");
        assert!(settings(&[("DATABASE_POOL_SIZE", "0")]).is_err());
        let err = settings(&[("WEBHOOK_ALLOW_PRIVATE", "yes")]).unwrap_err().to_string();
        assert!(err.starts_with("WEBHOOK_ALLOW_PRIVATE:"), "{err}");
        let err =
            settings(&[("WEBHOOK_CONCURRENCY", "8"), ("WEBHOOK_ENDPOINT_CONCURRENCY", "9")]).unwrap_err().to_string();
        assert!(err.starts_with("WEBHOOK_ENDPOINT_CONCURRENCY:") && err.contains("from 1 to 8"), "{err}");
        let s = settings(&[("WEBHOOK_CONCURRENCY", "2")]).unwrap();
        assert_eq!(s.webhook_dispatcher.endpoint_concurrency, 2, "the default fits a smaller total");
    }

    #[test]
    fn webhooks_refuse_private_addresses_unless_told() {
        let s = settings(&[]).unwrap();
        assert!(!s.webhook_client.allow_private);
        assert_eq!(s.webhook_client.timeout, Duration::from_secs(10));
        assert_eq!(s.webhook_dispatcher.send_timeout, Duration::from_secs(10));
        assert_eq!((s.webhook_dispatcher.max_attempts, s.webhook_dispatcher.concurrency), (8, 32));
        assert_eq!(s.webhook_dispatcher.endpoint_concurrency, 4);
        let s = settings(&[("WEBHOOK_ALLOW_PRIVATE", "true"), ("WEBHOOK_TIMEOUT_MS", "250")]).unwrap();
        assert!(s.webhook_client.allow_private);
        assert_eq!(s.webhook_dispatcher.send_timeout, Duration::from_millis(250));
    }
}
