//! A local stand-in for Meta's Graph API over real HTTP, behaving as Meta documents it for
//! Facebook Login: a code buys a short-lived user token, `fb_exchange_token` turns a valid token
//! into a long-lived one for the same person, `/me` answers who a valid token belongs to, and
//! `DELETE /me/permissions` removes every permission the person gave the app, which ends every
//! token of that person for the app, whoever holds it. A dead token answers error 190
//! (`OAuthException`), as Graph does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

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
                            async move { me.answer(&req, &body) }
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
