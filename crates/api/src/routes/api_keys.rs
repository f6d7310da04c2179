//! `/api-keys` handlers (scope `admin`): issue, list and revoke keys.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use domain::{ApiKey, ApiKeyId, IssuedKey, KeyName, Scope, Scopes, Timestamp};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Admin, Authorized};
use crate::dto::AsText;
use crate::extract::JsonBody;
use crate::problem::ApiError;
use crate::validation::{FieldError, FromJson, ObjectReader, text_element};

/// A new key. Unknown members are refused.
#[derive(Debug, garde::Validate, ToSchema)]
#[schema(example = json!({"name": "warehouse sync", "scopes": ["orders:read"]}))]
pub struct CreateKeyRequest {
    /// For people: what the key is for. Trimmed; no control characters.
    #[garde(required)]
    #[schema(required = true, value_type = String, min_length = 1, max_length = 100)]
    pub name: Option<KeyName>,
    /// At least one; `orders:write` implies `orders:read`; `admin` manages keys
    /// and webhooks only; `metrics:read` scrapes `/metrics` only.
    #[garde(required)]
    #[schema(required = true, value_type = Vec<ScopeName>, min_items = 1)]
    pub scopes: Option<Vec<Option<Scope>>>,
}

/// A scope: `orders:read`, `orders:write` (implies `orders:read`), `admin` or `metrics:read`.
#[derive(Debug, ToSchema)]
#[expect(dead_code, reason = "described in the OpenAPI document, never built")]
pub enum ScopeName {
    #[schema(rename = "orders:read")]
    OrdersRead,
    #[schema(rename = "orders:write")]
    OrdersWrite,
    #[schema(rename = "admin")]
    Admin,
    #[schema(rename = "metrics:read")]
    MetricsRead,
}

impl FromJson for CreateKeyRequest {
    type Parsed = (KeyName, Scopes);

    fn from_json(value: Value, path: &str, errors: &mut Vec<FieldError>) -> Self {
        let mut object = ObjectReader::new(value, path, errors);
        let request = Self {
            name: object.text("name", KeyName::parse),
            scopes: object.array("scopes", |value, at, errors| text_element(value, at, errors, Scope::parse)),
        };
        object.finish();
        request
    }

    fn into_parsed(self, errors: &mut Vec<FieldError>) -> Option<(KeyName, Scopes)> {
        // Invalid elements were reported where they stand.
        let scopes: Vec<Scope> = self.scopes?.into_iter().collect::<Option<_>>()?;
        let scopes = Scopes::parse(scopes).map_err(|e| errors.push(FieldError::rule("scopes", &e))).ok();
        Some((self.name?, scopes?))
    }
}

/// An API key as lists show it: never its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKey)]
pub struct KeyBody<'a> {
    /// The public part of the key (`ord_<id>_…`): names it in logs and lists.
    #[schema(value_type = String, pattern = "^[0-9a-f]{16}$")]
    pub id: &'a str,
    #[schema(value_type = String)]
    pub name: &'a str,
    #[schema(value_type = Vec<ScopeName>)]
    pub scopes: Vec<&'static str>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: AsText<Timestamp>,
    /// Set once the key is revoked; every process refuses it within 5 s.
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub revoked_at: Option<AsText<Timestamp>>,
    /// Kept up to date within seconds (not written on every request).
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub last_used_at: Option<AsText<Timestamp>>,
}

impl<'a> From<&'a ApiKey> for KeyBody<'a> {
    fn from(key: &'a ApiKey) -> Self {
        Self {
            id: key.id.as_str(),
            name: key.name.as_str(),
            scopes: key.scopes.iter().map(Scope::as_str).collect(),
            created_at: AsText(key.created_at),
            revoked_at: key.revoked_at.map(AsText),
            last_used_at: key.last_used_at.map(AsText),
        }
    }
}

/// A key just issued: the only answer that holds its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = IssuedApiKey)]
pub struct IssuedKeyBody<'a> {
    #[serde(flatten)]
    #[schema(inline)]
    pub key: KeyBody<'a>,
    /// The whole key, `ord_<id>_<secret>`: shown here once and never again.
    #[schema(value_type = String, pattern = "^ord_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$")]
    pub secret: &'a str,
}

/// The keys.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ApiKeyList)]
pub struct KeyListBody<'a> {
    pub items: Vec<KeyBody<'a>>,
}

/// Issue an API key.
///
/// The answer holds the key itself (`secret`), shown this once; only its
/// hash is kept. Every process accepts it within 5 s (this one at once).
#[utoipa::path(
    post,
    path = "/api-keys",
    tag = "api-keys",
    operation_id = "create_api_key",
    request_body(content = CreateKeyRequest, content_type = "application/json"),
    responses((status = 201, description = "Issued", body = IssuedKeyBody,
        headers(("Location" = String, description = "`/api-keys/{id}` of the key"))))
)]
pub async fn create_key(
    state: web::Data<AppState>,
    _: Authorized<Admin>,
    body: JsonBody,
) -> Result<HttpResponse, ApiError> {
    let (name, scopes) = body.parse::<CreateKeyRequest>()?;
    let IssuedKey { key, secret } = state.keys.issue(name, scopes).await?;
    tracing::info!(new_key_id = %key.key.id, "API key issued");
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api-keys/{}", key.key.id)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IssuedKeyBody { key: KeyBody::from(&key.key), secret: &secret }))
}

/// List API keys, revoked ones included, oldest first.
#[utoipa::path(
    get,
    path = "/api-keys",
    tag = "api-keys",
    operation_id = "list_api_keys",
    responses((status = 200, description = "Every key, without secrets", body = KeyListBody))
)]
pub async fn list_keys(state: web::Data<AppState>, _: Authorized<Admin>) -> Result<HttpResponse, ApiError> {
    let keys = state.keys.list().await?;
    Ok(HttpResponse::Ok().json(KeyListBody { items: keys.iter().map(KeyBody::from).collect() }))
}

/// Revoke an API key.
///
/// This process refuses it at once, every other within 5 s. Revoking again
/// changes nothing. Answers the key as it now is.
#[utoipa::path(
    delete,
    path = "/api-keys/{id}",
    tag = "api-keys",
    operation_id = "revoke_api_key",
    params(("id" = String, Path, pattern = "^[0-9a-f]{16}$", description = "The key's public id")),
    responses((status = 200, description = "Revoked", body = KeyBody))
)]
pub async fn revoke_key(
    state: web::Data<AppState>,
    id: web::Path<String>,
    _: Authorized<Admin>,
) -> Result<HttpResponse, ApiError> {
    let id = ApiKeyId::parse(&id).map_err(|_| ApiError::KeyNotFound(id.into_inner()))?;
    let key = state.keys.revoke(&id).await?;
    tracing::info!(revoked_key_id = %key.id, "API key revoked");
    Ok(HttpResponse::Ok().json(KeyBody::from(&key)))
}
