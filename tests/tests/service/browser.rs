//! A real browser on `/docs` and on the confirmation email's HTML part:
//! headless Chromium (Debian's package) driven by playwright-core
//! (tests/browser). `make test` installs both (tests/setup/prerequisites.sh);
//! `SKIP_BROWSER=1` skips these tests.

use std::process::Command;

use harness::{Backend, spawn_app, workspace_root};
use serde_json::{Value, json};

/// Whether the browser check runs; it needs Chromium and playwright-core.
fn browser_ready() -> bool {
    if std::env::var("SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIP_BROWSER=1: skipped");
        return false;
    }
    let root = workspace_root();
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser check needs Chromium and playwright-core: run it through `make test`, which installs both \
         (tests/setup/prerequisites.sh browser), or skip it with SKIP_BROWSER=1"
    );
    true
}

/// Runs a script of tests/browser with `args`; its one line of JSON.
async fn node(script: &str, args: Vec<String>) -> Value {
    let script = workspace_root().join("tests/browser").join(script);
    let output =
        tokio::task::spawn_blocking(move || Command::new("node").arg(script).args(args).output().expect("node runs"))
            .await
            .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(output.stdout.trim_ascii()).unwrap()
}

#[actix_web::test]
async fn swagger_ui_lists_every_operation_and_creates_an_order() {
    if !browser_ready() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let screenshot = workspace_root().join("target/swagger-ui.png");
    let args = vec![app.address.clone(), screenshot.display().to_string(), app.key.clone().unwrap()];
    let result = node("swagger.mjs", args).await;

    // Swagger UI shows exactly the operations of the document it loaded.
    let document = app.get("/openapi.json").await.json();
    let mut expected: Vec<String> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    expected.sort_unstable();
    let mut operations: Vec<&str> =
        result["operations"].as_array().unwrap().iter().map(|o| o.as_str().unwrap()).collect();
    operations.sort_unstable();
    assert_eq!(operations, expected);
    assert!(operations.len() >= 11, "{operations:?}");
    assert_eq!(result["status"], "201", "{result}");
    assert_eq!(result["outside"], serde_json::json!([]), "the page loaded nothing from outside");
    let id = result["body"]["id"].as_str().unwrap();
    let stored = app.get(&format!("/orders/{id}")).await;
    assert_eq!(stored.status, 200);
    assert_eq!(stored.json()["customer_name"], "Ada Lovelace");
    assert!(workspace_root().join("target/swagger-ui.png").exists());
}

/// The HTML part of a confirmation email as a reader's browser shows it: the
/// hostile name as text, no image, no script run, nothing loaded from
/// outside. The screenshot is target/confirmation-email.png;
/// `EMAIL_SCREENSHOT=docs` also writes docs/confirmation-email.png, the
/// README's.
#[actix_web::test]
async fn the_html_email_reads_right_in_a_browser() {
    if !browser_ready() {
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let name = "<img src=x onerror=alert(1)>";
    let mut order = harness::sample_order();
    order["customer_name"] = json!(name);
    order["items"] = json!([
        {"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250},
        {"sku": "PEN-7", "quantity": 1, "unit_price_cents": 199}
    ]);
    let id = app.create_order(&order).await["id"].as_str().unwrap().to_owned();
    let preview = app.get(&format!("/orders/{id}/confirmation-email")).await.json();
    let target = workspace_root().join("target");
    let html = target.join("confirmation-email.html");
    std::fs::write(&html, preview["html"].as_str().unwrap()).unwrap();
    let screenshot = target.join("confirmation-email.png");
    let result = node("email.mjs", vec![html.display().to_string(), screenshot.display().to_string()]).await;

    let text = result["text"].as_str().unwrap();
    let greeting = format!("Hello {name},");
    for expected in [greeting.as_str(), &id, "BOOK-001", "12.50 EUR", "25.00 EUR", "26.99 EUR"] {
        assert!(text.contains(expected), "{expected:?} not shown:\n{text}");
    }
    assert_eq!(result["images"], 0, "the name is not an element");
    assert_eq!(result["dialogs"], 0, "no script ran");
    assert_eq!(result["outside"], json!([]), "the email loads nothing from outside");
    if std::env::var("EMAIL_SCREENSHOT").is_ok_and(|v| v == "docs") {
        std::fs::copy(&screenshot, workspace_root().join("docs/confirmation-email.png")).unwrap();
    }
}
