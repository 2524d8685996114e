//! The presets against local fakes of their networks: each one's code
//! exchange, refresh flavour, identity shape and error answers.

use std::time::Duration;

use chrono::Utc;
use secrecy::ExposeSecret;
use tokenwarden::providers::{
    HttpSettings, NetworkKind, ReauthReason, RefreshFlavour, RefreshPlan, TransientKind,
};

use super::{Fake, assert_reauth, assert_transient, grant, preset_at, query, secret};

#[actix_web::test]
async fn facebook_exchange_upgrade_fb_exchange_token_and_error_190() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = preset_at(
        NetworkKind::Facebook,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    let auth = fb.authorization_url("st", "challenge");
    assert_eq!(
        query(&auth)["scope"],
        "public_profile,pages_show_list,pages_read_engagement,pages_manage_posts"
    );

    fake.on("/token", 200, serde_json::json!({"access_token": "EAA-short", "token_type": "bearer", "expires_in": 5100}))
        .on("/token", 200, serde_json::json!({"access_token": "EAA-long", "token_type": "bearer", "expires_in": 5183944}));
    let set = fb
        .exchange_code("the-code", "v".repeat(43).as_str(), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "EAA-long");
    assert!(set.expires_at - Utc::now() > chrono::Duration::days(59));
    assert!(set.refresh_token.is_none());
    let seen = fake.seen_on("/token");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].form["grant_type"], "authorization_code");
    assert_eq!(
        seen[0].form["redirect_uri"],
        "https://tokens.example.com/v1/oauth/callback/facebook"
    );
    assert_eq!(seen[0].form["client_secret"], "csecret-value");
    assert_eq!(seen[1].method, "GET");
    assert_eq!(seen[1].query["grant_type"], "fb_exchange_token");
    assert_eq!(seen[1].query["fb_exchange_token"], "EAA-short");

    // Plan: fb_exchange_token while valid, reauthorize once expired.
    assert_eq!(
        fb.refresh_plan(&grant(false, 1, 24), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::FbExchangeToken)
    );
    assert_eq!(
        fb.refresh_plan(&grant(false, 100, -1), Utc::now()),
        RefreshPlan::NeedsReauthorization(ReauthReason::AccessTokenExpired)
    );

    fake.on("/token", 400, serde_json::json!({"error": {"message": "Error validating access token: Session has expired (token EAA-long)", "type": "OAuthException", "code": 190, "error_subcode": 463}}));
    let e = fb
        .refresh(&secret("EAA-long"), None, Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&e, "meta_190");
    assert!(!format!("{e:?}").contains("EAA-long"), "{e:?}");

    fake.on("/token", 400, serde_json::json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}}));
    assert_transient(
        &fb.refresh(&secret("EAA-long"), None, Utc::now())
            .await
            .unwrap_err(),
        TransientKind::RateLimited,
    );

    // Identity: Graph takes the token as a query parameter.
    fake.on("/me", 200, serde_json::json!({"id": 10001, "name": "Page Owner", "picture": {"data": {"url": "https://cdn.example/p.jpg"}}}));
    let me = fb.identity(&secret("EAA-long")).await.unwrap();
    assert_eq!(me.subject, "10001");
    assert_eq!(me.handle, "Page Owner");
    assert_eq!(me.avatar_url.as_deref(), Some("https://cdn.example/p.jpg"));
    assert_eq!(fake.seen_on("/me")[0].query["access_token"], "EAA-long");
    assert!(fake.seen_on("/me")[0].authorization.is_none());

    // Revocation: DELETE /me/permissions.
    fake.on("/revoke", 200, serde_json::json!({"success": true}));
    fb.revoke(&secret("EAA-long")).await.unwrap();
    let r = fake.seen_on("/revoke");
    assert_eq!((r.len(), r[0].method.as_str()), (1, "DELETE"));
}

