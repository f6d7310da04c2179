//! The OpenAPI 3.1 document, generated from the handlers and DTOs, plus the
//! conventions every operation shares (problem responses, `X-Request-Id`),
//! added in one place.

use domain::{Currency, Scope};
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, Header, OpenApi as Document, Ref, RefOr, Required, Response};
use utoipa::{Modify, OpenApi};

use crate::dto::{
    ChangeStatusRequest, CreateOrderRequest, EmailBody, EmailContentBody, EmailStateName, OrderBody, OrderItemBody,
    OrderItemRequest, OrderListBody, StatusBody, StatusName,
};
use crate::event_format::{EventBody, EventData, EventListBody, EventRequest, EventTypeName};
use crate::problem::ProblemBody;
use crate::routes::{api_keys, deliveries, health, metrics, orders, webhook_endpoints};
use crate::validation::FieldError;

/// The document served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "orders",
        license(name = "MIT", identifier = "MIT"),
        description = "Create, list, read and move orders; each order's confirmation email is queued in the \
                       same transaction and sent in the background.\n\n\
                       Every path also answers with a trailing slash (no redirect). Bodies are JSON, UTF-8, at \
                       most 64 KiB. Times are RFC 3339 UTC with microseconds; money is integer minor units. \
                       Every non-2xx response is `application/problem+json`; when several errors apply, the \
                       first of routing (404, 405), 401, 403, 415, 413, 400, 422, 412, 409 wins. \
                       Every operation but the health checks needs `Authorization: Bearer <API key>` \
                       with the scope it names. An order id that is not a \
                       UUID is a routing error (404 before anything else); a well-formed id of no order is \
                       found missing once the request itself was accepted (so after 415/413/400/422)."
    ),
    paths(
        api_keys::create_key,
        api_keys::list_keys,
        api_keys::revoke_key,
        webhook_endpoints::create_endpoint,
        webhook_endpoints::list_endpoints,
        webhook_endpoints::get_endpoint,
        webhook_endpoints::update_endpoint,
        webhook_endpoints::delete_endpoint,
        deliveries::list_deliveries,
        deliveries::retry_delivery,
        orders::create_order,
        orders::list_orders,
        orders::get_order,
        orders::get_status,
        orders::change_status,
        orders::list_events,
        orders::get_confirmation_email,
        health::live,
        health::ready,
        metrics::metrics,
    ),
    components(schemas(
        CreateOrderRequest,
        OrderItemRequest,
        ChangeStatusRequest,
        OrderBody,
        OrderItemBody,
        EmailBody,
        EmailContentBody,
        StatusBody,
        OrderListBody,
        StatusName,
        EmailStateName,
        EventBody,
        EventData,
        EventRequest,
        EventTypeName,
        EventListBody,
        ProblemBody,
        FieldError,
        health::Live,
        health::Ready,
        api_keys::CreateKeyRequest,
        api_keys::ScopeName,
        api_keys::KeyBody,
        api_keys::IssuedKeyBody,
        api_keys::KeyListBody,
        webhook_endpoints::CreateEndpointRequest,
        webhook_endpoints::UpdateEndpointRequest,
        webhook_endpoints::EndpointBody,
        webhook_endpoints::RegisteredEndpointBody,
        webhook_endpoints::EndpointListBody,
        deliveries::DeliveryKindName,
        deliveries::DeliveryStateName,
        deliveries::DeliveryBody,
        deliveries::DeliveryListBody,
    )),
    tags(
        (name = "orders", description = "Orders and their status"),
        (name = "api-keys", description = "API keys and their scopes (scope `admin`)"),
        (name = "webhooks", description = "Endpoints that order events are sent to (scope `admin`). Each delivery is \
            a `POST` whose body is the `Event`, byte for byte as `GET /orders/{id}/events` lists it, with \
            `Orders-Event-Id: <event id>` and `Orders-Signature: t=<unix seconds>,v1=<lower-case hex \
            HMAC-SHA256 of \"<t>.<body>\" keyed with the endpoint's secret>`. A connection error, a time-out or \
            an answer other than 2xx is retried with exponential backoff; redirects are not followed. \
            Delivery is at least once: receivers drop an event `id` they have seen."),
        (name = "deliveries", description = "Emails and webhooks the outboxes hold, and retrying failed ones (scope `admin`)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "metrics", description = "Prometheus metrics (scope `metrics:read`)"),
    ),
    modifiers(&Conventions)
)]
pub struct ApiDoc;

