//! Channel authentication: who may send a dialect's requests. Per channel, any of a
//! shared-secret header, HTTP basic auth and an IP allow-list (CIDR); every one configured
//! must pass. `X-Forwarded-For` is believed only when the connection comes from a configured
//! proxy. A refused request gets 401 or 403, is logged and counted, and never reaches a session.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

/// An address block such as `196.201.214.0/24` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b.trim().parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(|| format!("{s:?}: bad prefix"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        // An IPv4 client may arrive as an IPv4-mapped IPv6 address.
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (whole, rest) = ((bits / 8) as usize, bits % 8);
    if a[..whole] != b[..whole] {
        return false;
    }
    rest == 0 || (a[whole] ^ b[whole]) & (0xff << (8 - rest)) == 0
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No or wrong credentials: 401.
    Credentials,
    /// The address is not allowed: 403.
    Address,
}

/// One channel's rules.
#[derive(Clone, Default)]
pub struct ChannelAuth {
    pub header: Option<(http::HeaderName, String)>,
    pub basic: Option<(String, String)>,
    pub allow: Vec<Cidr>,
    pub trusted_proxies: Vec<Cidr>,
}

impl std::fmt::Debug for ChannelAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelAuth")
            .field("header", &self.header.as_ref().map(|(n, _)| n))
            .field("basic_user", &self.basic.as_ref().map(|(u, _)| u))
            .field("allow", &self.allow)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

/// Equality that takes the same time wherever the first difference is.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ChannelAuth {
    /// True when the channel has at least one rule.
    /// True when some rule can refuse someone. An allow list with a block that covers a whole
    /// address family (`0.0.0.0/0`, `::/0`) refuses no one of that family, so on its own it is
    /// no authentication: `allow = ["0.0.0.0/0"]` beyond loopback is an open channel.
    pub fn is_configured(&self) -> bool {
        let allow_restricts = !self.allow.is_empty() && !self.allow.iter().any(|c| c.bits == 0);
        self.header.is_some() || self.basic.is_some() || allow_restricts
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// `X-Forwarded-For` entry that is not one.
    pub fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        if !self.trusted_proxies.iter().any(|p| p.contains(peer)) {
            return peer;
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
        forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .rev()
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .find(|ip| !self.trusted_proxies.iter().any(|p| p.contains(*ip)))
            .unwrap_or(peer)
    }

    pub fn check(&self, headers: &HeaderMap, peer: IpAddr) -> Result<(), Denied> {
        if !self.allow.is_empty() {
            let ip = self.client_ip(headers, peer);
            if !self.allow.iter().any(|c| c.contains(ip)) {
                return Err(Denied::Address);
            }
        }
        if let Some((name, secret)) = &self.header {
            let given = headers.get(name).map(|v| v.as_bytes()).unwrap_or_default();
            if !ct_eq(given, secret.as_bytes()) {
                return Err(Denied::Credentials);
            }
        }
        if let Some((user, password)) = &self.basic {
            let given = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic "))
                .and_then(|b| STANDARD.decode(b.trim()).ok())
                .unwrap_or_default();
            let want = format!("{user}:{password}");
            if !ct_eq(&given, want.as_bytes()) {
                return Err(Denied::Credentials);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("196.201.214.0/24").unwrap();
        assert!(c.contains(ip("196.201.214.200")));
        assert!(!c.contains(ip("196.201.215.1")));
        assert!(c.contains(ip("::ffff:196.201.214.7")), "IPv4-mapped IPv6");
        assert!(Cidr::parse("10.0.0.0/9").unwrap().contains(ip("10.127.255.255")));
        assert!(!Cidr::parse("10.0.0.0/9").unwrap().contains(ip("10.128.0.0")));
        assert!(Cidr::parse("2001:db8::/32").unwrap().contains(ip("2001:db8:1::5")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("example.org").is_err());
    }

    #[test]
    fn rules() {
        let mut h = HeaderMap::new();
        let auth = ChannelAuth {
            header: Some((http::HeaderName::from_static("x-njia-key"), "s3cret".into())),
            basic: None,
            allow: vec![Cidr::parse("196.201.214.0/24").unwrap()],
            trusted_proxies: vec![Cidr::parse("10.0.0.0/8").unwrap()],
        };
        assert_eq!(auth.check(&h, ip("196.201.214.9")), Err(Denied::Credentials));
        h.insert("x-njia-key", "s3cret".parse().unwrap());
        assert_eq!(auth.check(&h, ip("196.201.214.9")), Ok(()));
        assert_eq!(auth.check(&h, ip("41.90.1.1")), Err(Denied::Address));
        // Behind a trusted proxy the forwarded address counts; a forged first entry does not.
        h.insert("x-forwarded-for", "196.201.214.9, 41.90.1.1".parse().unwrap());
        assert_eq!(auth.check(&h, ip("10.1.2.3")), Err(Denied::Address));
        h.insert("x-forwarded-for", "41.90.1.1, 196.201.214.9".parse().unwrap());
        assert_eq!(auth.check(&h, ip("10.1.2.3")), Ok(()));
        // From an untrusted peer the header is ignored.
        assert_eq!(auth.check(&h, ip("41.90.1.1")), Err(Denied::Address));

        let basic = ChannelAuth { basic: Some(("at".into(), "pw".into())), ..ChannelAuth::default() };
        let mut h = HeaderMap::new();
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Err(Denied::Credentials));
        h.insert(http::header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("at:pw")).parse().unwrap());
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Ok(()));
        h.insert(http::header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("at:px")).parse().unwrap());
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Err(Denied::Credentials));
    }
}
