//! Requests the server makes to addresses that others give it (an Odoo database's SMS delivery
//! webhook): only to public addresses, so that nobody can make the server call its own network
//! (loopback, private and link-local ranges, the cloud metadata address). A name is checked
//! after it is resolved, on the address actually connected to, and redirects are never
//! followed; an allow-list (`IAP_OUTBOUND_ALLOW`) opens private networks for tests and private
//! deployments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use actix_tls::connect::{Resolve, Resolver};
use futures_util::future::LocalBoxFuture;
use ipnet::IpNet;

/// Which addresses outgoing calls may reach: public ones, and the allow-listed networks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    allowed: Vec<IpNet>,
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a public address")]
pub struct NotPublic(pub String);

impl OutboundPolicy {
    /// Parses `IAP_OUTBOUND_ALLOW`: addresses or networks, separated by commas.
    pub fn parse(text: &str) -> Result<Self, String> {
        let allowed = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|part| {
                part.parse::<IpNet>()
                    .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("IAP_OUTBOUND_ALLOW: {part:?} is not an IP address or network")
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(OutboundPolicy { allowed })
    }

    /// Whether a call may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        is_public(ip) || self.allowed.iter().any(|net| net.contains(&ip))
    }

    /// Checks what can be checked of `url` before resolving it: an address written in it, or a
    /// name that is the machine itself. A name is checked again when it is resolved.
    pub fn check_url(&self, url: &url::Url) -> Result<(), NotPublic> {
        let refused = || NotPublic(url.host_str().unwrap_or_default().to_string());
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.permits(IpAddr::V4(ip)) => Err(refused()),
            Some(url::Host::Ipv6(ip)) if !self.permits(IpAddr::V6(ip)) => Err(refused()),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && !self.permits(IpAddr::V4(Ipv4Addr::LOCALHOST)) {
                    Err(refused())
                } else {
                    Ok(())
                }
            }
            None => Err(refused()),
            _ => Ok(()),
        }
    }

    /// An HTTP client that connects only where this policy permits (names are resolved, then
    /// filtered) and follows no redirect, each request limited to `timeout`.
    pub fn client(&self, timeout: Duration) -> awc::Client {
        let resolver = Resolver::custom(PermittedOnly(self.clone()));
        let connector = awc::Connector::new()
            .connector(actix_tls::connect::Connector::new(resolver).service())
            .timeout(timeout);
        awc::Client::builder()
            .connector(connector)
            .disable_redirects()
            .timeout(timeout)
            .finish()
    }
}

/// Resolves with the system's resolver and keeps the addresses the policy permits: none left,
/// and the connection is refused before it is opened.
struct PermittedOnly(OutboundPolicy);

impl Resolve for PermittedOnly {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> LocalBoxFuture<'a, Result<Vec<SocketAddr>, Box<dyn std::error::Error>>> {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| self.0.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(NotPublic(host.to_string())) as Box<dyn std::error::Error>);
            }
            Ok(permitted)
        })
    }
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is on the public internet: not loopback, private, link-local (the metadata
/// address 169.254.169.254 among them), shared (CGNAT), unspecified, broadcast, multicast,
/// documentation or reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Shared address space (carrier-grade NAT).
        || (a == 100 && (64..128).contains(&b))
        // IETF protocol assignments, benchmarking, reserved.
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Documentation (2001:db8::/32).
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        // NAT64 of an IPv4 address: judged as that address.
        || (first == 0x0064 && ip.segments()[1] == 0xff9b && {
            let s = ip.segments();
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            !is_public_v4(v4)
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_permitted_unless_allowed() {
        let policy = OutboundPolicy::default();
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::ffff:127.0.0.1",
            "fd00::1",
            "fe80::1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!policy.permits(refused.parse().unwrap()), "{refused}");
        }
        for public in [
            "8.8.8.8",
            "93.184.216.34",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(policy.permits(public.parse().unwrap()), "{public}");
        }
        let tests = OutboundPolicy::parse("127.0.0.1, 10.0.0.0/8").unwrap();
        assert!(tests.permits("127.0.0.1".parse().unwrap()));
        assert!(tests.permits("10.9.9.9".parse().unwrap()));
        assert!(!tests.permits("192.168.1.1".parse().unwrap()));
        assert!(OutboundPolicy::parse("not-a-network").is_err());
    }

    #[test]
    fn written_addresses_and_the_machines_own_names_are_refused_before_resolving() {
        let policy = OutboundPolicy::default();
        let check = |url: &str| policy.check_url(&url::Url::parse(url).unwrap());
        assert!(check("http://127.0.0.1:8069/sms/status").is_err());
        assert!(check("http://[::ffff:7f00:1]/").is_err());
        assert!(check("http://localhost:8069/").is_err());
        assert!(check("http://api.localhost/").is_err());
        assert!(check("http://169.254.169.254/latest/meta-data/").is_err());
        assert!(check("https://odoo.example.com/sms/status").is_ok());
        assert!(check("https://8.8.8.8/").is_ok());
    }
}
