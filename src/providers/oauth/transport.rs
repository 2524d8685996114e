//! The HTTP client handed to `oauth2`, and the way back from its errors to ours.
//!
//! `oauth2` builds each request and reads each answer, but never touches the network itself: it
//! hands the request to a [`Call`], which sends it through [`Outbound`] — the only client that
//! follows no redirects, has timeouts, caps bodies and redacts its log lines — and only to the
//! endpoint that this call was opened for. The call keeps the raw answer, because the crate's
//! errors drop what the classification of `error.rs` reads: the status, `Retry-After`, and error
//! bodies in the networks' own shapes (Meta's numeric codes, TikTok's `error` object).

use std::sync::{Mutex, MutexGuard, PoisonError};

use futures_util::future::BoxFuture;
use oauth2::http::header::{CONTENT_TYPE, HeaderValue};
use oauth2::http::{self, StatusCode, Uri};
use oauth2::{AsyncHttpClient, ErrorResponse, HttpRequest, HttpResponse, RequestTokenError};
use reqwest::RequestBuilder;
use serde_json::Value;
use url::Url;

use super::{OAuthProvider, spelling};
use crate::providers::error::{
    CallSite, ProviderError, TransientKind, body_error, classify_answer,
};
use crate::providers::http::{Answer, Outbound};
use crate::providers::redact::sanitize_detail;

/// What `oauth2` answers when it is driven through a [`Call`].
pub(super) type Outcome<T> =
    Result<T, RequestTokenError<ProviderError, oauth2::basic::BasicErrorResponse>>;

/// One request to one configured endpoint of a network.
pub(super) struct Call<'a> {
    outbound: &'a Outbound,
    /// Names the call in the log line.
    op: &'static str,
    site: CallSite,
    meta: bool,
    /// The configured endpoint: the only URL this call sends to.
    url: &'a Url,
    /// `client_id`, or what the network calls it in a form body.
    client_id_param: &'static str,
    /// Scrubbed from every error detail: the tokens of the call and the client secret.
    secrets: Vec<&'a str>,
    answer: Mutex<Option<Answer>>,
}

impl<'a> Call<'a> {
    /// A call on behalf of `provider`, whose client and quirks it uses.
    pub fn new(
        provider: &'a OAuthProvider,
        op: &'static str,
        site: CallSite,
        url: &'a Url,
        secrets: Vec<&'a str>,
    ) -> Self {
        Call {
            outbound: &provider.outbound,
            op,
            site,
            meta: provider.meta(),
            url,
            client_id_param: provider.preset.client_id_param,
            secrets,
            answer: Mutex::new(None),
        }
    }

    /// The configured endpoint, for requests built outside `oauth2` (Meta's quirks).
    pub fn url(&self) -> &Url {
        self.url
    }

    pub fn client(&self) -> &reqwest::Client {
        self.outbound.client()
    }

    /// Send a request through [`Outbound`] and keep its raw answer. What comes back is the
    /// answer as `oauth2` must see it to parse it.
    pub async fn send(&self, req: RequestBuilder) -> Result<HttpResponse, ProviderError> {
        let answer = self.outbound.send(self.op, req, &self.secrets).await?;
        let view = crate_view(&answer);
        *self.raw() = Some(answer);
        Ok(view)
    }

    async fn forward(&self, request: HttpRequest) -> Result<HttpResponse, ProviderError> {
        let (parts, body) = request.into_parts();
        self.check_target(&parts.uri)?;
        let body = spelling::client_id_in_form(body, self.client_id_param);
        let req = self
            .outbound
            .client()
            .request(parts.method, self.url.clone())
            .headers(parts.headers)
            .body(body);
        self.send(req).await
    }

    /// `oauth2` builds the URL from the client it was given; anything but this call's endpoint
    /// (or the `https` spelling the crate is given for a loopback revocation endpoint) is refused
    /// before a byte is sent.
    fn check_target(&self, uri: &Uri) -> Result<(), ProviderError> {
        let asked = Url::parse(&uri.to_string()).ok();
        if asked.as_ref() == Some(self.url)
            || asked.as_ref() == Some(&spelling::https_spelling(self.url))
        {
            return Ok(());
        }
        Err(ProviderError::Rejected {
            status: None,
            code: "unconfigured_url".into(),
            detail: "refused a request to an endpoint that is not configured".into(),
        })
    }

    /// Map what `oauth2` (or a quirk) made of the answer onto the classification of
    /// `error.rs`, which reads the raw answer: a success needs a 2xx answer without an error in
    /// its body (TikTok answers errors with HTTP 200), and every refusal is classified from the
    /// status, headers and body the network sent.
    pub fn settle<T, TE>(
        &self,
        outcome: Result<T, RequestTokenError<ProviderError, TE>>,
    ) -> Result<T, ProviderError>
    where
        TE: ErrorResponse + 'static,
    {
        let answer = self.raw().take();
        match (outcome, answer) {
            (Err(RequestTokenError::Request(e)), _) => Err(e),
            (Ok(v), Some(a)) if a.status.is_success() && self.clean_body(&a.body) => Ok(v),
            (_, Some(a)) => Err(self.refusal(&a)),
            (Ok(v), None) => Ok(v),
            // The crate could not build the request: nothing reached the network.
            (Err(e), None) => Err(ProviderError::transient(
                TransientKind::Connect,
                sanitize_detail(&e.to_string(), &self.secrets),
            )),
        }
    }

    /// A token answer must be JSON without an error member; a revocation answer's body may be
    /// anything but an error (RFC 7009 §2.2 lets it be empty).
    fn clean_body(&self, body: &[u8]) -> bool {
        match serde_json::from_slice::<Value>(body) {
            Ok(json) => body_error(&json).is_none(),
            Err(_) => self.site == CallSite::Revocation,
        }
    }

    fn refusal(&self, a: &Answer) -> ProviderError {
        let json = serde_json::from_slice::<Value>(&a.body).ok();
        let carries_error = json.as_ref().and_then(body_error).is_some();
        if !a.status.is_success() || carries_error {
            return classify_answer(
                self.site,
                self.meta,
                a.status,
                &a.headers,
                &a.body,
                &self.secrets,
            );
        }
        match json {
            None => ProviderError::malformed(format!(
                "HTTP {}: token answer is not JSON",
                a.status.as_u16()
            )),
            Some(_) => ProviderError::malformed("token answer has no access_token"),
        }
    }

    fn raw(&self) -> MutexGuard<'_, Option<Answer>> {
        self.answer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<'c> AsyncHttpClient<'c> for Call<'_> {
    type Error = ProviderError;
    type Future = BoxFuture<'c, Result<HttpResponse, ProviderError>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.forward(request))
    }
}

/// The answer as `oauth2` must see it. The crate accepts only status 200 with a JSON media type,
/// while networks also answer 201 or 204 and label JSON `text/plain` or `text/javascript`;
/// whether a 2xx answer is good is decided on its body (by the crate's parse and by
/// [`Call::settle`]), never on those labels.
fn crate_view(a: &Answer) -> HttpResponse {
    let mut view = http::Response::new(a.body.clone());
    *view.headers_mut() = a.headers.clone();
    if a.status.is_success() {
        *view.status_mut() = StatusCode::OK;
        view.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    } else {
        *view.status_mut() = a.status;
    }
    view
}
