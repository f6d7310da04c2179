//! The API key use cases: issue, list and revoke keys, the first key of a
//! new database, and keeping this process's [`KeyRing`] in step with storage.

use std::sync::Arc;

use crate::api_key::{ApiKey, ApiKeyId, IssuedKey, KeyName, KeyRing, NoRandomness, Scopes};
use crate::ports::{ApiKeyRepository, RepositoryError};
use crate::time::Timestamp;

/// Why a key operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key has that id.
    #[error("API key {0} not found")]
    NotFound(ApiKeyId),
    #[error(transparent)]
    NoRandomness(#[from] NoRandomness),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Issues, lists and revokes keys, and keeps a process's ring current.
#[derive(Clone)]
pub struct KeyService {
    repository: Arc<dyn ApiKeyRepository>,
    ring: Arc<KeyRing>,
}

impl std::fmt::Debug for KeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyService").finish_non_exhaustive()
    }
}

impl KeyService {
    /// Keys in `repository`, accepted through `ring`.
    pub fn new(repository: Arc<dyn ApiKeyRepository>, ring: Arc<KeyRing>) -> Self {
        Self { repository, ring }
    }

    /// The ring requests are checked against.
    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Makes and stores a key; this process accepts it at once, the others
    /// at their next refresh.
    pub async fn issue(&self, name: KeyName, scopes: Scopes) -> Result<IssuedKey, KeyError> {
        let issued = IssuedKey::generate(name, scopes, Timestamp::now())?;
        self.repository.create(&issued.key).await?;
        self.ring.accept(&issued.key);
        Ok(issued)
    }

    /// A key with every scope if the database has never held one; `None`
    /// if it has, or if another process made the first key meanwhile.
    pub async fn issue_first(&self) -> Result<Option<IssuedKey>, KeyError> {
        let issued = IssuedKey::generate(KeyName::initial(), Scopes::all(), Timestamp::now())?;
        if !self.repository.create_first(&issued.key).await? {
            return Ok(None);
        }
        self.ring.accept(&issued.key);
        Ok(Some(issued))
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn list(&self) -> Result<Vec<ApiKey>, KeyError> {
        Ok(self.repository.list().await?.into_iter().map(|stored| stored.key).collect())
    }

    /// Revokes a key; this process refuses it at once, the others at their
    /// next refresh.
    pub async fn revoke(&self, id: &ApiKeyId) -> Result<ApiKey, KeyError> {
        let revoked = self.repository.revoke(id, Timestamp::now()).await?;
        self.ring.refuse(id);
        revoked.ok_or_else(|| KeyError::NotFound(id.clone()))
    }

    /// Loads the current keys into the ring (keys made or revoked by other
    /// processes), and stores when keys were last used here.
    pub async fn refresh(&self) -> Result<(), KeyError> {
        let used = self.ring.take_used();
        if !used.is_empty() {
            self.repository.record_use(&used).await?;
        }
        let mark = self.ring.mark();
        self.ring.replace(self.repository.list().await?, mark);
        Ok(())
    }
}
