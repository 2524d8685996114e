//! The sandbox network: a small, real OAuth 2.0 authorization server for demos and tests.
//!
//! Mount it with [`scope`] (everything lives under `/sandbox`); it is a simulated network, not
//! part of the tokenwarden API, so its handlers are registered with plain actix `service` (not
//! through utoipa-actix-web) and stay out of the OpenAPI document.
//! **Enable it only in development and demos**: the control API is unauthenticated.
//!
//! The client is fixed: `client_id = sandbox-client`, `client_secret = sandbox-secret`
//! ([`CLIENT_ID`], [`CLIENT_SECRET`]), authenticated by HTTP Basic or in the form body. Redirect
//! URIs must be registered exactly ([`SandboxOptions::for_public_url`] registers
//! `{public_url}/v1/oauth/callback/sandbox`). Two identities exist from the start:
//! `sandbox-alice` (`alice`) and `sandbox-bob` (`bob`); Alice manages three Pages
//! ([`SandboxOptions::default`]), which a sandbox network lists when it is configured with
//! `assets_url = "{public_url}/sandbox/me/accounts"` ([`assets_url`]), as
//! `ProviderRegistry::add_sandbox_pages` registers network `sandbox_pages`.
//!
//! | route | what |
//! |---|---|
//! | `GET /sandbox/authorize` | an authorization-code request (RFC 6749 §4.1.1: `response_type=code`, the client's `client_id`, a registered `redirect_uri`, optional `scope` and `state`; PKCE `code_challenge` with method S256 required): an HTML form to pick an identity and Approve/Deny. With `auto_approve=<subject>` (or `auto_deny=1`) it answers the 303 at once, for scripts. |
//! | `POST /sandbox/authorize` | the form (the request's fields + `subject` + `decision=approve\|deny`): 303 to `redirect_uri` with `code`&`state` or `error=access_denied`&`state`. |
//! | `POST /sandbox/token` | `authorization_code` (single-use code, `redirect_uri` and PKCE verifier checked) and `refresh_token` (rotating; spending an old refresh token revokes the whole grant and answers `invalid_grant`). |
//! | `POST /sandbox/revoke` | RFC 7009; a refresh token revokes its grant, an access token itself. Always 200 for an authenticated client. |
//! | `GET /sandbox/userinfo` | Bearer token → `{sub, preferred_username, name, picture}`; 401 `invalid_token` otherwise. |
//! | `GET /sandbox/me/accounts` | the Pages the token's person manages, shaped as Graph's `/me/accounts` (`data[]` of `{id, name, access_token, tasks, picture}`, `limit`/`after`, `paging.cursors`, `paging.next` absent on the last page); Bearer or `access_token` in the query; a dead token answers Graph's error 190. Each grant has its own Page tokens: a re-authorization issues new ones, a refresh keeps them, a revoked grant ends them. |
//! | `GET\|PUT /sandbox/control/pages/{subject}` | the Pages a person manages, `[{id, name, picture_url?}]`. |
//! | `GET\|POST /sandbox/control/identities` | list / create-or-replace `{subject, handle, display_name, avatar_url?}`. |
//! | `GET\|PUT /sandbox/control/settings` | `{access_token_lifetime_secs, refresh_token_lifetime_secs}`. |
//! | `POST /sandbox/control/grants/{subject}/expire` | expire the access tokens of the subject's grants (refresh still works). |
//! | `POST /sandbox/control/grants/{subject}/revoke` | revoke the subject's grants. |
//! | `POST /sandbox/control/failures` | queue `{endpoint: token\|revoke\|userinfo\|accounts, mode, count}`; `mode` is `{"type":"status","status":503}`, `{"type":"rate_limited","retry_after_secs":7}`, `{"type":"slow","delay_ms":2000}`, `{"type":"malformed"}` or `{"type":"invalid_grant"}`. `DELETE` clears. |
//! | `GET\|DELETE /sandbox/control/calls` | per-endpoint call counters `{authorize, token, refresh, revoke, userinfo, accounts}` / reset them. |
//! | `POST /sandbox/control/redirect-uris` | register `{"uri": "…"}`. |
//!
//! Every control action is also a method of [`SandboxState`].
//!
//! The state lives here; the OAuth endpoints are in `server`, the HTML they answer in `pages`,
//! and the control API with its failure queue and call counters in `control`.

