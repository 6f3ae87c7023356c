//! The guard against server-side request forgery: a feed, a redirect or an article link
//! must not make kawaraban fetch from the machine it runs on or from the network behind
//! it (an admin page on localhost, a cloud metadata service on 169.254.169.254).
//!
//! Only `http` and `https` URLs are fetched, and no connection is made to an address in
//! one of these ranges unless `[fetch] allow_private` lists a range that holds it:
//!
//! | range | what it is |
//! | --- | --- |
//! | `0.0.0.0/8` | unspecified, "this network" (Linux connects 0.0.0.0 to the local host) |
//! | `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` | private (RFC 1918) |
//! | `100.64.0.0/10` | carrier-grade NAT (RFC 6598): not on the internet, and used by clouds and VPN overlays for internal services |
//! | `127.0.0.0/8` | loopback |
//! | `169.254.0.0/16` | link-local, cloud metadata services |
//! | `192.0.0.0/24` | IETF protocol assignments |
//! | `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` | documentation |
//! | `198.18.0.0/15` | benchmarking |
//! | `224.0.0.0/4` | multicast |
//! | `240.0.0.0/4` | reserved, including the broadcast address 255.255.255.255 |
//! | `::/128` | unspecified |
//! | `::1/128` | loopback |
//! | `::ffff:0:0/96` | IPv4-mapped: judged as the IPv4 address it carries |
//! | `::/96` | IPv4-compatible (deprecated) |
//! | `64:ff9b::/96` | NAT64: refused when the IPv4 address it carries is refused |
//! | `64:ff9b:1::/48` | local-use NAT64 |
//! | `100::/64` | discard-only |
//! | `2001:db8::/32`, `3fff::/20` | documentation |
//! | `fc00::/7` | unique-local (cloud metadata on fd00:ec2::254, for one) |
//! | `fe80::/10` | link-local |
//! | `fec0::/10` | site-local (deprecated) |
//! | `ff00::/8` | multicast |
//!
//! Addresses reached through 6to4 (`2002::/16`) or Teredo (`2001::/32`) relays are not
//! decoded: the relay, not this host, would have to route them to a private network.
//!
//! Names are checked on the addresses they resolve to, in the resolver the HTTP client
//! connects with, so the check and the connection use the same answer (a name whose
//! records change between a check and the connection cannot slip through). Refused
//! addresses are dropped and the rest tried; when none is left the fetch fails with a
//! [`Refusal`]. A URL whose host is an address never reaches a resolver, so
//! [`Guard::check_url`] looks at it before each request, redirects included.
//!
//! Proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are the operator's choice: the
//! proxy's own host is not checked. Through a proxy the target's name is resolved by
//! the proxy, so only targets written as addresses are checked here; keeping the proxy
//! off private networks is the proxy's job.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use url::{Host, Url};

/// An address range: an address and the number of leading bits that name the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    const fn v4(a: [u8; 4], prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])),
            prefix,
        }
    }

    const fn v6(s: [u16; 8], prefix: u8) -> Cidr {
        Cidr {
            addr: IpAddr::V6(Ipv6Addr::new(
                s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7],
            )),
            prefix,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// `10.0.0.0/8`, `fd00::/8`, or a single address.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| {
                format!("the prefix length {p:?} is not a number from 0 to {max}")
            })?,
        };
        let cidr = Cidr { addr, prefix };
        let network = match addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask32(prefix))),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask128(prefix))),
        };
        // A stray host part usually means a mistyped prefix: say so rather than guess.
        if network != addr {
            return Err(format!(
                "{addr} has bits set past its /{prefix} prefix (the range starts at {network}/{prefix})"
            ));
        }
        Ok(cidr)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `[fetch] allow_private`. The whole list is read before any entry is parsed, so an
/// error points at the line of the key, which the configuration loader then names.
pub fn deserialize_ranges<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cidr>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<Cidr>().map_err(|e| {
                de::Error::custom(format!(
                    "expected address ranges like \"127.0.0.0/8\" or \"fd00::/8\", got {s:?}: {e}"
                ))
            })
        })
        .collect()
}

