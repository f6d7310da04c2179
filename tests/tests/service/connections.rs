//! Connections a hostile client holds open, over raw sockets: every request
//! head has a deadline, a body the app gave up on ends its connection, a full
//! server still takes a fresh client, and malformed requests cannot flood the
//! log. All of this happens below the database, so SQLite stands for both.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::join_all;
use harness::{Api, Backend, ServerProcess, eventually_within, spawn_app_with, temp_dir};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: a\r\n\r\n";
/// A second head that never ends.
const STALLED_HEAD: &[u8] = b"GET /health/live HTTP/1.1\r\nHost: a\r\n";

/// Reads one response whose body has a Content-Length; `None` if the
/// connection ends or nothing comes within `wait`.
async fn read_response(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut seen = Vec::new();
    let read = async {
        loop {
            let text = String::from_utf8_lossy(&seen).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + length {
                    return Some(text);
                }
            }
            let mut chunk = [0; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok().flatten()
}

/// Whether the server closes the connection within `wait`; what it sent before is returned too.
async fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> (bool, String) {
    let mut seen = Vec::new();
    let closed = tokio::time::timeout(wait, async {
        let mut chunk = [0; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    (closed, String::from_utf8_lossy(&seen).into_owned())
}

/// A connection that was answered once and is now stalled in its second head.
async fn stalled_in_second_head(port: u16) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    stream.write_all(HEALTH).await.ok()?;
    let first = read_response(&mut stream, Duration::from_secs(60)).await?;
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    stream.write_all(STALLED_HEAD).await.ok()?;
    Some(stream)
}

#[actix_web::test]
async fn every_request_head_has_a_deadline_not_only_the_first() {
    let app = spawn_app_with(Backend::Sqlite, &[("HTTP_HEAD_TIMEOUT_MS", "1000")]).await;
    let port = app.port;
    let connections = 150;
    let stalled: Vec<TcpStream> =
        join_all((0..connections).map(|_| stalled_in_second_head(port))).await.into_iter().flatten().collect();
    assert_eq!(stalled.len(), connections, "every connection got its first answer");

    // A deadline, not a speed target: the server cuts them after about 1 s.
    let outcomes = join_all(
        stalled
            .into_iter()
            .map(|mut stream| async move { closed_by_server(&mut stream, Duration::from_secs(15)).await }),
    )
    .await;
    let open = outcomes.iter().filter(|(closed, _)| !closed).count();
    assert_eq!(open, 0, "{open} of {connections} connections were still open 15 s after their head stalled");

    // Idling between requests is keep-alive, not a slow head: it may outlast the head time-out.
    let mut idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    for _ in 0..2 {
        idle.write_all(HEALTH).await.unwrap();
        let answer = read_response(&mut idle, Duration::from_secs(10)).await.expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    // A head that arrives in pieces, in time, is served.
    idle.write_all(&HEALTH[..10]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    idle.write_all(&HEALTH[10..]).await.unwrap();
    let answer = read_response(&mut idle, Duration::from_secs(10)).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[actix_web::test]
async fn a_fresh_client_is_served_while_stalled_connections_fill_the_server() {
    // A head time-out far beyond the test: only making room can serve the fresh client.
    let app =
        spawn_app_with(Backend::Sqlite, &[("HTTP_MAX_CONNECTIONS", "40"), ("HTTP_HEAD_TIMEOUT_MS", "600000")]).await;
    let port = app.port;
    let stalled = Rc::new(Cell::new(0_usize));
    let attackers = 120;
    for _ in 0..attackers {
        let stalled = stalled.clone();
        actix_web::rt::spawn(async move {
            if let Some(mut stream) = stalled_in_second_head(port).await {
                stalled.set(stalled.get() + 1);
                // Held until the server lets go (bounded, so the task ends).
                closed_by_server(&mut stream, Duration::from_secs(60)).await;
            }
        });
    }
    // 120 first answers, each on a connection of its own: the rest of the
    // suite, running beside this test on two CPUs, can stretch that past 20 s.
    let filled = async || (stalled.get() >= 40).then_some(());
    eventually_within(Duration::from_secs(90), "the stalled connections to fill the server", filled).await;

    // A deadline for the test, not a speed target.
    let fresh = Api::with_timeout(app.address.clone(), Duration::from_secs(10));
    let response = fresh.get("/health/live").await;
    assert_eq!(response.status, 200);
}

async fn unfinished_post(port: u16, key: &str, framing: &str, body: &str) -> (bool, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let head = format!(
        "POST /orders HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n\
         {framing}\r\n\r\n{body}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    closed_by_server(&mut stream, Duration::from_secs(15)).await
}

#[actix_web::test]
async fn a_body_that_never_ends_gets_its_408_and_then_the_connection_is_closed() {
    let app = spawn_app_with(Backend::Sqlite, &[("HTTP_BODY_TIMEOUT_MS", "300")]).await;
    let (port, key) = (app.port, app.key.clone().unwrap());
    let chunked =
        (0..50).map(|_| unfinished_post(port, &key, "Transfer-Encoding: chunked", "10\r\n{\"customer_name\"\r\n"));
    let sized = (0..10).map(|_| unfinished_post(port, &key, "Content-Length: 100", "{\"customer_name\""));
    let outcomes = join_all(chunked.chain(sized)).await;
    for (closed, answer) in &outcomes {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
        assert!(closed, "the connection was still open 15 s after its 408");
        assert!(answer.to_ascii_lowercase().contains("\r\nconnection: close\r\n"), "{answer}");
    }
    let after = app.get("/orders").await;
    assert_eq!(after.json()["items"], serde_json::json!([]), "nothing was stored");
}

#[actix_web::test]
async fn malformed_requests_are_the_clients_fault_and_cannot_flood_the_log() {
    let dir = temp_dir("malformed");
    let server = ServerProcess::start(&dir, &[]);
    server.wait_ready().await;
    let many_headers: String = (0..200).map(|i| format!("X-{i}: a\r\n")).collect();
    let kinds = [
        "NOT HTTP AT ALL\r\n\r\n".to_owned(),
        "GET / HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n".to_owned(),
        format!("GET / HTTP/1.1\r\nHost: a\r\n{many_headers}\r\n"),
    ];
    let floods = 300;
    for round in 0..floods / 10 {
        let requests = (0..10).map(|i| {
            let request = kinds[(round * 10 + i) % kinds.len()].clone();
            let port = server.port;
            async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                stream.write_all(request.as_bytes()).await.unwrap();
                let (closed, answer) = closed_by_server(&mut stream, Duration::from_secs(10)).await;
                assert!(closed, "the connection stayed open after a malformed request");
                assert!(answer.starts_with("HTTP/1.1 400") || answer.starts_with("HTTP/1.1 431"), "{answer}");
            }
        });
        join_all(requests).await;
    }
    // Everything logged about the flood is in once a later request's line is.
    let marker = [("x-request-id", "after-the-flood")];
    let response = server.api().request(actix_web::http::Method::GET, "/health/live", &marker, None).await;
    assert_eq!(response.status, 200);
    server.wait_for_line(&["request completed", "after-the-flood"]).await;

    let output = server.output();
    let errors: Vec<&str> = output.lines().filter(|l| l.contains("ERROR")).collect();
    assert!(errors.is_empty(), "a client's mistake was logged as a server error:\n{}", errors.join("\n"));
    let about_flood: Vec<&str> = output.lines().filter(|l| l.contains("malformed")).collect();
    assert!(!about_flood.is_empty(), "malformed requests are not logged at all:\n{output}");
    assert!(about_flood.len() <= 12, "{} lines for {floods} malformed requests:\n{output}", about_flood.len());
    let _ = std::fs::remove_dir_all(dir);
}
