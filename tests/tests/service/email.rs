//! The confirmation email: stored atomically with its order, sent once,
//! retried with backoff, failed for good after the last attempt, sent over
//! real SMTP as a multipart message (text and HTML) that every retry repeats
//! byte for byte, shown as sent by its preview, and woken at once rather
//! than by the sweep.

use harness::{
    Backend, ReceivedMail, SinkMode, SmtpSink, TestApp, TestDatabase, on_both_backends, sample_order, spawn_app_on,
    spawn_app_with,
};
use serde_json::{Value, json};

on_both_backends!(
    an_order_and_its_email_are_stored_together_or_not_at_all,
    a_transport_that_fails_n_times_is_retried_until_it_succeeds,
    a_transport_that_always_fails_ends_failed_with_the_last_error,
    an_idle_server_sends_at_once_not_at_the_next_sweep,
    smtp_delivers_a_multipart_email_with_its_headers,
    amounts_follow_the_currency_in_both_parts,
    a_hostile_name_is_escaped_in_html_and_verbatim_in_text,
    a_retry_sends_the_same_message_byte_for_byte,
    the_preview_is_what_the_mail_server_received,
    an_email_queued_before_html_is_sent_and_previewed_as_text_only,
    smtp_refusals_are_retried_and_rejections_are_final,
    a_dispatcher_with_no_room_leaves_new_emails_to_the_shared_queue,
);

async fn create(app: &TestApp, email: &str) -> harness::Response {
    let mut body = sample_order();
    body["customer_email"] = json!(email);
    app.post_json("/orders", &body).await
}

async fn counts(app: &TestApp) -> [i64; 3] {
    [app.db.count("orders").await, app.db.count("order_items").await, app.db.count("email_outbox").await]
}

fn refuse_trigger(backend: Backend, table: &str, column: &str, value: &str) -> String {
    match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN NEW.{column} = '{value}' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
        ),
        Backend::Postgres => format!(
            "CREATE FUNCTION refuse_{table}() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
             CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} FOR EACH ROW \
             WHEN (NEW.{column} = '{value}') EXECUTE FUNCTION refuse_{table}();"
        ),
    }
}

async fn an_order_and_its_email_are_stored_together_or_not_at_all(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    // The email insert fails after the order and its items went in: all of it goes.
    app.db.execute(&refuse_trigger(backend, "email_outbox", "recipient", "no-email@example.com")).await;
    create(&app, "no-email@example.com").await.problem(500, "internal");
    assert_eq!(counts(&app).await, [0, 0, 0]);

    // The order insert fails: no email is queued for it.
    app.db.execute(&refuse_trigger(backend, "orders", "customer_email", "no-order@example.com")).await;
    create(&app, "no-order@example.com").await.problem(500, "internal");
    assert_eq!(counts(&app).await, [0, 0, 0]);
    assert_eq!(app.get("/orders").await.json()["items"], json!([]));

    // Everything else goes through, with exactly one email per order.
    assert_eq!(create(&app, "fine@example.com").await.status, 201);
    assert_eq!(counts(&app).await, [1, 1, 1]);
    assert!(app.emails.sent().iter().all(|m| m.recipient == "fine@example.com"));
}

