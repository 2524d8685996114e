//! Lifecycle webhooks (docs/rules.md#webhooks): the events a subscription
//! picks, which audit action announces which event, the retry schedule, the
//! `whsec_` secrets and the Standard Webhooks signature, and which target
//! addresses are private. Plain rules, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::audit::AuditAction;

/// What a subscription can be told about.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum WebhookEvent {
    /// An account's token entered the organization's warning window.
    #[serde(rename = "token.expiring")]
    TokenExpiring,
    /// An account's token expired.
    #[serde(rename = "token.expired")]
    TokenExpired,
    /// The network refused the grant: only the profile's owner can renew it.
    #[serde(rename = "token.reauth_required")]
    TokenReauthRequired,
    /// Refreshes keep failing transiently while the token is still valid.
    #[serde(rename = "token.refresh_failing")]
    TokenRefreshFailing,
    /// An account received a fresh grant (refresh, re-authorization, reconnect, propagation).
    #[serde(rename = "token.renewed")]
    TokenRenewed,
    /// A profile was connected (or imported) into a brand.
    #[serde(rename = "account.connected")]
    AccountConnected,
    /// An account was removed from its brand.
    #[serde(rename = "account.disconnected")]
    AccountDisconnected,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::TokenExpiring,
        WebhookEvent::TokenExpired,
        WebhookEvent::TokenReauthRequired,
        WebhookEvent::TokenRefreshFailing,
        WebhookEvent::TokenRenewed,
        WebhookEvent::AccountConnected,
        WebhookEvent::AccountDisconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::TokenExpiring => "token.expiring",
            WebhookEvent::TokenExpired => "token.expired",
            WebhookEvent::TokenReauthRequired => "token.reauth_required",
            WebhookEvent::TokenRefreshFailing => "token.refresh_failing",
            WebhookEvent::TokenRenewed => "token.renewed",
            WebhookEvent::AccountConnected => "account.connected",
            WebhookEvent::AccountDisconnected => "account.disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event an audit action announces, if any. A reconnect gives an
    /// existing account a fresh grant, so it is a renewal to a receiver; an
    /// import brings an account in like a connect does.
    pub fn for_audit(action: AuditAction) -> Option<WebhookEvent> {
        Some(match action {
            AuditAction::AccountConnected | AuditAction::AccountImported => {
                WebhookEvent::AccountConnected
            }
            AuditAction::AccountDisconnected => WebhookEvent::AccountDisconnected,
            AuditAction::AccountRenewed | AuditAction::AccountReconnected => {
                WebhookEvent::TokenRenewed
            }
            AuditAction::TokenExpiring => WebhookEvent::TokenExpiring,
            AuditAction::TokenExpired => WebhookEvent::TokenExpired,
            AuditAction::TokenReauthRequired => WebhookEvent::TokenReauthRequired,
            _ => return None,
        })
    }
}

/// Events as stored on a subscription: their names, space-separated, sorted.
pub fn events_to_text(events: &[WebhookEvent]) -> String {
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Stored event names back as events; unknown names are a fault in the data.
pub fn events_from_text(text: &str) -> Result<Vec<WebhookEvent>, super::UnknownValue> {
    text.split_whitespace()
        .map(|s| WebhookEvent::parse(s).ok_or_else(|| super::UnknownValue::new("WebhookEvent", s)))
        .collect()
}

/// The type of the message `POST /v1/webhooks/{id}/test` queues: delivered
/// to that subscription whatever events it picked, never announced otherwise.
pub const TEST_EVENT: &str = "webhook.test";

super::audit::text_enum! {
    /// Where an outbox message stands.
    MessageStatus {
        Pending = "pending",
        Delivered = "delivered",
        /// Every attempt failed; no more are made.
        Failed = "failed",
    }
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// Anything else: another status, a refused target, a timeout, no connection.
    Failed,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [AttemptOutcome::Delivered, AttemptOutcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// Pauses after the 1st, 2nd, … failed attempt: 13 attempts spread over about
/// 38 hours (at least 28 with the jitter), so a receiver that is down for a
/// day still gets every event.
pub const RETRY_DELAYS_SECS: [i64; 12] = [
    30,
    2 * 60,
    10 * 60,
    30 * 60,
    3600,
    2 * 3600,
    4 * 3600,
    6 * 3600,
    6 * 3600,
    6 * 3600,
    6 * 3600,
    6 * 3600,
];

/// The pause after failed attempt number `attempt` (1-based), scaled by
/// `jitter` in 0..1 to 75–100 % so that receivers coming back are not hit by
/// every retry at once; `None` once every attempt is spent.
pub fn retry_delay(attempt: i32, jitter: f64) -> Option<chrono::Duration> {
    let index = usize::try_from(attempt.checked_sub(1)?).ok()?;
    let secs = *RETRY_DELAYS_SECS.get(index)?;
    let scaled = (secs as f64) * (0.75 + 0.25 * jitter.clamp(0.0, 1.0));
    Some(chrono::Duration::milliseconds((scaled * 1000.0) as i64))
}

/// A subscription whose deliveries have failed without a success for this
/// long, when one of its messages runs out of attempts, is disabled.
pub const DISABLE_AFTER: chrono::Duration = chrono::Duration::days(1);

/// How long the secret a rotation replaced still signs deliveries.
pub const SECRET_OVERLAP: chrono::Duration = chrono::Duration::hours(24);

/// Most subscriptions an organization may have.
pub const MAX_SUBSCRIPTIONS: i64 = 20;

pub const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key a `whsec_` secret stands for (its base64-decoded bytes).
pub fn secret_key(secret: &str) -> Option<zeroize::Zeroizing<Vec<u8>>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX)?;
    STANDARD.decode(encoded).ok().map(zeroize::Zeroizing::new)
}

/// One Standard Webhooks signature: `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Whether an address is reachable only inside a network or host: loopback,
/// private, carrier-grade NAT, link-local (cloud metadata lives there),
/// unique local, unspecified, multicast, broadcast or reserved. A webhook
/// target must not be one unless the operator allows it.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_private_v4(v4),
            None => is_private_v6(v6),
        },
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        || a >= 240
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let [first, second, third, ..] = ip.segments();
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        // Site-local (deprecated by RFC 3879, still routed inside some sites).
        || (first & 0xffc0) == 0xfec0
        // Documentation (RFC 3849): no public host has one.
        || (first, second) == (0x2001, 0x0db8)
        // Local-use NAT64 (RFC 8215): a translator inside the operator's
        // network, where the IPv4 address sits is the network's choice.
        || (first, second, third) == (0x64, 0xff9b, 1)
        || carried_v4(ip).into_iter().any(is_private_v4)
}

