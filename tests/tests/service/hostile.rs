//! Hostile input never yields a 5xx or a dropped connection, changes nothing
//! when refused, and is returned byte-for-byte when accepted. Both databases.

use actix_web::http::Method;
use harness::{Backend, TestApp, on_both_backends, sample_order, spawn_app};
use serde_json::json;

on_both_backends!(
    hostile_bodies_queries_and_paths_get_clear_answers,
    sql_looking_and_unusual_text_round_trips_verbatim
);

/// A create body with one raw JSON fragment spliced in for `field`.
fn body_with(field: &str, raw: &str) -> Vec<u8> {
    let item = |q: &str, p: &str, s: &str| format!(r#"{{"sku":{s},"quantity":{q},"unit_price_cents":{p}}}"#);
    let (name, email, sku, quantity, price) = match field {
        "customer_name" => (raw, r#""a@b.c""#, r#""A""#, "1", "1"),
        "customer_email" => (r#""Ada""#, raw, r#""A""#, "1", "1"),
        "sku" => (r#""Ada""#, r#""a@b.c""#, raw, "1", "1"),
        "quantity" => (r#""Ada""#, r#""a@b.c""#, r#""A""#, raw, "1"),
        "unit_price_cents" => (r#""Ada""#, r#""a@b.c""#, r#""A""#, "1", raw),
        other => panic!("no field {other}"),
    };
    let items = format!("[{}]", item(quantity, price, sku));
    format!(r#"{{"customer_name":{name},"customer_email":{email},"currency":"EUR","items":{items}}}"#).into_bytes()
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    /// Expected status and, for errors, the problem code (and the field for 422).
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn post(name: &'static str, body: Vec<u8>, status: u16, code: &'static str, field: Option<&'static str>) -> Case {
    Case { name, method: Method::POST, path: "/orders".into(), body: Some(body), status, code, field }
}

fn get(name: &'static str, path: String, status: u16, code: &'static str) -> Case {
    Case { name, method: Method::GET, path, body: None, status, code, field: None }
}

async fn hostile_bodies_queries_and_paths_get_clear_answers(backend: Backend) {
    let app = spawn_app(backend).await;
    let nested_arrays = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_objects = format!("{}1{}", r#"{"a":"#.repeat(10_000), "}".repeat(10_000));
    let long = format!("\"{}\"", "x".repeat(60_000));
    let digits = "9".repeat(5_000);
    let cases = vec![
        post(
            "integer beyond i64",
            body_with("quantity", "9223372036854775808"),
            422,
            "validation_failed",
            Some("items[0].quantity"),
        ),
        post(
            "negative beyond i64",
            body_with("unit_price_cents", "-9223372036854775809"),
            422,
            "validation_failed",
            Some("items[0].unit_price_cents"),
        ),
        post("1e400", body_with("quantity", "1e400"), 400, "malformed_json", None),
        post("5,000-digit number", body_with("quantity", &digits), 400, "malformed_json", None),
        post(
            "5,000-digit decimal",
            body_with("unit_price_cents", &format!("0.{digits}")),
            422,
            "validation_failed",
            Some("items[0].unit_price_cents"),
        ),
        post(
            "escaped NUL in a name",
            body_with("customer_name", r#""Ada\u0000""#),
            422,
            "validation_failed",
            Some("customer_name"),
        ),
        post(
            "bell and escape in a name",
            body_with("customer_name", r#""\u0007\u001b[31mAda""#),
            422,
            "validation_failed",
            Some("customer_name"),
        ),
        post("escaped NUL in a SKU", body_with("sku", r#""A\u0000B""#), 422, "validation_failed", Some("items[0].sku")),
        post(
            "escaped NUL in an email",
            body_with("customer_email", r#""a\u0000@b.c""#),
            422,
            "validation_failed",
            Some("customer_email"),
        ),
        post("raw control byte in a string", body_with("customer_name", "\"Ada\u{1}\""), 400, "malformed_json", None),
        post(
            "60,000-character name",
            body_with("customer_name", &long),
            422,
            "validation_failed",
            Some("customer_name"),
        ),
        post(
            "60,000-character email",
            body_with("customer_email", &long),
            422,
            "validation_failed",
            Some("customer_email"),
        ),
        post("60,000-character SKU", body_with("sku", &long), 422, "validation_failed", Some("items[0].sku")),
        post("10,000 nested arrays", nested_arrays.clone().into_bytes(), 400, "malformed_json", None),
        post("10,000 nested arrays as items", body_with("quantity", &nested_arrays), 400, "malformed_json", None),
        post("10,000 nested objects", nested_objects.into_bytes(), 400, "malformed_json", None),
        post(
            "invalid UTF-8",
            body_with("customer_name", "\"\u{0}\"").into_iter().map(|b| if b == 0 { 0xff } else { b }).collect(),
            400,
            "malformed_json",
            None,
        ),
        post(
            "overlong UTF-8",
            [&b"{\"customer_name\":\""[..], &[0xc0, 0x80], b"\"}"].concat(),
            400,
            "malformed_json",
            None,
        ),
        post("lone high surrogate", body_with("customer_name", r#""\ud800""#), 400, "malformed_json", None),
        post("lone low surrogate", body_with("customer_name", r#""\udc00x""#), 400, "malformed_json", None),
        post(
            "SQL in a SKU",
            body_with("sku", r#""A'; DROP TABLE orders;--""#),
            422,
            "validation_failed",
            Some("items[0].sku"),
        ),
        Case {
            name: "NUL in a status",
            method: Method::PATCH,
            path: "/orders/00000000-0000-7000-8000-000000000000/status".into(),
            body: Some(br#"{"status":"pending\u0000"}"#.to_vec()),
            status: 422,
            code: "validation_failed",
            field: Some("status"),
        },
        get("NUL in an email filter", "/orders?customer_email=a%00b".into(), 400, "invalid_query"),
        get("overlong email filter", format!("/orders?customer_email={}", "a".repeat(300)), 400, "invalid_query"),
        get("invalid UTF-8 in a query", "/orders?status=%FF%FE".into(), 400, "invalid_query"),
        get("SQL in an email filter", "/orders?customer_email=%27%20OR%201%3D1%20--".into(), 200, ""),
        get("SQL in a status filter", "/orders?status=pending%27%20OR%20%271%27%3D%271".into(), 400, "invalid_query"),
        get("SQL in a cursor", "/orders?cursor=%27%3B%20DROP%20TABLE%20orders%3B--".into(), 400, "invalid_query"),
        get("10,000-character cursor", format!("/orders?cursor={}", "A".repeat(10_000)), 400, "invalid_query"),
        // Well-formed, but pointing at the year 146,000 (PostgreSQL refuses such times).
        get(
            "cursor far in the future",
            "/orders?cursor=AT8TFWtoJoAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            400,
            "invalid_query",
        ),
        get("SQL in a path id", "/orders/%27%20OR%20%271%27%3D%271".into(), 404, "not_found"),
        get("NUL in a path id", "/orders/%00/status".into(), 404, "not_found"),
        get("emoji in a path id", "/orders/%F0%9F%92%A9".into(), 404, "not_found"),
        get("invalid UTF-8 in a path", "/orders/%FF%FE".into(), 404, "not_found"),
    ];
    for case in cases {
        let headers: &[(&str, &str)] = if case.body.is_some() { &[("content-type", "application/json")] } else { &[] };
        let response = app.request(case.method.clone(), &case.path, headers, case.body.as_deref()).await;
        assert!(response.status < 500, "{}: {}", case.name, response.status);
        assert_eq!(response.status, case.status, "{}: {}", case.name, String::from_utf8_lossy(&response.body));
        if case.status >= 400 {
            let problem = response.problem(case.status, case.code);
            if let Some(field) = case.field {
                let fields: Vec<&str> =
                    problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
                assert_eq!(fields, [field], "{}", case.name);
            }
        }
    }
    assert_eq!(app.get("/orders").await.json()["items"], json!([]), "a refused request stored something");
    assert_eq!(app.get("/health/ready").await.status, 200);
}

async fn create_and_read_back(app: &TestApp, name: &str) -> Vec<u8> {
    let mut body = sample_order();
    body["customer_name"] = json!(name);
    let created = app.create_order(&body).await;
    assert_eq!(created["customer_name"], name.trim());
    let read = app.get(&format!("/orders/{}", created["id"].as_str().unwrap())).await;
    read.body
}

async fn sql_looking_and_unusual_text_round_trips_verbatim(backend: Backend) {
    let app = spawn_app(backend).await;
    let names = [
        "Robert'); DROP TABLE orders;--",
        "' OR '1'='1",
        "1; DELETE FROM email_outbox WHERE 1=1",
        "\" OR \"\"=\"",
        "%_\\%",
        "🚀👩‍👩‍👧‍👦 Ada",
        "עִבְרִית مرحبا",
        "e\u{301}e\u{301}\u{302} Z\u{334}\u{317}a\u{335}\u{31f}",
        "\u{202e}txet desrever\u{202c}",
        "\u{feff}zero\u{200b}width",
        "𝕬𝖉𝖆 \u{10ffff}",
    ];
    for name in names {
        let raw = create_and_read_back(&app, name).await;
        // The exact UTF-8 bytes come back, not an escaped or normalised form.
        let needle = serde_json::to_string(name.trim()).unwrap();
        let haystack = String::from_utf8(raw).unwrap();
        assert!(haystack.contains(&needle), "{name:?} did not come back byte-for-byte in {haystack}");
    }
    // Everything is still there: the SQL-looking text was data, not code.
    assert_eq!(app.all_orders("").await.len(), names.len());
    let filtered = app.get("/orders?customer_email=ada@example.com&limit=200").await.json();
    assert_eq!(filtered["items"].as_array().unwrap().len(), names.len());
}
