//! Examples of the response bodies in the OpenAPI document, built from shared
//! pieces so that every example of an account (alone, in a page, in a
//! renewal) is the same account. Referenced from `#[schema(example = …)]`.

use serde_json::{Value, json};

use crate::domain::renewal::renew_href;

const BRAND: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12";
const OTHER_BRAND: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b22";
const ACCOUNT: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13";
const OTHER_ACCOUNT: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b23";
const PROFILE: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b14";

/// Where the example account is renewed.
pub fn account_renew_href() -> String {
    renew_href(
        BRAND.parse().expect("the example brand id is a UUID"),
        ACCOUNT.parse().expect("the example account id is a UUID"),
    )
}

pub fn profile_summary() -> Value {
    json!({
        "id": PROFILE,
        "network": "x",
        "external_id": "1234567890",
        "handle": "@northwindcoffee",
        "display_name": "Northwind Coffee",
        "avatar_url": "https://cdn.example.com/avatars/northwind.png",
        "kind": "person",
        "manager": null
    })
}

pub fn account() -> Value {
    json!({
        "id": ACCOUNT,
        "brand_id": BRAND,
        "profile": profile_summary(),
        "enabled": true,
        "token_status": "expired",
        "status_reason": "expired",
        "expires_at": "2026-11-25T08:00:00Z",
        "scopes": ["tweet.read", "tweet.write", "offline.access"],
        "last_renewed_at": "2026-09-26T08:00:00Z",
        "connected_at": "2026-06-01T09:30:00Z",
        "blocked": ["publishing", "inbox", "analytics"],
        "renew": {"method": "refresh", "href": account_renew_href()},
        "created_at": "2026-06-01T09:30:00Z",
        "updated_at": "2026-11-25T08:00:00Z"
    })
}

fn renewed_account() -> Value {
    let mut account = account();
    account["token_status"] = json!("active");
    account["status_reason"] = Value::Null;
    account["expires_at"] = json!("2027-01-25T08:00:00Z");
    account["last_renewed_at"] = json!("2026-11-26T08:00:00Z");
    account["blocked"] = json!([]);
    account["updated_at"] = json!("2026-11-26T08:00:00Z");
    account
}

/// A Facebook Page connected from a selection: its own token, never expiring on the clock, and
/// the person who manages it.
pub fn connected_assets() -> Value {
    let mut account = renewed_account();
    account["profile"] = json!({
        "id": PROFILE,
        "network": "facebook",
        "external_id": "104729384756120",
        "handle": "Northwind Coffee Roasters",
        "display_name": "Northwind Coffee Roasters",
        "avatar_url": "https://cdn.example.com/pages/northwind.png",
        "kind": "page",
        "manager": {"name": "Dana Whitfield", "external_id": "10160123456789012"}
    });
    account["expires_at"] = Value::Null;
    account["scopes"] = json!([
        "pages_show_list",
        "pages_read_engagement",
        "pages_manage_posts"
    ]);
    account["renew"] = json!({"method": "reauthorize", "href": account_renew_href()});
    json!({"data": [account]})
}

fn propagation() -> Value {
    json!({
        "renewed": [{"brand_id": OTHER_BRAND, "account_id": OTHER_ACCOUNT}],
        "left": [],
        "renewed_elsewhere": 0,
        "left_elsewhere": 0
    })
}

pub fn account_page() -> Value {
    json!({"data": [account()], "next_cursor": null})
}

pub fn grant_result() -> Value {
    json!({"status": "renewed", "account": renewed_account(), "propagation": propagation()})
}

pub fn renew_result() -> Value {
    json!({
        "outcome": "renewed",
        "account": renewed_account(),
        "expires_at": "2027-01-25T08:00:00Z",
        "propagation": propagation()
    })
}

pub fn bulk_renew_result() -> Value {
    json!({
        "results": [
            {"account_id": ACCOUNT, "brand_id": BRAND, "outcome": "renewed", "expires_at": "2027-01-25T08:00:00Z"},
            {
                "account_id": OTHER_ACCOUNT,
                "brand_id": OTHER_BRAND,
                "outcome": "authorization_required",
                "authorization_url": "https://x.com/i/oauth2/authorize?response_type=code&client_id=tokenwarden&state=b5Yc2kTq",
                "reason": "invalid_grant"
            }
        ],
        "authorizations": [{
            "network": "x",
            "accounts": [{
                "account_id": OTHER_ACCOUNT,
                "brand_id": OTHER_BRAND,
                "authorization_url": "https://x.com/i/oauth2/authorize?response_type=code&client_id=tokenwarden&state=b5Yc2kTq",
                "expires_at": "2026-11-26T08:10:00Z"
            }]
        }],
        "renewed": 1
    })
}