mod accounts;
mod control;
mod faults;
mod pages;
mod server;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use url::Url;

pub use control::{CallCounts, Endpoint, FailureMode};

use crate::providers::callback_url;
use faults::Shape;

/// The sandbox's well-known client id.
pub const CLIENT_ID: &str = crate::providers::SANDBOX_CLIENT_ID;
/// The sandbox's well-known client secret (not a secret: it is a sandbox).
pub const CLIENT_SECRET: &str = crate::providers::SANDBOX_CLIENT_SECRET;

const CODE_LIFETIME_SECS: i64 = 600;

/// A person the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxIdentity {
    pub subject: String,
    pub handle: String,
    pub display_name: String,
    #[serde(default)]
    pub avatar_url: Option<String>,
}

impl SandboxIdentity {
    pub fn new(subject: &str, handle: &str, display_name: &str) -> Self {
        SandboxIdentity {
            subject: subject.into(),
            handle: handle.into(),
            display_name: display_name.into(),
            avatar_url: None,
        }
    }
}
/// A Facebook-like Page a sandbox person manages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxPage {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub picture_url: Option<String>,
}

impl SandboxPage {
    pub fn new(id: &str, name: &str) -> Self {
        SandboxPage {
            id: id.into(),
            name: name.into(),
            picture_url: None,
        }
    }
}

/// The `assets_url` of a sandbox network whose profiles are the Pages its people manage.
pub fn assets_url(public_url: &Url) -> String {
    crate::providers::sandbox_assets_url(public_url)
}

/// Start-up options.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub redirect_uris: Vec<String>,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Option<Duration>,
    pub identities: Vec<SandboxIdentity>,
    /// The Pages each person (by subject) manages.
    pub pages: BTreeMap<String, Vec<SandboxPage>>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            redirect_uris: Vec::new(),
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: None,
            identities: vec![
                SandboxIdentity::new("sandbox-alice", "alice", "Alice Sandbox"),
                SandboxIdentity::new("sandbox-bob", "bob", "Bob Sandbox"),
            ],
            pages: BTreeMap::from([(
                "sandbox-alice".to_owned(),
                vec![
                    SandboxPage::new("sandbox-page-bakery", "Alice's Bakery"),
                    SandboxPage::new("sandbox-page-books", "Alice's Books"),
                    SandboxPage::new("sandbox-page-bikes", "Alice's Bikes"),
                ],
            )]),
        }
    }
}

impl SandboxOptions {
    /// Defaults, with tokenwarden's sandbox callbacks `{public_url}/v1/oauth/callback/sandbox`
    /// and `…/sandbox_pages` registered.
    pub fn for_public_url(public_url: &Url) -> Self {
        SandboxOptions {
            redirect_uris: vec![
                callback_url(public_url, "sandbox").to_string(),
                callback_url(public_url, crate::providers::SANDBOX_PAGES_NETWORK).to_string(),
            ],
            ..SandboxOptions::default()
        }
    }
}

/// The sandbox's live settings (control API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    pub access_token_lifetime_secs: u64,
    #[serde(default)]
    pub refresh_token_lifetime_secs: Option<u64>,
}

struct CodeRec {
    subject: String,
    redirect_uri: String,
    challenge: String,
    scopes: String,
    expires_at: DateTime<Utc>,
    /// Set once spent: a second use revokes the grant it produced.
    spent_for: Option<u64>,
}

struct GrantRec {
    subject: String,
    scopes: String,
    revoked: bool,
}

struct AccessRec {
    grant: u64,
    expires_at: DateTime<Utc>,
}

struct RefreshRec {
    grant: u64,
    current: bool,
    expires_at: Option<DateTime<Utc>>,
}

