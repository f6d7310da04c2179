//! The HTTP client the OTLP exporter posts spans with: the workspace's
//! reqwest 0.12, run on the main tokio runtime.
//!
//! The SDK's batch processor exports from a thread of its own, under a plain
//! futures executor, where reqwest cannot run: each request is spawned on the
//! runtime captured at start-up, and the processor's thread waits for it.
//! That thread never holds a runtime worker, so a flush at shutdown (itself
//! off the runtime, see `telemetry`) cannot starve the request it waits for.

use async_trait::async_trait;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use tokio::runtime::Handle;

/// Most bytes of a collector's answer kept: a partial-success report is a
/// few hundred.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// reqwest on a tokio runtime, for the exporter.
#[derive(Debug, Clone)]
pub struct TokioHttpClient {
    http: reqwest::Client,
    runtime: Handle,
}

/// Why the client cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("not on a tokio runtime: {0}")]
    NoRuntime(#[from] tokio::runtime::TryCurrentError),
    #[error("cannot build the HTTP client: {0}")]
    Build(#[from] reqwest::Error),
}

/// A collector's answer longer than [`MAX_ANSWER_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the collector's answer is longer than {MAX_ANSWER_BYTES} bytes")]
struct AnswerTooLong;

impl TokioHttpClient {
    /// Must be called on the runtime that is to run the requests. Each
    /// request, from connecting to reading the answer, is bounded by `timeout`
    /// (the client is the one to bound it, the exporter does not).
    pub fn new(timeout: std::time::Duration) -> Result<Self, ClientError> {
        let runtime = Handle::try_current()?;
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(Self { http, runtime })
    }
}

#[async_trait]
impl HttpClient for TokioHttpClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let http = self.http.clone();
        self.runtime.spawn(send(http, request)).await?
    }
}

async fn send(http: reqwest::Client, request: reqwest::Request) -> Result<Response<Bytes>, HttpError> {
    let mut response = http.execute(request).await?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut answer = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(Box::new(AnswerTooLong));
        }
        answer.extend_from_slice(&chunk);
    }
    let mut response = Response::builder().status(status).body(Bytes::from(answer))?;
    *response.headers_mut() = headers;
    Ok(response)
}
