//! The network layer over real HTTP: the sandbox network and local fakes of the presets.

mod assets;
mod config;
mod outbound;
mod presets;
mod sandbox_network;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::Utc;
use secrecy::SecretString;
use tokenwarden::providers::{
    GrantInfo, HttpSettings, NetworkKind, NetworkSettings, Provider, ProviderError,
    ProviderRegistry, TokenSet, TransientKind, callback_url, new_pkce_verifier,
    pkce_challenge_s256,
};
use tokenwarden::sandbox::{self, SandboxOptions, SandboxState};
use url::Url;

use crate::client::Client;

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
    browser: Client,
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
    // The sandbox's own pages, as a person's browser meets them.
    let browser = Client::new(
        no_redirect_client(),
        base.as_str().trim_end_matches('/').to_string(),
    );
    Sandbox {
        base,
        state,
        provider: reg.get("sandbox").expect("sandbox provider"),
        browser,
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
        let page = self.browser.get(url.clone()).send().await;
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
            .await;
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
