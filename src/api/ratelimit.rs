//! Per-organization rate limits (docs/rules.md, "API conventions"): a fixed window per organization,
//! counted in this process. Answers carry `RateLimit-Policy` and `RateLimit`
//! (draft-ietf-httpapi-ratelimit-headers); a spent budget answers 429 with
//! `Retry-After`. Several instances each keep their own count.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a 429 of a spent budget is held before it is sent (at most
/// until the window resets): a client asking in a loop gets one answer per
/// connection and second, so its flood costs the instance sleeping requests
/// instead of the CPU other organizations' requests need.
pub const REFUSAL_PAUSE: Duration = Duration::from_secs(1);

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset: u64,
    pub window: u64,
}

impl Decision {
    pub fn policy_header(&self) -> String {
        format!("\"per-organization\";q={};w={}", self.limit, self.window)
    }

    pub fn header(&self) -> String {
        format!("\"per-organization\";r={};t={}", self.remaining, self.reset)
    }
}

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// `limit` requests per `window` and organization; `None` when `limit` is 0 (off).
    pub fn new(limit: u32, window: Duration) -> Option<Self> {
        (limit > 0).then(|| Self {
            limit,
            window,
            windows: Mutex::new(HashMap::new()),
        })
    }

    pub fn check(&self, organization: &str) -> Decision {
        self.check_at(organization, Instant::now())
    }

    pub fn check_at(&self, organization: &str, now: Instant) -> Decision {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 100_000 {
            // Forget finished windows so the map cannot grow without bound.
            windows.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = windows.entry(organization.to_string()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        let reset = self
            .window
            .saturating_sub(now.duration_since(entry.0))
            .as_secs()
            .max(1);
        let allowed = entry.1 < self.limit;
        if allowed {
            entry.1 += 1;
        }
        Decision {
            allowed,
            limit: self.limit,
            remaining: self.limit - entry.1,
            reset,
            window: self.window.as_secs(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_organization_and_resets_with_the_window() {
        let limiter = RateLimiter::new(2, Duration::from_secs(60)).unwrap();
        let t0 = Instant::now();
        assert!(limiter.check_at("a", t0).allowed);
        let second = limiter.check_at("a", t0);
        assert!(second.allowed && second.remaining == 0);
        let third = limiter.check_at("a", t0 + Duration::from_secs(10));
        assert!(!third.allowed);
        assert_eq!(third.reset, 50);
        assert!(
            limiter.check_at("b", t0).allowed,
            "another organization has its own budget"
        );
        assert!(limiter.check_at("a", t0 + Duration::from_secs(61)).allowed);
        assert!(RateLimiter::new(0, Duration::from_secs(60)).is_none());
        assert_eq!(third.header(), "\"per-organization\";r=0;t=50");
        assert_eq!(third.policy_header(), "\"per-organization\";q=2;w=60");
    }
}
