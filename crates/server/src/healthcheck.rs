//! `orders-server healthcheck`: asks the server running beside it (at
//! `BIND_ADDR`) whether it is ready, and exits 0 or 1. A container image then
//! needs no curl for its HEALTHCHECK.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(3);

/// Checks `GET /health/ready` and reports on stderr when it is not 200.
pub fn run() -> ExitCode {
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".to_owned());
    match check(&bind) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("orders-server healthcheck: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// The address to ask: the bind address, with an unspecified host (`0.0.0.0`,
/// `[::]`) replaced by loopback.
fn target(bind: &str) -> Result<SocketAddr, String> {
    let mut address = bind
        .to_socket_addrs()
        .map_err(|e| format!("BIND_ADDR={bind} is not an address: {e}"))?
        .next()
        .ok_or_else(|| format!("BIND_ADDR={bind} resolves to nothing"))?;
    if address.ip().is_unspecified() {
        address.set_ip(if address.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    Ok(address)
}

fn check(bind: &str) -> Result<(), String> {
    let address = target(bind)?;
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(|e| format!("{address}: {e}"))?;
    stream.set_read_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(TIMEOUT)).map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| format!("no answer: {e}"))?;
    match &head {
        b"HTTP/1.1 200" => Ok(()),
        other => Err(format!("not ready: {}", String::from_utf8_lossy(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_hosts_are_asked_on_loopback() {
        assert_eq!(target("0.0.0.0:8000").unwrap(), "127.0.0.1:8000".parse().unwrap());
        assert_eq!(target("[::]:9000").unwrap(), "[::1]:9000".parse().unwrap());
        assert_eq!(target("127.0.0.1:1234").unwrap(), "127.0.0.1:1234".parse().unwrap());
        assert!(target("nonsense").is_err());
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert!(check(&free.to_string()).is_err());
    }
}
