//! Bad input gets a clear problem and changes nothing, on both databases.

use actix_web::http::Method;
use harness::{Backend, TestApp, on_both_backends, sample_order, spawn_app};
use serde_json::{Value, json};

on_both_backends!(
    every_invalid_field_is_reported_at_once_with_its_path,
    missing_mistyped_and_unknown_fields_are_reported_too,
    integers_must_be_json_integers,
    the_wrong_json_shape_is_a_validation_error,
    bounds_are_inclusive,
    text_that_is_not_json_is_malformed,
    a_body_that_is_not_json_media_type_is_unsupported,
    bad_list_queries_are_invalid_query,
    unknown_routes_and_methods_are_problems,
);

/// `(field, code)` of every reported error, sorted.
fn fields(problem: &Value) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = problem["errors"]
        .as_array()
        .expect("errors[]")
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
            (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())
        })
        .collect();
    fields.sort();
    fields
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = expected.iter().map(|(f, c)| ((*f).to_owned(), (*c).to_owned())).collect();
    pairs.sort();
    pairs
}

async fn assert_nothing_stored(app: &TestApp) {
    let list = app.get("/orders").await.json();
    assert_eq!(list["items"], json!([]), "a rejected request stored something");
    assert!(app.emails.sent().is_empty());
}

async fn every_invalid_field_is_reported_at_once_with_its_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({
        "customer_name": "   ",
        "customer_email": "not-an-email",
        "currency": "eur",
        "items": [
            {"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250},
            {"sku": "bad sku!", "quantity": 0, "unit_price_cents": -1},
            {"sku": "", "quantity": 10001, "unit_price_cents": 100000001}
        ]
    });
    let response = app.post_json("/orders", &body).await;
    let problem = response.problem(422, "validation_failed");
    assert_eq!(problem["type"], "/problems/validation-failed");
    assert_eq!(problem["instance"], "/orders");
    assert_eq!(problem["detail"], "9 fields are invalid");
    assert_eq!(
        fields(&problem),
        pairs(&[
            ("customer_name", "length"),
            ("customer_email", "email"),
            ("currency", "unknown_currency"),
            ("items[1].sku", "pattern"),
            ("items[1].quantity", "range"),
            ("items[1].unit_price_cents", "range"),
            ("items[2].sku", "length"),
            ("items[2].quantity", "range"),
            ("items[2].unit_price_cents", "range"),
        ])
    );
    assert_nothing_stored(&app).await;
}

async fn missing_mistyped_and_unknown_fields_are_reported_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = json!({
        "customer_name": 42,
        "currency": "EUR",
        "items": [{"sku": "A", "quantity": "2", "price": 5}, "not an object"],
        "total_cents": 100
    });
    let problem = app.post_json("/orders", &body).await.problem(422, "validation_failed");
    assert_eq!(
        fields(&problem),
        pairs(&[
            ("customer_name", "type"),
            ("customer_email", "required"),
            ("items[0].quantity", "type"),
            ("items[0].unit_price_cents", "required"),
            ("items[0].price", "unknown_field"),
            ("items[1]", "type"),
            ("total_cents", "unknown_field"),
        ])
    );
    let empty_items = app
        .post_json("/orders", &json!({"customer_name": "A", "customer_email": "a@b.c", "currency": "EUR", "items": []}))
        .await;
    assert_eq!(fields(&empty_items.problem(422, "validation_failed")), pairs(&[("items", "length")]));
    let control = app
        .post_json("/orders", &json!({"customer_name": "A\u{0}B", "customer_email": "a@b.c", "currency": "EUR", "items": [{"sku": "A", "quantity": 1, "unit_price_cents": 1}]}))
        .await;
    assert_eq!(fields(&control.problem(422, "validation_failed")), pairs(&[("customer_name", "control_characters")]));
    assert_nothing_stored(&app).await;
}

async fn integers_must_be_json_integers(backend: Backend) {
    let app = spawn_app(backend).await;
    for raw in ["2.5", "\"2\"", "true", "1.0", "1E2", "null", "[2]", "99999999999999999999", "-99999999999999999999"] {
        let body = format!(
            r#"{{"customer_name":"A","customer_email":"a@b.c","currency":"EUR","items":[{{"sku":"A","quantity":{raw},"unit_price_cents":1}}]}}"#
        );
        let response =
            app.request(Method::POST, "/orders", &[("content-type", "application/json")], Some(body.as_bytes())).await;
        let problem = response.problem(422, "validation_failed");
        let errors = fields(&problem);
        assert_eq!(errors.len(), 1, "{raw}: {problem}");
        assert_eq!(errors[0].0, "items[0].quantity", "{raw}");
    }
    // 2^64-1 fits no i64: out of range rather than mistyped.
    let body = r#"{"customer_name":"A","customer_email":"a@b.c","currency":"EUR","items":[{"sku":"A","quantity":18446744073709551615,"unit_price_cents":1}]}"#;
    let response =
        app.request(Method::POST, "/orders", &[("content-type", "application/json")], Some(body.as_bytes())).await;
    assert_eq!(fields(&response.problem(422, "validation_failed")), pairs(&[("items[0].quantity", "range")]));
    assert_nothing_stored(&app).await;
}