/// The ranges refused unless allowed; the first that holds an address names it, so
/// narrower ranges come before the wider ones they sit in.
const REFUSED_V4: &[(Cidr, &str)] = &[
    (Cidr::v4([0, 0, 0, 0], 8), "unspecified"),
    (Cidr::v4([10, 0, 0, 0], 8), "private"),
    (Cidr::v4([100, 64, 0, 0], 10), "carrier-grade NAT"),
    (Cidr::v4([127, 0, 0, 0], 8), "loopback"),
    (Cidr::v4([169, 254, 0, 0], 16), "link-local"),
    (Cidr::v4([172, 16, 0, 0], 12), "private"),
    (Cidr::v4([192, 0, 0, 0], 24), "IETF protocol"),
    (Cidr::v4([192, 0, 2, 0], 24), "documentation"),
    (Cidr::v4([192, 168, 0, 0], 16), "private"),
    (Cidr::v4([198, 18, 0, 0], 15), "benchmarking"),
    (Cidr::v4([198, 51, 100, 0], 24), "documentation"),
    (Cidr::v4([203, 0, 113, 0], 24), "documentation"),
    (Cidr::v4([224, 0, 0, 0], 4), "multicast"),
    (Cidr::v4([255, 255, 255, 255], 32), "broadcast"),
    (Cidr::v4([240, 0, 0, 0], 4), "reserved"),
];

const REFUSED_V6: &[(Cidr, &str)] = &[
    (Cidr::v6([0; 8], 128), "unspecified"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (Cidr::v6([0; 8], 96), "IPv4-compatible"),
    (
        Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "local-use NAT64",
    ),
    (Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (
        Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation",
    ),
    (Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), "unique-local"),
    (Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

const NAT64: Cidr = Cidr::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);

/// The refused range holding `ip` and what kind of range it is, or None when `ip` is a
/// public address. Ignores `allow_private`.
pub fn refused_range(ip: IpAddr) -> Option<(Cidr, &'static str)> {
    let ip = ip.to_canonical();
    let table = match ip {
        IpAddr::V4(_) => REFUSED_V4,
        IpAddr::V6(v6) if NAT64.contains(ip) => {
            // A NAT64 gateway would carry the connection on to the IPv4 address.
            let embedded = Ipv4Addr::from(u128::from(v6) as u32);
            let (range, kind) = refused_range(IpAddr::V4(embedded))?;
            let IpAddr::V4(net) = range.addr else {
                return None;
            };
            let IpAddr::V6(prefix) = NAT64.addr else {
                return None;
            };
            let net = u128::from(prefix) | u128::from(u32::from(net));
            return Some((
                Cidr {
                    addr: IpAddr::V6(Ipv6Addr::from(net)),
                    prefix: 96 + range.prefix,
                },
                kind,
            ));
        }
        IpAddr::V6(_) => REFUSED_V6,
    };
    table.iter().find(|(c, _)| c.contains(ip)).copied()
}

/// Why a fetch was not attempted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{}", address_message(.host, .addr, .kind, .range, .redirected_from.as_deref()))]
    Address {
        /// The URL's host: a name, or the address itself.
        host: String,
        addr: IpAddr,
        kind: &'static str,
        /// The refused range holding `addr`, which `allow_private` would have to open.
        range: Cidr,
        /// The URL whose redirect led here.
        redirected_from: Option<String>,
    },
    #[error(
        "refused to fetch {url}: kawaraban fetches only http and https URLs{}",
        .redirected_from.as_ref().map(|u| format!(" (redirected from {u})")).unwrap_or_default()
    )]
    Scheme {
        url: String,
        redirected_from: Option<String>,
    },
}

fn address_message(
    host: &str,
    addr: &IpAddr,
    kind: &str,
    range: &Cidr,
    redirected_from: Option<&str>,
) -> String {
    let mut s = format!("refused to connect to {addr} ({kind} address)");
    // An address host is its own name; "for 10.0.0.1" would only repeat it.
    if host.trim_matches(['[', ']']).parse::<IpAddr>().ok() != Some(*addr) {
        s.push_str(&format!(" for {host}"));
    }
    if let Some(from) = redirected_from {
        s.push_str(&format!(", redirected from {from}"));
    }
    s.push_str(&format!(
        ": kawaraban does not fetch from private or local networks; allow it with [fetch] allow_private = [\"{range}\"]"
    ));
    s
}

impl Refusal {
    /// The same refusal, saying which URL's redirect led to it.
    pub fn redirected_from(mut self, from: &Url) -> Refusal {
        match &mut self {
            Refusal::Address {
                redirected_from, ..
            }
            | Refusal::Scheme {
                redirected_from, ..
            } => *redirected_from = Some(from.to_string()),
        }
        self
    }
}

/// The addresses the fetcher may connect to.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    allow: Vec<Cidr>,
}

impl Guard {
    /// `allow`: ranges opened although they are refused by default (`allow_private`).
    pub fn new(allow: &[Cidr]) -> Guard {
        Guard {
            allow: allow.to_vec(),
        }
    }

