//! A mail transport that records what it is given, and can be told to fail.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use domain::{EmailMessage, EmailSender, SendError};

/// Records every email handed to it; fails the first `failures` sends.
#[derive(Debug, Clone, Default)]
pub struct RecordingSender {
    sent: Arc<Mutex<Vec<EmailMessage>>>,
    failures: Arc<AtomicU32>,
    attempts: Arc<AtomicU32>,
}

impl RecordingSender {
    /// Makes the next `n` sends fail with a transient error.
    pub fn fail_next(&self, n: u32) {
        self.failures.store(n, Ordering::SeqCst);
    }

    /// What was sent, in order.
    pub fn sent(&self) -> Vec<EmailMessage> {
        self.sent.lock().unwrap().clone()
    }

    /// Every call to `send`, failed ones included.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EmailSender for RecordingSender {
    async fn send(&self, email: &EmailMessage) -> Result<(), SendError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let fail = self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if fail {
            return Err(SendError::Transient("recording sender told to fail".to_owned()));
        }
        self.sent.lock().unwrap().push(email.clone());
        Ok(())
    }
}