async fn the_wrong_json_shape_is_a_validation_error(backend: Backend) {
    let app = spawn_app(backend).await;
    for raw in ["[]", "42", "null", "\"order\"", "true"] {
        let response =
            app.request(Method::POST, "/orders", &[("content-type", "application/json")], Some(raw.as_bytes())).await;
        let problem = response.problem(422, "validation_failed");
        assert_eq!(fields(&problem), pairs(&[("", "type")]), "{raw}");
    }
    let response = app.post_json("/orders", &json!({})).await;
    assert_eq!(
        fields(&response.problem(422, "validation_failed")),
        pairs(&[
            ("customer_name", "required"),
            ("customer_email", "required"),
            ("currency", "required"),
            ("items", "required")
        ])
    );
    assert_nothing_stored(&app).await;
}

async fn bounds_are_inclusive(backend: Backend) {
    let app = spawn_app(backend).await;
    let name = "é".repeat(200);
    let email = format!("{}@{}.example.com", "a".repeat(64), "b".repeat(63));
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"sku": format!("{i:0>64}"), "quantity": 10000, "unit_price_cents": 100000000}))
        .collect();
    let order = app
        .create_order(&json!({"customer_name": name, "customer_email": email, "currency": "EUR", "items": items}))
        .await;
    assert_eq!(order["items"].as_array().unwrap().len(), 100);
    assert_eq!(order["total_cents"], 100_i64 * 10_000 * 100_000_000);

    let too_many: Vec<Value> = (0..101).map(|_| json!({"sku": "A", "quantity": 1, "unit_price_cents": 1})).collect();
    let mut body = sample_order();
    body["items"] = json!(too_many);
    body["customer_name"] = json!("é".repeat(201));
    let problem = app.post_json("/orders", &body).await.problem(422, "validation_failed");
    assert_eq!(fields(&problem), pairs(&[("customer_name", "length"), ("items", "length")]));
}

async fn text_that_is_not_json_is_malformed(backend: Backend) {
    let app = spawn_app(backend).await;
    let json_type = [("content-type", "application/json")];
    let cases: [&[u8]; 10] = [
        b"",
        b"{",
        b"\xef\xbb\xbf{}",
        br#"{"customer_name": NaN}"#,
        br#"{"a": Infinity}"#,
        b"{} // comment",
        b"{}{}",
        b"{\"customer_name\": \"\xff\xfe\"}",
        br#"{"customer_name": "\ud800"}"#,
        b"{'single': 'quotes'}",
    ];
    for raw in cases {
        let response = app.request(Method::POST, "/orders", &json_type, Some(raw)).await;
        response.problem(400, "malformed_json");
    }
    assert_nothing_stored(&app).await;
}

async fn a_body_that_is_not_json_media_type_is_unsupported(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = serde_json::to_vec(&sample_order()).unwrap();
    for content_type in ["text/plain", "application/xml", "application/x-www-form-urlencoded", "application/jsonx"] {
        let response = app.request(Method::POST, "/orders", &[("content-type", content_type)], Some(&body)).await;
        response.problem(415, "unsupported_media_type");
    }
    let untyped = app.request(Method::POST, "/orders", &[], Some(&body)).await;
    untyped.problem(415, "unsupported_media_type");
    // Case and parameters do not matter.
    for content_type in ["Application/JSON", "application/json; charset=utf-8"] {
        let response = app.request(Method::POST, "/orders", &[("content-type", content_type)], Some(&body)).await;
        assert_eq!(response.status, 201, "{content_type}");
    }
}

async fn bad_list_queries_are_invalid_query(backend: Backend) {
    let app = spawn_app(backend).await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=1.5",
        "limit=",
        "status=PENDING",
        "status=",
        "status=pending,shipped",
        "status=lost",
        "cursor=garbage",
        "cursor=",
    ] {
        let response = app.get(&format!("/orders?{query}")).await;
        response.problem(400, "invalid_query");
    }
    for query in ["limit=1", "limit=200", "status=cancelled", "customer_email=x"] {
        assert_eq!(app.get(&format!("/orders?{query}")).await.status, 200, "{query}");
    }
}

async fn unknown_routes_and_methods_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/", "/nope", "/orders/1/2/3", "/health"] {
        let problem = app.get(path).await.problem(404, "not_found");
        assert_eq!(problem["instance"], path);
    }
    let cases = [
        (Method::DELETE, "/orders", "GET, HEAD, POST"),
        (Method::PUT, "/orders/0193a5e2-7c1e-7d3a-9f5e-2b6c1d9e4a10", "GET, HEAD"),
        (Method::POST, "/orders/0193a5e2-7c1e-7d3a-9f5e-2b6c1d9e4a10/status", "GET, HEAD, PATCH"),
        (Method::POST, "/health/live", "GET, HEAD"),
        (Method::DELETE, "/health/ready", "GET, HEAD"),
    ];
    for (method, path, allow) in cases {
        let response = app.request(method.clone(), path, &[], None).await;
        response.problem(405, "method_not_allowed");
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
    }
}
