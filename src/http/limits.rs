//! Request rate limits: per client address on the public endpoints (the platforms'
//! webhooks, the widget's script and calls), per API key on `/v1`, and per client address
//! for refused credentials (wrong keys, wrong sign-ins): an address that keeps guessing is
//! answered `429` before its next guess is even looked up. A call over its limit gets
//! `429 rate_limited` with `Retry-After` and changes nothing.
//!
//! The limits are GCRA buckets (governor): a steady rate per minute and a burst on top.
//! An address is counted as the connection caps count it ([`ClientAddress`]: an IPv6 client
//! by its /64, which it can walk through at will). The per-address buckets forget idle
//! addresses past a few thousand, so a flood of addresses cannot grow memory without bound.

use rateline_domain::{ClientAddress, ErrorCode};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::ApiError;
use super::serve::ClientAddr;
use crate::settings::LimitSettings;

/// Past this many remembered addresses or keys, the idle ones are forgotten.
const KEPT: usize = 10_000;

/// The server's rate limiters; `None` where a limit is switched off (0).
pub struct Limits {
    per_ip: Option<DefaultKeyedRateLimiter<ClientAddress>>,
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    /// Refused credentials per address; an address over it is held off until `blocked`
    /// says, without its credentials being looked up.
    failed_auth: Option<DefaultKeyedRateLimiter<ClientAddress>>,
    blocked: std::sync::Mutex<std::collections::HashMap<ClientAddress, std::time::Instant>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    per_minute: u32,
    burst: u32,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_minute)?;
    let quota = Quota::with_period(Duration::from_secs(60) / rate.get())?
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
    Some(RateLimiter::keyed(quota))
}

/// Takes one call from `key`'s bucket, or says how long until there is room.
fn take<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
    whose: &str,
) -> Result<(), LimitError> {
    let Some(l) = limiter else { return Ok(()) };
    if l.len() > KEPT {
        l.retain_recent();
    }
    l.check_key(key).map_err(|not_until| LimitError {
        wait: not_until.wait_time_from(DefaultClock::default().now()),
        whose: whose.to_owned(),
    })
}

/// A call over its limit: answered 429 with `Retry-After`.
#[derive(Debug)]
pub struct LimitError {
    wait: Duration,
    whose: String,
}

impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        // Whole seconds, at least one: a client retrying sooner is refused again.
        let seconds = e.wait.as_secs() + u64::from(e.wait.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut error = ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many calls from {}: try again in {seconds} s (the server's [limits] settings)",
                e.whose
            ),
        );
        error.retry_after = Some(seconds);
        error
    }
}

impl IntoResponse for LimitError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl Limits {
    /// The limits `[limits]` sets; a rate of 0 switches its limit off.
    pub fn new(s: &LimitSettings) -> Self {
        Self {
            per_ip: limiter(s.public_per_minute, s.public_burst),
            per_key: limiter(s.key_per_minute, s.key_burst),
            failed_auth: limiter(s.failed_auth_per_minute, s.failed_auth_burst),
            blocked: Default::default(),
        }
    }