async fn a_transport_that_fails_n_times_is_retried_until_it_succeeds(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAIL_RETRY_BASE_MS", "20"), ("MAIL_MAX_ATTEMPTS", "5")]).await;
    app.emails.fail_next(3);
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let status = app.settled_email(id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent");
    assert_eq!(status["confirmation_email"]["attempts"], 4);
    assert_eq!(status["confirmation_email"]["last_error"], Value::Null);
    assert_eq!(app.emails.attempts(), 4);
    assert_eq!(app.emails.sent().len(), 1);
}

async fn a_transport_that_always_fails_ends_failed_with_the_last_error(backend: Backend) {
    let app = spawn_app_with(backend, &[("MAIL_RETRY_BASE_MS", "20"), ("MAIL_MAX_ATTEMPTS", "3")]).await;
    app.emails.fail_next(u32::MAX);
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap();
    let status = app.settled_email(id).await;
    let email = &status["confirmation_email"];
    assert_eq!(email["state"], "failed");
    assert_eq!(email["attempts"], 3);
    assert_eq!(email["sent_at"], Value::Null);
    assert_eq!(email["last_error"], "recording sender told to fail");
    assert_eq!(app.emails.attempts(), 3, "no attempt after the last");
    // Failing the email is not a status change.
    let read = app.get(&format!("/orders/{id}")).await.json();
    assert_eq!((read["version"].as_i64(), read["status"].as_str()), (Some(1), Some("pending")));
    assert_eq!(read["confirmation_email"], *email);
}

async fn an_idle_server_sends_at_once_not_at_the_next_sweep(backend: Backend) {
    // With an hour between sweeps, only the wake-up can send these.
    let app = spawn_app_with(backend, &[("MAIL_SWEEP_INTERVAL_MS", "3600000")]).await;
    for round in 0..3 {
        let order = app.create_order(&sample_order()).await;
        let status = app.settled_email(order["id"].as_str().unwrap()).await;
        assert_eq!(status["confirmation_email"]["state"], "sent", "round {round}");
        // Idle between orders: the dispatcher is asleep when the next one comes.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.emails.sent().len(), 3);
}

async fn smtp_app(backend: Backend, sink: &SmtpSink, extra: &[(&str, &str)]) -> TestApp {
    let url = sink.url();
    let mut vars = vec![
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", url.as_str()),
        ("MAIL_FROM", "Example Shop <shop@example.com>"),
        ("MAIL_RETRY_BASE_MS", "20"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(backend, &vars).await
}

/// The message the sink accepted for order `id`.
fn mail_for(sink: &SmtpSink, id: &str) -> ReceivedMail {
    let mut mails: Vec<ReceivedMail> =
        sink.received().into_iter().filter(|m| m.headers["message-id"].contains(id)).collect();
    assert_eq!(mails.len(), 1, "one message for {id}");
    mails.remove(0)
}

async fn smtp_delivers_a_multipart_email_with_its_headers(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[]).await;
    let mut body = sample_order();
    body["customer_email"] = json!("Grace.Hopper@Example.com");
    body["items"] = json!([
        {"sku": "BOOK-001", "quantity": 2, "unit_price_cents": 1250},
        {"sku": "PEN-7", "quantity": 1, "unit_price_cents": 199}
    ]);
    let order = app.create_order(&body).await;
    let id = order["id"].as_str().unwrap();
    let status = app.settled_email(id).await;
    assert_eq!(status["confirmation_email"]["state"], "sent");

    let mail = mail_for(&sink, id);
    let reference = id[id.len() - 8..].to_uppercase();
    assert_eq!(mail.to, ["Grace.Hopper@Example.com"]);
    assert_eq!(mail.from, "shop@example.com");
    assert_eq!(mail.headers["subject"], format!("Order {reference} confirmed"));
    assert_eq!(mail.headers["message-id"], format!("<order-{id}.confirmation@example.com>"));
    assert_eq!(mail.headers["to"], "Grace.Hopper@Example.com");
    assert!(mail.headers["from"].contains("shop@example.com"));
    assert_eq!(mail.headers["mime-version"], "1.0");
    // The date the order was placed, to the second.
    assert_eq!(mail.headers["date"], format!("{}Z", &order["created_at"].as_str().unwrap()[..19]));
    assert_eq!(mail.content_type, "multipart/alternative");
    let text = mail.text.as_deref().expect("a text/plain part");
    let html = mail.html.as_deref().expect("a text/html part");
    for expected in [
        "Hello Ada Lovelace,",
        &reference,
        id,
        "2 x BOOK-001 at 12.50 EUR = 25.00 EUR",
        "1 x PEN-7",
        "Total: 26.99 EUR",
    ] {
        assert!(text.contains(expected), "{expected:?} not in\n{text}");
    }
    for expected in ["Hello Ada Lovelace,", &reference, id, ">BOOK-001<", ">12.50 EUR<", ">25.00 EUR<", ">26.99 EUR<"] {
        assert!(html.contains(expected), "{expected:?} not in\n{html}");
    }
}

async fn amounts_follow_the_currency_in_both_parts(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[]).await;
    for (code, unit, total) in
        [("EUR", "12.50 EUR", "1,250.00 EUR"), ("JPY", "1,250 JPY", "125,000 JPY"), ("KWD", "1.250 KWD", "125.000 KWD")]
    {
        let mut body = sample_order();
        body["currency"] = json!(code);
        body["items"] = json!([{"sku": "BOOK-001", "quantity": 100, "unit_price_cents": 1250}]);
        let id = app.create_order(&body).await["id"].as_str().unwrap().to_owned();
        app.settled_email(&id).await;
        let mail = mail_for(&sink, &id);
        let text = mail.text.unwrap();
        assert!(text.contains(&format!("100 x BOOK-001 at {unit} = {total}\n")), "{code}:\n{text}");
        assert!(text.contains(&format!("Total: {total}\n")), "{code}:\n{text}");
        let html = mail.html.unwrap();
        for amount in [unit, total] {
            assert!(html.contains(&format!(">{amount}</td>")), "{code}: {amount} not in\n{html}");
        }
        assert_eq!(html.matches(&format!(">{total}</td>")).count(), 2, "{code}: line total and total");
    }
}

async fn a_hostile_name_is_escaped_in_html_and_verbatim_in_text(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[]).await;
    let name = "<img src=x onerror=alert(1)> & \"Eve\"";
    let mut body = sample_order();
    body["customer_name"] = json!(name);
    let id = app.create_order(&body).await["id"].as_str().unwrap().to_owned();
    app.settled_email(&id).await;
    let mail = mail_for(&sink, &id);
    assert!(mail.text.unwrap().contains(&format!("Hello {name},")));
    let html = mail.html.unwrap();
    assert!(!html.contains("<img"), "{html}");
    assert!(html.contains("Hello &#60;img src=x onerror=alert(1)&#62; &#38; &#34;Eve&#34;,"), "{html}");
}

async fn a_retry_sends_the_same_message_byte_for_byte(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[("MAIL_MAX_ATTEMPTS", "10")]).await;
    // 451 after the whole message arrived: the next attempt sends it again.
    sink.set_mode(SinkMode::Defer);
    let id = app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
    harness::eventually("two deferred attempts", async || (sink.transmitted_mail().len() >= 2).then_some(())).await;
    sink.set_mode(SinkMode::Accept);
    let sent = app.settled_email(&id).await;
    assert_eq!(sent["confirmation_email"]["state"], "sent");
    let attempts = sink.transmitted_mail();
    assert!(attempts.len() >= 3, "{} attempts", attempts.len());
    assert_eq!(sent["confirmation_email"]["attempts"], attempts.len());
    for attempt in &attempts[1..] {
        assert_eq!(attempt.raw, attempts[0].raw, "every attempt sends the same bytes");
    }
    assert_eq!(attempts[0].headers["message-id"], format!("<order-{id}.confirmation@example.com>"));
    assert_eq!(sink.received().len(), 1);
}

