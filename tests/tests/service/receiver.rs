//! The webhook receiver the webhook tests rely on: it answers as staged,
//! records what it is sent, and refuses every signature that is not right.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{Behaviour, Received, SIGNATURE_HEADER, WebhookReceiver, v1_signature, verify_at};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

fn client(timeout: Duration) -> awc::Client {
    awc::Client::builder().disable_redirects().timeout(timeout).finish()
}

/// Posts `body` to `url`; the status, or `None` if the client gave up.
async fn post(client: &awc::Client, url: &str, body: &Value, signature: Option<&str>) -> Option<u16> {
    let mut request = client.post(url);
    if let Some(signature) = signature {
        request = request.insert_header((SIGNATURE_HEADER, signature));
    }
    request.send_json(body).await.ok().map(|response| response.status().as_u16())
}

fn received(body: &str, signature: Option<&str>) -> Received {
    Received {
        method: "POST".to_owned(),
        body: body.to_owned(),
        json: serde_json::from_str(body).unwrap_or(Value::Null),
        headers: Vec::new(),
        signature: signature.map(str::to_owned),
        at: Instant::now(),
        attempt_no: 1,
    }
}

#[actix_web::test]
async fn records_each_path_apart() {
    let receiver = WebhookReceiver::start().await;
    let client = client(WAIT);
    assert_eq!(receiver.url("hooks/a"), format!("http://127.0.0.1:{}/hooks/a", receiver.port));

    assert_eq!(post(&client, &receiver.url("/hooks/a"), &json!({"n": 1}), Some("t=1,v1=ab")).await, Some(204));
    assert_eq!(post(&client, &receiver.url("/hooks/a"), &json!({"n": 2}), None).await, Some(204));
    assert_eq!(post(&client, &receiver.url("/hooks/b"), &json!({"n": 3}), None).await, Some(204));

    let a = receiver.wait_for("/hooks/a", 2, WAIT).await;
    assert_eq!(a.iter().map(|r| r.json["n"].clone()).collect::<Vec<_>>(), [json!(1), json!(2)]);
    assert_eq!(a.iter().map(|r| r.attempt_no).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(a[0].method, "POST");
    assert_eq!(a[0].body, r#"{"n":1}"#);
    assert_eq!(a[0].signature.as_deref(), Some("t=1,v1=ab"));
    assert_eq!(a[0].header("Content-Type"), Some("application/json"));
    assert_eq!(a[1].signature, None);
    assert!(a[0].at <= a[1].at);
    assert_eq!(receiver.received("/hooks/b").len(), 1);
    assert_eq!(receiver.paths_hit(), ["/hooks/a", "/hooks/b"]);

    receiver.reset("/hooks/a");
    assert!(receiver.received("/hooks/a").is_empty());
    assert_eq!(receiver.paths_hit(), ["/hooks/b"]);
    post(&client, &receiver.url("/hooks/a"), &json!({"n": 4}), None).await;
    assert_eq!(receiver.received("/hooks/a")[0].attempt_no, 1, "counting starts again after a reset");
}

#[actix_web::test]
async fn answers_as_staged() {
    let receiver = WebhookReceiver::start().await;
    let client = client(WAIT);
    receiver.answer("/fail", Behaviour::FailTimes(3));
    receiver.answer("/gone", Behaviour::Status(410));
    receiver.answer("/moved", Behaviour::Redirect(receiver.url("/elsewhere")));

    let mut statuses = Vec::new();
    for n in 0..5 {
        statuses.push(post(&client, &receiver.url("/fail"), &json!({"n": n}), None).await);
    }
    assert_eq!(statuses, [Some(500), Some(500), Some(500), Some(200), Some(200)]);
    assert_eq!(receiver.received("/fail").iter().map(|r| r.attempt_no).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);

    assert_eq!(post(&client, &receiver.url("/gone"), &json!({}), None).await, Some(410));
    receiver.answer("/gone", Behaviour::Ok);
    assert_eq!(post(&client, &receiver.url("/gone"), &json!({}), None).await, Some(204), "behaviour changes at once");

    let response = client.post(receiver.url("/moved")).send_json(&json!({})).await.unwrap();
    assert_eq!(response.status().as_u16(), 307);
    assert_eq!(response.headers().get("location").unwrap().to_str().unwrap(), receiver.url("/elsewhere"));
    assert_eq!(receiver.received("/moved").len(), 1);
    assert!(receiver.received("/elsewhere").is_empty());
}

#[actix_web::test]
async fn a_hanging_path_holds_the_request_but_records_it() {
    let receiver = WebhookReceiver::start().await;
    receiver.answer("/slow", Behaviour::Hang);

    let started = Instant::now();
    let answer = post(&client(Duration::from_millis(300)), &receiver.url("/slow"), &json!({"n": 1}), None).await;
    assert_eq!(answer, None, "the client gave up");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(receiver.wait_for("/slow", 1, WAIT).await[0].json, json!({"n": 1}));

    // Other paths answer meanwhile.
    assert_eq!(post(&client(WAIT), &receiver.url("/fast"), &json!({}), None).await, Some(204));
}

#[actix_web::test]
#[should_panic(expected = "expected at least 2 request(s) on /hooks/a")]
async fn waiting_in_vain_says_what_arrived() {
    let receiver = WebhookReceiver::start().await;
    post(&client(WAIT), &receiver.url("/hooks/a"), &json!({"n": 1}), None).await;
    receiver.wait_for("/hooks/a", 2, Duration::from_millis(200)).await;
}

#[actix_web::test]
async fn a_late_arrival_ends_the_wait() {
    let receiver = WebhookReceiver::start().await;
    let url = receiver.url("/later");
    actix_web::rt::spawn(async move {
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
        post(&client(WAIT), &url, &json!({}), None).await;
    });
    assert_eq!(receiver.wait_for("/later", 1, WAIT).await.len(), 1);
}

// Computed apart from this code, with Python's hmac module:
// hmac.new(SECRET.encode(), f"{T}.{BODY}".encode(), hashlib.sha256).hexdigest()
const SECRET: &str = "whsec_test_Ünïcode-key";
const T: u64 = 1_700_000_000;
const BODY: &str =
    r#"{"id":"0190b5a2-7f3c-7cc1-9d2e-5b1f2a3c4d5e","type":"order.created","data":{"order":{"note":"café ☕"}}}"#;
const V1: &str = "17f96179e58cc9dd97ccae7ea5c4f2a2f011863cb8e2ab84a3b57e1faae38efb";

fn at_t() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T + 10)
}

