//! `orders-server keys create|list|revoke`: the key use cases on the
//! database of `DATABASE_URL`, for an operator at a shell.

use std::sync::Arc;

use anyhow::Context as _;
use domain::{KeyRing, KeyService, Scope};
use persistence::Database;

use crate::cli::Command;
use crate::config::Settings;

/// Runs one key command. Only a new key goes to stdout, alone, so that
/// `KEY=$(orders-server keys create …)` works; everything else is for people.
pub async fn run(command: Command, settings: &Settings) -> anyhow::Result<()> {
    let database = Database::open(&settings.database, &settings.pool)
        .await
        .with_context(|| format!("could not open the database at {}", settings.database.redacted()))?;
    let keys = KeyService::new(Arc::new(database.api_keys()), Arc::new(KeyRing::default()));
    match command {
        Command::CreateKey { name, scopes } => {
            let issued = keys.issue(name, scopes).await.context("could not issue the key")?;
            println!("{}", issued.secret);
            eprintln!("issued key {} (shown once; only its hash is kept)", issued.key.key.id);
        }
        Command::ListKeys => {
            for key in keys.list().await.context("could not list the keys")? {
                let scopes: Vec<&str> = key.scopes.iter().map(Scope::as_str).collect();
                let revoked = key.revoked_at.map_or("-".to_owned(), |at| at.to_string());
                let used = key.last_used_at.map_or("-".to_owned(), |at| at.to_string());
                println!(
                    "{}  {}  created {}  last used {used}  revoked {revoked}  {}",
                    key.id,
                    scopes.join(","),
                    key.created_at,
                    key.name.as_str()
                );
            }
        }
        Command::RevokeKey(id) => {
            let key = keys.revoke(&id).await.context("could not revoke the key")?;
            eprintln!("revoked key {} ({}); every server refuses it within 5 s", key.id, key.name.as_str());
        }
        Command::Serve | Command::Healthcheck => {}
    }
    Ok(())
}
