//! The open mode: before any API key exists and before any person has a password, there is
//! no credential to ask for, so every `/v1` call and every dashboard page is an admin's. It is
//! for a first look on one machine, and is kept to that:
//!
//! - `serve` refuses to listen anywhere but a loopback address while it lasts;
//! - it answers only requests naming a loopback host (`localhost`, `*.localhost`, `127.0.0.1`,
//!   `[::1]`), so a web page that rebinds its own DNS name to 127.0.0.1 is refused, and none
//!   that a proxy passed on (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`, `Via`): a reverse
//!   proxy on the same machine would otherwise carry anyone's request to it;
//! - it refuses cross-site requests: a browser's `Sec-Fetch-Site` other than `same-origin`
//!   or `none`, or an `Origin` that is not the requested host, so a page the admin happens to
//!   open cannot make the first admin key with a form or a `text/plain` body that needs no
//!   preflight (programs such as curl send neither header);
//! - every dashboard page shows a red banner while it lasts;
//! - it ends as soon as any key exists or any person has a password, and never comes back
//!   (revoked keys and deactivated people count).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use rateline_domain::ErrorCode;

use super::error::ApiError;
use crate::engine::Engine;
use crate::store::StoreError;

/// Remembers that a credential exists: once one does, it always will (keys are revoked and
/// people deactivated, not deleted). While none does, the store is asked again at most once
/// a second, so the first key made by `rateline keys create`, or the first password set,
/// ends the open mode of a running server within a second without a query on every call.
#[derive(Debug, Default)]
pub struct OpenMode {
    ended: AtomicBool,
    none_seen_at: std::sync::Mutex<Option<Instant>>,
}

const RECHECK: Duration = Duration::from_secs(1);

impl OpenMode {
    /// Whether the server is still open (no credential exists).
    pub async fn open(&self, engine: &Engine) -> Result<bool, StoreError> {
        if self.ended.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let recent = |at: &Option<Instant>| at.is_some_and(|t| t.elapsed() < RECHECK);
        if recent(&self.none_seen_at.lock().expect("open mode lock")) {
            return Ok(true);
        }
        if engine.any_credential().await? {
            self.end();
            return Ok(false);
        }
        *self.none_seen_at.lock().expect("open mode lock") = Some(Instant::now());
        Ok(true)
    }

    /// Ends the open mode at once: this process just made the first key or set the first
    /// password (another process's are seen within a second).
    pub fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
    }
}

/// Headers a proxy adds to the requests it passes on.
const PROXIED: [&str; 6] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
];

/// Whether the open mode takes a request with `headers`: one to a loopback host name, not
/// from another site; else the `403 open_mode_refused` that says why.
pub fn allows(headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(h) = PROXIED.iter().find(|h| headers.contains_key(**h)) {
        return Err(refused(format!(
            "this server has no API key and no password yet (the open mode), so it takes no \
             request passed on by a proxy (this one carries {h}); create the first key \
             (`rateline keys create --name admin --role admin`) before putting a proxy in front"
        )));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !loopback_host(host) {
        return Err(refused(format!(
            "this server has no API key and no password yet (the open mode), so it answers only \
             requests to a loopback address such as 127.0.0.1 or localhost, not to '{host}'; \
             create the first key (`rateline keys create --name admin --role admin`) before \
             reaching it by another name"
        )));
    }
    let site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let same_origin = origin.is_none_or(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
            .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
    });
    if !matches!(site, "same-origin" | "none") || !same_origin {
        return Err(refused(
            "this server has no API key and no password yet (the open mode), so it takes no \
             request from another web page; use the dashboard or the API from this machine, or \
             create the first key (`rateline keys create --name admin --role admin`)"
                .to_owned(),
        ));
    }
    Ok(())
}

fn refused(message: String) -> ApiError {
    ApiError::new(ErrorCode::OpenModeRefused, message)
}

/// Whether `host` (a `Host` header: a name or address, perhaps with a port) names this
/// machine's loopback interface.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:8080
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn only_loopback_hosts_and_same_origin_requests_are_taken() {
        for host in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:8080",
            "app.localhost:1",
            "[::1]:8080",
            "127.0.0.2",
            "localhost.",
        ] {
            assert!(allows(&headers(&[("host", host)])).is_ok(), "{host}");
        }
        for host in [
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example",
            "10.0.0.1:8080",
            "[::2]:8080",
            "",
        ] {
            let e = allows(&headers(&[("host", host)])).unwrap_err();
            assert_eq!(e.code, ErrorCode::OpenModeRefused, "{host}");
        }
        let ok = [
            vec![
                ("host", "127.0.0.1:8080"),
                ("sec-fetch-site", "same-origin"),
            ],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
            vec![("host", "127.0.0.1:8080"), ("sec-fetch-site", "none")],
        ];
        for h in ok {
            assert!(allows(&headers(&h)).is_ok(), "{h:?}");
        }
        let refused = [
            vec![("host", "127.0.0.1:8080"), ("sec-fetch-site", "cross-site")],
            vec![("host", "127.0.0.1:8080"), ("sec-fetch-site", "same-site")],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example"),
            ],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:3000"),
            ],
            vec![("host", "127.0.0.1:8080"), ("origin", "null")],
            vec![
                ("host", "127.0.0.1:8080"),
                ("x-forwarded-for", "203.0.113.7"),
            ],
            vec![("host", "127.0.0.1:8080"), ("forwarded", "for=203.0.113.7")],
            vec![("host", "127.0.0.1:8080"), ("via", "1.1 nginx")],
        ];
        for h in refused {
            assert!(allows(&headers(&h)).is_err(), "{h:?}");
        }
    }
}