    /// Ok when `ip` may be connected to; `host` is the name that led to it, for the
    /// error.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refusal> {
        let canonical = ip.to_canonical();
        if self
            .allow
            .iter()
            .any(|c| c.contains(ip) || c.contains(canonical))
        {
            return Ok(());
        }
        match refused_range(ip) {
            None => Ok(()),
            Some((range, kind)) => Err(Refusal::Address {
                host: host.to_owned(),
                addr: ip,
                kind,
                range,
                redirected_from: None,
            }),
        }
    }

    /// The checks a URL can take before any request: its scheme, and its host when
    /// that is an address (no resolver sees those).
    pub fn check_url(&self, url: &Url) -> Result<(), Refusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refusal::Scheme {
                url: url.to_string(),
                redirected_from: None,
            });
        }
        let ip = match url.host() {
            Some(Host::Ipv4(a)) => IpAddr::V4(a),
            Some(Host::Ipv6(a)) => IpAddr::V6(a),
            // The URL parser reads every IPv4 form itself; this catches any name the
            // connector would still take for an address.
            Some(Host::Domain(d)) => match d.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => return Ok(()),
            },
            None => return Ok(()),
        };
        self.check_ip(url.host_str().unwrap_or_default(), ip)
    }
}

/// Resolves with the system resolver (getaddrinfo, on tokio's blocking pool), as the
/// HTTP client would by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// The resolver the HTTP client connects with: asks `inner`, then drops refused
/// addresses.
pub struct GuardedResolver {
    inner: Arc<dyn Resolve>,
    guard: Arc<Guard>,
    /// Host names of the configured proxies, which are never refused.
    proxies: Vec<String>,
}

impl GuardedResolver {
    pub fn new(inner: Arc<dyn Resolve>, guard: Arc<Guard>) -> GuardedResolver {
        GuardedResolver::with_proxies(inner, guard, proxy_hosts(|k| std::env::var(k).ok()))
    }

