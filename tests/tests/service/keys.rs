//! API keys: no customer data without one, each scope for what it names,
//! revocation seen by every process, the first key made exactly once, the
//! `keys` subcommands, and secrets kept out of logs.

use std::process::Command;

use actix_web::http::Method;
use harness::{
    Api, Backend, ServerProcess, TestApp, TestDatabase, eventually, on_both_backends, sample_order, server_binary,
    spawn_app, spawn_app_on, temp_dir,
};
use serde_json::{Value, json};

/// Issues a key over HTTP with the app's first key (every scope).
async fn issue(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let response = app.post_json("/api-keys", &json!({"name": "test key", "scopes": scopes})).await;
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("cache-control"), Some("no-store"));
    let body = response.json();
    (body["id"].as_str().unwrap().to_owned(), body["secret"].as_str().unwrap().to_owned())
}

/// What each route needs: `(method, path, scope)`.
fn guarded(order: &str, key: &str) -> Vec<(Method, String, &'static str)> {
    vec![
        (Method::GET, "/orders".into(), "orders:read"),
        (Method::POST, "/orders".into(), "orders:write"),
        (Method::GET, format!("/orders/{order}"), "orders:read"),
        (Method::GET, format!("/orders/{order}/status"), "orders:read"),
        (Method::PATCH, format!("/orders/{order}/status"), "orders:write"),
        (Method::GET, "/api-keys".into(), "admin"),
        (Method::POST, "/api-keys".into(), "admin"),
        (Method::DELETE, format!("/api-keys/{key}"), "admin"),
    ]
}

fn body_for(method: &Method, path: &str) -> Option<Vec<u8>> {
    let body = match (method, path) {
        (&Method::POST, "/orders") => sample_order(),
        (&Method::POST, _) => json!({"name": "n", "scopes": ["orders:read"]}),
        (&Method::PATCH, _) => json!({"status": "cancelled"}),
        _ => return None,
    };
    Some(serde_json::to_vec(&body).unwrap())
}

async fn send(api: &Api, method: &Method, path: &str) -> harness::Response {
    let body = body_for(method, path);
    api.request(method.clone(), path, &[("content-type", "application/json")], body.as_deref()).await
}

async fn each_scope_opens_exactly_its_routes(backend: Backend) {
    let app = spawn_app(backend).await;
    let granted = |held: &str, needed: &str| held == needed || (held == "orders:write" && needed == "orders:read");
    for held in ["orders:read", "orders:write", "admin"] {
        let (_, secret) = issue(&app, &[held]).await;
        let api = app.with_key(secret);
        // Fresh targets each round: a PATCH or DELETE that is let through changes them.
        let order = app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
        let (victim, _) = issue(&app, &["orders:read"]).await;
        for (method, path, needed) in guarded(&order, &victim) {
            let response = send(&api, &method, &path).await;
            if granted(held, needed) {
                assert!(response.status < 400, "{held} on {method} {path}: {}", response.status);
            } else {
                let problem = response.problem(403, "insufficient_scope");
                assert!(problem["detail"].as_str().unwrap().contains(needed), "{problem}");
                let challenge = response.header("www-authenticate").unwrap();
                assert!(challenge.contains("insufficient_scope") && challenge.contains(needed), "{challenge}");
            }
        }
    }
}

async fn no_valid_key_gets_one_and_the_same_401(backend: Backend) {
    let app = spawn_app(backend).await;
    let order = app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
    let (revoked_id, revoked) = issue(&app, &["orders:read"]).await;
    assert_eq!(app.request(Method::DELETE, &format!("/api-keys/{revoked_id}"), &[], None).await.status, 200);
    let unknown = format!("ord_0123456789abcdef_{}", "A".repeat(43));
    let initial = app.key.clone().unwrap();
    let wrong_secret = format!("{}{}", &initial[..21], "B".repeat(43));
    let long = format!("Bearer {}", "x".repeat(10_000));
    let credentials: Vec<Option<String>> = vec![
        None,
        Some(String::new()),
        Some("Bearer".into()),
        Some("Bearer ".into()),
        Some("Bearer not-a-key".into()),
        Some(format!("Basic {initial}")),
        Some(format!("Token {initial}")),
        Some(format!("Bearer {initial}x")),
        Some(long),
        Some(format!("Bearer {unknown}")),
        Some(format!("Bearer {wrong_secret}")),
        Some(format!("Bearer {revoked}")),
    ];
    let anonymous = app.anonymous();
    for credential in &credentials {
        for (method, path, _) in guarded(&order, &revoked_id) {
            let headers: Vec<(&str, &str)> = credential.iter().map(|c| ("authorization", c.as_str())).collect();
            let mut all = headers.clone();
            all.push(("content-type", "application/json"));
            let body = body_for(&method, &path);
            let response = anonymous.request(method.clone(), &path, &all, body.as_deref()).await;
            let problem = response.problem(401, "unauthenticated");
            assert_eq!(response.header("www-authenticate"), Some("Bearer"), "{credential:?} {method} {path}");
            assert_eq!(problem["detail"], "a valid API key is required");
        }
    }
    // Nothing was changed by any of them.
    assert_eq!(app.get(&format!("/orders/{order}/status")).await.json()["status"], "pending");
    assert_eq!(app.all_orders("").await.len(), 1);
}

