//! The close codes and headers the client and server agree on.
//!
//! | the server says | the client does |
//! |---|---|
//! | HTTP 401 or 403 on the upgrade, close code 1008 (Policy Violation) | gives up: no reconnect |
//! | HTTP 503 or 429 with `Retry-After: N` | reconnects after at least N s (plus 0–50 % jitter) |
//! | close code 1013 (Try Again Later), reason `"N"` | the same: N s, 5 s if the reason has no number |
//! | close code 1012 (Service Restart) | reconnects after at least 1 s, jittered |
//! | anything else, or the socket just ends | reconnects with its backoff |
//!
//! The delays go through [`Connection::retry_after`](keepalive::Connection::retry_after),
//! which caps them at five minutes.

use core::time::Duration;

use tokio_tungstenite::tungstenite::http::HeaderMap;

/// Close code 1001: the server closes a connection that went silent.
pub const GOING_AWAY: u16 = 1001;
/// Close code 1008: refused for good (a revoked token); the client gives up.
pub const POLICY_VIOLATION: u16 = 1008;
/// Close code 1012: the server is restarting; the client comes back after
/// [`RESTART_DELAY`], jittered.
pub const SERVICE_RESTART: u16 = 1012;
/// Close code 1013: the server is overloaded; the reason holds the seconds
/// to wait.
pub const TRY_AGAIN_LATER: u16 = 1013;

/// The least a client waits after a 1012 (Service Restart).
pub const RESTART_DELAY: Duration = Duration::from_secs(1);
/// What a client waits after a 1013 whose reason names no delay.
pub const DEFAULT_TRY_AGAIN: Duration = Duration::from_secs(5);

/// The delay a close asks for, if any: 1013 (its reason's leading digits,
/// in seconds, else [`DEFAULT_TRY_AGAIN`]) and 1012 ([`RESTART_DELAY`]).
pub fn advised_delay(code: u16, reason: &str) -> Option<Duration> {
    match code {
        TRY_AGAIN_LATER => Some(leading_seconds(reason).unwrap_or(DEFAULT_TRY_AGAIN)),
        SERVICE_RESTART => Some(RESTART_DELAY),
        _ => None,
    }
}

/// A `Retry-After` header in delay-seconds form (`Retry-After: 5`). The
/// HTTP-date form is not honoured: it needs a clock the client may not share.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    leading_seconds(value).filter(|d| value.trim() == d.as_secs().to_string())
}

fn leading_seconds(text: &str) -> Option<Duration> {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end.min(9)].parse().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_and_headers_map_to_delays() {
        assert_eq!(advised_delay(1013, "7"), Some(Duration::from_secs(7)));
        assert_eq!(
            advised_delay(1013, " 12 seconds"),
            Some(Duration::from_secs(12))
        );
        assert_eq!(advised_delay(1013, "later"), Some(DEFAULT_TRY_AGAIN));
        assert_eq!(advised_delay(1012, ""), Some(RESTART_DELAY));
        assert_eq!(advised_delay(1000, "5"), None);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", "99999999999999999999".parse().unwrap());
        assert_eq!(retry_after(&headers), None, "absurd values are no advice");
    }
}
