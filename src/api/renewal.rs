//! Renewing tokens: the "Renew Token" action, bulk renewal from the
//! dropdown, and single-use reconnect links for profile owners without a login.

use crate::domain::ids::AccountId;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::extractors::OptionalJson;
use super::idempotency;
use super::paths::BrandAccountPath;
use super::problem::AsProblem;
use super::responses::{AuthErrors, BodyErrors};
use super::shared::{Account, AuthorizationStart, PropagationReport};
use crate::auth::{Principal, Scope};
use crate::error::{Error, FieldError};
use crate::services::oauth::Purpose;
use crate::services::reconnect_links;
use crate::services::renewal::{self, Renewal, RenewalOutcome};
use crate::state::AppState;

/// What a renewal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RenewOutcome {
    /// Renewed at once with the network's refresh grant; see `expires_at`.
    Renewed,
    /// The owner must re-authorize: open `authorization.authorization_url`.
    AuthorizationRequired,
    /// Still valid and the network's extension grant is not available yet (Instagram and
    /// Threads extend tokens at least 24 hours old); see `renewable_from`.
    NotDue,
}

/// Options of a renewal.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"return_url": "https://app.example.com/accounts"}))]
pub struct RenewRequest {
    #[validate(length(min = 1, max = 2048))]
    #[schema(schema_with = super::shared::return_url)]
    pub return_url: Option<String>,
}

/// The answer of a renewal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::renew_result)]
pub struct RenewResult {
    /// What the renewal did.
    pub outcome: RenewOutcome,
    /// The account as it is now.
    pub account: Account,
    /// The new expiry, when renewed.
    pub expires_at: Option<DateTime<Utc>>,
    /// For `authorization_required`: where to send the owner.
    pub authorization: Option<AuthorizationStart>,
    /// Why a re-authorization is needed (e.g. `invalid_grant`, `no_refresh_token`).
    #[schema(max_length = 200, example = "invalid_grant")]
    pub reason: Option<String>,
    /// For `not_due`: when silent renewal becomes possible.
    pub renewable_from: Option<DateTime<Utc>>,
    /// The propagation report: the other brands' accounts of the same profile.
    pub propagation: PropagationReport,
}

impl TryFrom<Renewal> for RenewResult {
    type Error = Error;

    fn try_from(renewal: Renewal) -> Result<Self, Error> {
        let mut result = RenewResult {
            outcome: RenewOutcome::Renewed,
            account: renewal.account.try_into()?,
            expires_at: None,
            authorization: None,
            reason: None,
            renewable_from: None,
            propagation: renewal.propagation.try_into()?,
        };
        match renewal.outcome {
            RenewalOutcome::Renewed { expires_at } => result.expires_at = Some(expires_at),
            RenewalOutcome::NotDue { earliest } => {
                result.outcome = RenewOutcome::NotDue;
                result.renewable_from = Some(earliest);
            }
            RenewalOutcome::AuthorizationRequired { started, reason } => {
                result.outcome = RenewOutcome::AuthorizationRequired;
                result.authorization = Some(AuthorizationStart::new(&renewal.network, started));
                result.reason = Some(reason);
            }
        }
        Ok(result)
    }
}

fn to_body<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("serializing an answer: {e}")))
}

/// Renew an account's token
///
/// The "Renew Token" action. When the credential can be renewed without the
/// user (a refresh token, or the network's extension grant on a still-valid
/// token) it is renewed at once (`renewed`); otherwise — or when the network
/// answers that the grant is dead — the answer carries an authorization URL
/// (`authorization_required`) whose callback finishes the renewal. On the
/// Advanced and Enterprise plans the fresh grant also reaches every other
/// brand with the same profile enabled; `propagation` says which, and which
/// were left and why. One refresh runs at a time per credential. Send an
/// `Idempotency-Key` to make retries safe. Needs `tokens:renew`.
#[utoipa::path(
    operation_id = "renew_account",
    tag = "renewal",
    security(("bearer" = ["tokens:renew"])),
    params(
        BrandAccountPath,
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a replay answers the stored result (1–255 visible ASCII characters).",
            min_length = 1, max_length = 255, pattern = "^[!-~]+$")
    ),
    request_body(content = Option<RenewRequest>, description = "Optional: a return URL for a re-authorization."),
    responses(
        (status = 200, description = "What happened.", body = RenewResult),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such account in this brand of the caller's organization."),
        (status = 409, description = "The account is disabled, a refresh is in progress elsewhere (`Retry-After`), or the Idempotency-Key is in flight."),
        (status = 422, description = "Invalid members, a return URL not allowed, or an Idempotency-Key reused for another request."),
        (status = 502, description = "The network answered with an error; the token keeps its status."),
        (status = 503, description = "The network is unavailable or rate-limits (`network-unavailable`), or refuses this deployment's client configuration (`network-misconfigured`, naming the network: no token was changed and the account needs no re-authorization); see `Retry-After`."),
        (status = 504, description = "The network did not answer in time; see `Retry-After`.")
    )
)]
#[post("/brands/{brand_id}/accounts/{account_id}/renew")]
pub async fn renew_account(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    path: web::Path<BrandAccountPath>,
    body: OptionalJson<RenewRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::TokensRenew)?;
    let key = idempotency::key_of(&req)?;
    let fingerprint = idempotency::fingerprint(&req, &body.raw);
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    let audience = principal.audience().clone();
    let options = body.value.unwrap_or_default();
    let (brand, account) = (brand, account);
    let (app, actor) = (state.get_ref().clone(), principal.subject.clone());
    idempotency::run(&state, &principal, key, fingerprint, move || async move {
        let renewal = renewal::renew(
            &app,
            renewal::RenewRequest {
                audience: &audience,
                brand_id: Some(brand),
                account_id: account,
                actor: &actor,
                return_url: options.return_url.as_deref(),
                purpose: Purpose::Renew,
            },
        )
        .await?;
        Ok((StatusCode::OK, to_body(&RenewResult::try_from(renewal)?)?))
    })
    .await
}

