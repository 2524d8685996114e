//! A local stand-in for Meta's Graph API over real HTTP, behaving as Meta documents it for
//! Facebook Login: a code buys a short-lived user token, `fb_exchange_token` turns a valid token
//! into a long-lived one for the same person, `/me` answers who a valid token belongs to, and
//! `DELETE /me/permissions` removes every permission the person gave the app, which ends every
//! token of that person for the app, whoever holds it. A dead token answers error 190
//! (`OAuthException`), as Graph does. A test may hold `fb_exchange_token` refreshes at the stub
//! (`hold_refreshes`) to act while they are at the network.
//!
//! People may manage Pages (`manage`), listed as Graph lists them. The Meta documentation
//! followed, page by page:
//!
//! * Graph API reference "/user/accounts": `GET /me/accounts?fields=id,name,access_token,tasks,
//!   picture` lists the Pages the person has a task on, each with its Page access token.
//! * "Page Access Tokens" (Facebook Login, access token types): a Page token obtained with a
//!   long-lived user token has no expiry date; it stops working with the person's session
//!   (password change, Page role removed, app de-authorized).
//! * "Pagination" (Graph API, paginated results): cursor-based, `data[]` with
//!   `paging.cursors.before/after` and `paging.next` (an absolute URL carrying the query, the
//!   token included), `next` absent on the last page; `limit` sets the page size.
//! * "Handling Errors" (Graph API): `{"error": {message, type: "OAuthException", code,
//!   error_subcode, fbtrace_id}}`; code 190 is an invalid token, its subcodes 458 (app not
//!   installed), 460 (password changed), 463 (expired), 467 (invalid), 492 (invalid session);
//!   codes 4, 17, 32, 613 are rate limits; code 2 with `is_transient` a passing failure.
//! * "debug_token" (Graph API reference): `GET /debug_token?input_token=…&access_token=
//!   {app_id}|{app_secret}` answers `data.{app_id, type, is_valid, expires_at (0: never),
//!   data_access_expires_at, scopes, user_id, profile_id}` and, for a dead token,
//!   `is_valid: false` with `error.{code, subcode, message}`.
//!
//! Faults for `/me/accounts` on demand (`accounts_fault`): 500, a truncated body, a stall
//! (the caller's timeout), one Page listed without its `access_token` (`drop_page_token`), and a
//! `paging.next` to another host.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use url::Url;

#[derive(Clone, Default)]
pub struct MetaGraph {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    /// token → (person, still valid)
    tokens: HashMap<String, (String, bool)>,
    issued: u64,
    /// Every `DELETE /me/permissions` that de-authorized someone, by person.
    deauthorized: Vec<String>,
    /// How many of the next refreshes wait before they are answered.
    to_hold: usize,
    /// Refreshes held so far, each numbered by its arrival.
    held: usize,
    /// Held refreshes let go so far, in arrival order.
    released: usize,
    /// Held refreshes answer Graph's transient error when let go.
    fail_held: bool,
    /// person → the Pages (id, name) they have a task on, in listing order.
    pages: HashMap<String, Vec<(String, String)>>,
    /// Page token → (person, Page id, the person's session it was made in).
    page_tokens: HashMap<String, (String, String, u64)>,
    /// person → their session; a password change starts a new one.
    sessions: HashMap<String, u64>,
    /// person → the error subcode their dead tokens answer with.
    dead_subcode: HashMap<String, u32>,
    /// A Page listed without its `access_token`.
    tokenless_page: Option<String>,
    /// What the next `/me/accounts` calls answer instead of Pages.
    accounts_faults: Vec<AccountsFault>,
    /// How many `/me/accounts` calls arrived.
    accounts_calls: usize,
    /// How many `fb_exchange_token` grant requests arrived.
    exchanges: usize,
    /// The app credentials `debug_token` accepts (`app_id|app_secret`).
    app_token: Option<String>,
}

