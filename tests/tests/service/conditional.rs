//! `ETag` and `If-Match` on order status changes, on both databases.

use harness::{Backend, TestApp, on_both_backends, sample_order, spawn_app_with};
use serde_json::json;

on_both_backends!(
    if_match_guards_status_changes,
    a_mismatch_wins_over_an_invalid_transition,
    a_list_may_span_several_if_match_lines,
    of_concurrent_star_changes_exactly_one_wins,
    of_concurrent_conditional_changes_exactly_one_wins,
    concurrent_unconditional_changes_lose_no_update,
);

async fn new_order(app: &TestApp) -> String {
    app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, id: &str, status: &str, if_match: Option<&str>) -> harness::Response {
    let headers: Vec<(&str, &str)> = if_match.map(|tag| ("if-match", tag)).into_iter().collect();
    app.patch_json(&format!("/orders/{id}/status"), &json!({ "status": status }), &headers).await
}

async fn if_match_guards_status_changes(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let id = new_order(&app).await;
    let etag = app.get(&format!("/orders/{id}")).await.header("etag").unwrap().to_owned();
    assert_eq!(etag, "\"1\"");

    let moved = patch(&app, &id, "processing", Some(&etag)).await;
    assert_eq!(moved.status, 200);
    assert_eq!(moved.header("etag"), Some("\"2\""));

    let stale = patch(&app, &id, "shipped", Some("\"1\"")).await;
    let problem = stale.problem(412, "precondition_failed");
    assert!(problem["detail"].as_str().unwrap().contains('2'), "{problem}");
    // Weak tags never match under strong comparison.
    patch(&app, &id, "shipped", Some("W/\"2\"")).await.problem(412, "precondition_failed");
    // Any tag of a list may match; `*` matches any existing order.
    assert_eq!(patch(&app, &id, "shipped", Some("\"9\", \"2\"")).await.status, 200);
    assert_eq!(patch(&app, &id, "delivered", Some("*")).await.status, 200);
    let read = app.get(&format!("/orders/{id}")).await;
    assert_eq!((read.json()["status"].as_str(), read.header("etag")), (Some("delivered"), Some("\"4\"")));

    // Strong comparison is of the exact text.
    for other_spelling in ["\"04\"", "\"+4\"", "\" 4\""] {
        patch(&app, &id, "cancelled", Some(other_spelling)).await.problem(412, "precondition_failed");
    }
    for malformed in ["2", "\"2", "\"a\"b\"", "*, \"4\""] {
        patch(&app, &id, "cancelled", Some(malformed)).await.problem(400, "invalid_header");
    }
    // `*` on an order that does not exist is still a 404.
    patch(&app, "00000000-0000-7000-8000-000000000000", "cancelled", Some("*")).await.problem(404, "not_found");
}

async fn a_list_may_span_several_if_match_lines(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let id = new_order(&app).await;
    let headers = [("if-match", "\"7\", \"8\""), ("if-match", "\"1\"")];
    let response = app.patch_json(&format!("/orders/{id}/status"), &json!({"status": "processing"}), &headers).await;
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
}

async fn of_concurrent_star_changes_exactly_one_wins(backend: Backend) {
    let app = spawn_app_with(backend, &[("DATABASE_POOL_SIZE", "10"), ("HTTP_WORKERS", "4")]).await;
    for round in 0..3 {
        let id = new_order(&app).await;
        let requests = (0..10).map(|_| patch(&app, &id, "processing", Some("*")));
        let statuses: Vec<u16> = futures_util::future::join_all(requests).await.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        // The losers saw either the old version (lost the compare-and-set: 412)
        // or already the new status (processing → processing: 409).
        assert!(statuses.iter().all(|s| [200, 409, 412].contains(s)), "round {round}: {statuses:?}");
    }
}

async fn a_mismatch_wins_over_an_invalid_transition(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    let id = new_order(&app).await;
    patch(&app, &id, "delivered", Some("\"5\"")).await.problem(412, "precondition_failed");
    patch(&app, &id, "delivered", Some("\"1\"")).await.problem(409, "invalid_transition");
}

async fn of_concurrent_conditional_changes_exactly_one_wins(backend: Backend) {
    let app = spawn_app_with(backend, &[("DATABASE_POOL_SIZE", "10"), ("HTTP_WORKERS", "4")]).await;
    for round in 0..3 {
        let id = new_order(&app).await;
        let targets = ["processing", "cancelled"];
        let requests = (0..10).map(|i| patch(&app, &id, targets[i % 2], Some("\"1\"")));
        let responses = futures_util::future::join_all(requests).await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert_eq!(statuses.iter().filter(|s| **s == 412).count(), 9, "round {round}: {statuses:?}");
        let read = app.get(&format!("/orders/{id}")).await.json();
        assert_eq!(read["version"], 2);
    }
}

async fn concurrent_unconditional_changes_lose_no_update(backend: Backend) {
    let app = spawn_app_with(backend, &[("DATABASE_POOL_SIZE", "10"), ("HTTP_WORKERS", "4")]).await;
    for round in 0..5 {
        let id = new_order(&app).await;
        // From pending both are allowed; after processing only cancelled is.
        let (a, b) = tokio::join!(patch(&app, &id, "processing", None), patch(&app, &id, "cancelled", None));
        let applied = [&a, &b].iter().filter(|r| r.status == 200).count() as i64;
        assert!(applied >= 1, "round {round}: {} {}", a.status, b.status);
        let read = app.get(&format!("/orders/{id}")).await.json();
        // Every change that was acknowledged moved the version once: none was overwritten.
        assert_eq!(read["version"].as_i64(), Some(1 + applied), "round {round}");
        if applied == 2 {
            assert_eq!(read["status"], "cancelled", "processing then cancelled");
        }
    }
}
