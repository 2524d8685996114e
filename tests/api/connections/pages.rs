//! Facebook Pages for the connect-with-selection tests, until the facebook preset lists them
//! itself: a local stand-in for Graph's `GET /me/accounts` (the Pages a person manages, each
//! with its Page token, paginated by `paging.next` as Graph documents it), and a `facebook`
//! network that is the preset in every call (code exchange, `/me`, revocation against the
//! Meta Graph stub) and reads `/me/accounts` for `list_assets`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokenwarden::providers::{
    AssetKind, AssetTokens, GrantInfo, Identity, ManagedAsset, NetworkKind, Provider,
    ProviderError, ProviderFuture, RefreshPlan, RevocationScope, TokenSet, TransientKind,
};
use url::Url;

/// Pages per answer of the stub: small, so that listings follow `paging.next`.
const PAGE_SIZE: usize = 2;

/// Each person's Pages: (id, name).
type Managed = HashMap<String, Vec<(String, String)>>;

#[derive(Clone, Default)]
pub struct PagesGraph {
    inner: Arc<Mutex<Managed>>,
    /// Graph's answers to `/me/accounts` are its transient error (HTTP 500, code 2).
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl PagesGraph {
    /// `person` manages these Pages (id, name) from now on.
    pub fn manage(&self, person: &str, pages: &[(&str, &str)]) {
        self.inner.lock().unwrap().insert(
            person.to_string(),
            pages
                .iter()
                .map(|(id, name)| (id.to_string(), name.to_string()))
                .collect(),
        );
    }

    /// `/me/accounts` answers Graph's transient error from now on (or stops to).
    pub fn fail(&self, on: bool) {
        self.failing.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The Page token Graph hands out for `page` to `person`.
    pub fn page_token(page: &str, person: &str) -> String {
        format!("EAAPage{page}for{person}")
    }

    /// Serves the stub on a loopback port; its base URL.
    pub fn start(&self) -> Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let me = self.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let me = me.clone();
                    App::new().default_service(web::to(move |req: HttpRequest| {
                        let me = me.clone();
                        async move { me.answer(&req, addr) }
                    }))
                })
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

    fn answer(&self, req: &HttpRequest, addr: std::net::SocketAddr) -> HttpResponse {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return HttpResponse::InternalServerError().json(json!({
                "error": {"message": "An unexpected error has occurred.", "type": "OAuthException", "code": 2, "is_transient": true}
            }));
        }
        let params: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        // The Meta Graph stub's user tokens end with `x{person}`.
        let Some(person) = params
            .get("access_token")
            .and_then(|t| t.rsplit_once('x'))
            .map(|(_, p)| p.to_string())
        else {
            return HttpResponse::BadRequest().json(json!({
                "error": {"message": "An active access token must be used", "type": "OAuthException", "code": 190}
            }));
        };
        let pages = self
            .inner
            .lock()
            .unwrap()
            .get(&person)
            .cloned()
            .unwrap_or_default();
        let after: usize = params
            .get("after")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let data: Vec<Value> = pages
            .iter()
            .skip(after)
            .take(PAGE_SIZE)
            .map(|(id, name)| {
                json!({
                    "id": id,
                    "name": name,
                    "access_token": Self::page_token(id, &person),
                    "tasks": ["CREATE_CONTENT", "MANAGE"],
                    "picture": {"data": {"url": format!("https://cdn.example.test/{id}.png")}}
                })
            })
            .collect();
        let mut paging = json!({"cursors": {"before": after.to_string(), "after": (after + PAGE_SIZE).to_string()}});
        if after + PAGE_SIZE < pages.len() {
            paging["next"] = json!(format!(
                "http://{addr}/me/accounts?access_token={}&after={}",
                params["access_token"],
                after + PAGE_SIZE
            ));
        }
        HttpResponse::Ok().json(json!({"data": data, "paging": paging}))
    }
}

/// A configured network (a preset, over real HTTP) that also has assets: Facebook Pages read
/// from [`PagesGraph`], or channels shared with the person's grant, listed as given.
#[derive(Debug)]
pub struct FacebookPages {
    pub preset: Arc<dyn Provider>,
    pub assets: Assets,
}

#[derive(Debug)]
pub enum Assets {
    /// Derived Page tokens from `GET {url}` (Graph's `/me/accounts`).
    Pages(Url),
    /// Shared: these channels (id, name) for whoever signed in.
    Channels(Vec<(String, String)>),
}

