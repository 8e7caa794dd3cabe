//! How an HTTP answer from a platform or connector maps to a [`SendOutcome`].
//!
//! Shared by every adapter that talks HTTP, so a 503 or a `Retry-After` means the same
//! thing on every channel.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};

use crate::SendOutcome;

/// Classifies a non-success HTTP status: 429 and 5xx (and 408) are transient, honouring
/// `Retry-After`; every other 4xx is a refusal for good. A 3xx is a fault of the configured
/// URL: redirects are never followed (see [`crate::outbound`]), so it ends the send and
/// names where it pointed.
pub fn outcome_for_status(status: StatusCode, headers: &HeaderMap, what: &str) -> SendOutcome {
    let reason = format!("{what} answered HTTP {}", status.as_u16());
    if status.is_redirection() {
        let location = headers
            .get(LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| crate::clip(&l.replace(|c: char| c.is_control(), ""), 200))
            .unwrap_or_else(|| "nowhere (no Location)".into());
        return SendOutcome::Failed {
            reason: format!(
                "{reason}, a redirect to {location}; Rateline follows no redirects: \
                 set the URL to the final address"
            ),
        };
    }
    if status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
    {
        SendOutcome::Retry {
            after: retry_after(headers),
            reason,
        }
    } else {
        SendOutcome::Undeliverable { reason }
    }
}

/// Classifies a transport error: a request that cannot even be built (a bad URL) is a fault
/// retrying cannot fix; connection failures, resets and timeouts are transient (a TLS
/// failure included: a certificate may be renewed before the send deadline).
/// The error text is cut down to its kind, so a URL carrying a token never reaches a log.
pub fn outcome_for_transport_error(err: &reqwest::Error, what: &str) -> SendOutcome {
    if let Some(refused) = crate::outbound::refusal(err) {
        return SendOutcome::Failed {
            reason: format!("the call to {what} was {refused}"),
        };
    }
    if err.is_builder() {
        return SendOutcome::Failed {
            reason: format!("the request to {what} cannot be made: check its URL"),
        };
    }
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not be reached"
    } else if err.is_body() || err.is_decode() {
        "sent an unreadable answer"
    } else {
        "failed to answer"
    };
    SendOutcome::Retry {
        after: None,
        reason: format!("{what} {kind}"),
    }
}

/// The outcome of a POST whose answer's body does not matter: any 2xx is accepted (with no
/// message id), anything else as [`outcome_for_status`] and [`outcome_for_transport_error`]
/// say.
pub fn outcome_of_post(sent: Result<reqwest::Response, reqwest::Error>, what: &str) -> SendOutcome {
    match sent {
        Ok(r) if r.status().is_success() => SendOutcome::Accepted {
            platform_message_id: None,
        },
        Ok(r) => outcome_for_status(r.status(), r.headers(), what),
        Err(e) => outcome_for_transport_error(&e, what),
    }
}

/// Reads `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_429_with_retry_after_seconds_is_retried_after_that_many_seconds() {
        let outcome = outcome_for_status(StatusCode::TOO_MANY_REQUESTS, &headers(Some("7")), "x");
        assert_eq!(
            outcome,
            SendOutcome::Retry {
                after: Some(Duration::from_secs(7)),
                reason: "x answered HTTP 429".into()
            }
        );
    }

    #[test]
    fn a_503_without_retry_after_backs_off() {
        let outcome = outcome_for_status(StatusCode::SERVICE_UNAVAILABLE, &headers(None), "x");
        assert!(matches!(outcome, SendOutcome::Retry { after: None, .. }));
    }

    #[test]
    fn a_404_or_400_is_a_refusal_for_good() {
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::BAD_REQUEST,
            StatusCode::GONE,
        ] {
            let outcome = outcome_for_status(status, &headers(None), "x");
            assert!(
                matches!(outcome, SendOutcome::Undeliverable { .. }),
                "{status}"
            );
        }
    }

    #[test]
    fn a_redirect_is_never_sent_on_and_names_its_location() {
        let mut h = headers(None);
        h.insert(
            LOCATION,
            HeaderValue::from_static("http://elsewhere.example/x"),
        );
        for status in [StatusCode::FOUND, StatusCode::TEMPORARY_REDIRECT] {
            match outcome_for_status(status, &h, "the connector") {
                SendOutcome::Failed { reason } => {
                    assert!(reason.contains("http://elsewhere.example/x"), "{reason}")
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn retry_after_as_an_http_date_in_the_future_is_read() {
        let later = SystemTime::now() + Duration::from_secs(120);
        let h = headers(Some(&httpdate::fmt_http_date(later)));
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
    }
}
