//! Where a webhook endpoint receives its deliveries, and which destinations
//! the service refuses to call (server-side request forgery).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use async_trait::async_trait;
use url::{Host, Url};

use crate::parse::{ParseError, check_chars};

/// An absolute `http` or `https` URL with a host, without user info or
/// fragment, at most [`WebhookUrl::MAX_CHARS`] long once normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Most characters in a URL, before and after normalisation.
    pub const MAX_CHARS: usize = 2048;

    /// Parses and normalises by the WHATWG rules (those of browsers and of
    /// the HTTP client), so that the host checked is the host called.
    pub fn parse(raw: &str) -> Result<Self, ParseError> {
        check_chars(raw, 1, Self::MAX_CHARS)?;
        let url = Url::parse(raw).map_err(|_| ParseError::Pattern("must be an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ParseError::Pattern("must be an http or https URL"));
        }
        if url.host().is_none() {
            return Err(ParseError::Pattern("must have a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ParseError::Pattern("must not contain a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(ParseError::Pattern("must not contain a fragment"));
        }
        check_chars(url.as_str(), 1, Self::MAX_CHARS)?;
        Ok(Self(url))
    }

    /// The normalised URL.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The host name, or the IP address without brackets.
    pub fn host(&self) -> &str {
        self.0.host_str().map_or("", |host| host.trim_start_matches('[').trim_end_matches(']'))
    }

    /// The address, when the host is written as one: no name to resolve.
    pub fn ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }

    /// The port given, else 443 for `https` and 80 for `http`.
    pub fn port_or_default(&self) -> u16 {
        let default = if self.0.scheme() == "https" { 443 } else { 80 };
        self.0.port().unwrap_or(default)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Decides whether the service may call a URL; the adapter resolves names.
#[async_trait]
pub trait DestinationPolicy: Send + Sync + 'static {
    /// `Ok` if every address the URL leads to may be called.
    async fn check(&self, url: &WebhookUrl) -> Result<(), RefusedDestination>;
}

/// Why a destination may not be called.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RefusedDestination {
    /// The host is, or resolves to, an address inside some network rather
    /// than on the internet.
    #[error("{host} resolves to {address}, a private, loopback or link-local address")]
    Private {
        /// The host as the URL names it.
        host: String,
        /// The first address refused.
        address: IpAddr,
    },
    /// The name has no address.
    #[error("{0} does not resolve")]
    Unresolvable(String),
}

/// Whether `ip` is an address on the public internet, the only kind a
/// webhook may be sent to: not loopback, private, link-local, shared (CGNAT),
/// documentation, benchmarking, reserved, multicast or unspecified, nor an
/// IPv6 address that carries such an IPv4 address.
pub fn is_public_address(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_public_v4(ip),
        IpAddr::V6(ip) => is_public_v6(ip),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", 0.0.0.0 included
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let refused = segments[..6] == [0; 6] // unspecified, loopback, IPv4-compatible (deprecated)
        || segments[..4] == [0x100, 0, 0, 0] // discard only
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (segments[0] & 0xff00) == 0xff00 // multicast
        || (segments[0] == 0x2001 && segments[1] == 0xdb8) // documentation
        || (segments[0] & 0xfff0) == 0x3ff0; // documentation (3fff::/20)
    !refused
}

/// The IPv4 address an IPv6 address stands for, where a host or gateway
/// would reach it: IPv4-mapped, NAT64's well-known prefix, 6to4.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| {
        let [a, b] = high.to_be_bytes();
        let [c, d] = low.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        [0, 0, 0, 0, 0, 0xffff, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        !is_public_address(ip.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn loopback_is_refused() {
        for ip in ["127.0.0.1", "127.255.255.254", "::1"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn private_ranges_are_refused() {
        for ip in ["10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.0.1", "192.168.255.255"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn link_local_is_refused() {
        for ip in ["169.254.169.254", "169.254.0.1", "fe80::1", "febf::1"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn unique_local_and_site_local_are_refused() {
        for ip in ["fc00::1", "fd12:3456:789a::1", "fec0::1"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn unspecified_and_this_network_are_refused() {
        for ip in ["0.0.0.0", "0.1.2.3", "::"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn broadcast_multicast_and_reserved_are_refused() {
        for ip in ["255.255.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "ff02::1", "ff05::1:3"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn shared_address_space_is_refused() {
        for ip in ["100.64.0.1", "100.127.255.255"] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn documentation_benchmarking_and_protocol_ranges_are_refused() {
        for ip in [
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.0.8",
            "2001:db8::1",
            "3fff::1",
            "100::1",
        ] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_of_refused_ipv4_are_refused() {
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
        ] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn urls_are_normalised_and_described() {
        let url = WebhookUrl::parse("HTTPS://Hooks.Example.COM/orders?x=1").unwrap();
        assert_eq!(url.as_str(), "https://hooks.example.com/orders?x=1");
        assert_eq!(url.to_string(), url.as_str());
        assert_eq!(url.host(), "hooks.example.com");
        assert_eq!(url.port_or_default(), 443);
        assert_eq!(url.ip(), None);

        let url = WebhookUrl::parse("http://[::1]:8080/hook").unwrap();
        assert_eq!(url.host(), "::1");
        assert_eq!(url.ip(), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(url.port_or_default(), 8080);

        let url = WebhookUrl::parse("http://example.com").unwrap();
        assert_eq!(url.port_or_default(), 80);
        assert_eq!(url.as_str(), "http://example.com/");
    }

    #[test]
    fn odd_ipv4_spellings_become_the_address() {
        let url = WebhookUrl::parse("http://0x7f.1/").unwrap();
        assert_eq!(url.ip(), Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert_eq!(url.host(), "127.0.0.1");
    }

    #[test]
    fn other_urls_are_refused() {
        let long = format!("https://example.com/{}", "a".repeat(2048));
        for raw in [
            "",
            "example.com/hook",
            "/hook",
            "ftp://example.com/",
            "file:///etc/passwd",
            "mailto:ops@example.com",
            "https://user:pass@example.com/",
            "https://user@example.com/",
            "https://example.com/#top",
            "https://example.com/#",
            "http://",
            long.as_str(),
        ] {
            assert!(WebhookUrl::parse(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn the_length_limit_counts_the_normalised_form() {
        let at_limit = format!("https://example.com/{}", "a".repeat(2048 - 20));
        assert!(WebhookUrl::parse(&at_limit).is_ok());
        // Each `é` becomes `%C3%A9` when normalised.
        let grows = format!("https://example.com/{}", "é".repeat(1000));
        assert!(WebhookUrl::parse(&grows).is_err());
    }
}
