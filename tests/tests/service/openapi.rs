//! `/openapi.json` describes what the app serves, as API.md says it; `/docs`
//! serves Swagger UI from the binary.

use harness::{Backend, spawn_app};
use serde_json::Value;

/// Routes that serve the documentation rather than the API (API.md: need not be listed).
fn is_documentation(path: &str) -> bool {
    path == "/openapi.json" || path.starts_with("/docs")
}

async fn document() -> (harness::TestApp, Value) {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let doc = response.json();
    (app, doc)
}

#[actix_web::test]
async fn every_served_route_is_documented_and_nothing_else() {
    let (_app, doc) = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut documented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys().filter(|k| *k != "parameters") {
            documented.push((method.clone(), path.clone()));
        }
    }
    for (method, path) in api::SERVED.iter().filter(|(_, path)| !is_documentation(path)) {
        assert!(
            documented.contains(&((*method).to_owned(), (*path).to_owned())),
            "{method} {path} is served but not documented"
        );
    }
    for (method, path) in &documented {
        assert!(
            api::SERVED.contains(&(method.as_str(), path.as_str())),
            "{method} {path} is documented but not served"
        );
    }
    assert_eq!(documented.len(), api::SERVED.iter().filter(|(_, path)| !is_documentation(path)).count());
    assert!(documented.len() >= 11, "{documented:?}");
}

#[actix_web::test]
async fn every_error_is_a_documented_problem_and_every_response_has_a_request_id() {
    let (_app, doc) = document().await;
    let expected: &[(&str, &str, &[&str])] = &[
        ("/orders", "post", &["201", "400", "401", "403", "408", "413", "415", "422", "500", "503"]),
        ("/orders", "get", &["200", "400", "401", "403", "500", "503"]),
        ("/orders/{id}", "get", &["200", "401", "403", "404", "500", "503"]),
        ("/orders/{id}/status", "get", &["200", "401", "403", "404", "500", "503"]),
        (
            "/orders/{id}/status",
            "patch",
            &["200", "400", "401", "403", "404", "408", "409", "412", "413", "415", "422", "500", "503"],
        ),
        ("/api-keys", "post", &["201", "400", "401", "403", "408", "413", "415", "422", "500", "503"]),
        ("/api-keys", "get", &["200", "401", "403", "500", "503"]),
        ("/api-keys/{id}", "delete", &["200", "401", "403", "404", "500", "503"]),
        ("/health/live", "get", &["200"]),
        ("/health/ready", "get", &["200", "500", "503"]),
    ];
    for (path, method, statuses) in expected {
        let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
        let mut documented: Vec<&str> = responses.keys().map(String::as_str).collect();
        documented.sort_unstable();
        assert_eq!(documented, *statuses, "{method} {path}");
        for (status, response) in responses {
            let response = match response.get("$ref").and_then(Value::as_str) {
                Some(reference) => &doc["components"]["responses"][reference.rsplit('/').next().unwrap()],
                None => response,
            };
            assert!(response["headers"]["X-Request-Id"].is_object(), "{method} {path} {status}: no X-Request-Id");
            if status.starts_with(['4', '5']) {
                let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
            }
        }
    }
    let problem = &doc["components"]["schemas"]["Problem"];
    let mut required: Vec<&str> = problem["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    required.sort_unstable();
    assert_eq!(required, ["code", "detail", "instance", "request_id", "status", "title", "type"]);
}

#[actix_web::test]
async fn headers_and_validation_bounds_match_the_contract() {
    let (_app, doc) = document().await;
    let paths = &doc["paths"];
    let parameter = |path: &str, method: &str, name: &str| -> Value {
        paths[path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let key = parameter("/orders", "post", "Idempotency-Key");
    assert_eq!((key["in"].as_str(), key["schema"]["maxLength"].as_i64()), (Some("header"), Some(255)));
    assert_eq!(parameter("/orders/{id}/status", "patch", "If-Match")["in"], "header");
    assert_eq!(parameter("/orders", "get", "limit")["schema"]["maximum"], 200);
    let created = &paths["/orders"]["post"]["responses"]["201"]["headers"];
    assert!(created["Location"].is_object() && created["Idempotent-Replayed"].is_object());
    assert!(paths["/orders/{id}"]["get"]["responses"]["200"]["headers"]["ETag"].is_object());
    assert!(paths["/orders/{id}/status"]["patch"]["responses"]["200"]["headers"]["ETag"].is_object());

    let schemas = &doc["components"]["schemas"];
    let create = &schemas["CreateOrderRequest"];
    assert_eq!(create["additionalProperties"], false);
    assert_eq!(create["properties"]["customer_name"]["maxLength"], domain::CustomerName::MAX_CHARS);
    assert_eq!(create["properties"]["customer_email"]["maxLength"], domain::CustomerEmail::MAX_CHARS);
    assert_eq!(create["properties"]["items"]["maxItems"], domain::OrderLines::MAX);
    assert_eq!(create["properties"]["items"]["minItems"], domain::OrderLines::MIN);
    let item = &schemas["OrderItemRequest"];
    assert_eq!(item["properties"]["sku"]["pattern"], domain::Sku::PATTERN);
    assert_eq!(item["properties"]["quantity"]["minimum"], domain::Quantity::MIN);
    assert_eq!(item["properties"]["quantity"]["maximum"], domain::Quantity::MAX);
    assert_eq!(item["properties"]["unit_price_cents"]["maximum"], domain::UnitPrice::MAX_CENTS);
    let statuses: Vec<&str> =
        schemas["StatusName"]["enum"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(statuses, domain::OrderStatus::ALL.map(|s| s.as_str()));
    // The Order has exactly API.md's members, all of them always present.
    let order = &schemas["Order"];
    let mut members: Vec<&str> = order["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut required: Vec<&str> = order["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    members.sort_unstable();
    required.sort_unstable();
    assert_eq!(members, required);
    assert_eq!(schemas["ConfirmationEmail"]["required"].as_array().unwrap().len(), 4);
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary_without_redirects() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in ["/docs", "/docs/"] {
        let page = app.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("<base href=\"/docs/\">") && html.contains("swagger-ui-bundle.js"), "{html}");
        assert!(!html.contains("http://") && !html.contains("https://"), "no CDN: {html}");
    }
    for asset in ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "index.css"] {
        let response = app.get(&format!("/docs/{asset}")).await;
        assert_eq!(response.status, 200, "{asset}");
        assert!(response.body.len() > 100, "{asset}");
    }
    let initializer = String::from_utf8(app.get("/docs/swagger-initializer.js").await.body).unwrap();
    assert!(initializer.contains("\"url\": \"/openapi.json\""), "{initializer}");
    assert_eq!(app.get("/openapi.json/").await.status, 200);
    app.get("/docs/no-such-file.js").await.problem(404, "not_found");
}