/// Accounts to renew at once.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"account_ids": ["0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13"], "return_url": "https://app.example.com/accounts"}))]
pub struct BulkRenewRequest {
    /// 1–50 account ids of the caller's organization (any brands); duplicates are renewed once.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_items = 1, max_items = 50)]
    pub account_ids: Vec<Uuid>,
    #[validate(length(min = 1, max = 2048))]
    #[schema(schema_with = super::shared::return_url)]
    pub return_url: Option<String>,
}

/// The result for one account of a bulk renewal.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkRenewItem {
    /// The requested account.
    pub account_id: Uuid,
    /// The account's brand (absent when the account was not found).
    pub brand_id: Option<Uuid>,
    /// Present when the account was handled; absent with `error`.
    pub outcome: Option<RenewOutcome>,
    /// The new expiry, when renewed.
    pub expires_at: Option<DateTime<Utc>>,
    /// For `authorization_required`: where to send the owner.
    #[schema(format = "uri", max_length = 4096)]
    pub authorization_url: Option<String>,
    /// Why a re-authorization is needed (e.g. `invalid_grant`).
    #[schema(max_length = 200, example = "invalid_grant")]
    pub reason: Option<String>,
    /// Why this account could not be handled (not found, network failure, …).
    pub error: Option<crate::api::problem::Problem>,
}

/// Re-authorizations needed, grouped by network.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkAuthorizations {
    /// The network's name.
    #[schema(max_length = 64, example = "x")]
    pub network: String,
    /// The accounts of this network that wait for a re-authorization.
    pub accounts: Vec<PendingAuthorization>,
}

/// One account waiting for its owner to re-authorize.
#[derive(Debug, Serialize, ToSchema)]
pub struct PendingAuthorization {
    /// The account.
    pub account_id: Uuid,
    /// The account's brand.
    pub brand_id: Uuid,
    /// Where to send the owner to re-authorize.
    #[schema(format = "uri", max_length = 4096)]
    pub authorization_url: String,
    /// The authorization must finish before this time.
    pub expires_at: DateTime<Utc>,
}

/// The answer of a bulk renewal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::bulk_renew_result)]
pub struct BulkRenewResult {
    /// One entry per requested account, in request order.
    pub results: Vec<BulkRenewItem>,
    /// The accounts that need a re-authorization, grouped by network.
    pub authorizations: Vec<NetworkAuthorizations>,
    /// How many were renewed silently.
    pub renewed: u32,
}

