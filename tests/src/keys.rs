//! API keys for tests: every request the harness sends carries one, unless a
//! test asks for none or its own.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use domain::{KeyName, KeyRing, KeyService, Scope, Scopes};
use persistence::{Database, DatabaseUrl, PoolOptions};

/// Issues a key with `scopes` straight into the database at `database_url`.
pub async fn issue_key(database_url: &str, scopes: &[Scope]) -> String {
    let url = DatabaseUrl::parse(database_url).unwrap();
    let database = Database::open(&url, &PoolOptions::default()).await.unwrap();
    let keys = KeyService::new(Arc::new(database.api_keys()), Arc::new(KeyRing::default()));
    let scopes = Scopes::parse(scopes.iter().copied()).unwrap();
    keys.issue(KeyName::parse("harness").unwrap(), scopes).await.unwrap().secret
}

/// A key with every scope for the database at `database_url`, made once per
/// database (from sync code, on a runtime of its own).
pub fn key_for(database_url: &str) -> String {
    static KEYS: LazyLock<Mutex<HashMap<String, String>>> = LazyLock::new(Default::default);
    if let Some(key) = KEYS.lock().unwrap().get(database_url) {
        return key.clone();
    }
    let url = database_url.to_owned();
    let key = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(issue_key(&url, &Scope::ALL))
    })
    .join()
    .unwrap();
    KEYS.lock().unwrap().insert(database_url.to_owned(), key.clone());
    key
}