/// The IPv4 addresses an IPv6 address is carried to by a translation or a
/// tunnel: IPv4-compatible `::a.b.c.d`, well-known NAT64 `64:ff9b::/96`
/// (RFC 6052; on an IPv6-only host behind DNS64 every IPv4-only name
/// resolves there), 6to4 `2002::/16` (RFC 3056), and Teredo `2001::/32`
/// (RFC 4380: its server, and its client, stored inverted).
fn carried_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        [0, 0, 0, 0, 0, 0, ..] | [0x64, 0xff9b, 0, 0, 0, 0, ..] => vec![v4(s[6], s[7])],
        [0x2002, ..] => vec![v4(s[1], s[2])],
        [0x2001, 0, ..] => vec![v4(s[2], s[3]), v4(!s[6], !s[7])],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_spread_over_more_than_a_day_and_stop() {
        let shortest: i64 = (1..)
            .map_while(|n| retry_delay(n, 0.0))
            .map(|d| d.num_seconds())
            .sum();
        assert!(shortest > 24 * 3600, "{shortest}");
        assert_eq!(retry_delay(13, 0.5), None);
        assert_eq!(retry_delay(0, 0.5), None);
        assert_eq!(retry_delay(1, 1.0), Some(chrono::Duration::seconds(30)));
    }

    #[test]
    fn events_round_trip_and_audit_actions_map() {
        let text = events_to_text(&[WebhookEvent::TokenExpired, WebhookEvent::AccountConnected]);
        assert_eq!(text, "token.expired account.connected");
        assert_eq!(
            events_from_text(&text).unwrap(),
            [WebhookEvent::TokenExpired, WebhookEvent::AccountConnected]
        );
        assert!(events_from_text("token.exploded").is_err());
        assert_eq!(
            WebhookEvent::for_audit(AuditAction::AccountRenewed),
            Some(WebhookEvent::TokenRenewed)
        );
        assert_eq!(WebhookEvent::for_audit(AuditAction::BrandCreated), None);
    }

    #[test]
    fn secrets_decode_and_sign() {
        assert!(secret_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        let key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        // The example of the Standard Webhooks specification.
        assert_eq!(
            sign(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                r#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            // Translated or tunnelled to a private IPv4 address.
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:101::1",
            "2002:a00:1::",
            "2001:0:4136:e378:8000:63bf:f5ff:fffe",
            "2001:0:a00:1:8000:63bf:a247:2bdd",
            // Reserved: local-use NAT64, site-local, documentation.
            "64:ff9b:1::5db8:d822",
            "fec0::1",
            "2001:db8::1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.216.34",
            "2606:2800:220:1:248:1893:25c8:1946",
            "1.1.1.1",
            // A public IPv4 address through a translation or a tunnel.
            "64:ff9b::5db8:d822",
            "2002:5db8:d822::1",
            "2001:0:4136:e378:8000:63bf:a247:2bdd",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
