//! The client's address. Behind a reverse proxy every request comes from the proxy, so the
//! proxy's `X-Forwarded-For` is believed — but only from the proxies the operator names
//! (`IAP_TRUSTED_PROXIES`), and only up to the first address that is not one of them: a client
//! can write anything in the header, and what it wrote sits left of what the proxies added.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

use super::state::AppState;

/// Parses `IAP_TRUSTED_PROXIES`: addresses or networks, separated by commas.
pub fn parse_trusted_proxies(text: &str) -> Result<Vec<IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<IpNet>()
                .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    format!(
                        "IAP_TRUSTED_PROXIES: {part:?} is not an IP address or network \
                         (e.g. 127.0.0.1, 10.0.0.0/8)"
                    )
                })
        })
        .collect()
}

/// The address of the client that made the request: the TCP peer, or, when the peer is a
/// trusted proxy, the right-most address of `X-Forwarded-For` that is not a trusted proxy.
pub fn address_of(peer: Option<IpAddr>, forwarded_for: &[&str], trusted: &[IpNet]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer.to_string();
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .flat_map(|header| header.split(','))
        .rev()
    {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            // Not an address: nothing left of it can be believed.
            Err(_) => break,
        }
    }
    client.to_string()
}

/// The client's address for `req` (see `address_of`).
pub fn address(req: &HttpRequest) -> String {
    let trusted = req
        .app_data::<actix_web::web::Data<AppState>>()
        .map(|state| state.trusted_proxies.clone())
        .unwrap_or_default();
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("X-Forwarded-For")
        .filter_map(|v| v.to_str().ok())
        .collect();
    address_of(req.peer_addr().map(|a| a.ip()), &forwarded, &trusted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_header_is_believed_only_from_trusted_proxies_and_only_up_to_the_first_stranger() {
        let trusted = parse_trusted_proxies("127.0.0.1, 10.0.0.0/8").unwrap();
        // No proxy: the peer, whatever the header says.
        assert_eq!(
            address_of(ip("203.0.113.9"), &["1.2.3.4"], &trusted),
            "203.0.113.9"
        );
        // Through the proxy: the address it saw.
        assert_eq!(
            address_of(ip("127.0.0.1"), &["198.51.100.7"], &trusted),
            "198.51.100.7"
        );
        // A client's own header is left of what the proxies added: never believed.
        assert_eq!(
            address_of(
                ip("127.0.0.1"),
                &["6.6.6.6, 198.51.100.7, 10.1.2.3"],
                &trusted
            ),
            "198.51.100.7"
        );
        assert_eq!(
            address_of(ip("127.0.0.1"), &["6.6.6.6", "198.51.100.7"], &trusted),
            "198.51.100.7"
        );
        // Garbage stops the walk at what the proxies vouched for.
        assert_eq!(
            address_of(ip("127.0.0.1"), &["nonsense"], &trusted),
            "127.0.0.1"
        );
        assert_eq!(address_of(ip("127.0.0.1"), &[], &trusted), "127.0.0.1");
        // IPv6.
        assert_eq!(
            address_of(ip("127.0.0.1"), &["2001:db8::1"], &trusted),
            "2001:db8::1"
        );
        // Nothing trusted by default.
        assert_eq!(
            address_of(ip("127.0.0.1"), &["198.51.100.7"], &[]),
            "127.0.0.1"
        );
        assert_eq!(address_of(None, &[], &trusted), "unknown");
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert!(parse_trusted_proxies("proxy.local").is_err());
        assert_eq!(parse_trusted_proxies("").unwrap(), vec![]);
    }
}
