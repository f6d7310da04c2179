//! `/webhook-endpoints` handlers (scope `admin`): register, list, read,
//! enable or disable, and delete the endpoints order events are sent to.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use domain::{EndpointId, EventType, StoredEndpoint, Subscriptions, Timestamp, WebhookEndpoint, WebhookUrl};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Admin, Authorized};
use crate::dto::AsText;
use crate::event_format::EventTypeName;
use crate::extract::JsonBody;
use crate::problem::ApiError;
use crate::validation::{FieldError, FromJson, ObjectReader, text_element};

/// A new endpoint. Unknown members are refused.
#[derive(Debug, garde::Validate, ToSchema)]
#[schema(example = json!({"url": "https://example.com/hooks/orders", "events": ["order.created", "order.status_changed"]}))]
pub struct CreateEndpointRequest {
    /// An absolute `http` or `https` URL, at most 2048 characters, without
    /// user info or fragment. Unless the service runs with
    /// `WEBHOOK_ALLOW_PRIVATE=true`, it must not resolve to a loopback,
    /// private or link-local address.
    #[garde(required)]
    #[schema(required = true, value_type = String, format = "uri", max_length = 2048)]
    pub url: Option<WebhookUrl>,
    /// The event types to receive: at least one.
    #[garde(required)]
    #[schema(required = true, value_type = Vec<EventTypeName>, min_items = 1)]
    pub events: Option<Vec<Option<EventType>>>,
}

impl FromJson for CreateEndpointRequest {
    type Parsed = (WebhookUrl, Subscriptions);

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self {
            url: object.text("url", WebhookUrl::parse),
            events: object.array("events", |value, at, errors| text_element(value, at, errors, EventType::parse)),
        };
        object.finish();
        request
    }

    fn into_parsed(self, errors: &mut Vec<FieldError>) -> Option<(WebhookUrl, Subscriptions)> {
        // Invalid elements were reported where they stand.
        let events: Vec<EventType> = self.events?.into_iter().collect::<Option<_>>()?;
        let events = Subscriptions::parse(events).map_err(|e| errors.push(FieldError::rule("events", &e))).ok();
        Some((self.url?, events?))
    }
}

/// A change to an endpoint. Unknown members are refused.
#[derive(Debug, garde::Validate, ToSchema)]
#[schema(example = json!({"enabled": false}))]
pub struct UpdateEndpointRequest {
    /// `false` stops new deliveries to the endpoint and holds those already
    /// queued; `true` resumes them.
    #[garde(required)]
    #[schema(required = true, value_type = bool)]
    pub enabled: Option<bool>,
}

impl FromJson for UpdateEndpointRequest {
    type Parsed = bool;

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self { enabled: object.boolean("enabled") };
        object.finish();
        request
    }

    fn into_parsed(self, _: &mut Vec<FieldError>) -> Option<bool> {
        self.enabled
    }
}

/// A webhook endpoint as lists show it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointBody<'a> {
    #[schema(value_type = String, format = "uuid")]
    pub id: AsText<EndpointId>,
    /// As normalised when registered.
    #[schema(value_type = String, format = "uri")]
    pub url: &'a str,
    #[schema(value_type = Vec<EventTypeName>)]
    pub events: Vec<&'static str>,
    pub enabled: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: AsText<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: AsText<Timestamp>,
}

impl<'a> From<&'a WebhookEndpoint> for EndpointBody<'a> {
    fn from(endpoint: &'a WebhookEndpoint) -> Self {
        Self {
            id: AsText(endpoint.id),
            url: endpoint.url.as_str(),
            events: endpoint.events.iter().map(EventType::as_str).collect(),
            enabled: endpoint.enabled,
            created_at: AsText(endpoint.created_at),
            updated_at: AsText(endpoint.updated_at),
        }
    }
}

/// An endpoint just registered: the only answer that holds its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RegisteredWebhookEndpoint)]
pub struct RegisteredEndpointBody<'a> {
    #[serde(flatten)]
    #[schema(inline)]
    pub endpoint: EndpointBody<'a>,
    /// Signs every delivery (`Orders-Signature`); shown here once and never again.
    #[schema(value_type = String, pattern = "^whsec_[A-Za-z0-9_-]{43}$")]
    pub secret: &'a str,
}