#[actix_web::test]
async fn instagram_refresh_only_on_a_token_at_least_24h_old() {
    let fake = Fake::default();
    let base = fake.start();
    let ig = preset_at(
        NetworkKind::Instagram,
        &base,
        &HttpSettings::default(),
        |s| {
            s.identity_url = Some(
                base.join("/me?fields=user_id,username")
                    .unwrap()
                    .to_string(),
            );
        },
    );
    let now = Utc::now();
    let young = grant(false, 2, 24 * 59);
    match ig.refresh_plan(&young, now) {
        RefreshPlan::NotYet { earliest, flavour } => {
            assert_eq!(flavour, RefreshFlavour::IgRefreshToken);
            assert_eq!(earliest, young.issued_at + chrono::Duration::hours(24));
        }
        other => panic!("young token: {other:?}"),
    }
    assert_eq!(
        ig.refresh_plan(&grant(false, 25, 24), now),
        RefreshPlan::Silent(RefreshFlavour::IgRefreshToken)
    );
    assert_eq!(
        ig.refresh_plan(&grant(false, 2, -1), now),
        RefreshPlan::NeedsReauthorization(ReauthReason::AccessTokenExpired)
    );

    // Code exchange (the `data: [...]` shape) then ig_exchange_token.
    fake.on("/token", 200, serde_json::json!({"data": [{"access_token": "IG-short", "user_id": "17841", "permissions": "instagram_business_basic,instagram_business_content_publish"}]}))
        .on("/access_token", 200, serde_json::json!({"access_token": "IG-long", "token_type": "bearer", "expires_in": 5184000}));
    let set = ig
        .exchange_code("c", &"v".repeat(43), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "IG-long");
    assert_eq!(
        set.scopes,
        vec![
            "instagram_business_basic",
            "instagram_business_content_publish"
        ]
    );
    assert_eq!(
        fake.seen_on("/access_token")[0].query["grant_type"],
        "ig_exchange_token"
    );

    fake.on("/refresh_access_token", 200, serde_json::json!({"access_token": "IG-long-2", "token_type": "bearer", "expires_in": 5184000}));
    let r = ig
        .refresh(&secret("IG-long"), None, Utc::now())
        .await
        .unwrap();
    assert_eq!(r.access_token.expose_secret(), "IG-long-2");
    let s = &fake.seen_on("/refresh_access_token")[0];
    assert_eq!(
        (
            s.query["grant_type"].as_str(),
            s.query["access_token"].as_str()
        ),
        ("ig_refresh_token", "IG-long")
    );

    fake.on(
        "/me",
        200,
        serde_json::json!({"user_id": 17841, "username": "shop"}),
    );
    let me = ig.identity(&secret("IG-long-2")).await.unwrap();
    assert_eq!((me.subject.as_str(), me.handle.as_str()), ("17841", "shop"));
    assert!(!ig.supports_revocation());
}

