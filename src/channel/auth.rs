//! Channel authentication: who may send a dialect's requests. Per channel, any of a
//! shared-secret header, HTTP basic auth and an IP allow-list (CIDR); every one configured
//! must pass. `X-Forwarded-For` is believed only when the connection comes from a configured
//! proxy. A refused request gets 401 or 403, is logged and counted, and never reaches a session.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use ipnet::IpNet;
use subtle::ConstantTimeEq;

/// An address block such as `196.201.214.0/24` or `2001:db8::/32`; a bare address is a block
/// of one. The arithmetic is `ipnet`'s (already in the tree through hyper-util): this type only
/// keeps the configuration's wording of errors and the IPv4-mapped rule below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Parses `address/prefix` or a bare address. Spaces around either part are tolerated, as
    /// they always were, so a configuration that loaded before still loads.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an address or CIDR block"))?;
        let net = match bits {
            // `IpNet::new` refuses a prefix longer than the address family allows.
            Some(b) => b.trim().parse::<u8>().ok().and_then(|b| IpNet::new(addr, b).ok()),
            None => Some(IpNet::from(addr)),
        };
        net.map(Cidr).ok_or_else(|| format!("{s:?}: bad prefix"))
    }

    /// True when `ip` is inside the block. An IPv4 client may arrive as an IPv4-mapped IPv6
    /// address (a dual-stack listener), and is then judged by its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.0.contains(&ip)
    }

    /// True when the block is a whole address family (`0.0.0.0/0`, `::/0`).
    fn is_everything(&self) -> bool {
        self.0.prefix_len() == 0
    }
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

/// Equality that takes the same time wherever the first difference is (`subtle`, already in
/// the tree through rustls), so a guesser learns nothing from how long a refusal took. Only
/// the length may show, as it did before: a secret's length is not the secret.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

