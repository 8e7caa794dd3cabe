//! A client as the per-address limits count it.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// One client, as every per-address limit counts it (connections, request rates, refused
/// credentials, the widget's live connections): an IPv4 address, or an IPv6 /64, which one
/// client usually holds whole and can walk through at will. An IPv6 address that carries an
/// IPv4 one (`::ffff:a.b.c.d`, as a dual-stack listener sees an IPv4 client) is that IPv4
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientAddress(IpAddr);

impl ClientAddress {
    /// The client `ip` counts as: an IPv4 address (mapped into IPv6 or not) as it is, an IPv6
    /// one as its /64.
    pub fn of(ip: IpAddr) -> Self {
        Self(match ip {
            IpAddr::V4(_) => ip,
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
        })
    }
}

impl From<IpAddr> for ClientAddress {
    fn from(ip: IpAddr) -> Self {
        Self::of(ip)
    }
}

/// An IPv4 address as it is, an IPv6 one as its /64 (`2001:db8:1:2::/64`).
impl fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_ipv4_one_its_ipv4_address() {
        let of = |s: &str| ClientAddress::of(s.parse().unwrap());
        assert_eq!(of("2001:db8:1:2::1"), of("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(of("2001:db8:1:2::1"), of("2001:db8:1:3::1"));
        assert_eq!(of("::ffff:192.0.2.7"), of("192.0.2.7"));
        assert_ne!(of("192.0.2.7"), of("192.0.2.8"));
        assert_eq!(of("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
        assert_eq!(of("192.0.2.7").to_string(), "192.0.2.7");
    }
}