#[actix_web::test]
async fn threads_uses_th_refresh_token() {
    let fake = Fake::default();
    let base = fake.start();
    let th = preset_at(
        NetworkKind::Threads,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    assert_eq!(
        th.refresh_plan(&grant(false, 30, 24), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::ThRefreshToken)
    );
    fake.on(
        "/refresh_access_token",
        200,
        serde_json::json!({"access_token": "TH-2", "expires_in": 5184000}),
    );
    th.refresh(&secret("TH-1"), None, Utc::now()).await.unwrap();
    assert_eq!(
        fake.seen_on("/refresh_access_token")[0].query["grant_type"],
        "th_refresh_token"
    );
}

#[actix_web::test]
async fn x_rotates_refresh_tokens_with_basic_auth_and_blank_refresh_token_is_none() {
    let fake = Fake::default();
    let base = fake.start();
    let x = preset_at(NetworkKind::X, &base, &HttpSettings::default(), |s| {
        s.identity_url = Some(base.join("/2/users/me").unwrap().to_string());
    });
    assert_eq!(
        x.refresh_plan(&grant(true, 1, 1), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::RefreshToken { rotating: true })
    );
    fake.on("/token", 200, serde_json::json!({"token_type": "bearer", "expires_in": 7200, "access_token": "X-at-2", "scope": "tweet.read users.read offline.access", "refresh_token": "X-rt-2"}));
    let set = x
        .refresh(&secret("X-at-1"), Some(&secret("X-rt-1")), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        set.refresh_token.as_ref().unwrap().expose_secret(),
        "X-rt-2"
    );
    assert_eq!(
        set.scopes,
        vec!["tweet.read", "users.read", "offline.access"]
    );
    let s = &fake.seen_on("/token")[0];
    assert_eq!(s.form["grant_type"], "refresh_token");
    assert_eq!(s.form["refresh_token"], "X-rt-1");
    assert!(!s.form.contains_key("client_secret"));
    use base64::Engine as _;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("cid:csecret-value")
    );
    assert_eq!(s.authorization.as_deref(), Some(expected.as_str()));

    // A blank refresh token in the answer means "keep the old one"; no expires_in → default.
    fake.on(
        "/token",
        200,
        serde_json::json!({"access_token": "X-at-3", "refresh_token": "  "}),
    );
    let set = x
        .refresh(&secret("X-at-2"), Some(&secret("X-rt-2")), Utc::now())
        .await
        .unwrap();
    assert!(set.refresh_token.is_none());
    let life = (set.expires_at - Utc::now()).num_seconds();
    assert!((7190..=7200).contains(&life), "{life}");

    // X's answer to a spent refresh token.
    fake.on("/token", 400, serde_json::json!({"error": "invalid_request", "error_description": "Value passed for the token was invalid."}));
    assert_reauth(
        &x.refresh(&secret("X-at-3"), Some(&secret("X-rt-1")), Utc::now())
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    fake.on("/2/users/me", 200, serde_json::json!({"data": {"id": "2244994945", "name": "Dev", "username": "xdev", "profile_image_url": "https://pbs.example/a.jpg"}}));
    let me = x.identity(&secret("X-at-3")).await.unwrap();
    assert_eq!(
        (me.subject.as_str(), me.handle.as_str()),
        ("2244994945", "xdev")
    );
    assert_eq!(
        fake.seen_on("/2/users/me")[0].authorization.as_deref(),
        Some("Bearer X-at-3")
    );
    fake.on("/2/users/me", 401, serde_json::json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"}));
    assert_reauth(
        &x.identity(&secret("X-at-3")).await.unwrap_err(),
        "invalid_token",
    );
}

#[actix_web::test]
async fn tiktok_uses_client_key_and_reads_its_shapes() {
    let fake = Fake::default();
    let base = fake.start();
    let tt = preset_at(NetworkKind::TikTok, &base, &HttpSettings::default(), |s| {
        s.identity_url = Some(
            base.join("/v2/user/info/?fields=open_id,username")
                .unwrap()
                .to_string(),
        );
    });
    let q = query(&tt.authorization_url("st", "ch"));
    assert_eq!(q["client_key"], "cid");
    assert!(!q.contains_key("client_id"));
    assert_eq!(
        q["scope"],
        "user.info.basic,user.info.profile,video.publish"
    );

    fake.on("/token", 200, serde_json::json!({"access_token": "act.1", "expires_in": 86400, "open_id": "o-1", "refresh_token": "rft.1", "refresh_expires_in": 31536000, "scope": "user.info.basic,video.publish", "token_type": "Bearer"}));
    let set = tt
        .exchange_code("c", &"v".repeat(43), Utc::now())
        .await
        .unwrap();
    assert!(set.refresh_expires_at.unwrap() - Utc::now() > chrono::Duration::days(364));
    assert_eq!(set.scopes, vec!["user.info.basic", "video.publish"]);
    let s = &fake.seen_on("/token")[0];
    assert_eq!(s.form["client_key"], "cid");
    assert_eq!(s.form["client_secret"], "csecret-value");
    assert_eq!(s.form["code_verifier"], "v".repeat(43));
    assert!(!s.form.contains_key("client_id"));

    fake.on("/v2/user/info/", 200, serde_json::json!({"data": {"user": {"open_id": "o-1", "username": "dancer", "display_name": "D", "avatar_url": "https://p.example/a"}}, "error": {"code": "ok", "message": "", "log_id": "x"}}));
    let me = tt.identity(&set.access_token).await.unwrap();
    assert_eq!((me.subject.as_str(), me.handle.as_str()), ("o-1", "dancer"));

    fake.on("/v2/user/info/", 401, serde_json::json!({"data": {}, "error": {"code": "access_token_invalid", "message": "The access token is invalid or not found in the request.", "log_id": "y"}}));
    assert_reauth(
        &tt.identity(&set.access_token).await.unwrap_err(),
        "access_token_invalid",
    );
    // TikTok may answer an error with HTTP 200.
    fake.on("/token", 200, serde_json::json!({"error": "invalid_grant", "error_description": "Refresh token is invalid or expired.", "log_id": "z"}));
    assert_reauth(
        &tt.refresh(&set.access_token, Some(&secret("rft.1")), Utc::now())
            .await
            .unwrap_err(),
        "invalid_grant",
    );
}

#[actix_web::test]
async fn linkedin_without_partner_has_no_silent_refresh() {
    let fake = Fake::default();
    let base = fake.start();
    let li = preset_at(
        NetworkKind::LinkedIn,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    fake.on("/token", 200, serde_json::json!({"access_token": "AQV", "expires_in": 5183999, "scope": "openid,profile,w_member_social"}));
    let set = li
        .exchange_code("c", &"v".repeat(43), Utc::now())
        .await
        .unwrap();
    assert!(set.refresh_token.is_none() && set.refresh_expires_at.is_none());
    assert_eq!(
        li.refresh_plan(&grant(false, 1, 24), Utc::now()),
        RefreshPlan::NeedsReauthorization(ReauthReason::RefreshNotOffered)
    );
    assert_reauth(
        &li.refresh(&set.access_token, None, Utc::now())
            .await
            .unwrap_err(),
        "refresh_not_offered",
    );
    assert_eq!(fake.seen_on("/token").len(), 1, "no refresh call was sent");

    let partner = preset_at(
        NetworkKind::LinkedIn,
        &base,
        &HttpSettings::default(),
        |s| s.partner = true,
    );
    fake.on("/token", 200, serde_json::json!({"access_token": "AQV2", "expires_in": 5183999, "refresh_token": "AQX", "refresh_token_expires_in": 31535999}));
    let set = partner
        .refresh(&secret("AQV"), Some(&secret("AQW")), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.refresh_token.unwrap().expose_secret(), "AQX");
    assert_eq!(
        partner.refresh_plan(&grant(true, 1, 24), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::RefreshToken { rotating: false })
    );
}

#[actix_web::test]
async fn youtube_and_pinterest_presets() {
    let fake = Fake::default();
    let base = fake.start();
    let yt = preset_at(
        NetworkKind::YouTube,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    let q = query(&yt.authorization_url("st", "ch"));
    assert_eq!(
        (q["access_type"].as_str(), q["prompt"].as_str()),
        ("offline", "consent")
    );
    fake.on("/token", 400, serde_json::json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}));
    assert_reauth(
        &yt.refresh(&secret("ya29"), Some(&secret("1//rt")), Utc::now())
            .await
            .unwrap_err(),
        "invalid_grant",
    );
    fake.on("/revoke", 200, serde_json::json!({}));
    yt.revoke(&secret("1//rt")).await.unwrap();
    assert_eq!(fake.seen_on("/revoke")[0].form["token"], "1//rt");

    let pin = preset_at(
        NetworkKind::Pinterest,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    assert_eq!(
        pin.default_access_lifetime(),
        Duration::from_secs(30 * 86_400)
    );
    fake.on("/token", 200, serde_json::json!({"access_token": "pina_1", "token_type": "bearer", "expires_in": 2592000, "refresh_token": "pinr_1", "refresh_token_expires_in": 31536000, "scope": "boards:read,pins:read"}));
    let set = pin
        .refresh(&secret("pina_0"), Some(&secret("pinr_0")), Utc::now())
        .await
        .unwrap();
    assert_eq!(set.scopes, vec!["boards:read", "pins:read"]);
}