impl ChannelAuth {
    /// True when some rule can refuse someone. An allow list with a block that covers a whole
    /// address family (`0.0.0.0/0`, `::/0`) refuses no one of that family, so on its own it is
    /// no authentication: `allow = ["0.0.0.0/0"]` beyond loopback is an open channel.
    pub fn is_configured(&self) -> bool {
        let allow_restricts = !self.allow.is_empty() && !self.allow.iter().any(Cidr::is_everything);
        self.header.is_some() || self.basic.is_some() || allow_restricts
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the nearest
    /// `X-Forwarded-For` entry that is not one. Entries are read from the right, the end each
    /// trusted proxy appended to; an entry that is not an address ends the walk at the proxy
    /// before it, because what lies left of it was written by no one this server trusts.
    pub fn client_ip(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let trusted = |ip: IpAddr| self.trusted_proxies.iter().any(|p| p.contains(ip));
        if !trusted(peer) {
            return peer;
        }
        let forwarded = headers.get_all("x-forwarded-for").iter().map(|v| v.to_str().ok()).collect::<Vec<_>>();
        let mut nearest = peer;
        for entry in forwarded.iter().rev().flat_map(|v| v.unwrap_or("?").rsplit(',')) {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if trusted(ip) => nearest = ip,
                Ok(ip) => return ip,
                Err(_) => return nearest,
            }
        }
        nearest
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
        // (block, address, inside): the prefix boundary on both sides, both families, host bits
        // set in the block, whole families, and IPv4 clients arriving IPv4-mapped.
        let cases = [
            ("196.201.214.0/24", "196.201.214.200", true),
            ("196.201.214.0/24", "196.201.215.1", false),
            ("196.201.214.0/24", "::ffff:196.201.214.7", true),
            ("196.201.214.0/24", "::ffff:196.201.215.7", false),
            ("10.0.0.0/9", "10.127.255.255", true),
            ("10.0.0.0/9", "10.128.0.0", false),
            ("10.1.2.3/8", "10.200.0.1", true),
            ("10.1.2.3/8", "11.0.0.0", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::1", false),
            ("2001:db8::/127", "2001:db8::1", true),
            ("2001:db8::/127", "2001:db8::2", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("127.0.0.1/32", "127.0.0.1", true),
            ("::1", "::1", true),
            (" 127.0.0.1 / 32 ", "127.0.0.1", true),
            ("0.0.0.0/0", "8.8.8.8", true),
            ("0.0.0.0/0", "::ffff:8.8.8.8", true),
            ("0.0.0.0/0", "2001:db8::1", false),
            ("::/0", "2001:db8::1", true),
            ("::/0", "8.8.8.8", false),
            ("::/0", "::ffff:8.8.8.8", false),
        ];
        for (block, addr, inside) in cases {
            let c = Cidr::parse(block).unwrap_or_else(|e| panic!("{block:?}: {e}"));
            assert_eq!(c.contains(ip(addr)), inside, "{block} contains {addr}");
        }
    }

    #[test]
    fn cidr_errors_keep_their_wording() {
        let cases = [
            ("10.0.0.0/33", "\"10.0.0.0/33\": bad prefix"),
            ("2001:db8::/129", "\"2001:db8::/129\": bad prefix"),
            ("10.0.0.0/", "\"10.0.0.0/\": bad prefix"),
            ("10.0.0.0/x", "\"10.0.0.0/x\": bad prefix"),
            ("10.0.0.0/-1", "\"10.0.0.0/-1\": bad prefix"),
            ("10.0.0.0/256", "\"10.0.0.0/256\": bad prefix"),
            ("example.org", "\"example.org\" is not an address or CIDR block"),
            ("10.0.0/8", "\"10.0.0/8\" is not an address or CIDR block"),
            ("", "\"\" is not an address or CIDR block"),
        ];
        for (block, error) in cases {
            assert_eq!(Cidr::parse(block), Err(error.to_owned()), "{block:?}");
        }
    }

    #[test]
    fn only_a_whole_family_block_counts_as_no_rule() {
        let allow = |blocks: &[&str]| ChannelAuth {
            allow: blocks.iter().map(|b| Cidr::parse(b).unwrap()).collect(),
            ..ChannelAuth::default()
        };
        assert!(!allow(&[]).is_configured());
        assert!(!allow(&["0.0.0.0/0"]).is_configured());
        assert!(!allow(&["::/0", "10.0.0.0/8"]).is_configured());
        assert!(allow(&["0.0.0.0/1"]).is_configured());
        assert!(allow(&["10.0.0.0/8"]).is_configured());
    }

    #[test]
    fn secrets_compare_whole() {
        let cases: &[(&[u8], &[u8], bool)] = &[
            (b"s3cret", b"s3cret", true),
            (b"", b"", true),
            (b"s3cret", b"s3creT", false),
            (b"s3cret", b"S3cret", false),
            (b"s3cret", b"s3cre", false),
            (b"s3cre", b"s3cret", false),
            (b"", b"s3cret", false),
        ];
        for (a, b, equal) in cases {
            assert_eq!(ct_eq(a, b), *equal, "{a:?} vs {b:?}");
        }
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

        // The walk from the right: trusted proxies are passed over, the first other address is
        // the client; what is not an address ends the walk at the proxy before it, so an
        // allowed address forged to the left of it never counts.
        let table: &[(&[&str], &str)] = &[
            (&["196.201.214.9, 10.0.0.7"], "196.201.214.9"),
            (&["196.201.214.9", "10.0.0.7"], "196.201.214.9"),
            (&["196.201.214.9, garbage"], "10.1.2.3"),
            (&["196.201.214.9, garbage, 10.0.0.7"], "10.0.0.7"),
            (&["196.201.214.9:4711"], "10.1.2.3"),
            (&[], "10.1.2.3"),
        ];
        for (values, want) in table {
            let mut h = HeaderMap::new();
            for v in *values {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            assert_eq!(auth.client_ip(&h, ip("10.1.2.3")), ip(want), "{values:?}");
        }

        let basic = ChannelAuth { basic: Some(("at".into(), "pw".into())), ..ChannelAuth::default() };
        let mut h = HeaderMap::new();
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Err(Denied::Credentials));
        h.insert(http::header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("at:pw")).parse().unwrap());
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Ok(()));
        h.insert(http::header::AUTHORIZATION, format!("Basic {}", STANDARD.encode("at:px")).parse().unwrap());
        assert_eq!(basic.check(&h, ip("1.2.3.4")), Err(Denied::Credentials));
    }
}
