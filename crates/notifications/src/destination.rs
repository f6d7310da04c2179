//! The check made when an endpoint is registered: its host must lead only to
//! public addresses. The webhook client checks again at each connection.

use std::time::Duration;

use async_trait::async_trait;
use domain::{DestinationPolicy, RefusedDestination, WebhookUrl, is_public_address};

/// A registration waits at most this long for DNS.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Refuses URLs that lead to loopback, private or link-local addresses,
/// unless told to allow them (`WEBHOOK_ALLOW_PRIVATE=true`: tests, local set-ups).
#[derive(Debug, Clone, Copy)]
pub struct DestinationGuard {
    allow_private: bool,
}

impl DestinationGuard {
    /// `allow_private`: accept every destination.
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }
}

#[async_trait]
impl DestinationPolicy for DestinationGuard {
    async fn check(&self, url: &WebhookUrl) -> Result<(), RefusedDestination> {
        if self.allow_private {
            return Ok(());
        }
        let host = url.host();
        let private = |address| RefusedDestination::Private { host: host.to_owned(), address };
        if let Some(ip) = url.ip() {
            return if is_public_address(ip) { Ok(()) } else { Err(private(ip)) };
        }
        let unresolvable = || RefusedDestination::Unresolvable(host.to_owned());
        let lookup = tokio::net::lookup_host((host, url.port_or_default()));
        let mut addresses = match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(addresses)) => addresses.peekable(),
            Ok(Err(_)) | Err(_) => return Err(unresolvable()),
        };
        if addresses.peek().is_none() {
            return Err(unresolvable());
        }
        // Every address, not just one: the client may connect to any of them.
        match addresses.map(|a| a.ip()).find(|ip| !is_public_address(*ip)) {
            Some(ip) => Err(private(ip)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(raw: &str) -> WebhookUrl {
        WebhookUrl::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn private_literals_and_names_are_refused() {
        let guard = DestinationGuard::new(false);
        for raw in ["http://127.0.0.1:9/", "http://[::1]/", "http://169.254.169.254/latest", "http://10.1.2.3/"] {
            let refused = guard.check(&url(raw)).await;
            assert!(matches!(refused, Err(RefusedDestination::Private { .. })), "{raw}: {refused:?}");
        }
        let refused = guard.check(&url("http://localhost:8080/hook")).await;
        match refused {
            Err(RefusedDestination::Private { host, address }) => {
                assert_eq!(host, "localhost");
                assert!(address.is_loopback());
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn public_literals_pass_without_resolving() {
        let guard = DestinationGuard::new(false);
        assert!(guard.check(&url("https://93.184.215.14/hook")).await.is_ok());
        assert!(guard.check(&url("https://[2606:4700:4700::1111]/hook")).await.is_ok());
    }

    #[tokio::test]
    async fn names_that_do_not_resolve_are_refused() {
        let guard = DestinationGuard::new(false);
        // .invalid never resolves (RFC 6761).
        let refused = guard.check(&url("https://hooks.example.invalid/")).await;
        assert!(matches!(refused, Err(RefusedDestination::Unresolvable(ref h)) if h == "hooks.example.invalid"));
    }

    #[tokio::test]
    async fn allow_private_accepts_everything() {
        let guard = DestinationGuard::new(true);
        for raw in ["http://127.0.0.1:9/", "http://localhost/", "http://10.0.0.1/", "https://hooks.example.invalid/"] {
            assert!(guard.check(&url(raw)).await.is_ok(), "{raw}");
        }
    }
}
