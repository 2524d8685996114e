//! "Manage Accounts": `/v1/brands/{brand_id}/accounts` — connect over OAuth,
//! import, list, read, enable/disable, disconnect, and the audit trail.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use super::extractors::{Json, query_validation_error};
use super::paths::{BrandAccountPath, BrandPath};
use super::responses::{AuthErrors, BodyErrors, QueryErrors};
use super::shared::{Account, AuthorizationStart, GrantResult, GrantStatus, PageQuery};
use super::{conditional, ready};
use crate::auth::{Principal, Scope};
use crate::domain::token_status::TokenStatus;
use crate::error::{Error, FieldError};
use crate::services::accounts;
use crate::state::AppState;

/// One scope of an imported grant: an RFC 6749 scope token (visible ASCII
/// except space, `"` and `\\`), 1–200 characters.
#[derive(ToSchema)]
#[schema(
    example = "offline_access",
    min_length = 1,
    max_length = 200,
    pattern = r"^[!#-\[\]-~]+$"
)]
#[expect(dead_code, reason = "documents the items of `scopes`")]
pub struct ScopeToken(String);

/// Whether `scope` is a `ScopeToken`: what its schema says.
fn is_scope_token(scope: &str) -> bool {
    (1..=200).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::account_page)]
pub struct AccountPage {
    /// The accounts of this page.
    pub data: Vec<Account>,
    #[schema(schema_with = super::shared::next_cursor)]
    pub next_cursor: Option<String>,
}

/// Filters of the account list.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountListQuery {
    /// Only accounts whose token has this status.
    pub status: Option<TokenStatus>,
    /// Only accounts of this network.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub network: Option<String>,
}

/// List a brand's accounts
///
/// The "Manage Accounts" page: every account of the brand with its profile,
/// `enabled`, token status computed against the clock, expiry, last renewal,
/// what is blocked while it needs renewal, and how to renew it. Needs
/// `accounts:read`.
#[utoipa::path(
    operation_id = "list_accounts",
    tag = "accounts",
    security(("bearer" = ["accounts:read"])),
    params(
        BrandPath, AccountListQuery, PageQuery, conditional::IfNoneMatch
    ),
    responses(
        (status = 200, description = "A page of accounts, oldest first.", body = AccountPage),
        conditional::NotModified,
        AuthErrors,
        QueryErrors,
        (status = 404, description = "No such brand in the caller's organization.")
    )
)]
#[get("/brands/{brand_id}/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandPath>,
    query: web::Query<AccountListQuery>,
    page: web::Query<PageQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsRead)?;
    query.validate().map_err(query_validation_error)?;
    let (limit, after) = page.resolve()?;
    let query = query.into_inner();
    let (audience, brand) = (principal.audience(), path.into_inner().brand_id);
    let filter = accounts::ListFilter {
        network: query.network,
        status: query.status,
    };
    ready::answer(&req, &state, audience, || async {
        accounts::list(&state, audience, brand, filter, limit, after)
            .await?
            .try_map(|page| {
                Ok::<_, Error>(AccountPage {
                    data: page
                        .items
                        .into_iter()
                        .map(Account::try_from)
                        .collect::<Result<_, _>>()?,
                    next_cursor: page.next_cursor,
                })
            })
    })
    .await
}

/// Start connecting a profile.
#[derive(Debug, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"network": "sandbox", "return_url": "https://app.example.com/accounts"}))]
pub struct ConnectRequest {
    /// A configured network's name.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "sandbox")]
    pub network: String,
    #[validate(length(min = 1, max = 2048))]
    #[schema(schema_with = super::shared::return_url)]
    pub return_url: Option<String>,
}