/// Problem responses by status, with the codes each can carry.
const PROBLEMS: &[(u16, &str)] = &[
    (
        400,
        "`malformed_json`: the body is not JSON; `invalid_query`: a query value is wrong; `invalid_header`: a malformed `Idempotency-Key` or `If-Match`",
    ),
    (
        401,
        "`unauthenticated`: no `Authorization: Bearer <key>`, or a malformed, unknown or revoked key (the same answer for each)",
    ),
    (403, "`insufficient_scope`: the key is valid but lacks the scope the operation needs; `detail` names it"),
    (404, "`not_found`: no such order, key, webhook endpoint or delivery (a malformed id too)"),
    (408, "`request_timeout`: the body did not arrive in time"),
    (
        409,
        "`invalid_transition`: the lifecycle forbids this change; `detail` names both states; `delivery_not_failed`: only a failed delivery to an existing endpoint can be retried; `detail` says why",
    ),
    (412, "`precondition_failed`: `If-Match` does not match the current version"),
    (413, "`payload_too_large`: the body is over 64 KiB"),
    (415, "`unsupported_media_type`: the body is not `application/json`"),
    (
        422,
        "`validation_failed`: `errors` lists every invalid field with its JSON path; `idempotency_key_reused`: the key was used for another body",
    ),
    (500, "`internal`: a bug; nothing internal is shown, the log has the request id"),
    (503, "`unavailable`: the database cannot be reached; retry later"),
];

/// Which problems each operation can answer with (401 and 403 come with [`SCOPES`]).
const PROBLEMS_BY_OPERATION: &[(&str, &[u16])] = &[
    ("create_order", &[400, 408, 413, 415, 422, 500, 503]),
    ("list_orders", &[400, 500, 503]),
    ("get_order", &[404, 500, 503]),
    ("get_order_status", &[404, 500, 503]),
    ("list_order_events", &[404, 500, 503]),
    ("get_confirmation_email", &[404, 500, 503]),
    ("change_order_status", &[400, 404, 408, 409, 412, 413, 415, 422, 500, 503]),
    ("create_api_key", &[400, 408, 413, 415, 422, 500, 503]),
    ("list_api_keys", &[500, 503]),
    ("revoke_api_key", &[404, 500, 503]),
    ("create_webhook_endpoint", &[400, 408, 413, 415, 422, 500, 503]),
    ("list_webhook_endpoints", &[500, 503]),
    ("get_webhook_endpoint", &[404, 500, 503]),
    ("update_webhook_endpoint", &[400, 404, 408, 413, 415, 422, 500, 503]),
    ("delete_webhook_endpoint", &[404, 500, 503]),
    ("list_deliveries", &[400, 500, 503]),
    ("retry_delivery", &[404, 409, 500, 503]),
    ("metrics", &[]),
    ("live", &[]),
    ("ready", &[500, 503]),
];

/// The scope each guarded operation needs (the handlers' `Authorized<…>`);
/// the others are open.
const SCOPES: &[(&str, Scope)] = &[
    ("create_order", Scope::OrdersWrite),
    ("list_orders", Scope::OrdersRead),
    ("get_order", Scope::OrdersRead),
    ("get_order_status", Scope::OrdersRead),
    ("list_order_events", Scope::OrdersRead),
    ("get_confirmation_email", Scope::OrdersRead),
    ("change_order_status", Scope::OrdersWrite),
    ("create_api_key", Scope::Admin),
    ("list_api_keys", Scope::Admin),
    ("revoke_api_key", Scope::Admin),
    ("create_webhook_endpoint", Scope::Admin),
    ("list_webhook_endpoints", Scope::Admin),
    ("get_webhook_endpoint", Scope::Admin),
    ("update_webhook_endpoint", Scope::Admin),
    ("delete_webhook_endpoint", Scope::Admin),
    ("list_deliveries", Scope::Admin),
    ("retry_delivery", Scope::Admin),
    ("metrics", Scope::MetricsRead),
];

