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
diesel::allow_tables_to_appear_in_same_query!(orders, order_items, email_outbox);

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