/// The endpoints.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpointList)]
pub struct EndpointListBody<'a> {
    pub items: Vec<EndpointBody<'a>>,
}

/// The endpoint a path names; an id that is not a UUID names none (404).
fn endpoint_id(id: &str) -> Result<EndpointId, ApiError> {
    id.parse().map_err(|_| ApiError::EndpointNotFound(id.to_owned()))
}

/// Register a webhook endpoint.
///
/// Every later event of a subscribed type is delivered to it as a signed
/// `POST`. The answer holds the signing secret, shown this once.
#[utoipa::path(
    post,
    path = "/webhook-endpoints",
    tag = "webhooks",
    operation_id = "create_webhook_endpoint",
    request_body(content = CreateEndpointRequest, content_type = "application/json"),
    responses((status = 201, description = "Registered", body = RegisteredEndpointBody,
        headers(("Location" = String, description = "`/webhook-endpoints/{id}` of the endpoint"))))
)]
pub async fn create_endpoint(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (url, events) = body.parse::<CreateEndpointRequest>()?;
    let StoredEndpoint { endpoint, secret } = state.webhooks.register(url, events).await?;
    // The host only: receivers often put a token of their own in the path or query.
    tracing::info!(endpoint_id = %endpoint.id, host = endpoint.url.host(), "webhook endpoint registered");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/webhook-endpoints/{}", endpoint.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(RegisteredEndpointBody { endpoint: EndpointBody::from(&endpoint), secret: secret.as_str() }))
}

/// List webhook endpoints, oldest first.
#[utoipa::path(
    get,
    path = "/webhook-endpoints",
    tag = "webhooks",
    operation_id = "list_webhook_endpoints",
    responses((status = 200, description = "Every endpoint, without secrets", body = EndpointListBody))
)]
pub async fn list_endpoints(state: web::Data<AppState>, _: Authorized<Admin>) -> Result<HttpResponse, ApiError> {
    let endpoints = state.webhooks.list().await?;
    Ok(HttpResponse::Ok().json(EndpointListBody { items: endpoints.iter().map(EndpointBody::from).collect() }))
}

/// Read a webhook endpoint.
#[utoipa::path(
    get,
    path = "/webhook-endpoints/{id}",
    tag = "webhooks",
    operation_id = "get_webhook_endpoint",
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id")),
    responses((status = 200, description = "The endpoint, without its secret", body = EndpointBody))
)]
pub async fn get_endpoint(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let endpoint = state.webhooks.get(endpoint_id(&id)?).await?;
    Ok(HttpResponse::Ok().json(EndpointBody::from(&endpoint)))
}

/// Enable or disable a webhook endpoint.
///
/// A disabled endpoint is sent nothing: events get no delivery for it, and
/// deliveries already queued wait until it is enabled again.
#[utoipa::path(
    patch,
    path = "/webhook-endpoints/{id}",
    tag = "webhooks",
    operation_id = "update_webhook_endpoint",
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id")),
    request_body(content = UpdateEndpointRequest, content_type = "application/json"),
    responses((status = 200, description = "The endpoint as it now is", body = EndpointBody))
)]
pub async fn update_endpoint(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _: Authorized<Admin>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&id)?;
    let enabled = body.parse::<UpdateEndpointRequest>()?;
    let endpoint = state.webhooks.set_enabled(id, enabled).await?;
    tracing::info!(endpoint_id = %endpoint.id, enabled, "webhook endpoint switched");
    Ok(HttpResponse::Ok().json(EndpointBody::from(&endpoint)))
}

/// Delete a webhook endpoint.
///
/// It is sent nothing more; its deliveries still waiting are marked failed.
/// Its past deliveries stay listed under `/deliveries`.
#[utoipa::path(
    delete,
    path = "/webhook-endpoints/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook_endpoint",
    params(("id" = String, Path, format = "uuid", description = "The endpoint's id")),
    responses((status = 204, description = "Deleted"))
)]
pub async fn delete_endpoint(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let id = endpoint_id(&id)?;
    state.webhooks.delete(id).await?;
    tracing::info!(endpoint_id = %id, "webhook endpoint deleted");
    Ok(HttpResponse::NoContent().finish())
}