/// Renew several tokens
///
/// Bulk renewal from the "Expired Tokens" dropdown: each account is renewed as
/// by `renew_account`; silent ones are done, the others come back grouped by
/// network with their authorization URLs. A failure of one account does not
/// stop the others. Send an `Idempotency-Key` to make retries safe. Needs
/// `tokens:renew`.
#[utoipa::path(
    operation_id = "renew_accounts",
    tag = "renewal",
    security(("bearer" = ["tokens:renew"])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: a replay answers the stored result (1–255 visible ASCII characters).",
        min_length = 1, max_length = 255, pattern = "^[!-~]+$")),
    request_body = BulkRenewRequest,
    responses(
        (status = 200, description = "A result per account.", body = BulkRenewResult),
        AuthErrors,
        BodyErrors,
        (status = 409, description = "The Idempotency-Key is in flight."),
        (status = 422, description = "Invalid members (1–50 accounts), a return URL not allowed, or an Idempotency-Key reused.")
    )
)]
#[post("/expired-tokens/renew")]
pub async fn bulk_renew(
    state: web::Data<AppState>,
    principal: Principal,
    req: HttpRequest,
    body: OptionalJson<BulkRenewRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::TokensRenew)?;
    let key = idempotency::key_of(&req)?;
    let fingerprint = idempotency::fingerprint(&req, &body.raw);
    let Some(request) = body.value else {
        return Err(Error::Validation(vec![FieldError::body(
            "",
            "a body with `account_ids` is required",
        )]));
    };
    crate::services::oauth::check_return_url(&state, request.return_url.as_deref())?;
    let audience = principal.audience().clone();
    let (app, actor) = (state.get_ref().clone(), principal.subject.clone());
    idempotency::run(&state, &principal, key, fingerprint, move || async move {
        let mut seen = std::collections::HashSet::new();
        let mut results = Vec::new();
        let mut groups: Vec<NetworkAuthorizations> = Vec::new();
        let mut renewed = 0;
        for id in request.account_ids.iter().filter(|id| seen.insert(**id)) {
            let attempt = async {
                let renewal = renewal::renew(
                    &app,
                    renewal::RenewRequest {
                        audience: &audience,
                        brand_id: None,
                        account_id: AccountId::from(*id),
                        actor: &actor,
                        return_url: request.return_url.as_deref(),
                        purpose: Purpose::Renew,
                    },
                )
                .await?;
                let network = renewal.network.clone();
                Ok::<_, Error>((network, RenewResult::try_from(renewal)?))
            };
            match attempt.await {
                Ok((network, result)) => {
                    if result.outcome == RenewOutcome::Renewed {
                        renewed += 1;
                    }
                    if let Some(auth) = &result.authorization {
                        let pending = PendingAuthorization {
                            account_id: *id,
                            brand_id: result.account.brand_id,
                            authorization_url: auth.authorization_url.clone(),
                            expires_at: auth.expires_at,
                        };
                        match groups.iter_mut().find(|g| g.network == network) {
                            Some(group) => group.accounts.push(pending),
                            None => groups.push(NetworkAuthorizations {
                                network,
                                accounts: vec![pending],
                            }),
                        }
                    }
                    results.push(BulkRenewItem {
                        account_id: *id,
                        brand_id: Some(result.account.brand_id),
                        outcome: Some(result.outcome),
                        expires_at: result.expires_at,
                        authorization_url: result.authorization.map(|a| a.authorization_url),
                        reason: result.reason,
                        error: None,
                    });
                }
                Err(error) => {
                    if let Error::Internal(cause) = &error {
                        tracing::error!(error = ?cause, account = %id, "bulk renewal item failed");
                    }
                    results.push(BulkRenewItem {
                        account_id: *id,
                        brand_id: None,
                        outcome: None,
                        expires_at: None,
                        authorization_url: None,
                        reason: None,
                        error: Some(error.problem()),
                    });
                }
            }
        }
        Ok((
            StatusCode::OK,
            to_body(&BulkRenewResult {
                results,
                authorizations: groups,
                renewed,
            })?,
        ))
    })
    .await
}

/// Options of a reconnect link.
#[derive(Debug, Default, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"expires_in": 86400}))]
pub struct ReconnectLinkRequest {
    /// Seconds the link stays valid, 60 – 2 592 000 (30 days); default from the configuration (7 days).
    #[validate(range(min = 60, max = 2_592_000))]
    #[schema(minimum = 60, maximum = 2_592_000)]
    #[serde(
        default,
        deserialize_with = "crate::api::extractors::integer::optional"
    )]
    pub expires_in: Option<u64>,
    #[validate(length(min = 1, max = 2048))]
    #[schema(schema_with = super::shared::return_url)]
    pub return_url: Option<String>,
}

/// A single-use reconnect link.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::reconnect_link)]
pub struct ReconnectLinkCreated {
    /// Send this to the profile's owner; opening it starts the network's authorization.
    #[schema(format = "uri", max_length = 2048)]
    pub url: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// The account the link re-authorizes.
    pub account_id: Uuid,
}

/// Create a reconnect link
///
/// A single-use link, valid for a limited time, that lets the profile's owner
/// (a client without a tokenwarden login) re-authorize the account. Opening it
/// starts the network's authorization; the callback finishes exactly like a
/// renewal, with propagation. Needs `tokens:renew`.
#[utoipa::path(
    operation_id = "create_reconnect_link",
    tag = "renewal",
    security(("bearer" = ["tokens:renew"])),
    params(
        BrandAccountPath
    ),
    request_body(content = Option<ReconnectLinkRequest>, description = "Optional lifetime and return URL."),
    responses(
        (status = 201, description = "The link.", body = ReconnectLinkCreated),
        AuthErrors,
        BodyErrors,
        (status = 404, description = "No such account in this brand of the caller's organization."),
        (status = 422, description = "Invalid members or a return URL not allowed.")
    )
)]
#[post("/brands/{brand_id}/accounts/{account_id}/reconnect-link")]
pub async fn create_reconnect_link(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandAccountPath>,
    body: OptionalJson<ReconnectLinkRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::TokensRenew)?;
    let options = body.value.unwrap_or_default();
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    let created = reconnect_links::create(
        &state,
        principal.audience(),
        brand,
        account,
        &principal.subject,
        options.return_url,
        options.expires_in,
    )
    .await?;
    // The answer holds the link's secret: no cache may keep it.
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ReconnectLinkCreated {
            url: created.url,
            expires_at: created.expires_at,
            account_id: account.into(),
        }))
}
