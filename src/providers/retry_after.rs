//! How long a network asks to be left alone: `Retry-After` and X's
//! `x-rate-limit-reset`, capped (docs/rules.md#failure-classification).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;

/// The longest wait a network may impose, and this service asks of its
/// clients. A longer `Retry-After` is a network's mistake; obeying it would
/// stop renewals (or overflow the date arithmetic that schedules them).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// `Retry-After` (at most [`MAX_RETRY_AFTER`]) as delay-seconds or an HTTP date (RFC 9110 §10.2.3); X's `x-rate-limit-reset`
/// (epoch seconds) as a fallback.
pub fn parse_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    read_retry_after(headers, now).map(|d| d.min(MAX_RETRY_AFTER))
}

fn read_retry_after(headers: &HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    if let Some(v) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Ok(secs) = v.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = DateTime::parse_from_rfc2822(v) {
            let delta = at.with_timezone(&Utc) - now;
            return Some(delta.to_std().unwrap_or(Duration::ZERO));
        }
    }
    let reset = headers
        .get("x-rate-limit-reset")
        .and_then(|v| v.to_str().ok())?
        .trim()
        .parse::<i64>()
        .ok()?;
    let at = DateTime::<Utc>::from_timestamp(reset, 0)?;
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_network_never_makes_us_wait_more_than_a_day() {
        let now = Utc::now();
        let with = |name: &'static str, value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            parse_retry_after(&headers, now)
        };
        assert_eq!(with("retry-after", "7"), Some(Duration::from_secs(7)));
        assert_eq!(with("retry-after", "10000000000000"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            with("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            with("x-rate-limit-reset", "253402300799"),
            Some(MAX_RETRY_AFTER)
        );
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a network puts in the headers, the wait is at most a day.
        #[test]
        fn any_header_gives_a_bounded_wait_or_none(
            retry_after in proptest::option::of("[ -~]{0,40}"),
            reset in proptest::option::of("[ -~]{0,24}"),
        ) {
            let mut headers = HeaderMap::new();
            if let Some(v) = retry_after.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert(reqwest::header::RETRY_AFTER, v);
            }
            if let Some(v) = reset.as_deref().and_then(|v| v.parse().ok()) {
                headers.insert("x-rate-limit-reset", v);
            }
            if let Some(wait) = parse_retry_after(&headers, Utc::now()) {
                prop_assert!(wait <= MAX_RETRY_AFTER);
            }
        }
    }
}
