//! A local stand-in for Meta's Graph API over real HTTP, behaving as Meta documents it for
//! Facebook Login: a code buys a short-lived user token, `fb_exchange_token` turns a valid token
//! into a long-lived one for the same person, `/me` answers who a valid token belongs to, and
//! `DELETE /me/permissions` removes every permission the person gave the app, which ends every
//! token of that person for the app, whoever holds it. A dead token answers error 190
//! (`OAuthException`), as Graph does. A test may hold `fb_exchange_token` refreshes at the stub
//! (`hold_refreshes`) to act while they are at the network.

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

    /// Holds a refresh while asked to; whether it is to fail.
    async fn wait_if_held(&self, req: &HttpRequest, body: &[u8]) -> bool {
        let refresh = req.path() == "/token"
            && url::form_urlencoded::parse(req.query_string().as_bytes())
                .chain(url::form_urlencoded::parse(body))
                .any(|(k, v)| k == "grant_type" && v == "fb_exchange_token");
        let ticket = {
            let mut g = self.inner.lock().unwrap();
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
                g.deauthorized.push(person);
                HttpResponse::Ok().json(json!({ "success": true }))
            }
            _ => HttpResponse::NotFound()
                .json(json!({ "error": { "message": "unknown path", "code": 803 } })),
        }
    }
}
