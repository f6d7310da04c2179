//! Webhook endpoints: where order events are sent, and which ones.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use uuid::Uuid;

use crate::api_key::NoRandomness;
use crate::event::EventType;
use crate::parse::ParseError;
use crate::ports::RepositoryError;
use crate::signature::SigningSecret;
use crate::time::Timestamp;
use crate::webhook_url::{DestinationPolicy, RefusedDestination, WebhookUrl};

/// A webhook endpoint's id: a UUID v7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EndpointId(Uuid);

impl EndpointId {
    /// A new time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl From<Uuid> for EndpointId {
    fn from(value: Uuid) -> Self {
        Self(value)
    }
}

impl FromStr for EndpointId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// The event types an endpoint receives: at least one, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriptions(BTreeSet<EventType>);

impl Subscriptions {
    /// Refuses an empty list; repeats count once.
    ///
    /// ```
    /// use domain::{EventType, Subscriptions};
    ///
    /// let events = Subscriptions::parse([EventType::OrderCreated, EventType::OrderCreated])?;
    /// assert!(events.contains(EventType::OrderCreated));
    /// assert_eq!(events.iter().count(), 1);
    /// assert!(Subscriptions::parse([]).is_err());
    /// # Ok::<(), domain::ParseError>(())
    /// ```
    pub fn parse(types: impl IntoIterator<Item = EventType>) -> Result<Self, ParseError> {
        let set: BTreeSet<EventType> = types.into_iter().collect();
        if set.is_empty() {
            return Err(ParseError::Length { min: 1, max: EventType::ALL.len(), unit: "items" });
        }
        Ok(Self(set))
    }

    pub fn contains(&self, event_type: EventType) -> bool {
        self.0.contains(&event_type)
    }

    /// In the order of [`EventType::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = EventType> + '_ {
        self.0.iter().copied()
    }
}

/// Where events are sent, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    pub id: EndpointId,
    pub url: WebhookUrl,
    pub events: Subscriptions,
    /// A disabled endpoint gets no new deliveries; those already queued
    /// wait until it is enabled again.
    pub enabled: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An endpoint with the secret its deliveries are signed with: as stored,
/// and as shown once, when it is made.
#[derive(Debug, Clone)]
pub struct StoredEndpoint {
    pub endpoint: WebhookEndpoint,
    pub secret: SigningSecret,
}

/// Storage of webhook endpoints.
#[async_trait]
pub trait WebhookEndpointRepository: Send + Sync + 'static {
    /// Stores a new endpoint and its subscriptions.
    async fn create(&self, endpoint: &StoredEndpoint) -> Result<(), RepositoryError>;

    /// Every endpoint not deleted, oldest first.
    async fn list(&self) -> Result<Vec<WebhookEndpoint>, RepositoryError>;

    /// One endpoint, unless deleted.
    async fn get(&self, id: EndpointId) -> Result<Option<WebhookEndpoint>, RepositoryError>;

    /// Enables or disables an endpoint; `None` if there is none (or it was deleted).
    async fn set_enabled(
        &self,
        id: EndpointId,
        enabled: bool,
        at: Timestamp,
    ) -> Result<Option<WebhookEndpoint>, RepositoryError>;

    /// Deletes an endpoint: it gets nothing more, and its deliveries still
    /// waiting are failed (the sent and failed ones stay, for their history).
    /// `false` if there was no such endpoint.
    async fn delete(&self, id: EndpointId, at: Timestamp) -> Result<bool, RepositoryError>;
}

/// Why an endpoint operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No endpoint has that id.
    #[error("webhook endpoint {0} not found")]
    NotFound(EndpointId),
    /// The URL leads somewhere the service does not call.
    #[error(transparent)]
    Refused(#[from] RefusedDestination),
    #[error(transparent)]
    NoRandomness(#[from] NoRandomness),
    #[error(transparent)]
    Repository(#[from] RepositoryError),
}

/// Registers, lists, switches and deletes webhook endpoints.
#[derive(Clone)]
pub struct WebhookService {
    endpoints: Arc<dyn WebhookEndpointRepository>,
    destinations: Arc<dyn DestinationPolicy>,
}

impl fmt::Debug for WebhookService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService").finish_non_exhaustive()
    }
}

impl WebhookService {
    /// Endpoints in `endpoints`; new URLs are checked against `destinations`.
    pub fn new(endpoints: Arc<dyn WebhookEndpointRepository>, destinations: Arc<dyn DestinationPolicy>) -> Self {
        Self { endpoints, destinations }
    }

    /// Stores a new, enabled endpoint with a new signing secret, once its
    /// URL leads somewhere the service may call.
    pub async fn register(&self, url: WebhookUrl, events: Subscriptions) -> Result<StoredEndpoint, WebhookError> {
        self.destinations.check(&url).await?;
        let now = Timestamp::now();
        let stored = StoredEndpoint {
            endpoint: WebhookEndpoint {
                id: EndpointId::generate(),
                url,
                events,
                enabled: true,
                created_at: now,
                updated_at: now,
            },
            secret: SigningSecret::generate()?,
        };
        self.endpoints.create(&stored).await?;
        Ok(stored)
    }

    /// Every endpoint, oldest first.
    pub async fn list(&self) -> Result<Vec<WebhookEndpoint>, WebhookError> {
        Ok(self.endpoints.list().await?)
    }

    pub async fn get(&self, id: EndpointId) -> Result<WebhookEndpoint, WebhookError> {
        self.endpoints.get(id).await?.ok_or(WebhookError::NotFound(id))
    }

    /// Enables or disables an endpoint.
    pub async fn set_enabled(&self, id: EndpointId, enabled: bool) -> Result<WebhookEndpoint, WebhookError> {
        self.endpoints.set_enabled(id, enabled, Timestamp::now()).await?.ok_or(WebhookError::NotFound(id))
    }

    /// Deletes an endpoint (see [`WebhookEndpointRepository::delete`]).
    pub async fn delete(&self, id: EndpointId) -> Result<(), WebhookError> {
        if self.endpoints.delete(id, Timestamp::now()).await? { Ok(()) } else { Err(WebhookError::NotFound(id)) }
    }
}
