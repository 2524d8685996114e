//! The outbound HTTP client: no redirects, timeouts, capped bodies, redacted logs.

use std::time::Instant;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};

use super::error::{ProviderError, classify_transport};
use super::redact::redact_url;
use super::settings::{ConfigError, HttpSettings};

/// An answer whose body was read within the cap.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// One network's client. Requests are only ever built from the network's configured URLs.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    client: reqwest::Client,
    max_body: usize,
    network: String,
}

impl Outbound {
    pub fn new(network: &str, http: &HttpSettings) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(http.connect_timeout)
            .timeout(http.request_timeout)
            .user_agent(concat!("tokenwarden/", env!("CARGO_PKG_VERSION")))
            .https_only(!http.allow_insecure_loopback)
            // No connection outlives its call. A pooled connection belongs to
            // the runtime that opened it (an HTTP worker's, for a call made
            // while answering a request); when the server stops, that runtime
            // drops it, and a refresh or revocation then under way on it from
            // another runtime loses the network's answer ("dispatch task is
            // gone"), a rotated refresh token with it. Calls to a network are
            // few (one per token lifetime), so a handshake each is cheap.
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| ConfigError::new(network, format!("HTTP client: {e}")))?;
        Ok(Outbound {
            client,
            max_body: http.max_body_bytes,
            network: network.to_owned(),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Send the request and read at most `max_body_bytes` of the answer. `op` names the call in
    /// the log line; `secrets` are scrubbed from any error detail.
    pub async fn send(
        &self,
        op: &'static str,
        req: RequestBuilder,
        secrets: &[&str],
    ) -> Result<Answer, ProviderError> {
        let req = req.build().map_err(|e| classify_transport(e, secrets))?;
        let method = req.method().clone();
        let url = redact_url(req.url());
        let started = Instant::now();
        let result = self.execute(req, secrets).await;
        let elapsed_ms = started.elapsed().as_millis() as u64;
        match &result {
            Ok(a) => tracing::info!(
                network = %self.network, op, %method, url = %url,
                status = a.status.as_u16(), elapsed_ms, "outbound request"
            ),
            Err(e) => tracing::warn!(
                network = %self.network, op, %method, url = %url,
                error = %e, elapsed_ms, "outbound request failed"
            ),
        }
        result
    }

    async fn execute(
        &self,
        req: reqwest::Request,
        secrets: &[&str],
    ) -> Result<Answer, ProviderError> {
        let mut resp = self
            .client
            .execute(req)
            .await
            .map_err(|e| classify_transport(e, secrets))?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let too_big = || {
            ProviderError::malformed(format!(
                "HTTP {}: answer larger than {} bytes",
                status.as_u16(),
                self.max_body
            ))
        };
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(too_big());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| classify_transport(e, secrets))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_big());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}
