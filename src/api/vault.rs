//! `POST /v1/accounts/{account_id}/access-token`: the vault read for the
//! suite's workers (publisher, inbox, analytics).

use actix_web::http::header;
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use secrecy::ExposeSecret;

use super::paths::AccountPath;
use super::responses::AuthErrors;
use crate::auth::{Principal, Scope};
use crate::error::Error;
use crate::services::vault;
use crate::state::AppState;

/// A valid access token for calling the network.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "account_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13",
    "network": "x",
    "access_token": "…",
    "token_type": "Bearer",
    "expires_at": "2026-11-26T10:00:00Z",
    "scopes": ["tweet.read", "tweet.write"],
    "needs_renewal": false,
    "token_id": "3f8a1c0e9b2d4f6a8c1e3b5d7f9a0c2e"
}))]
pub struct AccessToken {
    /// The account the token belongs to.
    pub account_id: Uuid,
    /// The network the token is for.
    #[schema(max_length = 64)]
    pub network: String,
    /// The access token itself. Keep it in memory only; ask again when it expires.
    #[schema(max_length = 8192)]
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(max_length = 16)]
    pub token_type: String,
    /// When the token expires (`null` when the network gave no expiry).
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted by the network.
    #[schema(value_type = Vec<super::shared::GrantedScope>)]
    pub scopes: Vec<String>,
    /// `true` when the token is within its network's refresh lead time and could
    /// not be renewed (the grant has no refresh token, or the network failed just
    /// now): it still works until `expires_at`, so use it, but the account needs
    /// a renewal (or its owner's re-authorization) before then.
    pub needs_renewal: bool,
    /// Names this token: a new token, a new id; the same token, the same id. For an asset
    /// (a Facebook Page, say) it names the asset's own token, or, for an asset that
    /// publishes with its manager's grant, that grant's token. Opaque: a hash of the
    /// credential's id and version, which reveals nothing of the token.
    #[schema(
        min_length = 32,
        max_length = 32,
        example = "3f8a1c0e9b2d4f6a8c1e3b5d7f9a0c2e"
    )]
    pub token_id: String,
}

/// Read an account's access token (workers)
///
/// For the suite's publisher, inbox and analytics workers: a valid access
/// token of the account, refreshed first when it is due (within the network's
/// refresh lead time, or expired). A token that is still valid is handed out
/// even when it could not be renewed, with `needs_renewal: true`. Only when no
/// valid token exists is the answer a 409 `reauthorization-required` problem
/// whose `renew_href` is the path to renew the account. The only route that
/// returns a token. Needs `tokens:read`.
#[utoipa::path(
    operation_id = "read_access_token",
    tag = "vault",
    security(("bearer" = ["tokens:read"])),
    params(AccountPath),
    responses(
        (status = 200, description = "A valid access token.", body = AccessToken),
        AuthErrors,
        (status = 404, description = "No such account in the caller's organization."),
        (status = 409, description = "The account is disabled, or needs a re-authorization (`reauthorization-required`, with `renew_href`)."),
        (status = 502, description = "The token is expired and the network answered with an error."),
        (status = 503, description = "The token is expired and the network is unavailable (`network-unavailable`) or refuses this deployment's client configuration (`network-misconfigured`); see `Retry-After`."),
        (status = 504, description = "The token is expired and the network did not answer in time.")
    )
)]
#[post("/accounts/{account_id}/access-token")]
pub async fn read_access_token(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<AccountPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::TokensRead)?;
    let account_id = path.into_inner().account_id;
    let token =
        vault::read_access_token(&state, principal.audience(), account_id, &principal.subject)
            .await?;
    // The answer holds a token: no cache may keep it.
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AccessToken {
            account_id: account_id.into(),
            network: token.network,
            access_token: token.access_token.expose_secret().to_string(),
            token_type: "Bearer".into(),
            expires_at: token.expires_at,
            scopes: token.scopes,
            needs_renewal: token.needs_renewal,
            token_id: token.token_id,
        }))
}