/// A failure of `/me/accounts` on demand.
#[derive(Clone, Debug)]
pub enum AccountsFault {
    /// HTTP 500 with Graph's transient error body.
    ServerError,
    /// HTTP 200 whose JSON body stops half-way.
    Truncated,
    /// Waits this long before answering normally (longer than a caller's timeout).
    Stall(Duration),
    /// A normal page whose `paging.next` points at another host.
    NextElsewhere(String),
}

/// How long a held refresh waits at most (a test that forgets to release it fails, not hangs).
const LONGEST_HOLD: Duration = Duration::from_secs(20);

fn graph_error(message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": 190,
            "fbtrace_id": "stub"
        }
    }))
}

fn graph_error_with(message: &str, subcode: u32) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": 190,
            "error_subcode": subcode,
            "fbtrace_id": "stub"
        }
    }))
}

impl MetaGraph {
    /// Serves the stub on a loopback port, on its own thread and actix system; its base URL.
    pub fn start(&self) -> Url {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let me = self.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    let me = me.clone();
                    App::new().default_service(web::to(
                        move |req: HttpRequest, body: web::Bytes| {
                            let me = me.clone();
                            async move {
                                if req.path() == "/me/accounts"
                                    && let Some(stall) = me.stall()
                                {
                                    actix_web::rt::time::sleep(stall).await;
                                }
                                if me.wait_if_held(&req, &body).await {
                                    return HttpResponse::InternalServerError().json(json!({
                                        "error": {
                                            "message": "An unexpected error has occurred. \
                                                        Please retry your request later.",
                                            "type": "OAuthException",
                                            "code": 2,
                                            "is_transient": true
                                        }
                                    }));
                                }
                                me.answer(&req, &body)
                            }
                        },
                    ))
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

    /// The code a person's consent produces (what the callback receives).
    pub fn code_for(person: &str) -> String {
        format!("code-{person}")
    }

    /// Whether the person has a token the app can still use.
    pub fn authorized(&self, person: &str) -> bool {
        let g = self.inner.lock().unwrap();
        g.tokens.values().any(|(p, live)| p == person && *live)
    }

    /// The people `DELETE /me/permissions` de-authorized, in order.
    pub fn deauthorizations(&self) -> Vec<String> {
        self.inner.lock().unwrap().deauthorized.clone()
    }

    /// Whether Meta would still accept this token.
    pub fn live(&self, token: &str) -> bool {
        let g = self.inner.lock().unwrap();
        g.tokens.get(token).is_some_and(|(_, live)| *live)
    }

    /// The next `n` `fb_exchange_token` refreshes wait at the stub until released.
    pub fn hold_refreshes(&self, n: usize) {
        let mut g = self.inner.lock().unwrap();
        (g.to_hold, g.held, g.released, g.fail_held) = (n, 0, 0, false);
    }

    /// The held refreshes, once released, answer Graph's transient error (code 2, HTTP 500).
    pub fn fail_held_refreshes(&self) {
        self.inner.lock().unwrap().fail_held = true;
    }

    /// Answers the next `n` held refreshes, in the order they arrived.
    pub fn release_refreshes(&self, n: usize) {
        self.inner.lock().unwrap().released += n;
    }

    /// Waits until `n` refreshes are held at the stub.
    pub async fn until_held(&self, n: usize) {
        let deadline = Instant::now() + LONGEST_HOLD;
        while self.inner.lock().unwrap().held < n {
            assert!(
                Instant::now() < deadline,
                "{n} refreshes never reached Meta"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The person has a task on these Pages (id, name), listed in this order.
    pub fn manage(&self, person: &str, pages: &[(&str, &str)]) {
        let mut g = self.inner.lock().unwrap();
        let pages = pages
            .iter()
            .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
            .collect();
        g.pages.insert(person.to_owned(), pages);
    }

    /// The person changes their password: every token of theirs dies, and answers error 190
    /// with `subcode` (460: password changed; 458, 463, 467, 492 …) from now on.
    pub fn end_session(&self, person: &str, subcode: u32) {
        let mut g = self.inner.lock().unwrap();
        for (p, live) in g.tokens.values_mut() {
            if p == person {
                *live = false;
            }
        }
        *g.sessions.entry(person.to_owned()).or_default() += 1;
        g.dead_subcode.insert(person.to_owned(), subcode);
    }

    /// `/me/accounts` lists this Page without its `access_token` (the person's task on it
    /// allows none).
    pub fn drop_page_token(&self, page: &str) {
        self.inner.lock().unwrap().tokenless_page = Some(page.to_owned());
    }

    /// The next `/me/accounts` call answers with `fault`.
    pub fn accounts_fault(&self, fault: AccountsFault) {
        self.inner.lock().unwrap().accounts_faults.push(fault);
    }

    /// How many `/me/accounts` calls arrived.
    pub fn accounts_calls(&self) -> usize {
        self.inner.lock().unwrap().accounts_calls
    }

    /// How many `fb_exchange_token` grant requests arrived.
    pub fn exchanges(&self) -> usize {
        self.inner.lock().unwrap().exchanges
    }

    /// `debug_token` accepts this app token (`{app_id}|{app_secret}`).
    pub fn app_token(&self, app_token: &str) {
        self.inner.lock().unwrap().app_token = Some(app_token.to_owned());
    }

    /// Whether Meta would still accept this Page token.
    pub fn page_token_live(&self, token: &str) -> bool {
        let g = self.inner.lock().unwrap();
        Self::page_token_owner(&g, token).is_some()
    }

    /// The person and Page of a Page token that still works: made in the person's current
    /// session, for a Page they still have a task on.
    fn page_token_owner(g: &Inner, token: &str) -> Option<(String, String)> {
        let (person, page, session) = g.page_tokens.get(token)?;
        let current = g.sessions.get(person).copied().unwrap_or(0);
        let manages = g
            .pages
            .get(person)
            .is_some_and(|ps| ps.iter().any(|(id, _)| id == page));
        (*session == current && manages).then(|| (person.clone(), page.clone()))
    }

    /// A stall queued for the next `/me/accounts` call, taken off the queue.
    fn stall(&self) -> Option<Duration> {
        let mut g = self.inner.lock().unwrap();
        match g.accounts_faults.first() {
            Some(AccountsFault::Stall(d)) => {
                let d = *d;
                g.accounts_faults.remove(0);
                Some(d)
            }
            _ => None,
        }
    }

    /// The Page token of a person's Page in their current session, made the first time.
    fn page_token(g: &mut Inner, person: &str, page: &str) -> String {
        let session = g.sessions.get(person).copied().unwrap_or(0);
        if let Some((t, _)) = g
            .page_tokens
            .iter()
            .find(|(_, (p, pg, s))| p == person && pg == page && *s == session)
        {
            return t.clone();
        }
        g.issued += 1;
        let token = format!("EAAP{}x{page}", g.issued);
        g.page_tokens
            .insert(token.clone(), (person.to_owned(), page.to_owned(), session));
        token
    }

    /// `/me/accounts`: a page of the person's Pages (`limit`, default 25; `after`: the index
    /// of the first Page of this page, as Graph's opaque cursor would name it).
    fn accounts(
        g: &mut Inner,
        req: &HttpRequest,
        person: &str,
        params: &HashMap<String, String>,
    ) -> HttpResponse {
        g.accounts_calls += 1;
        let fault = (!g.accounts_faults.is_empty()).then(|| g.accounts_faults.remove(0));
        match &fault {
            Some(AccountsFault::ServerError) => {
                return HttpResponse::InternalServerError().json(json!({
                    "error": {
                        "message": "An unexpected error has occurred. Please retry your request later.",
                        "type": "OAuthException", "code": 2, "is_transient": true, "fbtrace_id": "stub"
                    }
                }));
            }
            Some(AccountsFault::Truncated) => {
                return HttpResponse::Ok()
                    .content_type("application/json")
                    .body("{\"data\": [{\"id\": \"1\", \"name\": \"Trunc");
            }
            _ => {}
        }
        let limit: usize = params
            .get("limit")
            .and_then(|l| l.parse().ok())
            .unwrap_or(25)
            .max(1);
        let start: usize = params
            .get("after")
            .and_then(|a| a.strip_prefix("cursor-"))
            .and_then(|a| a.parse().ok())
            .unwrap_or(0);
        let pages = g.pages.get(person).cloned().unwrap_or_default();
        let end = (start + limit).min(pages.len());
        let tokenless = g.tokenless_page.clone();
        let data: Vec<serde_json::Value> = pages[start.min(end)..end]
            .iter()
            .map(|(id, name)| {
                let mut page = json!({
                    "id": id,
                    "name": name,
                    "tasks": ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"],
                    "picture": {"data": {"url": format!("https://scontent.example/{id}.jpg"), "is_silhouette": false}},
                });
                if tokenless.as_deref() != Some(id.as_str()) {
                    page["access_token"] = json!(Self::page_token(g, person, id));
                }
                page
            })
            .collect();
        let mut paging = json!({
            "cursors": {"before": format!("cursor-{start}"), "after": format!("cursor-{end}")}
        });
        if end < pages.len() {
            let host = match &fault {
                Some(AccountsFault::NextElsewhere(host)) => host.clone(),
                _ => format!("http://{}", req.connection_info().host()),
            };
            let mut next = Url::parse(&format!("{host}{}", req.path())).expect("next url");
            next.query_pairs_mut().extend_pairs(
                params
                    .iter()
                    .filter(|(k, _)| k.as_str() != "after")
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            );
            next.query_pairs_mut()
                .append_pair("after", &format!("cursor-{end}"));
            paging["next"] = json!(next.as_str());
        }
        HttpResponse::Ok().json(json!({"data": data, "paging": paging}))
    }

    /// `debug_token`: what Meta says of a user or Page token, to an app token.
    fn debug_token(g: &Inner, params: &HashMap<String, String>) -> HttpResponse {
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        if g.app_token.as_deref() != Some(get("access_token")) {
            return HttpResponse::BadRequest().json(json!({
                "error": {"message": "Invalid OAuth access token signature.", "type": "OAuthException", "code": 190, "fbtrace_id": "stub"}
            }));
        }
        let app_id = get("access_token").split('|').next().unwrap_or("");
        let input = get("input_token");
        let scopes = [
            "pages_show_list",
            "pages_read_engagement",
            "pages_manage_posts",
            "public_profile",
        ];
        let data_access = chrono::Utc::now().timestamp() + 90 * 86_400;
        if let Some((person, page)) = Self::page_token_owner(g, input) {
            return HttpResponse::Ok().json(json!({"data": {
                "app_id": app_id, "type": "PAGE", "application": "tokenwarden-stub",
                "data_access_expires_at": data_access, "expires_at": 0, "is_valid": true,
                "scopes": scopes, "user_id": person, "profile_id": page
            }}));
        }
        if let Some((person, true)) = g.tokens.get(input) {
            return HttpResponse::Ok().json(json!({"data": {
                "app_id": app_id, "type": "USER", "application": "tokenwarden-stub",
                "data_access_expires_at": data_access,
                "expires_at": chrono::Utc::now().timestamp() + 60 * 86_400, "is_valid": true,
                "scopes": scopes, "user_id": person
            }}));
        }
        let person = g
            .tokens
            .get(input)
            .map(|(p, _)| p.clone())
            .or_else(|| g.page_tokens.get(input).map(|(p, _, _)| p.clone()));
        let subcode = person
            .as_ref()
            .and_then(|p| g.dead_subcode.get(p).copied())
            .unwrap_or(467);
        HttpResponse::Ok().json(json!({"data": {
            "app_id": app_id, "is_valid": false, "scopes": [],
            "error": {"code": 190, "subcode": subcode, "message": "Error validating access token: the session has been invalidated."}
        }}))
    }

    /// Holds a refresh while asked to; whether it is to fail.
    async fn wait_if_held(&self, req: &HttpRequest, body: &[u8]) -> bool {
        let refresh = req.path() == "/token"
            && url::form_urlencoded::parse(req.query_string().as_bytes())
                .chain(url::form_urlencoded::parse(body))
                .any(|(k, v)| k == "grant_type" && v == "fb_exchange_token");
        let ticket = {
            let mut g = self.inner.lock().unwrap();
            g.exchanges += usize::from(refresh);
            if !refresh || g.to_hold == 0 {
                return false;
            }
            g.to_hold -= 1;
            g.held += 1;
            g.held
        };
        let deadline = Instant::now() + LONGEST_HOLD;
        while self.inner.lock().unwrap().released < ticket && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.lock().unwrap().fail_held
    }

    fn issue(g: &mut Inner, person: &str, kind: &str) -> String {
        g.issued += 1;
        let token = format!("EAA{kind}{}x{person}", g.issued);
        g.tokens.insert(token.clone(), (person.to_string(), true));
        token
    }

    fn answer(&self, req: &HttpRequest, body: &[u8]) -> HttpResponse {
        let mut params: HashMap<String, String> =
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .into_owned()
                .collect();
        params.extend(url::form_urlencoded::parse(body).into_owned());
        let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
        let mut g = self.inner.lock().unwrap();
        let person_of = |g: &Inner, token: &str| {
            g.tokens
                .get(token)
                .filter(|(_, live)| *live)
                .map(|(p, _)| p.clone())
        };
        match (req.method().as_str(), req.path()) {
            (_, "/token") if get("grant_type") == "fb_exchange_token" => {
                let Some(person) = person_of(&g, get("fb_exchange_token")) else {
                    return graph_error("Error validating access token: the session is invalid.");
                };
                let token = Self::issue(&mut g, &person, "L");
                HttpResponse::Ok().json(json!({
                    "access_token": token, "token_type": "bearer", "expires_in": 5_184_000
                }))
            }
            (_, "/token") => {
                let Some(person) = get("code").strip_prefix("code-").map(str::to_string) else {
                    return graph_error("Invalid verification code format.");
                };
                let token = Self::issue(&mut g, &person, "S");
                HttpResponse::Ok().json(json!({
                    "access_token": token, "token_type": "bearer", "expires_in": 3600
                }))
            }
            ("GET", "/me") => match person_of(&g, get("access_token")) {
                Some(person) => HttpResponse::Ok().json(json!({
                    "id": person, "name": format!("Page of {person}")
                })),
                None => graph_error(
                    "Error validating access token: the user has not authorized the application.",
                ),
            },
            ("GET", "/me/accounts") => {
                let token = get("access_token");
                match person_of(&g, token) {
                    Some(person) => Self::accounts(&mut g, req, &person, &params),
                    None => {
                        g.accounts_calls += 1;
                        let subcode = g
                            .tokens
                            .get(token)
                            .and_then(|(p, _)| g.dead_subcode.get(p).copied())
                            .unwrap_or(467);
                        graph_error_with(
                            "Error validating access token: the session has been invalidated.",
                            subcode,
                        )
                    }
                }
            }
            ("GET", "/debug_token") => Self::debug_token(&g, &params),
            ("DELETE", "/me/permissions") => {
                let Some(person) = person_of(&g, get("access_token")) else {
                    return graph_error("Error validating access token: the session is invalid.");
                };
                // De-authorizing the app for the person ends every token they gave it.
                for (p, live) in g.tokens.values_mut() {
                    if *p == person {
                        *live = false;
                    }
                }
                // Page tokens die with the person's authorization of the app too.
                *g.sessions.entry(person.clone()).or_default() += 1;
                g.deauthorized.push(person);
                HttpResponse::Ok().json(json!({ "success": true }))
            }
            _ => HttpResponse::NotFound()
                .json(json!({ "error": { "message": "unknown path", "code": 803 } })),
        }
    }
}
