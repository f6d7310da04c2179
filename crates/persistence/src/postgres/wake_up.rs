//! Waking every process's dispatcher when an email is queued: the creating
//! transaction sends NOTIFY (delivered at commit, to every session that
//! LISTENs), and each process LISTENs on a connection of its own.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures_util::StreamExt as _;
use tokio::sync::Notify;

const CHANNEL: &str = "email_outbox";
/// Sent by the creating transaction (see `dialect.rs`).
pub(super) const NOTIFY: &str = "NOTIFY email_outbox";

/// The LISTEN task, aborted when dropped.
#[derive(Debug)]
pub(super) struct Listener(tokio::task::AbortHandle);

impl Listener {
    /// Starts turning notifications into wake-ups of `email_queued`.
    pub(super) fn start(url: String, email_queued: Arc<Notify>) -> Self {
        Self(tokio::spawn(listen(url, email_queued)).abort_handle())
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens on a dedicated connection (the notification stream borrows it for
/// good) and turns each notification into a wake-up; reconnects with backoff.
async fn listen(url: String, wake: Arc<Notify>) {
    let mut delay = Duration::from_millis(100);
    loop {
        match AsyncPgConnection::establish(&url).await {
            Ok(mut conn) => match diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await {
                Ok(_) => {
                    tracing::debug!("listening for queued emails");
                    delay = Duration::from_millis(100);
                    // Emails queued while we were not listening: look now.
                    wake.notify_one();
                    let mut notifications = std::pin::pin!(conn.notifications_stream());
                    while let Some(notification) = notifications.next().await {
                        match notification {
                            Ok(_) => wake.notify_one(),
                            Err(error) => {
                                tracing::warn!(error = %error, "email notification connection lost");
                                break;
                            }
                        }
                    }
                }
                Err(error) => tracing::warn!(error = %error, "could not LISTEN for queued emails"),
            },
            Err(error) => tracing::warn!(error = %error, "could not connect to LISTEN for queued emails"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
