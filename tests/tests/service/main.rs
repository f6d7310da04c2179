//! The black-box suite: the real server, spoken to over HTTP, raw sockets
//! and its binary, on SQLite and PostgreSQL. One test binary, a module per
//! area (each extra binary would link actix, diesel and lettre again).

mod api_reference;
mod binary;
mod browser;
mod conditional;
mod connections;
mod containers;
mod currencies;
mod dashboard;
mod deliveries;
mod durability;
mod email;
mod errors;
mod events;
mod group_commit;
mod hostile;
mod idempotency;
mod keys;
mod metrics;
mod openapi;
mod orders;
mod outage;
mod receiver;
mod setup;
mod traces;
mod validation;
mod webhook_endpoints;
mod webhooks;
