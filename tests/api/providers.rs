//! The network layer over real HTTP: the sandbox network and local fakes of the presets.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use tokenwarden::providers::{
    ClientAuth, GrantInfo, HttpSettings, NetworkKind, NetworkSettings, Provider, ProviderError,
    ProviderRegistry, ReauthReason, RefreshFlavour, RefreshPlan, TokenSet, TransientKind,
    callback_url, new_pkce_verifier, pkce_challenge_s256, redact_text, redact_url,
};
use tokenwarden::sandbox::{
    self, Endpoint, FailureMode, SandboxIdentity, SandboxOptions, SandboxState,
};
use url::Url;

// ------------------------------------------------------------------ harness

/// Start an actix server on 127.0.0.1 with an ephemeral port, on its own
/// thread and actix system (so any test runtime can use it); returns its base URL.
pub fn start<F>(configure: F) -> Url
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || App::new().configure(configure.clone()))
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run()
                .await
        })
    });
    Url::parse(&format!("http://{addr}")).expect("url")
}

fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s)
}

struct Sandbox {
    base: Url,
    state: web::Data<SandboxState>,
    provider: Arc<dyn Provider>,
    browser: reqwest::Client,
}

fn sandbox_with(http: HttpSettings) -> Sandbox {
    let state = web::Data::new(SandboxState::new(SandboxOptions::default()));
    let s = state.clone();
    let base = start(move |cfg| {
        cfg.service(sandbox::scope(s.clone()));
    });
    state.register_redirect_uri(callback_url(&base, "sandbox").as_str());
    let mut reg = ProviderRegistry::default();
    reg.add_sandbox(&base, &http).expect("sandbox registers");
    Sandbox {
        base,
        state,
        provider: reg.get("sandbox").expect("sandbox provider"),
        browser: no_redirect_client(),
    }
}

fn sandbox() -> Sandbox {
    sandbox_with(HttpSettings::default())
}

/// Query parameters of a URL as a map.
fn query(u: &Url) -> HashMap<String, String> {
    u.query_pairs().into_owned().collect()
}

impl Sandbox {
    /// Drive the authorize form like a person: GET the page, POST the approval, read the 303.
    async fn authorize(&self, provider: &dyn Provider, subject: &str) -> (String, String) {
        let verifier = new_pkce_verifier();
        let state = "state-0123456789abcdef";
        let url = provider.authorization_url(state, &pkce_challenge_s256(&verifier));
        let page = self
            .browser
            .get(url.clone())
            .send()
            .await
            .expect("GET authorize");
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("html");
        assert!(html.contains(&format!("value=\"{subject}\"")), "{html}");
        assert!(html.contains("value=\"approve\"") && html.contains("value=\"deny\""));
        let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        form.push(("subject".into(), subject.into()));
        form.push(("decision".into(), "approve".into()));
        let resp = self
            .browser
            .post(self.base.join("/sandbox/authorize").expect("join"))
            .form(&form)
            .send()
            .await
            .expect("POST authorize");
        assert_eq!(resp.status(), 303);
        let location =
            Url::parse(resp.headers()["location"].to_str().expect("ascii")).expect("loc");
        assert!(
            location
                .as_str()
                .starts_with(provider.callback_url().as_str()),
            "{location}"
        );
        let q = query(&location);
        assert_eq!(q.get("state").map(String::as_str), Some(state));
        (q["code"].clone(), verifier)
    }

    async fn connect(&self, subject: &str) -> TokenSet {
        let (code, verifier) = self.authorize(self.provider.as_ref(), subject).await;
        self.provider
            .exchange_code(&code, &verifier, Utc::now())
            .await
            .expect("exchange")
    }
}

/// A scriptable fake network: canned answers per path, every request recorded.
#[derive(Clone, Default)]
pub struct Fake {
    inner: Arc<Mutex<FakeInner>>,
}

#[derive(Default)]
struct FakeInner {
    script: HashMap<String, VecDeque<Canned>>,
    seen: Vec<Seen>,
}

struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub form: HashMap<String, String>,
    pub authorization: Option<String>,
}

impl Fake {
    pub fn on(&self, path: &str, status: u16, body: serde_json::Value) -> &Self {
        self.on_raw(path, status, &[], &body.to_string())
    }

