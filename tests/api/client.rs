//! The one test client: `app.get(path)`, `app.post(path)`, `app.patch(path)`,
//! `app.delete(path)` (or `app.request(method, path)` for any other method; the
//! same on `app.client`, a clone of which goes into spawned tasks) return a
//! [`Request`] that takes `.bearer(token)`, `.header(name, value)` and
//! `.json(&body)` (or `.form(&fields)`), and `.send().await` answers the
//! `reqwest::Response` (status, headers, `json()`, `text()`), so that a test
//! reads as the call a client makes.
//!
//! A path starting with `/` is on the server the client was made for (the app
//! under test, or a `serve` or `demo` process a test started); anything else is
//! taken as a whole URL (an authorization URL, a callback the sandbox
//! redirected to, another instance). `app.client` follows no redirects and
//! gives up after 30 s.
//!
//! Tests that send what a careful client would not (raw bytes, bad headers,
//! a connection that is expected to fail) use the escape hatches: `.body(…)`,
//! `.raw(|builder| …)` for any other `reqwest` setting, and `.try_send()`
//! to see the transport's error instead of failing on it.

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};
use serde::Serialize;

use crate::helpers::TestApp;

/// The client of the app under test. Cheap to clone, and `'static`, for
/// requests sent from spawned tasks; `app.get(path)` and the like use it.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    address: String,
}

/// A request being built; nothing is sent until [`Request::send`].
#[must_use = "a request does nothing until it is sent"]
pub struct Request {
    inner: RequestBuilder,
}

impl Client {
    /// `address` is the app's base URL (`http://127.0.0.1:<port>`).
    pub fn new(http: reqwest::Client, address: String) -> Self {
        Self { http, address }
    }

    pub fn get(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::POST, path)
    }

    pub fn patch(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: impl AsRef<str>) -> Request {
        self.request(Method::DELETE, path)
    }

    /// Any method, e.g. `OPTIONS` for a CORS preflight or one a client invented.
    pub fn request(&self, method: Method, path: impl AsRef<str>) -> Request {
        let path = path.as_ref();
        let url = if path.starts_with('/') {
            format!("{}{path}", self.address)
        } else {
            path.to_string()
        };
        Request {
            inner: self.http.request(method, url),
        }
    }
}

impl TestApp {
    pub fn get(&self, path: impl AsRef<str>) -> Request {
        self.client.get(path)
    }

    pub fn post(&self, path: impl AsRef<str>) -> Request {
        self.client.post(path)
    }

    pub fn patch(&self, path: impl AsRef<str>) -> Request {
        self.client.patch(path)
    }

    pub fn delete(&self, path: impl AsRef<str>) -> Request {
        self.client.delete(path)
    }

    pub fn request(&self, method: Method, path: impl AsRef<str>) -> Request {
        self.client.request(method, path)
    }
}

impl Request {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(self, token: impl std::fmt::Display) -> Self {
        Self {
            inner: self.inner.bearer_auth(token),
        }
    }

    /// Panics on a name or value that cannot be a header: a test that sends
    /// one on purpose builds it with [`Request::raw`].
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: std::fmt::Debug,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: std::fmt::Debug,
    {
        let name = HeaderName::try_from(name).expect("a header name");
        let value = HeaderValue::try_from(value).expect("a header value");
        Self {
            inner: self.inner.header::<HeaderName, HeaderValue>(name, value),
        }
    }

    /// A JSON body, with `Content-Type: application/json`.
    pub fn json(self, body: &impl Serialize) -> Self {
        Self {
            inner: self.inner.json(body),
        }
    }

    /// A form body (`application/x-www-form-urlencoded`), as a network's
    /// token endpoint or the sandbox's pages take it.
    pub fn form(self, form: &impl Serialize) -> Self {
        Self {
            inner: self.inner.form(form),
        }
    }

    /// A body sent as it is (set `Content-Type` with [`Request::header`]).
    pub fn body(self, body: impl Into<reqwest::Body>) -> Self {
        Self {
            inner: self.inner.body(body),
        }
    }

    /// The escape hatch: any other `reqwest` setting.
    pub fn raw(self, adjust: impl FnOnce(RequestBuilder) -> RequestBuilder) -> Self {
        Self {
            inner: adjust(self.inner),
        }
    }

    /// Sends the request; the answer, whatever its status. Panics when no
    /// answer comes (the connection failed): a test expecting that uses
    /// [`Request::try_send`].
    pub async fn send(self) -> Response {
        self.inner.send().await.expect("the server answers")
    }

    /// Sends the request; the transport's error when no answer comes.
    pub async fn try_send(self) -> reqwest::Result<Response> {
        self.inner.send().await
    }
}