/// Request bodies whose unknown members are refused.
const CLOSED_SCHEMAS: &[&str] = &[
    "CreateOrderRequest",
    "OrderItemRequest",
    "ChangeStatusRequest",
    "CreateKeyRequest",
    "CreateEndpointRequest",
    "UpdateEndpointRequest",
];

const BEARER_DESCRIPTION: &str = "An API key, `ord_<id>_<secret>`, sent as `Authorization: Bearer <key>`. \
                                  Scopes: `orders:read`, `orders:write` (implies `orders:read`), `admin` (keys, webhooks, deliveries), `metrics:read` (`/metrics`).";

const REQUEST_ID_DESCRIPTION: &str = "1 to 128 of `[A-Za-z0-9._:-]`. A well-formed incoming id is echoed; \
                                      otherwise the service generates one. Equal to `request_id` in problems.";

struct Conventions;

fn string_schema() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete].into_iter().flatten()
}

impl Modify for Conventions {
    fn modify(&self, document: &mut Document) {
        let components = document.components.get_or_insert_with(Default::default);
        let mut request_id = Header::new(string_schema());
        request_id.description = Some(REQUEST_ID_DESCRIPTION.to_owned());
        components.headers.insert("X-Request-Id".to_owned(), RefOr::T(request_id));
        let request_id_ref = || RefOr::Ref(Ref::new("#/components/headers/X-Request-Id"));

        for (status, description) in PROBLEMS {
            let mut response = Response::new(*description);
            let content = Content::new(Some(Ref::from_schema_name("Problem")));
            response.content.insert("application/problem+json".to_owned(), RefOr::T(content));
            response.headers.insert("X-Request-Id".to_owned(), request_id_ref());
            components.responses.insert(format!("Problem{status}"), RefOr::T(response));
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("ord_<id>_<secret>")
                    .description(Some(BEARER_DESCRIPTION))
                    .build(),
            ),
        );
        // The codes a create accepts, from the domain's list.
        if let Some(RefOr::T(Schema::Object(request))) = components.schemas.get_mut("CreateOrderRequest")
            && let Some(RefOr::T(Schema::Object(currency))) = request.properties.get_mut("currency")
        {
            currency.enum_values = Some(Currency::all_active().map(|c| c.as_str().into()).collect());
        }
        for name in CLOSED_SCHEMAS {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(*name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
            }
        }

        for item in document.paths.paths.values_mut() {
            for operation in operations(item) {
                let id = operation.operation_id.clone().unwrap_or_default();
                let mut problems =
                    PROBLEMS_BY_OPERATION.iter().find(|(op, _)| *op == id).map_or(&[][..], |(_, p)| *p).to_vec();
                if let Some((_, scope)) = SCOPES.iter().find(|(op, _)| *op == id) {
                    operation.security = Some(vec![SecurityRequirement::new("bearer", [scope.as_str()])]);
                    problems.extend([401, 403]);
                }
                for status in problems {
                    let reference = Ref::from_response_name(format!("Problem{status}"));
                    operation.responses.responses.insert(status.to_string(), RefOr::Ref(reference));
                }
                for response in operation.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.insert("X-Request-Id".to_owned(), request_id_ref());
                    }
                }
                let parameter: Parameter = ParameterBuilder::new()
                    .name("X-Request-Id")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(REQUEST_ID_DESCRIPTION))
                    .schema(Some(string_schema()))
                    .build();
                operation.parameters.get_or_insert_with(Vec::new).push(RefOr::T(parameter));
            }
        }
    }
}

/// The document as served (built once).
pub fn document() -> Document {
    ApiDoc::openapi()
}