    fn on_raw(&self, path: &str, status: u16, headers: &[(&str, &str)], body: &str) -> &Self {
        self.inner
            .lock()
            .unwrap()
            .script
            .entry(path.to_owned())
            .or_default()
            .push_back(Canned {
                status,
                headers: headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                body: body.to_owned(),
            });
        self
    }

    fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    pub fn seen_on(&self, path: &str) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.path == path).collect()
    }

    pub fn start(&self) -> Url {
        let me = self.clone();
        start(move |cfg| {
            let me = me.clone();
            cfg.default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let me = me.clone();
                async move {
                    let mut g = me.inner.lock().unwrap();
                    g.seen.push(Seen {
                        method: req.method().to_string(),
                        path: req.path().to_owned(),
                        query: url::form_urlencoded::parse(req.query_string().as_bytes())
                            .into_owned()
                            .collect(),
                        form: url::form_urlencoded::parse(&body).into_owned().collect(),
                        authorization: req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    });
                    match g.script.get_mut(req.path()).and_then(VecDeque::pop_front) {
                        Some(c) => {
                            let mut r = HttpResponse::build(
                                actix_web::http::StatusCode::from_u16(c.status).unwrap(),
                            );
                            r.content_type("application/json");
                            for (k, v) in c.headers {
                                r.insert_header((k, v));
                            }
                            r.body(c.body)
                        }
                        None => HttpResponse::NotFound().body("unscripted"),
                    }
                }
            }));
        })
    }
}

const PUBLIC: &str = "https://tokens.example.com";

/// A preset with every URL pointed at the fake.
fn preset_at(
    kind: NetworkKind,
    fake: &Url,
    http: &HttpSettings,
    tweak: impl FnOnce(&mut NetworkSettings),
) -> Arc<dyn Provider> {
    let j = |p: &str| Some(fake.join(p).unwrap().to_string());
    let mut s = NetworkSettings::new(kind);
    s.client_id = Some("cid".into());
    s.client_secret = Some(secret("csecret-value"));
    s.authorize_url = j("/authorize");
    s.token_url = j("/token");
    s.identity_url = j("/me?fields=id,name");
    s.revoke_url = j("/revoke");
    if matches!(kind, NetworkKind::Instagram | NetworkKind::Threads) {
        s.exchange_url = j("/access_token");
        s.refresh_url = j("/refresh_access_token");
    }
    tweak(&mut s);
    let name = kind.as_str().to_owned();
    let reg = ProviderRegistry::from_settings(
        &BTreeMap::from([(name.clone(), s)]),
        &Url::parse(PUBLIC).unwrap(),
        http,
    )
    .expect("valid settings");
    reg.get(&name).expect("provider")
}

fn grant(has_refresh: bool, age_h: i64, expires_in_h: i64) -> GrantInfo {
    let now = Utc::now();
    GrantInfo {
        has_refresh_token: has_refresh,
        expires_at: now + chrono::Duration::hours(expires_in_h),
        issued_at: now - chrono::Duration::hours(age_h),
        refresh_expires_at: None,
    }
}

fn assert_reauth(e: &ProviderError, code: &str) {
    match e {
        ProviderError::ReauthRequired { code: c, .. } => assert_eq!(c, code, "{e:?}"),
        other => panic!("expected ReauthRequired({code}), got {other:?}"),
    }
}

fn assert_transient(e: &ProviderError, kind: TransientKind) {
    match e {
        ProviderError::Transient { kind: k, .. } => assert_eq!(*k, kind, "{e:?}"),
        other => panic!("expected Transient({kind:?}), got {other:?}"),
    }
}

// ------------------------------------------------------------------ sandbox