/// A Page token: which grant made it, for which Page.
struct PageTokenRec {
    grant: u64,
    page: String,
}

struct Inner {
    identities: BTreeMap<String, SandboxIdentity>,
    pages: BTreeMap<String, Vec<SandboxPage>>,
    page_tokens: HashMap<String, PageTokenRec>,
    settings: SandboxSettings,
    redirect_uris: Vec<String>,
    codes: HashMap<String, CodeRec>,
    grants: HashMap<u64, GrantRec>,
    access: HashMap<String, AccessRec>,
    refresh: HashMap<String, RefreshRec>,
    next_grant: u64,
    failures: HashMap<Endpoint, VecDeque<FailureMode>>,
    calls: CallCounts,
}

/// The sandbox's in-memory state, shared by its routes as `web::Data<SandboxState>`.
pub struct SandboxState {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SandboxState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxState").finish_non_exhaustive()
    }
}

fn random_token(prefix: &str) -> String {
    let b = rand::random::<[u8; 24]>();
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

impl SandboxState {
    pub fn new(options: SandboxOptions) -> Self {
        SandboxState {
            inner: Mutex::new(Inner {
                identities: options
                    .identities
                    .into_iter()
                    .map(|i| (i.subject.clone(), i))
                    .collect(),
                pages: options.pages,
                page_tokens: HashMap::new(),
                settings: SandboxSettings {
                    access_token_lifetime_secs: options.access_token_lifetime.as_secs().max(1),
                    refresh_token_lifetime_secs: options
                        .refresh_token_lifetime
                        .map(|d| d.as_secs()),
                },
                redirect_uris: options.redirect_uris,
                codes: HashMap::new(),
                grants: HashMap::new(),
                access: HashMap::new(),
                refresh: HashMap::new(),
                next_grant: 1,
                failures: HashMap::new(),
                calls: CallCounts::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Create or replace an identity.
    pub fn add_identity(&self, identity: SandboxIdentity) {
        self.lock()
            .identities
            .insert(identity.subject.clone(), identity);
    }

    /// Set the Pages a person manages (an empty list: none). Tokens of Pages dropped from the
    /// list stop working, as when a Page role is removed.
    pub fn set_pages(&self, subject: &str, pages: Vec<SandboxPage>) {
        let mut g = self.lock();
        let kept: Vec<String> = pages.iter().map(|p| p.id.clone()).collect();
        let grants: Vec<u64> = g
            .grants
            .iter()
            .filter(|(_, gr)| gr.subject == subject)
            .map(|(id, _)| *id)
            .collect();
        g.page_tokens
            .retain(|_, t| !grants.contains(&t.grant) || kept.contains(&t.page));
        g.pages.insert(subject.to_owned(), pages);
    }

    /// The Pages a person manages.
    pub fn pages(&self, subject: &str) -> Vec<SandboxPage> {
        self.lock().pages.get(subject).cloned().unwrap_or_default()
    }

    /// Whether a Page token still works: its grant is live and the person still manages the
    /// Page.
    pub fn page_token_live(&self, token: &str) -> bool {
        let g = self.lock();
        g.page_tokens.get(token).is_some_and(|t| {
            g.grants.get(&t.grant).is_some_and(|gr| {
                !gr.revoked
                    && g.pages
                        .get(&gr.subject)
                        .is_some_and(|ps| ps.iter().any(|p| p.id == t.page))
            })
        })
    }

    pub fn identities(&self) -> Vec<SandboxIdentity> {
        self.lock().identities.values().cloned().collect()
    }

    pub fn register_redirect_uri(&self, uri: &str) {
        let mut g = self.lock();
        if !g.redirect_uris.iter().any(|u| u == uri) {
            g.redirect_uris.push(uri.to_owned());
        }
    }

    pub fn settings(&self) -> SandboxSettings {
        self.lock().settings
    }

    /// Lifetime of the access tokens issued from now on.
    pub fn set_access_token_lifetime(&self, lifetime: Duration) {
        self.lock().settings.access_token_lifetime_secs = lifetime.as_secs().max(1);
    }

    /// Lifetime of the refresh tokens issued from now on (`None`: unlimited).
    pub fn set_refresh_token_lifetime(&self, lifetime: Option<Duration>) {
        self.lock().settings.refresh_token_lifetime_secs = lifetime.map(|d| d.as_secs());
    }

    /// Expire every access token of the subject's grants; returns how many grants were touched.
    pub fn expire_grants(&self, subject: &str) -> usize {
        let mut g = self.lock();
        let ids: Vec<u64> = g
            .grants
            .iter()
            .filter(|(_, gr)| gr.subject == subject && !gr.revoked)
            .map(|(id, _)| *id)
            .collect();
        let past = Utc::now() - chrono::Duration::seconds(1);
        for a in g.access.values_mut() {
            if ids.contains(&a.grant) {
                a.expires_at = past;
            }
        }
        ids.len()
    }

    /// Revoke the subject's grants; returns how many were live.
    pub fn revoke_grants(&self, subject: &str) -> usize {
        let mut g = self.lock();
        let mut n = 0;
        for gr in g.grants.values_mut() {
            if gr.subject == subject && !gr.revoked {
                gr.revoked = true;
                n += 1;
            }
        }
        n
    }

    /// Live (not revoked) grants of a subject.
    pub fn live_grants(&self, subject: &str) -> usize {
        self.lock()
            .grants
            .values()
            .filter(|g| g.subject == subject && !g.revoked)
            .count()
    }

    fn issue(&self, g: &mut Inner, grant: u64, shape: Shape) -> serde_json::Value {
        let now = Utc::now();
        let at = random_token("sbx_at_");
        let life = g.settings.access_token_lifetime_secs;
        let rlife = g.settings.refresh_token_lifetime_secs;
        g.access.insert(
            at.clone(),
            AccessRec {
                grant,
                expires_at: now + chrono::Duration::seconds(life as i64),
            },
        );
        let scopes = g
            .grants
            .get(&grant)
            .map(|gr| gr.scopes.clone())
            .unwrap_or_default();
        let mut body = json!({
            "access_token": at,
            "token_type": "Bearer",
            "scope": scopes,
        });
        if !shape.no_expires_in {
            body["expires_in"] = json!(life);
        }
        if !shape.no_refresh_token {
            let rt = random_token("sbx_rt_");
            g.refresh.insert(
                rt.clone(),
                RefreshRec {
                    grant,
                    current: true,
                    expires_at: rlife.map(|s| now + chrono::Duration::seconds(s as i64)),
                },
            );
            body["refresh_token"] = json!(rt);
            if let Some(r) = rlife {
                body["refresh_token_expires_in"] = json!(r);
            }
        }
        body
    }
}

/// The sandbox's routes under `/sandbox`, with its state attached.
pub fn scope(state: web::Data<SandboxState>) -> actix_web::Scope {
    web::scope("/sandbox")
        .app_data(state)
        .app_data(web::JsonConfig::default().error_handler(|err, _| {
            let msg = err.to_string();
            actix_web::error::InternalError::from_response(
                err,
                HttpResponse::BadRequest()
                    .json(json!({"error": "invalid_request", "error_description": msg})),
            )
            .into()
        }))
        .service(server::authorize_get)
        .service(server::authorize_post)
        .service(server::token_endpoint)
        .service(server::revoke_endpoint)
        .service(server::userinfo)
        .service(accounts::me_accounts)
        .service(accounts::ctl_pages)
        .service(accounts::ctl_put_pages)
        .service(control::ctl_identities)
        .service(control::ctl_add_identity)
        .service(control::ctl_settings)
        .service(control::ctl_put_settings)
        .service(control::ctl_expire)
        .service(control::ctl_revoke)
        .service(control::ctl_fail)
        .service(control::ctl_clear_failures)
        .service(control::ctl_calls)
        .service(control::ctl_reset_calls)
        .service(control::ctl_redirect_uri)
}