async fn the_preview_is_what_the_mail_server_received(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[]).await;
    let mut body = sample_order();
    body["customer_name"] = json!("<b>Ada</b>");
    body["currency"] = json!("JPY");
    let order = app.create_order(&body).await;
    let id = order["id"].as_str().unwrap();
    app.settled_email(id).await;
    let mail = mail_for(&sink, id);

    // A key that may only read sees it.
    let reader = harness::issue_key(&app.db.url, &[domain::Scope::OrdersRead]).await;
    let api = app.api.with_key(reader);
    api.wait_for_key().await;
    let preview = api.get(&format!("/orders/{id}/confirmation-email")).await;
    assert_eq!(preview.status, 200);
    let preview = preview.json();
    assert_eq!(preview["order_id"], id);
    assert_eq!(preview["recipient"], mail.to[0]);
    assert_eq!(preview["subject"], mail.headers["subject"]);
    assert_eq!(preview["message_id"], mail.headers["message-id"]);
    assert_eq!(&preview["date"].as_str().unwrap()[..19], &mail.headers["date"][..19]);
    assert_eq!(preview["text"], mail.text.unwrap());
    assert_eq!(preview["html"], mail.html.unwrap());
    assert!(preview["html"].as_str().unwrap().contains("Hello &#60;b&#62;Ada&#60;/b&#62;,"));

    let missing = "01a22eb5-f229-7200-a4e0-2dff91e0b6b9";
    app.get(&format!("/orders/{missing}/confirmation-email")).await.problem(404, "not_found");
    let metrics_only = harness::issue_key(&app.db.url, &[domain::Scope::MetricsRead]).await;
    let api = app.api.with_key(metrics_only);
    api.wait_for_key().await;
    api.get(&format!("/orders/{id}/confirmation-email")).await.problem(403, "insufficient_scope");
}