/// Connect a profile (start OAuth)
///
/// Answers the network's authorization URL (PKCE S256, a single-use `state`
/// valid 10 minutes). The network redirects to `/v1/oauth/callback/{network}`,
/// which stores the grant: a new account, or the existing account of the same
/// profile reconnected in place. On a network whose profiles are assets a
/// person manages (Facebook Pages, say), the callback instead stores the
/// person's grant and answers a connection to choose the assets from
/// (`GET /v1/connections/{connection_id}`). Send an `Idempotency-Key` to make
/// retries safe: a replay answers the same authorization URL. Needs `accounts:write`.
#[utoipa::path(
    operation_id = "connect_account",
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    params(
        BrandPath,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a replay answers the stored result (1–255 visible ASCII characters).",
            min_length = 1, max_length = 255, pattern = "^[!-~]+$")
    ),
    request_body = ConnectRequest,
    responses(
        (status = 201, description = "The authorization URL to open.", body = AuthorizationStart),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 409, description = "The Idempotency-Key is in flight."),
        (status = 422, description = "Unknown network, return URL not allowed, invalid members, or an Idempotency-Key reused for another request.")
    )
)]
#[post("/brands/{brand_id}/accounts/connect")]
pub async fn connect_account(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<BrandPath>,
    body: Json<ConnectRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsWrite)?;
    let key = super::idempotency::key_of(&req)?;
    // The request as read (members in one order): a replay is the same
    // connect however its JSON was spaced.
    let canonical = serde_json::to_vec(&body.0)
        .map_err(|e| Error::internal(format!("serializing a request: {e}")))?;
    let fingerprint = super::idempotency::fingerprint(&req, &canonical);
    let (app, audience, actor) = (
        state.get_ref().clone(),
        principal.audience().clone(),
        principal.subject.clone(),
    );
    let (brand, request) = (path.into_inner().brand_id, body.0);
    super::idempotency::run(&state, &principal, key, fingerprint, move || async move {
        let started = accounts::connect(
            &app,
            &audience,
            brand,
            &actor,
            &request.network,
            request.return_url.as_deref(),
        )
        .await?;
        let answer = serde_json::to_string(&AuthorizationStart::new(&request.network, started))
            .map_err(|e| Error::internal(format!("serializing an answer: {e}")))?;
        Ok((actix_web::http::StatusCode::CREATED, answer))
    })
    .await
}

/// A grant the client already holds (migration from another tool).
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "network": "sandbox",
    "access_token": "EAABsbCS1iHgBAKZCZCZA",
    "refresh_token": "rt-8f2c1e9d",
    "expires_in": 3600,
    "scopes": ["read", "write"]
}))]
pub struct ImportRequest {
    /// A configured network's name.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "sandbox")]
    pub network: String,
    /// The access token (never echoed back): visible ASCII, as it travels in an HTTP header.
    #[schema(value_type = String, min_length = 1, max_length = 8192, pattern = "^[!-~]+$")]
    pub access_token: SecretString,
    /// The refresh token, if any (never echoed back): visible ASCII.
    #[schema(value_type = Option<String>, min_length = 1, max_length = 8192, pattern = "^[!-~]+$")]
    pub refresh_token: Option<SecretString>,
    /// Seconds until the access token expires; the network's default lifetime when absent
    /// (and `expires_at` absent).
    #[validate(range(min = 1, max = 315_360_000))]
    #[schema(minimum = 1, maximum = 315_360_000)]
    #[serde(
        default,
        deserialize_with = "crate::api::extractors::integer::optional"
    )]
    pub expires_in: Option<u64>,
    /// When the access token expires (alternative to `expires_in`); within ten years of now.
    pub expires_at: Option<DateTime<Utc>>,
    /// Granted scopes, each a non-empty RFC 6749 scope token (visible ASCII, no space or `"` or `\\`).
    #[schema(value_type = Option<Vec<ScopeToken>>, max_items = 100)]
    #[validate(length(max = 100))]
    pub scopes: Option<Vec<String>>,
}

impl ImportRequest {
    /// Bounds of the secrets, checked by hand: validator would copy a failing
    /// value into its error parameters.
    fn check_secrets(&self) -> Result<(), Error> {
        use secrecy::ExposeSecret;
        let mut errors = Vec::new();
        // A token travels in an HTTP header or form field: anything but
        // visible ASCII could never reach the network, so it is refused here,
        // before any outbound call.
        let check = |s: &SecretString| {
            let token = s.expose_secret();
            if !(1..=8192).contains(&token.len()) {
                Some("length must be between 1 and 8192")
            } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
                Some("must be visible ASCII characters (no spaces or control characters)")
            } else {
                None
            }
        };
        if let Some(detail) = check(&self.access_token) {
            errors.push(FieldError::body("/access_token", detail));
        }
        if let Some(detail) = self.refresh_token.as_ref().and_then(check) {
            errors.push(FieldError::body("/refresh_token", detail));
        }
        for (i, scope) in self.scopes.iter().flatten().enumerate() {
            if !is_scope_token(scope) {
                errors.push(FieldError::body(
                    format!("/scopes/{i}"),
                    "must be 1–200 visible ASCII characters other than `\"` and `\\`",
                ));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Error::Validation(errors))
        }
    }
}