#[actix_web::test]
async fn sandbox_code_flow_identity_refresh_rotation_and_reuse_kills_the_grant() {
    let sbx = sandbox();
    sbx.state.add_identity(SandboxIdentity {
        subject: "sbx-carol".into(),
        handle: "carol".into(),
        display_name: "Carol <script>alert(1)</script>".into(),
        avatar_url: Some("https://img.example/c.png".into()),
    });
    // The authorize page escapes what it shows.
    let url = sbx
        .provider
        .authorization_url("s", &pkce_challenge_s256(&new_pkce_verifier()));
    let q = query(&url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["client_id"], sandbox::CLIENT_ID);
    assert_eq!(
        q["redirect_uri"],
        format!("{}v1/oauth/callback/sandbox", sbx.base)
    );
    let html = sbx
        .browser
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("<script>alert(1)</script>"));
    assert!(html.contains("Carol &lt;script&gt;alert(1)&lt;/script&gt;"));

    let first = sbx.connect("sbx-carol").await;
    let rt1 = first
        .refresh_token
        .clone()
        .expect("sandbox issues a refresh token");
    let lifetime = first.expires_at - Utc::now();
    assert!(
        lifetime > chrono::Duration::seconds(3590) && lifetime <= chrono::Duration::seconds(3600)
    );
    assert_eq!(first.scopes, vec!["profile", "publish"]);

    let me = sbx.provider.identity(&first.access_token).await.unwrap();
    assert_eq!(me.subject, "sbx-carol");
    assert_eq!(me.handle, "carol");
    assert_eq!(me.avatar_url.as_deref(), Some("https://img.example/c.png"));

    // Rotation: a new refresh token each time.
    let second = sbx
        .provider
        .refresh(&first.access_token, Some(&rt1), Utc::now())
        .await
        .unwrap();
    let rt2 = second.refresh_token.clone().expect("rotated");
    assert_ne!(rt1.expose_secret(), rt2.expose_secret());
    assert_ne!(
        first.access_token.expose_secret(),
        second.access_token.expose_secret()
    );

    // Spending the old one again kills the whole grant, as real networks do.
    let reuse = sbx
        .provider
        .refresh(&second.access_token, Some(&rt1), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&reuse, "invalid_grant");
    assert!(reuse.is_reauth() && !reuse.is_transient());
    assert!(!format!("{reuse}").contains(rt1.expose_secret()));
    let after = sbx
        .provider
        .refresh(&second.access_token, Some(&rt2), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&after, "invalid_grant");
    let who = sbx
        .provider
        .identity(&second.access_token)
        .await
        .unwrap_err();
    assert_reauth(&who, "invalid_token");
    assert_eq!(sbx.state.live_grants("sbx-carol"), 0);

    let calls = sbx.state.calls();
    assert_eq!((calls.token, calls.refresh, calls.userinfo), (4, 3, 2));
}

#[actix_web::test]
async fn sandbox_checks_pkce_single_use_codes_and_denial() {
    let sbx = sandbox();
    let (code, verifier) = sbx.authorize(sbx.provider.as_ref(), "sandbox-alice").await;
    let wrong = sbx
        .provider
        .exchange_code(&code, &new_pkce_verifier(), Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&wrong, "invalid_grant");

    let (code, verifier2) = sbx.authorize(sbx.provider.as_ref(), "sandbox-alice").await;
    let set = sbx
        .provider
        .exchange_code(&code, &verifier2, Utc::now())
        .await
        .unwrap();
    // A code is single use; its reuse revokes what it produced.
    let again = sbx
        .provider
        .exchange_code(&code, &verifier2, Utc::now())
        .await
        .unwrap_err();
    assert_reauth(&again, "invalid_grant");
    assert_reauth(
        &sbx.provider.identity(&set.access_token).await.unwrap_err(),
        "invalid_token",
    );
    let _ = verifier;

    // Deny, scripted.
    let url = sbx
        .provider
        .authorization_url("st-deny", &pkce_challenge_s256(&verifier2));
    let resp = sbx
        .browser
        .get(format!("{url}&auto_deny=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let q = query(&loc);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-deny");

    // An unregistered redirect_uri gets an error page, never a redirect.
    let mut bad = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == "redirect_uri" {
                (k, "https://evil.example/cb".into())
            } else {
                (k, v)
            }
        })
        .collect();
    bad.query_pairs_mut().clear().extend_pairs(pairs);
    let resp = sbx.browser.get(bad).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    assert!(resp.headers().get("location").is_none());
}