async fn an_email_queued_before_html_is_sent_and_previewed_as_text_only(backend: Backend) {
    let sink = SmtpSink::start().await;
    // Queued by a process that sends nothing, then made as old rows are.
    let queuing = smtp_app(backend, &sink, &[("MAIL_DISPATCHER", "off")]).await;
    let id = queuing.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned();
    queuing.db.execute("UPDATE email_outbox SET html_body = NULL").await;
    let preview = queuing.get(&format!("/orders/{id}/confirmation-email")).await.json();
    assert_eq!(preview["html"], Value::Null);

    let url = sink.url();
    let vars = [("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", url.as_str()), ("MAIL_FROM", "Shop <shop@example.com>")];
    let sending = spawn_app_on(TestDatabase::existing(backend, queuing.db.url.clone()), &vars).await;
    assert_eq!(sending.settled_email(&id).await["confirmation_email"]["state"], "sent");
    let mail = mail_for(&sink, &id);
    assert_eq!(mail.content_type, "text/plain");
    assert_eq!(mail.html, None);
    assert_eq!(mail.text.as_deref(), preview["text"].as_str());
}

async fn smtp_refusals_are_retried_and_rejections_are_final(backend: Backend) {
    let sink = SmtpSink::start().await;
    let app = smtp_app(backend, &sink, &[("MAIL_MAX_ATTEMPTS", "10")]).await;

    // 451: try again later. The server keeps trying until the sink takes it.
    sink.set_mode(SinkMode::Refuse);
    let order = app.create_order(&sample_order()).await;
    let id = order["id"].as_str().unwrap().to_owned();
    harness::eventually("a refused attempt", async || {
        let status = app.get(&format!("/orders/{id}/status")).await.json();
        (status["confirmation_email"]["attempts"].as_i64() >= Some(2)).then_some(())
    })
    .await;
    let pending = app.get(&format!("/orders/{id}/status")).await.json();
    assert_eq!(pending["confirmation_email"]["state"], "pending");
    assert!(pending["confirmation_email"]["last_error"].as_str().unwrap().contains("451"));
    sink.set_mode(SinkMode::Accept);
    let sent = app.settled_email(&id).await;
    assert_eq!(sent["confirmation_email"]["state"], "sent");
    assert_eq!(sink.message_id_counts().len(), 1);

    // 550: never. One attempt, then failed with the server's answer.
    sink.set_mode(SinkMode::Reject);
    let order = app.create_order(&sample_order()).await;
    let failed = app.settled_email(order["id"].as_str().unwrap()).await;
    assert_eq!(failed["confirmation_email"]["state"], "failed");
    assert_eq!(failed["confirmation_email"]["attempts"], 1);
    assert!(failed["confirmation_email"]["last_error"].as_str().unwrap().contains("550"));
}

async fn a_dispatcher_with_no_room_leaves_new_emails_to_the_shared_queue(backend: Backend) {
    let sink = SmtpSink::start().await;
    sink.set_mode(SinkMode::Stall);
    // One email at a time and room for one more in memory.
    let app = smtp_app(backend, &sink, &[("MAIL_BATCH_SIZE", "1")]).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(app.create_order(&sample_order()).await["id"].as_str().unwrap().to_owned());
    }
    // The dispatcher is stuck on its first send: at most 1 + 1 emails were
    // claimed at creation, the others wait unclaimed in the table.
    let unclaimed = app.db.count("email_outbox WHERE attempts = 0").await;
    assert!(unclaimed >= 5, "{unclaimed} unclaimed");
    sink.set_mode(SinkMode::Accept);
    for id in &ids {
        let status = app.settled_email(id).await;
        assert_eq!(status["confirmation_email"]["state"], "sent");
        assert_eq!(status["confirmation_email"]["attempts"], 1);
    }
    let counts = sink.message_id_counts();
    assert_eq!(counts.len(), 10);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}