fn malformed(detail: &str) -> ProviderError {
    ProviderError::Transient {
        kind: TransientKind::Malformed,
        detail: detail.into(),
        retry_after: None,
    }
}

impl FacebookPages {
    async fn pages(&self, token: &SecretString) -> Result<Vec<ManagedAsset>, ProviderError> {
        let url = match &self.assets {
            Assets::Pages(url) => url.clone(),
            Assets::Channels(channels) => {
                return Ok(channels
                    .iter()
                    .map(|(id, name)| ManagedAsset {
                        external_id: id.clone(),
                        kind: AssetKind::Channel,
                        name: name.clone(),
                        handle: None,
                        picture_url: None,
                        token: None,
                    })
                    .collect());
            }
        };
        let client = reqwest::Client::new();
        let mut url = url;
        url.query_pairs_mut()
            .append_pair("fields", "id,name,access_token,tasks,picture")
            .append_pair("access_token", token.expose_secret());
        let mut assets = Vec::new();
        loop {
            let response = client
                .get(url.clone())
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .map_err(|e| malformed(&e.to_string()))?;
            if response.status().is_server_error() {
                return Err(ProviderError::Transient {
                    kind: TransientKind::Unavailable(response.status().as_u16()),
                    detail: "Graph answered a server error".into(),
                    retry_after: None,
                });
            }
            let body: Value = response
                .json()
                .await
                .map_err(|e| malformed(&e.to_string()))?;
            for page in body["data"]
                .as_array()
                .ok_or_else(|| malformed("no data"))?
            {
                assets.push(ManagedAsset {
                    external_id: page["id"]
                        .as_str()
                        .ok_or_else(|| malformed("no id"))?
                        .into(),
                    kind: AssetKind::Page,
                    name: page["name"].as_str().unwrap_or_default().into(),
                    handle: None,
                    picture_url: page["picture"]["data"]["url"].as_str().map(Into::into),
                    token: Some(SecretString::from(
                        page["access_token"]
                            .as_str()
                            .ok_or_else(|| malformed("a Page without its token"))?
                            .to_string(),
                    )),
                });
            }
            match body["paging"]["next"].as_str() {
                Some(next) => url = Url::parse(next).map_err(|e| malformed(&e.to_string()))?,
                None => return Ok(assets),
            }
        }
    }
}

impl Provider for FacebookPages {
    fn name(&self) -> &str {
        self.preset.name()
    }
    fn kind(&self) -> NetworkKind {
        self.preset.kind()
    }
    fn callback_url(&self) -> &Url {
        self.preset.callback_url()
    }
    fn authorization_url(&self, state: &str, pkce_challenge_s256: &str) -> Url {
        self.preset.authorization_url(state, pkce_challenge_s256)
    }
    fn exchange_code<'a>(
        &'a self,
        code: &'a str,
        pkce_verifier: &'a str,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet> {
        self.preset.exchange_code(code, pkce_verifier, now)
    }
    fn refresh_plan(&self, grant: &GrantInfo, now: DateTime<Utc>) -> RefreshPlan {
        self.preset.refresh_plan(grant, now)
    }
    fn refresh<'a>(
        &'a self,
        access_token: &'a SecretString,
        refresh_token: Option<&'a SecretString>,
        now: DateTime<Utc>,
    ) -> ProviderFuture<'a, TokenSet> {
        self.preset.refresh(access_token, refresh_token, now)
    }
    fn identity<'a>(&'a self, access_token: &'a SecretString) -> ProviderFuture<'a, Identity> {
        self.preset.identity(access_token)
    }
    fn supports_revocation(&self) -> bool {
        self.preset.supports_revocation()
    }
    fn revocation_scope(&self) -> Option<RevocationScope> {
        self.preset.revocation_scope()
    }
    fn revoke<'a>(&'a self, token: &'a SecretString) -> ProviderFuture<'a, ()> {
        self.preset.revoke(token)
    }
    fn default_access_lifetime(&self) -> Duration {
        self.preset.default_access_lifetime()
    }
    fn refresh_lead(&self) -> Duration {
        self.preset.refresh_lead()
    }
    fn assets(&self) -> Option<AssetTokens> {
        Some(match self.assets {
            Assets::Pages(_) => AssetTokens::Derived,
            Assets::Channels(_) => AssetTokens::Shared,
        })
    }
    fn list_assets<'a>(
        &'a self,
        access_token: &'a SecretString,
    ) -> ProviderFuture<'a, Vec<ManagedAsset>> {
        Box::pin(self.pages(access_token))
    }
}
