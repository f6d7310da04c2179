//! The database URL: its scheme picks the backend.

use std::path::PathBuf;

/// Which database a URL points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// `postgres://…` or `postgresql://…`, kept as given.
    Postgres(String),
    /// `sqlite://path`, `sqlite:path` or `sqlite:///absolute/path`: the file path.
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    /// The URL for messages: user, hosts, port and database of a PostgreSQL
    /// URL, never its password or options (which may carry one).
    pub fn redacted(&self) -> String {
        match self {
            DatabaseUrl::Sqlite(path) => format!("sqlite://{}", path.display()),
            // A raw `@` in a password makes the rest look like a host: show nothing then.
            DatabaseUrl::Postgres(url) => match url.parse::<tokio_postgres::Config>() {
                Ok(config) if !config.get_hosts().iter().any(|h| format!("{h:?}").contains('@')) => {
                    let hosts: Vec<String> = config
                        .get_hosts()
                        .iter()
                        .map(|host| match host {
                            tokio_postgres::config::Host::Tcp(name) => name.clone(),
                            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                        })
                        .collect();
                    let port = config.get_ports().first().map_or(String::new(), |p| format!(":{p}"));
                    format!(
                        "postgres://{}@{}{port}/{}",
                        config.get_user().unwrap_or(""),
                        hosts.join(","),
                        config.get_dbname().unwrap_or("")
                    )
                }
                _ => "postgres://(a URL that does not parse)".to_owned(),
            },
        }
    }
}

/// A database URL that cannot be used. It never holds the URL, which may
/// hold a password.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedUrl {
    /// Neither backend's scheme; what is kept describes the scheme only.
    #[error("must start with postgres://, postgresql:// or sqlite:// (got {0})")]
    Scheme(String),
    /// `sqlite:` with no file, or `:memory:`, which would lose every order.
    #[error("sqlite:// needs the path of a file")]
    NoFile,
    /// A PostgreSQL URL that does not parse. tokio-postgres names the option
    /// at fault, never its value.
    #[error("not a usable PostgreSQL URL: {0}")]
    Postgres(String),
    /// A PostgreSQL URL whose host holds an `@`: a password with a raw `@`.
    #[error("not a usable PostgreSQL URL: its host holds an '@' (write an '@' in the password as %40)")]
    AtInHost,
}

impl DatabaseUrl {
    /// Reads a URL; the scheme picks the backend.
    pub fn parse(url: &str) -> Result<Self, UnsupportedUrl> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let config = url.parse::<tokio_postgres::Config>().map_err(|e| {
                // Its message is only "invalid connection string"; the cause names the option.
                UnsupportedUrl::Postgres(
                    std::error::Error::source(&e).map_or_else(|| e.to_string(), ToString::to_string),
                )
            })?;
            if config.get_hosts().iter().any(|host| format!("{host:?}").contains('@')) {
                return Err(UnsupportedUrl::AtInHost);
            }
            return Ok(Self::Postgres(url.to_owned()));
        }
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            return match path {
                "" | ":memory:" => Err(UnsupportedUrl::NoFile),
                path => Ok(Self::Sqlite(PathBuf::from(path))),
            };
        }
        let scheme = url.split_once("://").map(|(scheme, _)| scheme).filter(|scheme| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        Err(UnsupportedUrl::Scheme(scheme.map_or_else(|| "no scheme".to_owned(), |s| format!("{s}://…"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacted_urls_show_no_password() {
        for url in [
            "postgres://orders:s3cr%40t@db.example:5433/orders",
            "postgres://db.example/orders?password=s3cret&user=orders",
        ] {
            let shown = DatabaseUrl::parse(url).unwrap().redacted();
            assert!(!shown.contains("s3c"), "{url} → {shown}");
            assert!(shown.contains("db.example") && shown.ends_with("/orders"), "{url} → {shown}");
        }
        let malformed = DatabaseUrl::Postgres("postgres://orders:p@ss@db.example/orders".into()).redacted();
        assert!(!malformed.contains("ss@"), "{malformed}");
        assert_eq!(DatabaseUrl::parse("sqlite://data/x.db").unwrap().redacted(), "sqlite://data/x.db");
    }

    #[test]
    fn unusable_urls_are_described_without_their_secrets() {
        for (url, shown) in [
            ("postgress://orders:s3cret@db.example/orders", "postgress://…"),
            ("orders:s3cret@db.example/orders", "no scheme"),
            ("s3cret", "no scheme"),
            ("postgres://orders:s3cret@db.example:port/orders", "`port`"),
            ("postgres://orders:p@s3cret@db.example/orders", "%40"),
            ("sqlite::memory:", "path of a file"),
        ] {
            let error = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(error.contains(shown) && !error.contains("s3c"), "{url} → {error}");
        }
    }
}
