//! Where Rateline may send: the outbound policy every HTTP call obeys (connectors, alert
//! webhooks, the Bot and Graph APIs, responses to clients).
//!
//! A URL that an API caller stores (a connector, an alert webhook) could otherwise aim
//! Rateline at the machine it runs on or at the network behind it: the database's port,
//! a cloud's metadata service at 169.254.169.254. So:
//! - addresses that are not globally reachable (loopback, private, link-local, shared,
//!   unspecified, multicast, reserved, documentation) are refused, however they are
//!   written: `0x7f000001`, `2130706433` and `0177.0.0.1` reach the URL parser as
//!   127.0.0.1, and IPv6 forms that carry an IPv4 address are unwrapped and judged by the
//!   address they carry: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
//!   (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`), 6to4
//!   (`2002:aabb:ccdd::`) and Teredo (`2001:0:<server>::<client>`, both judged); the
//!   local-use NAT64 prefix `64:ff9b:1::/48`, whose layout depends on each network, is
//!   refused whole;
//! - a DNS name is resolved by [`PolicyResolver`], which refuses every address outside
//!   the policy, so a name that later moves into a refused range is refused at the
//!   moment of sending, and the connection goes only to an address that was checked;
//! - `outbound.allowed_networks` lists networks a deployment does reach on purpose (an
//!   on-premises connector, a local Bot API server);
//! - no redirect is followed: a 3xx is a refusal that names its `Location`, since a
//!   redirect would carry the signed body, its signature and the idempotency key (or the
//!   bot token in the path) to wherever it points.
//!
//! A refusal says "refused by policy" and nothing about the address or the port, so
//! `last_error` cannot be used to map which ports are open inside the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Networks that are not globally reachable (IANA's IPv4 and IPv6 special-purpose
/// address registries), refused unless `outbound.allowed_networks` lists them.
const REFUSED_V4: [(&str, &str); 15] = [
    ("0.0.0.0/8", "this network (unspecified)"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (cloud metadata services)"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved, and the broadcast address"),
];

const REFUSED_V6: [(&str, &str); 12] = [
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
];

/// Why a call was not made. The text is what `last_error` and logs show: it names the
/// rule, never the address a name resolved to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by policy: {0}")]
pub struct Refused(pub String);

impl Refused {
    fn range() -> Self {
        Refused(
            "the address is loopback, private, link-local or otherwise not public; an \
             on-premises destination must be listed in outbound.allowed_networks"
                .into(),
        )
    }
}

/// The outbound policy of one server.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    allowed: Arc<[IpNet]>,
}

impl Policy {
    /// A policy that also allows `allowed` (`outbound.allowed_networks`).
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    /// Reads CIDRs (`10.1.0.0/16`, `fd00::/8`) or single addresses, naming the first bad one.
    pub fn parse_networks(items: &[String]) -> Result<Vec<IpNet>, String> {
        items
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("{s:?} is not a network such as 10.20.0.0/16 or an address")
                    })
            })
            .collect()
    }

    /// Whether Rateline may connect to `ip`: an address `outbound.allowed_networks` lists,
    /// or a public one. An IPv6 address that carries IPv4 addresses is judged by them alone,
    /// each of which must be listed or public.
    pub fn permits(&self, ip: IpAddr) -> bool {
        let listed = |a: IpAddr| self.allowed.iter().any(|n| n.contains(&a));
        if listed(ip) {
            return true;
        }
        let carried = carried_v4(ip);
        if !carried.is_empty() {
            return carried
                .iter()
                .all(|v4| listed(IpAddr::V4(*v4)) || public_v4(*v4));
        }
        match ip {
            IpAddr::V4(v4) => public_v4(v4),
            IpAddr::V6(v6) => public_v6(v6),
        }
    }

    /// Checks a URL as far as it can be checked without DNS: an http(s) URL whose host, if
    /// it is a literal address, is one the policy permits. A name is checked again each
    /// time it is resolved (see [`PolicyResolver`]).
    pub fn check_url(&self, url: &str) -> Result<(), Refused> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| Refused("the URL cannot be read as an absolute URL".into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Refused("only http and https URLs are called".into()));
        }
        match parsed.host() {
            Some(url::Host::Ipv4(v4)) if !self.permits(IpAddr::V4(v4)) => Err(Refused::range()),
            Some(url::Host::Ipv6(v6)) if !self.permits(IpAddr::V6(v6)) => Err(Refused::range()),
            Some(_) => Ok(()),
            None => Err(Refused("the URL has no host".into())),
        }
    }

    /// The HTTP client builder every outbound call uses: the send timeout, a short connect
    /// timeout, Rateline's user agent, no redirects, and names resolved under this policy.
    pub fn client(&self, timeout: Duration) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Rateline/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver {
                policy: self.clone(),
            }))
    }
}