/// Import a grant
///
/// Stores a grant the client already holds (migration from another tool),
/// after verifying it against the network's identity endpoint. The account is
/// created, or the existing account of the same profile in this brand
/// reconnected. A grant already stored in the organization (the same refresh
/// token, or the same access token when there is none) is not stored twice:
/// the account uses the stored one, as it is stored. Needs `accounts:import`.
#[utoipa::path(
    operation_id = "import_account",
    tag = "accounts",
    security(("bearer" = ["accounts:import"])),
    params(BrandPath),
    request_body = ImportRequest,
    responses(
        (status = 201, description = "The imported account.", body = GrantResult),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 422, description = "Invalid members, unknown network, or the network rejected the token (`grant-rejected`)."),
        (status = 502, description = "The network answered with an error."),
        (status = 503, description = "The network is unavailable or rate-limits (`network-unavailable`), or refuses this deployment's client configuration (`network-misconfigured`); see `Retry-After`."),
        (status = 504, description = "The network did not answer in time.")
    )
)]
#[post("/brands/{brand_id}/accounts")]
pub async fn import_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandPath>,
    body: Json<ImportRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsImport)?;
    let brand = path.into_inner().brand_id;
    let body = body.0;
    body.check_secrets()?;
    let outcome = accounts::import(
        &state,
        principal.audience(),
        brand,
        &principal.subject,
        accounts::Import {
            network: body.network,
            access_token: body.access_token,
            refresh_token: body.refresh_token,
            expires_in: body.expires_in,
            expires_at: body.expires_at,
            scopes: body.scopes.unwrap_or_default(),
        },
    )
    .await?;
    let result = GrantResult::new(GrantStatus::Imported, outcome)?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/v1/brands/{brand}/accounts/{}", result.account.id),
        ))
        .json(result))
}

/// Get an account
///
/// Needs `accounts:read`.
#[utoipa::path(
    operation_id = "get_account",
    tag = "accounts",
    security(("bearer" = ["accounts:read"])),
    params(
        BrandAccountPath
    ),
    responses(
        (status = 200, description = "The account.", body = Account),
        AuthErrors,
        (status = 404, description = "No such account in this brand of the caller's organization.")
    )
)]
#[get("/brands/{brand_id}/accounts/{account_id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandAccountPath>,
) -> Result<web::Json<Account>, Error> {
    principal.require(Scope::AccountsRead)?;
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    let view = accounts::get(&state, principal.audience(), brand, account).await?;
    Ok(web::Json(view.try_into()?))
}

/// Enable or disable an account.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct AccountUpdate {
    /// Disabled accounts are left out of propagated renewals.
    pub enabled: bool,
}

/// Enable or disable an account
///
/// Needs `accounts:write`.
#[utoipa::path(
    operation_id = "update_account",
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    params(
        BrandAccountPath
    ),
    request_body = AccountUpdate,
    responses(
        (status = 200, description = "The updated account.", body = Account),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such account in this brand of the caller's organization."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[patch("/brands/{brand_id}/accounts/{account_id}")]
pub async fn update_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandAccountPath>,
    body: Json<AccountUpdate>,
) -> Result<web::Json<Account>, Error> {
    principal.require(Scope::AccountsWrite)?;
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    let view = accounts::set_enabled(
        &state,
        principal.audience(),
        brand,
        account,
        &principal.subject,
        body.0.enabled,
    )
    .await?;
    Ok(web::Json(view.try_into()?))
}

/// Disconnect an account
///
/// Removes the account from the brand. When no other account uses its grant,
/// its secrets are deleted and the grant is revoked at the network, unless
/// that would reach a grant stored elsewhere: a token another stored account
/// holds, or (on networks whose revocation de-authorizes the app for the
/// person, such as Facebook) the same person connected anywhere. The audit
/// trail stays readable. Needs `accounts:write`.
#[utoipa::path(
    operation_id = "disconnect_account",
    tag = "accounts",
    security(("bearer" = ["accounts:write"])),
    params(
        BrandAccountPath
    ),
    responses(
        (status = 204, description = "The account is disconnected."),
        AuthErrors,
        (status = 404, description = "No such account in this brand of the caller's organization.")
    )
)]
#[delete("/brands/{brand_id}/accounts/{account_id}")]
pub async fn disconnect_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandAccountPath>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsWrite)?;
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    accounts::disconnect(
        &state,
        principal.audience(),
        brand,
        account,
        &principal.subject,
    )
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
