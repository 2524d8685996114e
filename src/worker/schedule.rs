//! The worker's pure decisions: which clock-driven status transition a
//! credential is due, and how long to wait before retrying a refresh.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::audit::AuditAction;
use crate::domain::token_status::CredentialStatus::{self, *};

/// First retry after a transient refresh failure; doubles per failure in a row.
pub const BACKOFF_BASE: Duration = Duration::from_secs(60);
/// Longest pause between retries (before `Retry-After`, which is honoured).
pub const BACKOFF_CAP: Duration = Duration::from_secs(3600);

/// A change of the stored status the clock caused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub to: CredentialStatus,
    /// The audit action (and, later, webhook event) that announces it;
    /// `None` for corrections nobody needs to hear about.
    pub announce: Option<AuditAction>,
}

/// The transition a credential with stored status `stored` is due at `now`,
/// if any. Mirrors [`crate::domain::token_status::compute`]: `expiring`
/// within the warning window, `expired` once `expires_at` passed; what the
/// network said (`reauth_required`) is never overridden, and
/// `refresh_failing` only gives way to `expired`.
pub fn transition(
    stored: CredentialStatus,
    expires_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    warning_window: chrono::Duration,
) -> Option<Transition> {
    let expires_at = expires_at?;
    let expired = expires_at <= now;
    let in_window = expires_at <= now + warning_window;
    let to_expired = Transition {
        to: Expired,
        announce: Some(AuditAction::TokenExpired),
    };
    match stored {
        Active if expired => Some(to_expired),
        Active if in_window => Some(Transition {
            to: Expiring,
            announce: Some(AuditAction::TokenExpiring),
        }),
        Expiring if expired => Some(to_expired),
        // The window shrank: back to active, silently; entering it again
        // is announced again.
        Expiring if !in_window => Some(Transition {
            to: Active,
            announce: None,
        }),
        RefreshFailing if expired => Some(to_expired),
        _ => None,
    }
}

/// The pause before the next attempt after `failures` transient failures in
/// a row: 1 min, 2, 4 … capped at 1 h, scaled by `jitter` in `[0, 1)` into
/// 75–100 % of that (so instances that failed together spread out), and never
/// shorter than the network's `Retry-After`.
pub fn backoff(failures: i32, retry_after: Duration, jitter: f64) -> Duration {
    let exponent = u32::try_from(failures.saturating_sub(1).clamp(0, 16)).unwrap_or(0);
    let base = BACKOFF_BASE
        .saturating_mul(1u32 << exponent)
        .min(BACKOFF_CAP);
    let spread = base.mul_f64(0.75 + 0.25 * jitter.clamp(0.0, 1.0));
    spread.max(retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_clock_once() {
        let now = Utc::now();
        let window = chrono::Duration::days(7);
        let at = |d: i64| Some(now + chrono::Duration::days(d));
        assert_eq!(transition(Active, at(30), now, window), None);
        assert_eq!(
            transition(Active, at(3), now, window).map(|t| t.announce),
            Some(Some(AuditAction::TokenExpiring))
        );
        assert_eq!(transition(Expiring, at(3), now, window), None);
        assert_eq!(
            transition(Expiring, at(-1), now, window).map(|t| (t.to, t.announce)),
            Some((Expired, Some(AuditAction::TokenExpired)))
        );
        assert_eq!(
            transition(Active, at(-1), now, window).map(|t| t.to),
            Some(Expired)
        );
        assert_eq!(transition(Expired, at(-1), now, window), None);
        assert_eq!(
            transition(Expiring, at(30), now, window),
            Some(Transition {
                to: Active,
                announce: None
            })
        );
        assert_eq!(transition(RefreshFailing, at(3), now, window), None);
        assert_eq!(
            transition(RefreshFailing, at(-1), now, window).map(|t| t.to),
            Some(Expired)
        );
        assert_eq!(transition(ReauthRequired, at(-1), now, window), None);
        assert_eq!(transition(Active, None, now, window), None);
    }

    #[test]
    fn backoff_doubles_to_an_hour_with_jitter_and_honours_retry_after() {
        let zero = Duration::ZERO;
        assert_eq!(backoff(1, zero, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(2, zero, 1.0), Duration::from_secs(120));
        assert_eq!(backoff(3, zero, 1.0), Duration::from_secs(240));
        assert_eq!(backoff(0, zero, 1.0), Duration::from_secs(60));
        assert_eq!(backoff(7, zero, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff(500, zero, 1.0), Duration::from_secs(3600));
        assert_eq!(backoff(1, zero, 0.0), Duration::from_secs(45));
        assert_eq!(
            backoff(1, Duration::from_secs(600), 0.5),
            Duration::from_secs(600)
        );
    }
}