/// The IPv4 addresses an IPv6 address carries, which a packet to it reaches: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-translated (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`,
/// but `::` and `::1`, which are IPv6's own), NAT64's well-known prefix (`64:ff9b::/96`),
/// 6to4 (`2002:aabb:ccdd::/48`) and Teredo (`2001:0::/32`: its server, and its client,
/// stored inverted in the last 32 bits). None for any other address.
fn carried_v4(ip: IpAddr) -> Vec<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else {
        return Vec::new();
    };
    let s = v6.segments();
    let o = v6.octets();
    let last = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return vec![v4];
    }
    if s[..6] == [0, 0, 0, 0, 0xffff, 0] || s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return vec![last];
    }
    if s[..6] == [0; 6] && v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST {
        return vec![last];
    }
    if s[0] == 0x2002 {
        return vec![Ipv4Addr::new(o[2], o[3], o[4], o[5])];
    }
    if s[0] == 0x2001 && s[1] == 0 {
        let server = Ipv4Addr::new(o[4], o[5], o[6], o[7]);
        let client = Ipv4Addr::from(!u32::from(last));
        return vec![server, client];
    }
    Vec::new()
}

fn public_v4(ip: Ipv4Addr) -> bool {
    !REFUSED_V4.iter().any(|(net, _)| {
        net.parse::<Ipv4Net>()
            .expect("the refused networks are valid")
            .contains(&ip)
    })
}

fn public_v6(ip: Ipv6Addr) -> bool {
    !REFUSED_V6.iter().any(|(net, _)| {
        net.parse::<Ipv6Net>()
            .expect("the refused networks are valid")
            .contains(&ip)
    })
}

/// Resolves names with the system resolver and keeps only the addresses the policy
/// permits; a name left with none is refused. The connection is made to an address this
/// resolver returned, so a name cannot be checked once and then connect elsewhere.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Policy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.permits(a.ip()))
                .collect();
            if permitted.is_empty() {
                return Err(Box::new(Refused::range()) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// The policy's refusal inside a transport error, if that is what stopped the call.
pub fn refusal(err: &reqwest::Error) -> Option<Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r.clone());
        }
        source = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &Policy, url: &str) -> bool {
        policy.check_url(url).is_err()
    }

    #[test]
    fn every_spelling_of_a_refused_address_is_refused() {
        let p = Policy::default();
        for url in [
            "http://127.0.0.1:5432/",
            "http://localhost.:1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::169.254.169.254]/",
            "http://[::169.254.169.254]/",
            "http://[::a9fe:a9fe]/",
            "http://[::ffff:0:169.254.169.254]/",
            "http://[64:ff9b:1::a9fe:a9fe]/",
            "http://[2002:c0a8:101::]/",
            "http://[2002:a9fe:a9fe::1]/",
            // Teredo: a public server, and a client at 169.254.169.254 (inverted).
            "http://[2001:0:5db8:d70e::5601:5601]/",
            // Teredo: a server at 10.0.0.1, and a public client.
            "http://[2001:0:a00:1::a247:eaf1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://172.31.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
        ] {
            let is_name = url.contains("localhost");
            assert_eq!(refused(&p, url), !is_name, "{url}");
        }
        for url in [
            "https://connector.example/hook",
            "http://93.184.215.14/",
            "http://[2606:4700::1111]/",
            "http://[::ffff:93.184.215.14]/",
            "http://[64:ff9b::93.184.215.14]/",
            "http://[::93.184.215.14]/",
            "http://[2002:5db8:d70e::1]/",
            // Teredo: public server 93.184.215.14, public client 93.184.215.14 (inverted).
            "http://[2001:0:5db8:d70e::a247:28f1]/",
        ] {
            assert!(!refused(&p, url), "{url}");
        }
        assert!(refused(&p, "ftp://93.184.215.14/"));
    }

    #[test]
    fn allowed_networks_open_exactly_what_they_name() {
        let nets = Policy::parse_networks(&["127.0.0.0/8".into(), "10.20.0.5".into()]).unwrap();
        let p = Policy::new(nets);
        assert!(!refused(&p, "http://127.0.0.2:9000/"));
        assert!(!refused(&p, "http://[::ffff:127.0.0.1]/"));
        assert!(!refused(&p, "http://[64:ff9b::127.0.0.1]/"));
        assert!(refused(&p, "http://[64:ff9b::10.0.0.1]/"));
        assert!(!refused(&p, "http://10.20.0.5/"));
        assert!(refused(&p, "http://10.20.0.6/"));
        assert!(refused(&p, "http://169.254.169.254/"));
        let e = Policy::parse_networks(&["10.0.0.0/33".into()]).unwrap_err();
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_a_refused_address_is_refused_when_called() {
        let http = Policy::default()
            .client(Duration::from_secs(2))
            .build()
            .unwrap();
        let err = http
            .get("http://localhost:9/")
            .send()
            .await
            .expect_err("localhost resolves to loopback");
        assert_eq!(refusal(&err), Some(Refused::range()), "{err:?}");
    }
}