async fn health_and_documentation_stay_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let anonymous = app.anonymous();
    for path in ["/health/live", "/health/ready", "/openapi.json", "/docs", "/docs/swagger-ui.css"] {
        assert_eq!(anonymous.get(path).await.status, 200, "{path}");
    }
}

async fn a_key_is_shown_once_and_listed_without_its_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let (id, secret) = issue(&app, &["orders:write", "orders:read"]).await;
    assert!(secret.starts_with(&format!("ord_{id}_")));
    let listed = app.get("/api-keys").await;
    assert_eq!(listed.status, 200);
    let text = String::from_utf8_lossy(&listed.body);
    assert!(!text.contains(&secret[21..]), "a list never shows a secret: {text}");
    let keys = listed.json()["items"].as_array().unwrap().clone();
    assert_eq!(keys.len(), 2, "the first key and this one");
    let key = keys.iter().find(|k| k["id"] == id.as_str()).unwrap();
    assert_eq!(key["scopes"], json!(["orders:read", "orders:write"]));
    assert!(key.get("secret").is_none());
    // Bad requests change nothing.
    for bad in [json!({"name": "", "scopes": []}), json!({"name": "x", "scopes": ["orders:delete"]}), json!({})] {
        let problem = app.post_json("/api-keys", &bad).await.problem(422, "validation_failed");
        let fields = problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned());
        assert!(fields.into_iter().any(|f| f.starts_with("scopes")), "{problem}");
    }
    assert_eq!(app.get("/api-keys").await.json()["items"].as_array().unwrap().len(), 2);
    // Revoked keys stay listed, with the time; an unknown or malformed id is 404.
    let revoked = app.request(Method::DELETE, &format!("/api-keys/{id}"), &[], None).await;
    assert!(revoked.json()["revoked_at"].is_string());
    for missing in ["0123456789abcdef", "nope"] {
        app.request(Method::DELETE, &format!("/api-keys/{missing}"), &[], None).await.problem(404, "not_found");
    }
    // Use shows within seconds, without a write per request.
    let initial = app.key.clone().unwrap();
    let initial_id = &initial[4..20];
    eventually("last_used_at of the first key", async || {
        let keys = app.get("/api-keys").await.json();
        let first = keys["items"].as_array().unwrap().iter().find(|k| k["id"] == initial_id).cloned()?;
        first["last_used_at"].is_string().then_some(())
    })
    .await;
}

async fn a_key_made_or_revoked_on_one_process_reaches_another(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let first = spawn_app_on(TestDatabase::existing(backend, db.url.clone()), &[]).await;
    let second = spawn_app_on(TestDatabase::existing(backend, db.url.clone()), &[]).await;
    let (id, secret) = issue(&first, &["orders:read"]).await;
    let elsewhere = second.with_key(secret);
    eventually("the second process to accept the new key", async || {
        (elsewhere.get("/orders").await.status == 200).then_some(())
    })
    .await;
    let started = std::time::Instant::now();
    assert_eq!(first.request(Method::DELETE, &format!("/api-keys/{id}"), &[], None).await.status, 200);
    assert_eq!(first.with_key(elsewhere.key.clone().unwrap()).get("/orders").await.status, 401, "at once here");
    eventually("the second process to refuse the revoked key", async || {
        (elsewhere.get("/orders").await.status == 401).then_some(())
    })
    .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused within 5 s: {:?}", started.elapsed());
}

on_both_backends!(
    each_scope_opens_exactly_its_routes,
    no_valid_key_gets_one_and_the_same_401,
    health_and_documentation_stay_open,
    a_key_is_shown_once_and_listed_without_its_secret,
    a_key_made_or_revoked_on_one_process_reaches_another,
    processes_starting_together_make_one_first_key,
    the_keys_subcommands_manage_keys_in_the_database,
);

const INITIAL: &str = "initial API key (shown once): ";