#[test]
fn signature_matches_an_independent_vector() {
    assert_eq!(v1_signature(SECRET, T, BODY.as_bytes()), V1);
    let header = format!("t={T},v1={V1}");
    assert_eq!(verify_at(&received(BODY, Some(&header)), SECRET, at_t()), Ok(()));
    // Any one v1 may match, and other schemes are let be.
    let several = format!("t={T}, v1={}, v0=abc, v1={V1}", "0".repeat(64));
    assert_eq!(verify_at(&received(BODY, Some(&several)), SECRET, at_t()), Ok(()));
}

#[test]
fn signature_refuses_what_is_not_right() {
    let good = format!("t={T},v1={V1}");
    let refused = [
        ("a tampered body", received(&BODY.replace("café", "cafe"), Some(&good)), SECRET, at_t()),
        ("a wrong secret", received(BODY, Some(&good)), "whsec_other", at_t()),
        ("no header", received(BODY, None), SECRET, at_t()),
        ("an old t", received(BODY, Some(&good)), SECRET, UNIX_EPOCH + Duration::from_secs(T + 301)),
        ("a t from the future", received(BODY, Some(&good)), SECRET, UNIX_EPOCH + Duration::from_secs(T - 301)),
        ("upper-case hex", received(BODY, Some(&format!("t={T},v1={}", V1.to_uppercase()))), SECRET, at_t()),
        ("no v1", received(BODY, Some(&format!("t={T}"))), SECRET, at_t()),
        ("no t", received(BODY, Some(&format!("v1={V1}"))), SECRET, at_t()),
        ("two t", received(BODY, Some(&format!("t={T},t={T},v1={V1}"))), SECRET, at_t()),
        ("another t", received(BODY, Some(&format!("t={},v1={V1}", T + 1))), SECRET, at_t()),
    ];
    for (what, received, secret, now) in refused {
        assert!(verify_at(&received, secret, now).is_err(), "{what} was accepted");
    }
}

#[actix_web::test]
async fn verifies_what_it_received_against_now() {
    let receiver = WebhookReceiver::start().await;
    let client = client(WAIT);
    let body = json!({"id": "e1", "type": "order.created"});
    let raw = serde_json::to_vec(&body).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let fresh = format!("t={now},v1={}", v1_signature("s3cret", now, &raw));
    let stale = format!("t={},v1={}", now - 600, v1_signature("s3cret", now - 600, &raw));
    post(&client, &receiver.url("/signed"), &body, Some(&fresh)).await;
    post(&client, &receiver.url("/signed"), &body, Some(&stale)).await;

    let got = receiver.wait_for("/signed", 2, WAIT).await;
    assert_eq!(receiver.verify(&got[0], "s3cret"), Ok(()));
    assert!(receiver.verify(&got[0], "other").is_err());
    let old = receiver.verify(&got[1], "s3cret").unwrap_err();
    assert!(old.contains("away from now"), "{old}");
}

#[actix_web::test]
async fn stops_with_its_last_handle() {
    let receiver = WebhookReceiver::start().await;
    let url = receiver.url("/x");
    let client = client(WAIT);
    let other = receiver.clone();
    drop(receiver);
    assert_eq!(post(&client, &url, &json!({}), None).await, Some(204), "a clone keeps it running");
    drop(other);
    let deadline = Instant::now() + WAIT;
    while post(&client, &url, &json!({}), None).await.is_some() {
        assert!(Instant::now() < deadline, "still answering after its last handle was dropped");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}
