//! Network rules shared by the Keepnet API client and the deliveries, written once.
//!
//! Both let plain text (no TLS) go to this machine only: `http://` base URLs for a local
//! sandbox, SMTP without TLS for a local relay. [`is_loopback`] is the one test of "this
//! machine" they apply.

use std::net::IpAddr;

pub mod retry;

/// Whether `host` names this machine: `localhost` (any case, a trailing dot allowed), an IPv4
/// or IPv6 loopback address (`127.0.0.0/8`, `::1`, with or without URL brackets), or an
/// IPv4-mapped loopback address (`::ffff:127.0.0.1`). A name that merely resolves to a
/// loopback address is not: resolution can change between the check and the connection.
pub fn is_loopback(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn this_machine_and_nothing_else() {
        for lo in [
            "localhost",
            "LOCALHOST",
            "localhost.",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "::ffff:127.0.0.1",
            "[::ffff:127.0.0.1]",
        ] {
            assert!(is_loopback(lo), "{lo}");
        }
        for not in [
            "",
            "smtp.example.com",
            "localhost.example.com",
            "mylocalhost",
            "10.0.0.1",
            "::ffff:10.0.0.1",
            "::",
            "0.0.0.0",
            "[::1",
            "128.0.0.1",
        ] {
            assert!(!is_loopback(not), "{not}");
        }
    }
}