#[actix_web::test]
async fn sandbox_auto_approve_is_scriptable() {
    let sbx = sandbox();
    let verifier = new_pkce_verifier();
    let url = sbx
        .provider
        .authorization_url("st", &pkce_challenge_s256(&verifier));
    let resp = sbx
        .browser
        .get(format!("{url}&auto_approve=sandbox-bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let loc = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = query(&loc)["code"].clone();
    let set = sbx
        .provider
        .exchange_code(&code, &verifier, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        sbx.provider
            .identity(&set.access_token)
            .await
            .unwrap()
            .handle,
        "bob"
    );
}

#[actix_web::test]
async fn sandbox_failure_modes_are_classified() {
    let sbx = sandbox_with(HttpSettings {
        request_timeout: Duration::from_millis(400),
        ..HttpSettings::default()
    });
    let set = sbx.connect("sandbox-alice").await;
    let rt = set.refresh_token.clone().unwrap();
    let at = &set.access_token;
    let st = &sbx.state;

    st.queue_failure(Endpoint::Token, FailureMode::Status { status: 500 }, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Unavailable(500),
    );

    st.queue_failure(Endpoint::Token, FailureMode::Status { status: 503 }, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Unavailable(503),
    );

    st.queue_failure(
        Endpoint::Token,
        FailureMode::RateLimited {
            retry_after_secs: 7,
        },
        1,
    );
    let e = sbx
        .provider
        .refresh(at, Some(&rt), Utc::now())
        .await
        .unwrap_err();
    assert_transient(&e, TransientKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));

    st.queue_failure(Endpoint::Token, FailureMode::Malformed, 1);
    assert_transient(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Malformed,
    );

    st.queue_failure(Endpoint::Userinfo, FailureMode::Status { status: 502 }, 1);
    assert_transient(
        &sbx.provider.identity(at).await.unwrap_err(),
        TransientKind::Unavailable(502),
    );

    st.queue_failure(Endpoint::Token, FailureMode::InvalidGrant, 1);
    assert_reauth(
        &sbx.provider
            .refresh(at, Some(&rt), Utc::now())
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    // Every attempt reached the network exactly once, and none spent the refresh token.
    let calls = st.calls();
    assert_eq!((calls.refresh, calls.userinfo), (5, 1), "{calls:?}");
    let renewed = sbx
        .provider
        .refresh(at, Some(&rt), Utc::now())
        .await
        .unwrap();
    assert_eq!(st.calls().refresh, 6);

    // A slow network: the configured 400 ms request timeout fires.
    st.queue_failure(Endpoint::Token, FailureMode::Slow { delay_ms: 1500 }, 1);
    let started = std::time::Instant::now();
    let e = sbx
        .provider
        .refresh(
            &renewed.access_token,
            renewed.refresh_token.as_ref(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert_transient(&e, TransientKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
}

#[actix_web::test]
async fn sandbox_control_api_over_http_and_revocation_counted_once() {
    let sbx = sandbox();
    let client = reqwest::Client::new();
    let ctl = |p: &str| sbx.base.join(&format!("/sandbox/control/{p}")).unwrap();
    let r = client
        .post(ctl("identities"))
        .json(&serde_json::json!({"subject": "sbx-dave", "handle": "dave", "display_name": "Dave"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = client
        .put(ctl("settings"))
        .json(&serde_json::json!({"access_token_lifetime_secs": 120}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let set = sbx.connect("sbx-dave").await;
    let life = (set.expires_at - Utc::now()).num_seconds();
    assert!((110..=120).contains(&life), "{life}");

    // Expire: the access token dies, the refresh token still works.
    let r = client
        .post(ctl("grants/sbx-dave/expire"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["affected"], 1);
    assert_reauth(
        &sbx.provider.identity(&set.access_token).await.unwrap_err(),
        "invalid_token",
    );
    let renewed = sbx
        .provider
        .refresh(&set.access_token, set.refresh_token.as_ref(), Utc::now())
        .await
        .unwrap();
    assert_eq!(
        sbx.provider
            .identity(&renewed.access_token)
            .await
            .unwrap()
            .subject,
        "sbx-dave"
    );

    // Queue a 429 through HTTP.
    let r = client
        .post(ctl("failures"))
        .json(&serde_json::json!({"endpoint": "token", "mode": {"type": "rate_limited", "retry_after_secs": 3}, "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let e = sbx
        .provider
        .refresh(
            &renewed.access_token,
            renewed.refresh_token.as_ref(),
            Utc::now(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));

    // Revocation: exactly one call reaches the network, and the grant is dead.
    assert!(sbx.provider.supports_revocation());
    client.delete(ctl("calls")).send().await.unwrap();
    sbx.provider
        .revoke(renewed.refresh_token.as_ref().unwrap())
        .await
        .unwrap();
    let calls: serde_json::Value = client
        .get(ctl("calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["revoke"], 1);
    assert_eq!(calls["token"], 0);
    assert_reauth(
        &sbx.provider
            .refresh(
                &renewed.access_token,
                renewed.refresh_token.as_ref(),
                Utc::now(),
            )
            .await
            .unwrap_err(),
        "invalid_grant",
    );

    // Revoke by subject through the control API.
    let other = sbx.connect("sandbox-alice").await;
    let r = client
        .post(ctl("grants/sandbox-alice/revoke"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["affected"], 1);
    assert_reauth(
        &sbx.provider
            .identity(&other.access_token)
            .await
            .unwrap_err(),
        "invalid_token",
    );
}

#[actix_web::test]
async fn generic_oauth2_provider_against_the_sandbox_with_post_auth() {
    let sbx = sandbox();
    let mut s = NetworkSettings::new(NetworkKind::OAuth2);
    let j = |p: &str| Some(sbx.base.join(p).unwrap().to_string());
    s.authorize_url = j("/sandbox/authorize");
    s.token_url = j("/sandbox/token");
    s.revoke_url = j("/sandbox/revoke");
    s.identity_url = j("/sandbox/userinfo");
    s.identity_subject = Some("/sub".into());
    s.identity_handle = Some("/preferred_username".into());
    s.identity_display_name = Some("/name".into());
    s.scopes = Some(vec!["openid".into(), "offline_access".into()]);
    s.client_id = Some(sandbox::CLIENT_ID.into());
    s.client_secret = Some(secret(sandbox::CLIENT_SECRET));
    s.client_auth = Some(ClientAuth::Post);
    let reg = ProviderRegistry::from_settings(
        &BTreeMap::from([("acme".to_owned(), s)]),
        &sbx.base,
        &HttpSettings::default(),
    )
    .unwrap();
    let acme = reg.get("acme").unwrap();
    assert_eq!(reg.names().collect::<Vec<_>>(), vec!["acme"]);
    sbx.state
        .register_redirect_uri(acme.callback_url().as_str());
    let (code, verifier) = sbx.authorize(acme.as_ref(), "sandbox-bob").await;
    let set = acme
        .exchange_code(&code, &verifier, Utc::now())
        .await
        .unwrap();
    assert_eq!(set.scopes, vec!["openid", "offline_access"]);
    let me = acme.identity(&set.access_token).await.unwrap();
    assert_eq!(
        (me.subject.as_str(), me.handle.as_str()),
        ("sandbox-bob", "bob")
    );
    assert_eq!(me.display_name.as_deref(), Some("Bob Sandbox"));
    assert_eq!(
        acme.refresh_plan(&grant(true, 1, 1), Utc::now()),
        RefreshPlan::Silent(RefreshFlavour::RefreshToken { rotating: false })
    );
    assert_eq!(
        acme.refresh_plan(&grant(false, 1, 1), Utc::now()),
        RefreshPlan::NeedsReauthorization(ReauthReason::NoRefreshToken)
    );
}

// ------------------------------------------------------------------ presets against fakes

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

// ------------------------------------------------------------------ outbound HTTP rules

#[actix_web::test]
async fn redirects_are_not_followed_and_bodies_are_capped() {
    let target = Fake::default();
    let target_url = target.start();
    target.on("/token", 200, serde_json::json!({"access_token": "stolen"}));
    let fake = Fake::default();
    let base = fake.start();
    let x = preset_at(NetworkKind::X, &base, &HttpSettings::default(), |_| {});
    let to = target_url.join("/token").unwrap().to_string();
    fake.on_raw("/token", 302, &[("location", to.as_str())], "");
    let e = x
        .refresh(&secret("a"), Some(&secret("r")), Utc::now())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { code, status: Some(302), .. } if code == "redirect"),
        "{e:?}"
    );
    assert!(
        target.seen().is_empty(),
        "the redirect target must not be called"
    );

    let small = preset_at(
        NetworkKind::X,
        &base,
        &HttpSettings {
            max_body_bytes: 1024,
            ..HttpSettings::default()
        },
        |_| {},
    );
    let big = format!("{{\"access_token\": \"{}\"}}", "a".repeat(4096));
    fake.on_raw("/token", 200, &[], &big);
    assert_transient(
        &small
            .refresh(&secret("a"), Some(&secret("r")), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Malformed,
    );

    // Nothing listening: a connection failure is transient.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dead = preset_at(
        NetworkKind::X,
        &Url::parse(&format!("http://{closed}")).unwrap(),
        &HttpSettings::default(),
        |_| {},
    );
    assert_transient(
        &dead
            .refresh(&secret("a"), Some(&secret("r")), Utc::now())
            .await
            .unwrap_err(),
        TransientKind::Connect,
    );
}

#[actix_web::test]
async fn outbound_log_lines_never_contain_tokens() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = preset_at(
        NetworkKind::Facebook,
        &base,
        &HttpSettings::default(),
        |_| {},
    );
    // The binary's one global subscriber captures every test's lines; the
    // other tests' outbound lines are searched too and must not leak either.
    crate::helpers::captured_logs();
    fake.on(
        "/token",
        200,
        serde_json::json!({"access_token": "EAA-new-secret", "expires_in": 5184000}),
    );
    fb.refresh(&secret("EAA-old-secret"), None, Utc::now())
        .await
        .unwrap();
    fake.on(
        "/me",
        500,
        serde_json::json!({"error": {"message": "boom for EAA-old-secret", "code": 2}}),
    );
    let e = fb.identity(&secret("EAA-old-secret")).await.unwrap_err();
    assert_transient(&e, TransientKind::Unavailable(500));
    let logs = crate::helpers::captured_logs();
    assert!(
        logs.contains("outbound request") && logs.contains("fb_exchange_token=REDACTED"),
        "{logs}"
    );
    assert!(logs.contains("access_token=REDACTED"), "{logs}");
    for leak in ["EAA-old-secret", "EAA-new-secret", "csecret-value"] {
        assert!(!logs.contains(leak), "{leak} leaked: {logs}");
    }
    assert!(!format!("{e}").contains("EAA-old-secret"));
}

#[test]
fn redaction_functions() {
    let u = Url::parse(
        "https://graph.facebook.com/v21.0/me?fields=id&access_token=EAAB123&appsecret_proof=abc",
    )
    .unwrap();
    assert_eq!(
        redact_url(&u),
        "https://graph.facebook.com/v21.0/me?fields=id&access_token=REDACTED&appsecret_proof=REDACTED"
    );
    let t = redact_text(
        "POST body refresh_token=rt1&grant_type=refresh_token {\"access_token\":\"at1\"} Bearer at2",
    );
    assert!(
        !t.contains("rt1") && !t.contains("at1") && !t.contains("at2"),
        "{t}"
    );
    assert!(t.contains("grant_type=refresh_token"));
}

#[test]
fn retry_after_accepts_seconds_and_http_dates() {
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
    let now = chrono::DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
        .unwrap()
        .with_timezone(&Utc);
    let mut h = HeaderMap::new();
    h.insert(RETRY_AFTER, HeaderValue::from_static("120"));
    assert_eq!(
        tokenwarden::providers::parse_retry_after(&h, now),
        Some(Duration::from_secs(120))
    );
    h.insert(
        RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2015 07:29:30 GMT"),
    );
    assert_eq!(
        tokenwarden::providers::parse_retry_after(&h, now),
        Some(Duration::from_secs(90))
    );
    h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
    assert_eq!(tokenwarden::providers::parse_retry_after(&h, now), None);
}

// ------------------------------------------------------------------ configuration

fn build(
    name: &str,
    s: NetworkSettings,
    http: &HttpSettings,
) -> Result<ProviderRegistry, tokenwarden::providers::ConfigError> {
    ProviderRegistry::from_settings(
        &BTreeMap::from([(name.to_owned(), s)]),
        &Url::parse(PUBLIC).unwrap(),
        http,
    )
}

fn x_with_token_url(u: &str) -> NetworkSettings {
    let mut s = NetworkSettings::new(NetworkKind::X);
    s.client_id = Some("cid".into());
    s.client_secret = Some(secret("sec"));
    s.token_url = Some(u.into());
    s
}

#[test]
fn config_rejects_plain_http_off_loopback() {
    let http = HttpSettings::default();
    let e = build("x", x_with_token_url("http://api.example.com/token"), &http).unwrap_err();
    assert_eq!(e.network, "x");
    assert!(e.message.contains("token_url must use https"), "{e}");
    assert!(build("x", x_with_token_url("http://127.0.0.9:8080/token"), &http).is_ok());
    assert!(build("x", x_with_token_url("http://[::1]:8080/token"), &http).is_ok());
    assert!(build("x", x_with_token_url("http://localhost/token"), &http).is_ok());
    let strict = HttpSettings {
        allow_insecure_loopback: false,
        ..HttpSettings::default()
    };
    assert!(build("x", x_with_token_url("http://127.0.0.1/token"), &strict).is_err());
    assert!(build("x", x_with_token_url("ftp://api.example.com/token"), &http).is_err());
    assert!(
        build(
            "x",
            x_with_token_url("https://user:pw@api.example.com/token"),
            &http
        )
        .is_err()
    );
}

#[test]
fn config_validates_generic_networks_and_credentials() {
    let http = HttpSettings::default();
    let toml_like = serde_json::json!({
        "kind": "oauth2",
        "authorize_url": "https://id.acme.test/auth",
        "token_url": "https://id.acme.test/token",
        "identity_url": "https://id.acme.test/me",
        "identity_subject": "/sub",
        "identity_handle": "/preferred_username",
        "scopes": ["openid"],
        "client_id": "tokenwarden",
        "client_secret": "s3cret",
        "client_auth": "post"
    });
    let s: NetworkSettings = serde_json::from_value(toml_like.clone()).unwrap();
    let reg = build("acme", s, &http).unwrap();
    let acme = reg.get("acme").unwrap();
    assert_eq!(
        acme.callback_url().as_str(),
        "https://tokens.example.com/v1/oauth/callback/acme"
    );
    assert!(!acme.supports_revocation());
    assert!(!format!("{acme:?}").contains("s3cret"));

    let mut missing = toml_like.clone();
    missing.as_object_mut().unwrap().remove("token_url");
    let e = build("acme", serde_json::from_value(missing).unwrap(), &http).unwrap_err();
    assert!(e.message.contains("token_url is required"), "{e}");

    let mut no_secret = toml_like.clone();
    no_secret.as_object_mut().unwrap().remove("client_secret");
    let e = build("acme", serde_json::from_value(no_secret).unwrap(), &http).unwrap_err();
    assert!(e.message.contains("client_secret"), "{e}");

    let mut bad_ptr = toml_like.clone();
    bad_ptr["identity_subject"] = "sub".into();
    assert!(build("acme", serde_json::from_value(bad_ptr).unwrap(), &http).is_err());

    let mut unknown = toml_like.clone();
    unknown["kind"] = "myspace".into();
    assert!(serde_json::from_value::<NetworkSettings>(unknown).is_err());
    let mut extra = toml_like;
    extra["client_sekret"] = "typo".into();
    assert!(serde_json::from_value::<NetworkSettings>(extra).is_err());

    // A preset needs only credentials; one from a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "from-file\n").unwrap();
    let mut tt = NetworkSettings::new(NetworkKind::TikTok);
    tt.client_id = Some("ck".into());
    tt.client_secret_file = Some(path);
    let reg = build("tiktok", tt, &http).unwrap();
    assert_eq!(
        reg.get("tiktok").unwrap().refresh_lead(),
        Duration::from_secs(3600)
    );
    let mut none = NetworkSettings::new(NetworkKind::Pinterest);
    none.client_id = Some("p".into());
    assert!(build("pinterest", none, &http).is_err());
    assert!(build("Bad Name", x_with_token_url("https://a.example/t"), &http).is_err());
}

#[test]
fn http_settings_deserialize_with_defaults_and_humantime() {
    let h: HttpSettings =
        serde_json::from_value(serde_json::json!({"connect_timeout": "2s", "request_timeout": 9}))
            .unwrap();
    assert_eq!(h.connect_timeout, Duration::from_secs(2));
    assert_eq!(h.request_timeout, Duration::from_secs(9));
    assert_eq!(h.max_body_bytes, 1024 * 1024);
    assert!(h.allow_insecure_loopback);
    assert!(serde_json::from_value::<HttpSettings>(serde_json::json!({"timeout": 1})).is_err());
}