pub fn reconnect_link() -> Value {
    json!({
        "url": "https://tokens.example.com/v1/reconnect/q3Jc0mN6Yv2Xb8ZsPp1eWd4Tf7Gh9Kl5Rt0Uy2Io3As",
        "expires_at": "2026-12-03T08:00:00Z",
        "account_id": ACCOUNT
    })
}

pub fn audit_event_page() -> Value {
    json!({
        "data": [{
            "id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b30",
            "action": "account.renewed",
            "outcome": "success",
            "actor": "user-42",
            "brand_id": BRAND,
            "account_id": ACCOUNT,
            "detail": {"method": "refresh"},
            "request_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b31",
            "created_at": "2026-11-26T08:00:00Z"
        }],
        "next_cursor": "0193a0c47a4e7d3c9b9e3f1f0f3a2b30"
    })
}

pub fn brand_page() -> Value {
    json!({
        "data": [{
            "id": BRAND,
            "name": "Northwind Coffee",
            "created_at": "2026-11-26T08:00:00Z",
            "updated_at": "2026-11-26T08:00:00Z"
        }],
        "next_cursor": null
    })
}

pub fn expired_token_page() -> Value {
    json!({
        "data": [{
            "account_id": ACCOUNT,
            "brand": {"id": BRAND, "name": "Northwind Coffee"},
            "profile": profile_summary(),
            "network": "x",
            "status": "expired",
            "since": "2026-11-25T08:00:00Z",
            "expires_at": "2026-11-25T08:00:00Z",
            "reason": "expired",
            "blocked": ["publishing", "inbox", "analytics"],
            "renew": {"method": "refresh", "href": account_renew_href()}
        }],
        "next_cursor": null
    })
}

pub fn profile() -> Value {
    let mut profile = profile_summary();
    profile["brands"] = json!([
        {"brand_id": BRAND, "brand_name": "Northwind Coffee", "account_id": ACCOUNT, "enabled": true},
        {"brand_id": OTHER_BRAND, "brand_name": "Northwind Tea", "account_id": OTHER_ACCOUNT, "enabled": true}
    ]);
    profile["enabled_in"] = json!(2);
    profile["created_at"] = json!("2026-06-01T09:30:00Z");
    profile["updated_at"] = json!("2026-11-26T08:00:00Z");
    profile
}

pub fn profile_page() -> Value {
    json!({"data": [profile()], "next_cursor": null})
}

const WEBHOOK: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b30";

pub fn webhook() -> Value {
    json!({
        "id": WEBHOOK,
        "url": "https://hooks.example.com/tokenwarden",
        "description": "Pause publishing when a token dies",
        "events": ["token.expired", "token.reauth_required", "account.connected"],
        "enabled": true,
        "disabled_reason": null,
        "previous_secret_expires_at": null,
        "created_at": "2026-11-26T08:00:00Z",
        "updated_at": "2026-11-26T08:00:00Z"
    })
}

pub fn webhook_page() -> Value {
    json!({ "data": [webhook()], "next_cursor": null })
}

pub fn webhook_created() -> Value {
    json!({
        "webhook": webhook(),
        "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYo="
    })
}

pub fn webhook_delivery_page() -> Value {
    let attempt = |id: &str, n: i32, outcome: &str, status: Option<i32>, error: Option<&str>| {
        json!({
            "id": id,
            "message_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b31",
            "event_type": "token.expired",
            "attempt": n,
            "outcome": outcome,
            "response_status": status,
            "latency_ms": 87,
            "error": error,
            "attempted_at": "2026-11-26T08:00:30Z"
        })
    };
    json!({
        "data": [
            attempt("0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b33", 2, "delivered", Some(204), None),
            attempt("0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b32", 1, "failed", Some(500), Some("HTTP 500")),
        ],
        "next_cursor": null
    })
}
