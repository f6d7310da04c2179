//! A real browser on `/docs`: headless Chromium (Debian's package) driven by
//! playwright-core (tests/browser). `make test` installs both
//! (tests/setup/prerequisites.sh); `SKIP_BROWSER=1` skips this test.

use std::process::Command;

use harness::{Backend, spawn_app, workspace_root};
use serde_json::Value;

#[actix_web::test]
async fn swagger_ui_lists_every_operation_and_creates_an_order() {
    if std::env::var("SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("SKIP_BROWSER=1: skipped");
        return;
    }
    let root = workspace_root();
    let script = root.join("tests/browser/swagger.mjs");
    assert!(
        root.join("tests/browser/node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "the browser check needs Chromium and playwright-core: run it through `make test`, which installs both \
         (tests/setup/prerequisites.sh browser), or skip it with SKIP_BROWSER=1"
    );
    let app = spawn_app(Backend::Sqlite).await;
    let screenshot = root.join("target/swagger-ui.png");
    let (address, key) = (app.address.clone(), app.key.clone().unwrap());
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(script).arg(address).arg(&screenshot).arg(key).output().expect("node runs")
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(output.stdout.trim_ascii()).unwrap();

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
