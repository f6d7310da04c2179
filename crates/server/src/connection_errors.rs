//! How a connection that actix-http ended with an error is logged: at the
//! level of whose fault it was, and, for malformed requests, which any client
//! can send at will, summarised so that no client can flood the log.
//!
//! actix-http logs these itself at ERROR; telemetry drops those events (see
//! [`crate::telemetry`]) in favour of this.

use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_http::error::DispatchError;

/// Malformed requests logged one by one per window; the rest are counted.
const LOGGED_PER_WINDOW: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

/// Logs why the connection from `peer` ended with `error`.
pub(crate) fn report(error: &DispatchError, peer: Option<SocketAddr>) {
    let peer = peer.map(|p| p.to_string()).unwrap_or_default();
    match error {
        DispatchError::Parse(_) => malformed_request(error, &peer),
        // The client went away, or was too slow; nothing to act on.
        DispatchError::Io(_) | DispatchError::SlowRequestTimeout | DispatchError::DisconnectTimeout => {
            tracing::debug!(peer, error = %error, "connection ended");
        }
        _ => tracing::error!(peer, error = %error, "connection failed"),
    }
}

struct Window {
    started: Instant,
    logged: u32,
    unlogged: u64,
}

static MALFORMED: Mutex<Option<Window>> = Mutex::new(None);

/// What to log for one malformed request.
enum Verdict {
    Log { unlogged_before: u64, last_of_window: bool },
    Count,
}

fn malformed_request(error: &DispatchError, peer: &str) {
    let verdict = {
        let mut window = MALFORMED.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let mut unlogged_before = 0;
        if window.as_ref().is_none_or(|w| now.duration_since(w.started) >= WINDOW) {
            unlogged_before = window.as_ref().map_or(0, |w| w.unlogged);
            *window = Some(Window { started: now, logged: 0, unlogged: 0 });
        }
        match window.as_mut() {
            Some(w) if w.logged < LOGGED_PER_WINDOW => {
                w.logged += 1;
                Verdict::Log { unlogged_before, last_of_window: w.logged == LOGGED_PER_WINDOW }
            }
            Some(w) => {
                w.unlogged += 1;
                Verdict::Count
            }
            None => Verdict::Count,
        }
    };
    if let Verdict::Log { unlogged_before, last_of_window } = verdict {
        if unlogged_before > 0 {
            tracing::info!(count = unlogged_before, "malformed requests refused without a line of their own");
        }
        // The client's fault, so not a warning; the line is for spotting abuse.
        tracing::info!(peer, error = %error, "malformed request refused");
        if last_of_window {
            tracing::info!("further malformed requests this minute are only counted, and the count logged later");
        }
    }
}
