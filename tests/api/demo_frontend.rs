//! The demo's reference front end: `tokenwarden demo` serves the page and its
//! scripts from a second port (another origin) with the content types browsers
//! insist on for module scripts, and configures the API to answer that origin's
//! CORS requests and to accept its callback page as a return URL. The page in a
//! real browser is driven by `.ci/steps/55-frontend.sh`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use reqwest::Method;

use crate::client::Client;

/// A running `tokenwarden demo`, killed when dropped.
struct Demo {
    child: Child,
    api: String,
    frontend: String,
    token: String,
}

impl Demo {
    /// Starts the demo with the front end on a free port and reads the
    /// printed front-end address (`Front end: {origin}/#api=…&token=…`).
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_tokenwarden"))
            .current_dir(dir.path())
            .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--frontend-bind", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let printed = lines
            .by_ref()
            .map(Result::unwrap)
            .find_map(|l| l.strip_prefix("Front end: ").map(str::to_string))
            .expect("the demo prints the front end's address");
        // Keep draining what the demo writes after it.
        std::thread::spawn(move || for _ in lines {});
        let url = url::Url::parse(&printed).unwrap();
        let fragment: Vec<(String, String)> =
            url::form_urlencoded::parse(url.fragment().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let value = |key: &str| {
            fragment
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{key} in the fragment of {printed}"))
        };
        assert_eq!(url.query(), None, "nothing secret in a query string");
        Self {
            child,
            api: value("api"),
            frontend: url.origin().ascii_serialization(),
            token: value("token"),
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The values of `attribute="…"` in an HTML page and of `from './…'` in a module.
fn references(text: &str, marker: &str, end: char) -> Vec<String> {
    text.split(marker)
        .skip(1)
        .filter_map(|rest| rest.split(end).next())
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_front_end_serves_its_pages_and_every_module_with_the_right_content_type() {
    let demo = Demo::start();
    let http = Client::new(reqwest::Client::new(), demo.frontend.clone());
    let get = |path: String| http.get(format!("/{path}")).send();

    // The pages: HTML, uncached, scripts only from this server, fetches only to the API.
    let mut modules = BTreeSet::new();
    for page in ["", "callback.html"] {
        let response = get(page.to_string()).await;
        assert_eq!(response.status(), 200, "/{page}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), "no-store");
        let csp = header(&response, "content-security-policy").to_string();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(csp.contains(&format!("connect-src {};", demo.api)), "{csp}");
        let html = response.text().await.unwrap();
        assert_eq!(
            html.matches("<script").count(),
            html.matches("<script type=\"module\" src=\"").count(),
            "/{page}: every script is an external module (the policy refuses inline code)"
        );
        modules.extend(references(&html, "<script type=\"module\" src=\"", '"'));
        for stylesheet in references(&html, "<link rel=\"stylesheet\" href=\"", '"') {
            let response = get(stylesheet.clone()).await;
            assert_eq!(response.status(), 200, "{stylesheet}");
            assert_eq!(header(&response, "content-type"), "text/css; charset=utf-8");
        }
    }

    // Every module the pages load, and every module those import: a browser
    // refuses a module script served with any other content type.
    let mut pending: Vec<String> = modules.iter().cloned().collect();
    while let Some(module) = pending.pop() {
        let response = get(module.clone()).await;
        assert_eq!(response.status(), 200, "{module}");
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8",
            "{module}"
        );
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
        let source = response.text().await.unwrap();
        for import in references(&source, "from './", '\'') {
            if modules.insert(import.clone()) {
                pending.push(import);
            }
        }
    }
    for expected in [
        "app.js",
        "api.js",
        "dom.js",
        "expired.js",
        "accounts.js",
        "callback.js",
    ] {
        assert!(modules.contains(expected), "{expected} in {modules:?}");
    }

    let response = get("nothing-here.js".into()).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn the_api_answers_the_front_ends_origin_and_takes_its_callback_page_as_return_url() {
    let demo = Demo::start();
    let http = Client::new(reqwest::Client::new(), demo.api.clone());

    // The renew button's preflight: a JSON body, a bearer token, an idempotency key.
    let preflight = |origin: String| {
        http.request(Method::OPTIONS, "/v1/brands/b/accounts/a/renew")
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization, content-type, idempotency-key",
            )
            .send()
    };
    let response = preflight(demo.frontend.clone()).await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        demo.frontend
    );
    let allowed = header(&response, "access-control-allow-headers").to_ascii_lowercase();
    for name in ["authorization", "content-type", "idempotency-key"] {
        assert!(allowed.contains(name), "{allowed}");
    }

    // The badge's call, as the page makes it with the token from the fragment.
    let response = http
        .get("/v1/expired-tokens/summary")
        .header("Origin", &demo.frontend)
        .bearer(&demo.token)
        .send()
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "access-control-allow-origin"),
        demo.frontend
    );
    assert!(header(&response, "access-control-expose-headers").contains("X-Request-Id"));
    let summary: serde_json::Value = response.json().await.unwrap();
    assert_eq!(summary["total"], 3, "{summary}");

    // The popup's return URL is the front end's callback page, and it is allowed.
    let listed: serde_json::Value = http
        .get("/v1/expired-tokens")
        .bearer(&demo.token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    let dead = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["status"] == "reauth_required")
        .expect("the seeded dead grant");
    let renewed: serde_json::Value = http
        .post(dead["renew"]["href"].as_str().unwrap())
        .header("Origin", &demo.frontend)
        .bearer(&demo.token)
        .json(&serde_json::json!({ "return_url": format!("{}/callback.html", demo.frontend) }))
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(renewed["outcome"], "authorization_required", "{renewed}");

    // Another origin, even the same server under another name, gets no CORS answer.
    let elsewhere = demo.frontend.replace("127.0.0.1", "localhost");
    let response = preflight(elsewhere).await;
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
