//! The tables, written by hand: the custom column types let one schema serve
//! PostgreSQL and SQLite (see `migrations/`).

diesel::table! {
    use diesel::sql_types::{BigInt, Text};
    use crate::sql_types::{Instant, Uuid};

    orders (id) {
        id -> Uuid,
        customer_name -> Text,
        customer_email -> Text,
        customer_email_key -> Text,
        currency -> Text,
        total_cents -> BigInt,
        status -> Text,
        version -> BigInt,
        created_at -> Instant,
        updated_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::{BigInt, Integer, Text};
    use crate::sql_types::Uuid;

    order_items (order_id, position) {
        order_id -> Uuid,
        position -> Integer,
        sku -> Text,
        quantity -> Integer,
        unit_price_cents -> BigInt,
        line_total_cents -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::{Integer, Nullable, Text};
    use crate::sql_types::{Instant, Uuid};

    email_outbox (order_id) {
        order_id -> Uuid,
        recipient -> Text,
        subject -> Text,
        body -> Text,
        html_body -> Nullable<Text>,
        state -> Text,
        attempts -> Integer,
        available_at -> Instant,
        sent_at -> Nullable<Instant>,
        last_error -> Nullable<Text>,
        created_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::{Nullable, Text};
    use crate::sql_types::{Instant, Uuid};

    order_events (id) {
        id -> Uuid,
        order_id -> Uuid,
        #[sql_name = "type"]
        event_type -> Text,
        occurred_at -> Instant,
        payload -> Text,
        api_key_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::{Bool, Nullable, Text};
    use crate::sql_types::{Instant, Uuid};

    webhook_endpoints (id) {
        id -> Uuid,
        url -> Text,
        secret -> Text,
        enabled -> Bool,
        created_at -> Instant,
        updated_at -> Instant,
        deleted_at -> Nullable<Instant>,
    }
}

diesel::table! {
    use diesel::sql_types::Text;
    use crate::sql_types::Uuid;

    webhook_subscriptions (event_type, endpoint_id) {
        event_type -> Text,
        endpoint_id -> Uuid,
    }
}

diesel::table! {
    use diesel::sql_types::{Integer, Nullable, Text};
    use crate::sql_types::{Instant, Uuid};

    webhook_deliveries (id) {
        id -> Uuid,
        event_id -> Uuid,
        endpoint_id -> Uuid,
        order_id -> Uuid,
        event_type -> Text,
        state -> Text,
        attempts -> Integer,
        available_at -> Instant,
        sent_at -> Nullable<Instant>,
        last_error -> Nullable<Text>,
        created_at -> Instant,
    }
}

diesel::joinable!(order_items -> orders (order_id));
diesel::joinable!(email_outbox -> orders (order_id));
diesel::joinable!(order_events -> orders (order_id));
diesel::joinable!(webhook_subscriptions -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_deliveries -> order_events (event_id));
diesel::allow_tables_to_appear_in_same_query!(
    orders,
    order_items,
    email_outbox,
    order_events,
    webhook_endpoints,
    webhook_subscriptions,
    webhook_deliveries
);

diesel::table! {
    use diesel::sql_types::{Integer, Text};
    use crate::sql_types::{Instant, Uuid};

    idempotency_keys (key) {
        key -> Text,
        fingerprint -> Text,
        order_id -> Uuid,
        response -> Text,
        created_at -> Instant,
        expires_at -> Instant,
    }
}

diesel::table! {
    use diesel::sql_types::{Binary, Nullable, Text};
    use crate::sql_types::Instant;

    api_keys (id) {
        id -> Text,
        name -> Text,
        scopes -> Text,
        secret_hash -> Binary,
        created_at -> Instant,
        revoked_at -> Nullable<Instant>,
        last_used_at -> Nullable<Instant>,
    }
}
