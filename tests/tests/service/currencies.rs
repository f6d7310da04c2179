//! Currencies: only active ISO 4217 codes make an order, and every amount a
//! customer reads follows the currency's minor unit.

use harness::{Backend, TestApp, eventually, on_both_backends, sample_order, spawn_app};
use serde_json::{Value, json};

on_both_backends!(an_unknown_currency_is_refused_and_changes_nothing, the_email_writes_each_currency_in_its_minor_unit);

fn order_in(currency: &str, unit_price_cents: i64, quantity: i64) -> Value {
    let mut order = sample_order();
    order["currency"] = json!(currency);
    order["items"] = json!([{"sku": "BOOK-001", "quantity": quantity, "unit_price_cents": unit_price_cents}]);
    order
}

async fn an_unknown_currency_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    // Three capital letters of no currency, the code for "no currency", one
    // for testing, a precious metal, and a code withdrawn in 2023.
    for code in ["XYZ", "XXX", "XTS", "XAU", "HRK"] {
        let problem = app.post_json("/orders", &order_in(code, 1250, 1)).await.problem(422, "validation_failed");
        assert_eq!(problem["errors"][0]["field"], "currency", "{code}: {problem}");
        assert_eq!(problem["errors"][0]["code"], "unknown_currency", "{code}");
        assert_eq!(
            problem["errors"][0]["message"], "must be an active ISO 4217 currency code, such as EUR, USD or JPY",
            "{code}"
        );
    }
    assert_eq!(app.get("/orders").await.json()["items"], json!([]));
    assert!(app.emails.sent().is_empty());
    for code in ["EUR", "JPY", "KWD", "CLF"] {
        assert_eq!(app.post_json("/orders", &order_in(code, 1250, 1)).await.status, 201, "{code}");
    }
}

/// The confirmation email's text, once sent.
async fn email_of(app: &TestApp, order: &Value) -> String {
    let id = order["id"].as_str().unwrap();
    eventually("the confirmation email", async || {
        app.emails.sent().into_iter().find(|email| email.order_id.to_string() == id).map(|email| email.body)
    })
    .await
}

async fn the_email_writes_each_currency_in_its_minor_unit(backend: Backend) {
    let app = spawn_app(backend).await;
    for (code, unit, total) in
        [("EUR", "12.50 EUR", "1,250.00 EUR"), ("JPY", "1,250 JPY", "125,000 JPY"), ("KWD", "1.250 KWD", "125.000 KWD")]
    {
        let order = app.create_order(&order_in(code, 1250, 100)).await;
        assert_eq!(order["total_cents"], 125_000, "the API keeps minor units, whatever the currency");
        let email = email_of(&app, &order).await;
        assert!(email.contains(&format!("100 x BOOK-001 at {unit} = {total}")), "{code}:\n{email}");
        assert!(email.contains(&format!("Total: {total}")), "{code}:\n{email}");
    }
}

#[actix_web::test]
async fn the_openapi_document_lists_the_accepted_codes() {
    let app = spawn_app(Backend::Sqlite).await;
    let document = app.get("/openapi.json").await.json();
    let currency = &document["components"]["schemas"]["CreateOrderRequest"]["properties"]["currency"];
    let codes: Vec<&str> = currency["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    for active in ["EUR", "USD", "JPY", "KWD", "CHF"] {
        assert!(codes.contains(&active), "{active} missing");
    }
    for refused in ["XXX", "XTS", "XAU", "HRK", "XYZ"] {
        assert!(!codes.contains(&refused), "{refused} listed");
    }
    assert!(currency["description"].as_str().unwrap().contains("ISO 4217"));
}
