//! A real PostgreSQL goes away and comes back: the service answers 503 within
//! a bounded time while it is gone and serves again, without a restart, once
//! it is back.

use std::time::Duration;

use harness::{Api, Backend, PrivatePostgres, TestDatabase, eventually, sample_order, skip_postgres, spawn_app_on};

#[actix_web::test]
async fn the_service_rides_out_a_database_outage() {
    if skip_postgres() {
        return;
    }
    let postgres = PrivatePostgres::start();
    let db = TestDatabase::existing(Backend::Postgres, postgres.url());
    let app = spawn_app_on(db, &[("DATABASE_TIMEOUT_MS", "1000"), ("MAIL_SWEEP_INTERVAL_MS", "200")]).await;
    // A request that hangs fails the test instead of stalling it.
    let api = Api::with_timeout(app.address.clone(), Duration::from_secs(15));

    let before = api.create_order(&sample_order()).await;
    let before_id = before["id"].as_str().unwrap().to_owned();
    app.settled_email(&before_id).await;

    postgres.down();
    let path = format!("/orders/{before_id}");
    for response in [
        api.get("/orders").await,
        api.get(&path).await,
        api.get(&format!("{path}/status")).await,
        api.post_json("/orders", &sample_order()).await,
        api.get("/health/ready").await,
    ] {
        response.problem(503, "unavailable");
    }
    assert_eq!(api.get("/health/live").await.status, 200, "liveness does not depend on the database");

    postgres.up();
    eventually("readiness after the database returns", async || {
        (api.get("/health/ready").await.status == 200).then_some(())
    })
    .await;
    let after = api.create_order(&sample_order()).await;
    let after_id = after["id"].as_str().unwrap();
    assert_eq!(api.get(&path).await.json()["id"], before_id.as_str());
    let status = app.settled_email(after_id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent", "the dispatcher recovered too");
    assert_eq!(app.emails.sent().len(), 2);
}