    /// `proxies`: the host names to leave unchecked, instead of those in the
    /// environment.
    pub fn with_proxies(
        inner: Arc<dyn Resolve>,
        guard: Arc<Guard>,
        proxies: Vec<String>,
    ) -> GuardedResolver {
        GuardedResolver {
            inner,
            guard,
            proxies,
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let exempt = self.proxies.iter().any(|p| p.eq_ignore_ascii_case(&host));
        let guard = self.guard.clone();
        let lookup = self.inner.resolve(name);
        Box::pin(async move {
            let addrs = lookup.await?;
            if exempt {
                return Ok(addrs);
            }
            let mut refused = None;
            let kept: Vec<SocketAddr> = addrs
                .filter(|a| match guard.check_ip(&host, a.ip()) {
                    Ok(()) => true,
                    Err(r) => {
                        refused.get_or_insert(r);
                        false
                    }
                })
                .collect();
            match refused {
                Some(r) if kept.is_empty() => Err(r.into()),
                _ => Ok(Box::new(kept.into_iter()) as Addrs),
            }
        })
    }
}

/// The host names of the proxies the HTTP client takes from the environment. Every
/// variable is read, upper and lower case, though the client uses only the first of
/// each pair: exempting a variable it ignores costs nothing, missing one it uses would
/// refuse the operator's own proxy.
fn proxy_hosts(var: impl Fn(&str) -> Option<String>) -> Vec<String> {
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .filter_map(|k| var(k))
    .filter_map(|v| {
        let v = v.trim();
        // The client takes "proxy:3128" as "http://proxy:3128".
        let url = if v.contains("://") {
            Url::parse(v)
        } else {
            Url::parse(&format!("http://{v}"))
        };
        match url.ok()?.host()? {
            Host::Domain(d) => Some(d.to_ascii_lowercase()),
            _ => None,
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_parse_and_match() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(!c.contains(ip("::ffff:10.0.0.1")), "families never mix");
        let c: Cidr = "fd00::/8".parse().unwrap();
        assert!(c.contains(ip("fd12::1")));
        assert_eq!(
            "127.0.0.1".parse::<Cidr>().unwrap().to_string(),
            "127.0.0.1/32"
        );
        assert_eq!("::1".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains(ip("8.8.8.8")));
        assert!("::/0".parse::<Cidr>().unwrap().contains(ip("2001:4860::1")));

        let e = "10.0.0.1/8".parse::<Cidr>().unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
        let e = "10.0.0.0/33".parse::<Cidr>().unwrap_err();
        assert!(e.contains("0 to 32"), "{e}");
        let e = "localhost/8".parse::<Cidr>().unwrap_err();
        assert!(e.contains("not an IPv4 or IPv6 address"), "{e}");
    }

    #[test]
    fn refused_and_public_addresses() {
        for (addr, kind) in [
            ("0.0.0.0", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.0.0.1", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "carrier-grade NAT"),
            ("100.100.100.200", "carrier-grade NAT"),
            ("169.254.169.254", "link-local"),
            ("192.0.0.8", "IETF protocol"),
            ("192.0.2.1", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("250.0.0.1", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::10.0.0.1", "private"),
            ("64:ff9b:1::1", "local-use NAT64"),
            ("100::1", "discard-only"),
            ("2001:db8::1", "documentation"),
            ("fd00:ec2::254", "unique-local"),
            ("fc00::1", "unique-local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let got = refused_range(ip(addr)).map(|(_, k)| k);
            assert_eq!(got, Some(kind), "{addr}");
        }
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.0.1",
            "192.0.1.1",
            "223.255.255.255",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "64:ff9b::8.8.8.8",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
        }
        let (range, _) = refused_range(ip("64:ff9b::10.0.0.1")).unwrap();
        assert_eq!(range.to_string(), "64:ff9b::a00:0/104");
    }

    #[test]
    fn allow_private_opens_only_its_ranges() {
        let guard = Guard::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(guard.check_ip("localhost", ip("127.0.0.1")).is_ok());
        assert!(guard.check_ip("localhost", ip("::ffff:127.0.0.1")).is_ok());
        assert!(guard.check_ip("localhost", ip("::1")).is_err());
        assert!(guard.check_ip("x", ip("10.0.0.1")).is_err());
        assert!(guard.check_ip("x", ip("93.184.215.14")).is_ok());

        let e = Guard::default()
            .check_ip("evil.example", ip("10.0.0.1"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused to connect to 10.0.0.1 (private address) for evil.example: kawaraban does not fetch from private or local networks; allow it with [fetch] allow_private = [\"10.0.0.0/8\"]"
        );
    }

    #[test]
    fn urls_are_checked_for_scheme_and_address_hosts() {
        let guard = Guard::default();
        let check = |u: &str| guard.check_url(&Url::parse(u).unwrap());
        assert!(check("https://news.example/feed").is_ok());
        assert!(check("http://93.184.215.14/feed").is_ok());
        for u in [
            "http://127.0.0.1:8080/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "https://169.254.169.254/latest/meta-data/",
        ] {
            match check(u) {
                Err(Refusal::Address { .. }) => {}
                other => panic!("{u}: {other:?}"),
            }
        }
        let e = check("http://[::1]:9/").unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused to connect to ::1 (loopback address): kawaraban does not fetch from private or local networks; allow it with [fetch] allow_private = [\"::1/128\"]"
        );
        let e = check("file:///etc/passwd").unwrap_err();
        assert!(matches!(e, Refusal::Scheme { .. }), "{e:?}");
        assert!(e.to_string().contains("only http and https"), "{e}");
        assert!(check("gopher://127.0.0.1/").is_err());
    }

    #[test]
    fn allow_private_is_read_checked_and_printed() {
        use crate::config::Config;
        let c = Config::parse(
            "[fetch]\nallow_private = [\"127.0.0.0/8\", \"fd00::/8\", \"192.168.1.10\"]\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(c.fetch.allow_private.len(), 3);
        let out = c.to_resolved_toml();
        assert!(out.contains("\"127.0.0.0/8\""), "{out}");
        assert!(out.contains("\"192.168.1.10/32\""), "{out}");
        Config::parse(&out, "printed").unwrap();
        let default = Config::parse("", "f.toml").unwrap().to_resolved_toml();
        assert!(default.contains("allow_private = []"), "{default}");

        for (text, expected) in [
            ("[fetch]\nallow_private = [\"10.0.0.1/8\"]\n", "10.0.0.0/8"),
            ("[fetch]\nallow_private = [\"10.0.0.0/40\"]\n", "0 to 32"),
            (
                "[fetch]\nallow_private = [\"localhost\"]\n",
                "not an IPv4 or IPv6",
            ),
            (
                "[fetch]\nallow_private = [\n  \"127.0.0.0/8\",\n  \"intranet\",\n]\n",
                "\"intranet\"",
            ),
        ] {
            let e = Config::parse(text, "f.toml").unwrap_err().0;
            assert!(e.starts_with("f.toml:2:"), "{e}");
            assert!(e.contains("key `allow_private`"), "{e}");
            assert!(e.contains(expected), "{e}");
        }
    }

    #[test]
    fn proxy_hosts_come_from_every_proxy_variable() {
        let env = |k: &str| match k {
            "HTTP_PROXY" => Some("http://Proxy.Internal:3128".to_owned()),
            "https_proxy" => Some("squid:3128".to_owned()),
            "ALL_PROXY" => Some("http://10.0.0.5:8080".to_owned()),
            _ => None,
        };
        assert_eq!(proxy_hosts(env), ["proxy.internal", "squid"]);
    }
}