/// Several servers starting at once on one empty database: exactly one
/// prints the first key, and every one of them accepts it.
async fn processes_starting_together_make_one_first_key(backend: Backend) {
    let db = TestDatabase::create(backend).await;
    let dir = temp_dir("keys");
    let servers: Vec<ServerProcess> =
        (0..3).map(|_| ServerProcess::start(&dir, &[("DATABASE_URL", &db.url), ("LOG_FORMAT", "json")])).collect();
    for server in &servers {
        let api = Api::new(format!("http://127.0.0.1:{}", server.port));
        eventually("ready", async || (api.client_get_status("/health/ready").await == Some(200)).then_some(())).await;
    }
    let printed: Vec<String> = servers
        .iter()
        .flat_map(|s| s.output().lines().filter_map(|l| l.strip_prefix(INITIAL).map(str::to_owned)).collect::<Vec<_>>())
        .collect();
    assert_eq!(printed.len(), 1, "exactly one first key: {printed:?}");
    let key = &printed[0];
    for server in &servers {
        let api = Api::new(format!("http://127.0.0.1:{}", server.port)).with_key(key.clone());
        eventually("the first key to be accepted", async || (api.get("/api-keys").await.status == 200).then_some(()))
            .await;
        api.anonymous().get("/orders").await.problem(401, "unauthenticated");
        // The log names the key by its id; the secret appears only in the one line that shows it.
        let output = server.output();
        assert_eq!(output.matches(&key[21..]).count(), usize::from(output.contains(INITIAL)), "{output}");
    }
    let logged = servers.iter().any(|s| s.output().contains(&format!("\"key_id\":\"{}\"", &key[4..20])));
    assert!(logged, "the access log names the key id");
}

fn keys_command(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(server_binary())
        .arg("keys")
        .args(args)
        .env_clear()
        .env("DATABASE_URL", database_url)
        .output()
        .expect("orders-server runs")
}

async fn the_keys_subcommands_manage_keys_in_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.db.url.clone();
    let created = tokio::task::spawn_blocking({
        let url = url.clone();
        move || keys_command(&url, &["create", "--name", "warehouse", "--scope", "orders:read"])
    })
    .await
    .unwrap();
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let stdout = String::from_utf8(created.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "the key alone on stdout: {stdout:?}");
    let secret = lines[0].to_owned();
    assert!(secret.starts_with("ord_") && secret.len() == 64, "{secret}");
    let id = secret[4..20].to_owned();

    // The running server accepts it within 5 s, for reads only.
    let warehouse = app.with_key(secret.clone());
    eventually("the server to accept the new key", async || {
        (warehouse.get("/orders").await.status == 200).then_some(())
    })
    .await;
    warehouse.post_json("/orders", &sample_order()).await.problem(403, "insufficient_scope");

    let listed = tokio::task::spawn_blocking({
        let url = url.clone();
        move || keys_command(&url, &["list"])
    })
    .await
    .unwrap();
    let list = String::from_utf8(listed.stdout).unwrap();
    assert!(list.contains(&id) && list.contains("warehouse") && list.contains("orders:read"), "{list}");
    assert!(!list.contains(&secret[21..]), "no secret in a list: {list}");

    let revoked = tokio::task::spawn_blocking({
        let (url, id) = (url.clone(), id.clone());
        move || keys_command(&url, &["revoke", &id])
    })
    .await
    .unwrap();
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    eventually("the server to refuse the revoked key", async || {
        (warehouse.get("/orders").await.status == 401).then_some(())
    })
    .await;

    // Mistakes exit 2 (usage) or 1 (no such key), with one clear line.
    let mistakes: [(&[&str], i32); 3] = [
        (&["create", "--name", "x", "--scope", "orders:delete"], 2),
        (&["create", "--scope", "admin"], 2),
        (&["revoke", "0123456789abcdef"], 1),
    ];
    for (args, code) in mistakes {
        let url = url.clone();
        let output = tokio::task::spawn_blocking(move || keys_command(&url, args)).await.unwrap();
        assert_eq!(output.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[actix_web::test]
async fn the_bearer_scheme_is_documented_on_every_guarded_operation() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc: Value = app.anonymous().get("/openapi.json").await.json();
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let security = &operation["security"];
            if path.starts_with("/health") {
                assert!(security.is_null(), "{method} {path} is open");
            } else {
                let scopes = security[0]["bearer"].as_array().unwrap_or_else(|| panic!("{method} {path}"));
                assert_eq!(scopes.len(), 1, "{method} {path}");
                assert!(operation["responses"]["401"].is_object() && operation["responses"]["403"].is_object());
            }
        }
    }
}