    /// Whether `ip` may present a credential now: refused while it is held off for having
    /// guessed too often.
    pub fn credential_allowed(&self, ip: IpAddr) -> Result<(), LimitError> {
        let address = ClientAddress::of(ip);
        let mut blocked = self.blocked.lock().expect("limits lock");
        let now = std::time::Instant::now();
        match blocked.get(&address) {
            Some(until) if *until > now => Err(LimitError {
                wait: *until - now,
                whose: format!("{address} after too many refused keys or sign-ins"),
            }),
            Some(_) => {
                blocked.remove(&address);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a refused credential from `ip`; past the limit, holds the address off.
    pub fn credential_refused(&self, ip: IpAddr) {
        let ip = ClientAddress::of(ip);
        if let Err(e) = take(self.failed_auth.as_ref(), &ip, "") {
            let mut blocked = self.blocked.lock().expect("limits lock");
            let now = std::time::Instant::now();
            // Idle entries go, so a flood of addresses cannot grow the map without bound.
            if blocked.len() > KEPT {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert(ip, now + e.wait);
        }
    }

    /// One call with API key `id`.
    pub fn key(&self, id: &str) -> Result<(), LimitError> {
        take(
            self.per_key.as_ref(),
            &id.to_owned(),
            &format!("API key '{id}'"),
        )
    }

    pub(super) fn address(&self, ip: IpAddr) -> Result<(), LimitError> {
        let address = ClientAddress::of(ip);
        take(self.per_ip.as_ref(), &address, &address.to_string())
    }
}

/// Whether `path` is public: called by platforms and browsers rather than with a key. The
/// dashboard counts too: its sign-in takes guesses, and each page runs several reports.
pub(super) fn public(path: &str) -> bool {
    path.starts_with("/channels/")
        || path.starts_with("/connectors/")
        || path.starts_with("/webchat/")
        || path == "/widget.js"
        || path.starts_with("/public/")
        || path.starts_with("/dashboard")
}

/// The address of the client that made `request`.
pub fn client_ip(request: &Request) -> Option<IpAddr> {
    client_ip_of(request.extensions())
}

/// The client's address, from a request's extensions: the one behind a trusted proxy
/// (see [`ClientAddr`]), else the TCP peer.
pub fn client_ip_of(extensions: &axum::http::Extensions) -> Option<IpAddr> {
    extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let l = limiter::<u8>(1, 2).unwrap();
        assert!(take(Some(&l), &1, "a").is_ok());
        assert!(take(Some(&l), &1, "a").is_ok());
        let e = take(Some(&l), &1, "a").unwrap_err();
        assert!(e.wait > Duration::from_secs(50), "{:?}", e.wait);
        assert!(
            take(Some(&l), &2, "b").is_ok(),
            "each key has its own bucket"
        );
        assert!(limiter::<u8>(0, 5).is_none(), "0 switches a limit off");
    }

    #[test]
    fn an_address_that_keeps_guessing_is_held_off() {
        let limits = Limits::new(&LimitSettings {
            failed_auth_per_minute: 1,
            failed_auth_burst: 2,
            ..LimitSettings::default()
        });
        let (guesser, other): (IpAddr, IpAddr) =
            ("127.0.0.2".parse().unwrap(), "127.0.0.3".parse().unwrap());
        for _ in 0..2 {
            assert!(limits.credential_allowed(guesser).is_ok());
            limits.credential_refused(guesser);
        }
        assert!(
            limits.credential_allowed(guesser).is_ok(),
            "the burst is two"
        );
        limits.credential_refused(guesser);
        let e = limits.credential_allowed(guesser).unwrap_err();
        assert!(e.wait > Duration::from_secs(50), "{:?}", e.wait);
        assert!(limits.credential_allowed(other).is_ok());
    }

    #[test]
    fn an_ipv6_guesser_is_held_off_by_its_slash_64_whatever_address_it_takes() {
        let limits = Limits::new(&LimitSettings {
            failed_auth_per_minute: 1,
            failed_auth_burst: 3,
            ..LimitSettings::default()
        });
        for n in 1..=4u16 {
            let ip = IpAddr::from([0x2001, 0xdb8, 0, 7, n, n, n, n]);
            assert!(limits.credential_allowed(ip).is_ok(), "guess {n}");
            limits.credential_refused(ip);
        }
        let next = IpAddr::from([0x2001, 0xdb8, 0, 7, 0xbeef, 0, 0, 1]);
        let e = limits.credential_allowed(next).unwrap_err();
        assert!(e.whose.contains("2001:db8:0:7::/64"), "{}", e.whose);
        let neighbour = IpAddr::from([0x2001, 0xdb8, 0, 8, 0, 0, 0, 1]);
        assert!(limits.credential_allowed(neighbour).is_ok());
    }

    #[test]
    fn public_paths() {
        for p in [
            "/channels/telegram/webhook",
            "/connectors/chatwoot/1/webhook",
            "/webchat/events",
            "/widget.js",
        ] {
            assert!(public(p), "{p}");
        }
        for p in ["/v1/sessions", "/healthz", "/metrics"] {
            assert!(!public(p), "{p}");
        }
    }
}
