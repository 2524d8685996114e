//! "Manage Accounts": `/v1/brands/{brand_id}/accounts` — connect over OAuth,
//! import, list, read, enable/disable, disconnect, and the audit trail.

use crate::api::extractors::page_params;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;
use validator::Validate;

use super::extractors::{Json, query_validation_error};
use crate::auth::{Principal, Scope};
use crate::db::accounts::{AccountFilter, AccountRow};
use crate::db::{self, models};
use crate::domain::pagination::{decode_cursor, split_page};
use crate::domain::plan::Plan;
use crate::domain::propagation::LeftReason;
use crate::domain::token_status::{self, BlockedCapability, StoredState, TokenStatus};
use crate::domain::{from_db_time, now, to_db_time};
use crate::error::{Error, FieldError};
use crate::flows::grants::GrantSource;
use crate::flows::oauth::{Purpose, StartRequest};
use crate::flows::{self, upstream_error};
use crate::providers::{GrantInfo, ProviderError, ProviderRegistry, RefreshPlan, TokenSet};
use crate::startup::AppState;

pub fn configure(cfg: &mut ServiceConfig<'_>) {
    cfg.service(list_accounts)
        .service(connect_account)
        .service(import_account)
        .service(get_account)
        .service(update_account)
        .service(disconnect_account)
        .service(list_account_events);
}

/// One scope the network granted, as the network names it.
#[derive(ToSchema)]
#[schema(example = "offline_access", min_length = 1, max_length = 200)]
#[expect(dead_code, reason = "documents the items of `scopes`")]
pub struct GrantedScope(String);

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

/// The social identity an account connects.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileSummary {
    /// The profile's id.
    pub id: Uuid,
    /// The network's name in this deployment (e.g. `facebook`, `x`, `sandbox`).
    #[schema(max_length = 64, example = "x")]
    pub network: String,
    /// The network's id of the identity.
    #[schema(max_length = 255, example = "1234567890")]
    pub external_id: String,
    /// The identity's handle on the network.
    #[schema(max_length = 255, example = "@northwindcoffee")]
    pub handle: String,
    /// The identity's display name on the network, when it has one.
    #[schema(max_length = 255, example = "Northwind Coffee")]
    pub display_name: Option<String>,
    /// URL of the identity's picture, when the network gives one.
    #[schema(
        format = "uri",
        max_length = 2048,
        example = "https://cdn.example.com/avatars/northwind.png"
    )]
    pub avatar_url: Option<String>,
}

impl ProfileSummary {
    pub fn from_row(p: models::Profile) -> Result<Self, Error> {
        Ok(Self {
            id: parse_id(&p.id)?,
            network: p.network,
            external_id: p.external_id,
            handle: p.handle,
            display_name: p.display_name,
            avatar_url: p.avatar_url,
        })
    }
}

/// How a token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RenewMethod {
    /// The server renews it at once with the network's refresh grant; no user needed.
    Refresh,
    /// The profile's owner must re-authorize at the network: the renew answer carries the URL.
    Reauthorize,
}

/// How to renew an account's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewHint {
    /// How `POST href` renews the token: at once (`refresh`) or through a re-authorization (`reauthorize`).
    pub method: RenewMethod,
    /// `POST` this path (relative to the API's base URL) to renew.
    #[schema(
        format = "uri-reference",
        max_length = 200,
        example = "/v1/brands/0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12/accounts/0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b13/renew"
    )]
    pub href: String,
}

/// An account: a profile as connected in one brand ("Manage Accounts" row).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::account)]
pub struct Account {
    /// The account's id.
    pub id: Uuid,
    /// The brand the account belongs to.
    pub brand_id: Uuid,
    /// The connected social identity.
    pub profile: ProfileSummary,
    /// Disabled accounts are not used by the suite and never receive a propagated renewal.
    pub enabled: bool,
    /// Computed against the clock at the time of the request.
    pub token_status: TokenStatus,
    /// Why the token needs attention, when the network said (e.g. `invalid_grant`).
    #[schema(max_length = 200, example = "invalid_grant")]
    pub status_reason: Option<String>,
    /// When the access token expires (`null` when the network gave no expiry).
    pub expires_at: Option<DateTime<Utc>>,
    /// Scopes granted by the network.
    #[schema(value_type = Vec<GrantedScope>)]
    pub scopes: Vec<String>,
    /// When this account last received a renewed token.
    pub last_renewed_at: Option<DateTime<Utc>>,
    /// When the profile was (re)connected to this brand.
    pub connected_at: DateTime<Utc>,
    /// What stops working while the token needs renewal.
    pub blocked: Vec<BlockedCapability>,
    /// How to renew this account's token.
    pub renew: RenewHint,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
    /// When the account last changed.
    pub updated_at: DateTime<Utc>,
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::account_page)]
pub struct AccountPage {
    /// The accounts of this page.
    pub data: Vec<Account>,
    /// Pass as `cursor` to get the next page; `null` on the last page. 32 lowercase hex digits.
    #[schema(
        pattern = "^[0-9a-f]{32}$",
        min_length = 32,
        max_length = 32,
        example = "0193a0c47a4e7d3c9b9e3f1f0f3a2b13"
    )]
    pub next_cursor: Option<String>,
}

pub fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|e| Error::internal(format!("stored id {id:?}: {e}")))
}

/// What status computation needs besides the row.
pub struct StatusContext<'a> {
    pub now: DateTime<Utc>,
    pub window: chrono::Duration,
    pub providers: &'a ProviderRegistry,
}

impl StatusContext<'_> {
    pub fn status(
        &self,
        account: &models::Account,
        credential: &models::CredentialState,
    ) -> TokenStatus {
        token_status::compute(
            account.enabled,
            StoredState {
                status: Some(&credential.status),
                expires_at: credential.expires_at.map(from_db_time),
            },
            self.now,
            self.window,
        )
    }

    /// Whether the credential can be renewed without the user right now.
    pub fn method(&self, status: TokenStatus, credential: &models::CredentialState) -> RenewMethod {
        if status == TokenStatus::ReauthRequired {
            return RenewMethod::Reauthorize;
        }
        let Some(provider) = self.providers.get(&credential.network) else {
            return RenewMethod::Reauthorize;
        };
        let plan = provider.refresh_plan(&grant_info(credential), self.now);
        match plan {
            RefreshPlan::Silent(_) | RefreshPlan::NotYet { .. } => RenewMethod::Refresh,
            RefreshPlan::NeedsReauthorization(_) => RenewMethod::Reauthorize,
        }
    }
}

pub fn grant_info(credential: &models::CredentialState) -> GrantInfo {
    let issued = from_db_time(credential.last_refreshed_at.unwrap_or(credential.issued_at));
    GrantInfo {
        has_refresh_token: credential.refresh_token_key_id.is_some(),
        expires_at: credential
            .expires_at
            .map(from_db_time)
            .unwrap_or(DateTime::<Utc>::MAX_UTC),
        issued_at: issued,
        refresh_expires_at: credential.refresh_expires_at.map(from_db_time),
    }
}

pub fn renew_href(brand: &str, account: &str) -> String {
    format!("/v1/brands/{brand}/accounts/{account}/renew")
}

pub fn to_account(row: AccountRow, ctx: &StatusContext<'_>) -> Result<Account, Error> {
    let (account, profile, credential) = row;
    let status = ctx.status(&account, &credential);
    let method = ctx.method(status, &credential);
    Ok(Account {
        id: parse_id(&account.id)?,
        brand_id: parse_id(&account.brand_id)?,
        profile: ProfileSummary::from_row(profile)?,
        enabled: account.enabled,
        token_status: status,
        status_reason: match status {
            TokenStatus::ReauthRequired | TokenStatus::RefreshFailing => {
                credential.status_reason.clone()
            }
            TokenStatus::Expired => Some(
                credential
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| "expired".into()),
            ),
            _ => None,
        },
        expires_at: credential.expires_at.map(from_db_time),
        scopes: credential
            .scopes
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        last_renewed_at: account.last_renewed_at.map(from_db_time),
        connected_at: from_db_time(account.connected_at),
        blocked: token_status::blocked(status),
        renew: RenewHint {
            method,
            href: renew_href(&account.brand_id, &account.id),
        },
        created_at: from_db_time(account.created_at),
        updated_at: from_db_time(account.updated_at),
    })
}

/// The organization's warning window (and a 404 when it does not exist).
pub async fn warning_window(state: &AppState, org: &str) -> Result<chrono::Duration, Error> {
    let org = org.to_string();
    let row = db::run(&state.pool, move |conn| {
        db::organizations::find_organization(conn, &org)?
            .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))
    })
    .await?;
    Ok(chrono::Duration::days(i64::from(row.warning_window_days)))
}

async fn require_brand(state: &AppState, org: &str, brand: &str) -> Result<(), Error> {
    let (org, brand) = (org.to_string(), brand.to_string());
    db::run(&state.pool, move |conn| {
        db::brands::find_brand(conn, &org, &brand)?
            .map(|_| ())
            .ok_or_else(|| Error::NotFound(format!("no brand with id {brand}")))
    })
    .await
}

pub async fn load_account_for(
    state: &AppState,
    org: &str,
    brand: &str,
    id: &str,
) -> Result<Account, Error> {
    let window = warning_window(state, org).await?;
    let (o, b, i) = (org.to_string(), brand.to_string(), id.to_string());
    let row = db::run(&state.pool, move |conn| {
        db::accounts::find_account(conn, &o, &b, &i)?
            .ok_or_else(|| Error::NotFound(format!("no account with id {i} in brand {b}")))
    })
    .await?;
    to_account(
        row,
        &StatusContext {
            now: now(),
            window,
            providers: &state.providers,
        },
    )
}

/// Filters and pagination of the account list.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountListQuery {
    /// Only accounts whose token has this status.
    pub status: Option<TokenStatus>,
    /// Only accounts of this network.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub network: Option<String>,
    /// Items per page, 1–100 (default 25).
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100, default = 25)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: 32 lowercase hex digits. Any
    /// value of this shape is accepted (one that names no item marks a
    /// position all the same, and the page after it may be empty).
    #[param(pattern = "^[0-9a-f]{32}$", min_length = 32, max_length = 32)]
    pub cursor: Option<String>,
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
    params(("brand_id" = Uuid, Path, description = "The brand's id."), AccountListQuery),
    responses(
        (status = 200, description = "A page of accounts, oldest first.", body = AccountPage),
        (status = 400, description = "Malformed query string."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:read` scope."),
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 422, description = "A filter or pagination parameter is invalid.")
    )
)]
#[get("/brands/{brand_id}/accounts")]
pub async fn list_accounts(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<Uuid>,
    query: web::Query<AccountListQuery>,
) -> Result<web::Json<AccountPage>, Error> {
    principal.require(Scope::AccountsRead)?;
    query.validate().map_err(query_validation_error)?;
    let (limit, after) = page_params(query.limit, query.cursor.as_deref(), decode_cursor)?;
    let org = principal.organization_id().to_string();
    let brand = path.into_inner().to_string();
    require_brand(&state, &org, &brand).await?;
    let window = warning_window(&state, &org).await?;
    let at = now();
    let filter = AccountFilter {
        brand_id: Some(brand),
        network: query.network.clone(),
        statuses: query.status.into_iter().collect(),
        now: Some(to_db_time(at)),
        window_end: Some(to_db_time(at + window)),
    };
    let rows = db::run(&state.pool, move |conn| {
        db::accounts::list_accounts(conn, &org, &filter, after.as_deref(), i64::from(limit) + 1)
    })
    .await?;
    let (rows, next_cursor) = split_page(rows, limit, |r| &r.0.id);
    let ctx = StatusContext {
        now: at,
        window,
        providers: &state.providers,
    };
    Ok(web::Json(AccountPage {
        data: rows
            .into_iter()
            .map(|r| to_account(r, &ctx))
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}

/// Start connecting a profile.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"network": "sandbox", "return_url": "https://app.example.com/accounts"}))]
pub struct ConnectRequest {
    /// A configured network's name.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "sandbox")]
    pub network: String,
    /// Where the browser goes after the network's callback (must be allow-listed). Without it,
    /// the callback answers JSON.
    #[validate(length(min = 1, max = 2048))]
    #[schema(
        min_length = 1,
        max_length = 2048,
        format = "uri",
        example = "https://app.example.com/accounts"
    )]
    pub return_url: Option<String>,
}

/// Where to send the user to authorize.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "network": "sandbox",
    "authorization_url": "http://127.0.0.1:8080/sandbox/authorize?response_type=code&client_id=sandbox-client&state=b5Yc2kTq&code_challenge_method=S256",
    "expires_at": "2026-11-26T08:10:00Z"
}))]
pub struct AuthorizationStart {
    /// The network's name.
    #[schema(max_length = 64, example = "sandbox")]
    pub network: String,
    /// Open this URL in the user's browser; the network redirects to tokenwarden's callback.
    #[schema(format = "uri")]
    pub authorization_url: String,
    /// The authorization must finish before this time (10 minutes).
    pub expires_at: DateTime<Utc>,
}

/// Connect a profile (start OAuth)
///
/// Answers the network's authorization URL (PKCE S256, a single-use `state`
/// valid 10 minutes). The network redirects to `/v1/oauth/callback/{network}`,
/// which stores the grant: a new account, or the existing account of the same
/// profile reconnected in place. Needs `accounts:write`.
#[utoipa::path(
    operation_id = "connect_account",
    tag = "accounts",
    params(("brand_id" = Uuid, Path, description = "The brand's id.")),
    request_body = ConnectRequest,
    responses(
        (status = 201, description = "The authorization URL to open.", body = AuthorizationStart),
        (status = 400, description = "The body is not valid JSON."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:write` scope."),
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 413, description = "The body is too large."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "Unknown network, return URL not allowed, or invalid members.")
    )
)]
#[post("/brands/{brand_id}/accounts/connect")]
pub async fn connect_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<Uuid>,
    body: Json<ConnectRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsWrite)?;
    let org = principal.organization_id().to_string();
    let brand = path.into_inner().to_string();
    require_brand(&state, &org, &brand).await?;
    let started = flows::oauth::start(
        &state,
        StartRequest {
            organization_id: &org,
            brand_id: &brand,
            account_id: None,
            network: &body.0.network,
            purpose: Purpose::Connect,
            return_url: body.0.return_url.as_deref(),
            actor: &principal.subject,
        },
    )
    .await?;
    Ok(HttpResponse::Created().json(AuthorizationStart {
        network: body.0.network,
        authorization_url: started.authorization_url.to_string(),
        expires_at: started.expires_at,
    }))
}

/// A grant the client already holds (migration from another tool).
#[derive(Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "network": "sandbox",
    "access_token": "EAAB…",
    "refresh_token": "rt-…",
    "expires_in": 3600,
    "scopes": ["read", "write"]
}))]
pub struct ImportRequest {
    /// A configured network's name.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64, example = "sandbox")]
    pub network: String,
    /// The access token (never echoed back).
    #[schema(value_type = String, min_length = 1, max_length = 8192)]
    pub access_token: SecretString,
    /// The refresh token, if any (never echoed back).
    #[schema(value_type = Option<String>, min_length = 1, max_length = 8192)]
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
    /// When the access token expires (alternative to `expires_in`).
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
        let ok = |s: &SecretString| (1..=8192).contains(&s.expose_secret().len());
        if !ok(&self.access_token) {
            errors.push(FieldError::body(
                "/access_token",
                "length must be between 1 and 8192",
            ));
        }
        if let Some(refresh) = &self.refresh_token
            && !ok(refresh)
        {
            errors.push(FieldError::body(
                "/refresh_token",
                "length must be between 1 and 8192",
            ));
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

/// What storing a fresh grant did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// A new account was created in the brand.
    Connected,
    /// The brand's existing account of the same profile was reconnected in place.
    Reconnected,
    /// The account's token was renewed (a renewal or a reconnect link).
    Renewed,
    /// The grant was imported.
    Imported,
}

/// A fresh grant was stored: the account and the propagation report.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::grant_result)]
pub struct GrantResult {
    /// What happened.
    pub status: GrantStatus,
    /// The account as it is now.
    pub account: Account,
    /// Rule 2's report: the other brands' accounts of the same profile.
    pub propagation: PropagationReport,
}

/// Rule 2's report: which other brands' accounts of the same profile now
/// share the fresh grant, and which were left and why.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PropagationReport {
    /// Other brands' accounts of the same profile that now share the fresh grant.
    pub renewed: Vec<PropagatedAccount>,
    /// Other brands' accounts of the same profile that kept their own grant, and why.
    pub left: Vec<LeftAccount>,
}

/// Another brand's account that now shares the fresh grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct PropagatedAccount {
    /// The other account's brand.
    pub brand_id: Uuid,
    /// The other account.
    pub account_id: Uuid,
}

/// Another brand's account of the same profile that kept its own grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct LeftAccount {
    /// The other account's brand.
    pub brand_id: Uuid,
    /// The other account.
    pub account_id: Uuid,
    /// `plan`: the plan has no cross-brand renewal (Advanced and up); `disabled`: the account is disabled.
    pub reason: LeftReason,
    /// The other account's token status now.
    pub token_status: TokenStatus,
}

/// Rule 2's report read off the stored state: the profile's other enabled
/// accounts on the account's credential share its fresh grant; the others
/// were left, because they are disabled or (below Advanced) because of the plan.
pub async fn propagation_report(
    state: &AppState,
    org: &str,
    row: &AccountRow,
) -> Result<PropagationReport, Error> {
    let (o, profile) = (org.to_string(), row.1.id.clone());
    let (siblings, organization) = db::run(&state.pool, move |conn| {
        let siblings = db::accounts::list_account_rows_of_profile(conn, &o, &profile)?;
        let organization = db::organizations::find_organization(conn, &o)?
            .ok_or_else(|| Error::NotFound(format!("no organization with id {o}")))?;
        Ok((siblings, organization))
    })
    .await?;
    let plan = Plan::parse(&organization.plan).unwrap_or(Plan::Free);
    let ctx = StatusContext {
        now: now(),
        window: chrono::Duration::days(i64::from(organization.warning_window_days)),
        providers: &state.providers,
    };
    let mut report = PropagationReport::default();
    for (account, _, credential) in siblings.iter().filter(|(a, _, _)| a.id != row.0.id) {
        if credential.id == row.2.id && account.enabled {
            report.renewed.push(PropagatedAccount {
                brand_id: parse_id(&account.brand_id)?,
                account_id: parse_id(&account.id)?,
            });
        } else {
            report.left.push(LeftAccount {
                brand_id: parse_id(&account.brand_id)?,
                account_id: parse_id(&account.id)?,
                // On plans with cross-brand renewal only a disabled account is left.
                reason: if !account.enabled || plan.features().cross_brand_renewal {
                    LeftReason::Disabled
                } else {
                    LeftReason::Plan
                },
                token_status: ctx.status(account, credential),
            });
        }
    }
    Ok(report)
}

/// An account by id, whatever its brand: the row and what a client sees of it.
pub async fn account_now(
    state: &AppState,
    org: &str,
    account: &str,
) -> Result<(AccountRow, Account), Error> {
    let window = warning_window(state, org).await?;
    let (o, a) = (org.to_string(), account.to_string());
    let row = db::run(&state.pool, move |conn| {
        db::accounts::find_account_by_id(conn, &o, &a)?
            .ok_or_else(|| Error::NotFound(format!("no account with id {a}")))
    })
    .await?;
    let ctx = StatusContext {
        now: now(),
        window,
        providers: &state.providers,
    };
    let dto = to_account(row.clone(), &ctx)?;
    Ok((row, dto))
}

/// Import a grant
///
/// Stores a grant the client already holds (migration from another tool),
/// after verifying it against the network's identity endpoint. The account is
/// created, or the existing account of the same profile in this brand
/// reconnected. Needs `accounts:import`.
#[utoipa::path(
    operation_id = "import_account",
    tag = "accounts",
    params(("brand_id" = Uuid, Path, description = "The brand's id.")),
    request_body = ImportRequest,
    responses(
        (status = 201, description = "The imported account.", body = GrantResult),
        (status = 400, description = "The body is not valid JSON."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:import` scope."),
        (status = 404, description = "No such brand in the caller's organization."),
        (status = 413, description = "The body is too large."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "Invalid members, unknown network, or the network rejected the token (`grant-rejected`)."),
        (status = 502, description = "The network answered with an error."),
        (status = 503, description = "The network is unavailable or rate-limits; see `Retry-After`."),
        (status = 504, description = "The network did not answer in time.")
    )
)]
#[post("/brands/{brand_id}/accounts")]
pub async fn import_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<Uuid>,
    body: Json<ImportRequest>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsImport)?;
    let org = principal.organization_id().to_string();
    let brand = path.into_inner().to_string();
    require_brand(&state, &org, &brand).await?;
    let body = body.0;
    body.check_secrets()?;
    let provider = state.providers.get(&body.network).ok_or_else(|| {
        Error::Validation(vec![FieldError::body(
            "/network",
            format!("no network named {:?} is configured", body.network),
        )])
    })?;
    // Verify the grant with the network before storing anything.
    let identity = provider
        .identity(&body.access_token)
        .await
        .map_err(|e| match e {
            ProviderError::ReauthRequired { .. } => Error::GrantRejected(format!(
                "{} does not accept this access token ({})",
                body.network,
                e.code()
            )),
            other => upstream_error(&body.network, &other),
        })?;
    let at = now();
    let expires_at = match (body.expires_at, body.expires_in) {
        (Some(t), _) => t,
        (None, Some(secs)) => {
            at + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2))
        }
        (None, None) => {
            at + chrono::Duration::from_std(provider.default_access_lifetime()).unwrap_or_default()
        }
    };
    let tokens = TokenSet {
        access_token: body.access_token,
        refresh_token: body.refresh_token,
        expires_at,
        refresh_expires_at: None,
        scopes: body.scopes.unwrap_or_default(),
    };
    let keys = state.keys.clone();
    let (o, b, n, actor) = (
        org.clone(),
        brand.clone(),
        body.network.clone(),
        principal.subject.clone(),
    );
    let mut applied = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            flows::grants::apply_fresh_grant(
                conn,
                &keys,
                flows::grants::FreshGrant {
                    organization_id: &o,
                    brand_id: &b,
                    network: &n,
                    identity: &identity,
                    tokens: &tokens,
                    actor: &actor,
                    source: GrantSource::Import,
                    expected_account: None,
                },
                at,
            )
        })
    })
    .await?;
    flows::revoke_orphans(&state.providers, std::mem::take(&mut applied.orphans)).await;
    let (row, account) = account_now(&state, &org, &applied.account_id).await?;
    let propagation = propagation_report(&state, &org, &row).await?;
    Ok(HttpResponse::Created()
        .insert_header((
            "Location",
            format!("/v1/brands/{brand}/accounts/{}", account.id),
        ))
        .json(GrantResult {
            status: GrantStatus::Imported,
            account,
            propagation,
        }))
}

/// Get an account
///
/// Needs `accounts:read`.
#[utoipa::path(
    operation_id = "get_account",
    tag = "accounts",
    params(
        ("brand_id" = Uuid, Path, description = "The brand's id."),
        ("account_id" = Uuid, Path, description = "The account's id.")
    ),
    responses(
        (status = 200, description = "The account.", body = Account),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:read` scope."),
        (status = 404, description = "No such account in this brand of the caller's organization.")
    )
)]
#[get("/brands/{brand_id}/accounts/{account_id}")]
pub async fn get_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<web::Json<Account>, Error> {
    principal.require(Scope::AccountsRead)?;
    let (brand, account) = path.into_inner();
    Ok(web::Json(
        load_account_for(
            &state,
            principal.organization_id(),
            &brand.to_string(),
            &account.to_string(),
        )
        .await?,
    ))
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
    params(
        ("brand_id" = Uuid, Path, description = "The brand's id."),
        ("account_id" = Uuid, Path, description = "The account's id.")
    ),
    request_body = AccountUpdate,
    responses(
        (status = 200, description = "The updated account.", body = Account),
        (status = 400, description = "The body is not valid JSON."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:write` scope."),
        (status = 404, description = "No such account in this brand of the caller's organization."),
        (status = 413, description = "The body is too large."),
        (status = 415, description = "The body is not JSON."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[patch("/brands/{brand_id}/accounts/{account_id}")]
pub async fn update_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    body: Json<AccountUpdate>,
) -> Result<web::Json<Account>, Error> {
    principal.require(Scope::AccountsWrite)?;
    let (brand, account) = path.into_inner();
    let (org, brand, account) = (
        principal.organization_id().to_string(),
        brand.to_string(),
        account.to_string(),
    );
    let enabled = body.0.enabled;
    let (o, b, a, actor) = (
        org.clone(),
        brand.clone(),
        account.clone(),
        principal.subject.clone(),
    );
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let (row, _, credential) = db::accounts::find_account(conn, &o, &b, &a)?
                .ok_or_else(|| Error::NotFound(format!("no account with id {a} in brand {b}")))?;
            if row.enabled != enabled {
                db::accounts::set_account_enabled(conn, &a, enabled, to_db_time(now()))?;
                db::audit::insert_audit_event(
                    conn,
                    db::audit::Audit {
                        organization_id: &o,
                        actor: &actor,
                        action: if enabled {
                            "account.enabled"
                        } else {
                            "account.disabled"
                        },
                        outcome: "success",
                        brand_id: Some(&b),
                        account_id: Some(&a),
                        credential_id: Some(&credential.id),
                        detail: None,
                    },
                )?;
            }
            Ok(())
        })
    })
    .await?;
    Ok(web::Json(
        load_account_for(&state, &org, &brand, &account).await?,
    ))
}

/// Disconnect an account
///
/// Removes the account from the brand. When no other account uses its grant,
/// the grant is revoked at the network and its secrets are deleted. The audit
/// trail stays readable. Needs `accounts:write`.
#[utoipa::path(
    operation_id = "disconnect_account",
    tag = "accounts",
    params(
        ("brand_id" = Uuid, Path, description = "The brand's id."),
        ("account_id" = Uuid, Path, description = "The account's id.")
    ),
    responses(
        (status = 204, description = "The account is disconnected."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:write` scope."),
        (status = 404, description = "No such account in this brand of the caller's organization.")
    )
)]
#[delete("/brands/{brand_id}/accounts/{account_id}")]
pub async fn disconnect_account(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsWrite)?;
    let (brand, account) = path.into_inner();
    let (org, brand, account, actor) = (
        principal.organization_id().to_string(),
        brand.to_string(),
        account.to_string(),
        principal.subject.clone(),
    );
    let keys = state.keys.clone();
    let orphans = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            flows::grants::disconnect(conn, &keys, &org, &brand, &account, &actor)
        })
    })
    .await?;
    flows::revoke_orphans(&state.providers, orphans).await;
    Ok(HttpResponse::NoContent().finish())
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEvent {
    /// The event's id.
    pub id: Uuid,
    /// What happened, e.g. `account.connected`, `account.renewed`, `account.disconnected`.
    #[schema(max_length = 64, example = "account.renewed")]
    pub action: String,
    /// `success` or `failure`.
    #[schema(max_length = 32, example = "success")]
    pub outcome: String,
    /// Who did it: the JWT `sub`, or `worker`.
    #[schema(max_length = 1024, example = "user-42")]
    pub actor: String,
    /// The brand concerned, if any.
    pub brand_id: Option<Uuid>,
    /// The account concerned, if any.
    pub account_id: Option<Uuid>,
    /// Details of the event (never a token).
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
    /// The request that caused it.
    #[schema(
        max_length = 128,
        pattern = "^[A-Za-z0-9._:-]+$",
        example = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b11"
    )]
    pub request_id: Option<String>,
    /// When it happened.
    pub created_at: DateTime<Utc>,
}

impl AuditEvent {
    pub fn from_row(row: models::AuditEvent) -> Result<Self, Error> {
        Ok(Self {
            id: parse_id(&row.id)?,
            action: row.action,
            outcome: row.outcome,
            actor: row.actor,
            brand_id: row.brand_id.as_deref().map(parse_id).transpose()?,
            account_id: row.account_id.as_deref().map(parse_id).transpose()?,
            detail: row
                .detail
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok()),
            request_id: row.request_id,
            created_at: from_db_time(row.created_at),
        })
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::audit_event_page)]
pub struct AuditEventPage {
    /// The events of this page, newest first.
    pub data: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page; `null` on the last page. 32 lowercase hex digits.
    #[schema(
        pattern = "^[0-9a-f]{32}$",
        min_length = 32,
        max_length = 32,
        example = "0193a0c47a4e7d3c9b9e3f1f0f3a2b13"
    )]
    pub next_cursor: Option<String>,
}

/// Pagination of the audit trail.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Items per page, 1–100 (default 25).
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100, default = 25)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: 32 lowercase hex digits. Any
    /// value of this shape is accepted (one that names no item marks a
    /// position all the same, and the page after it may be empty).
    #[param(pattern = "^[0-9a-f]{32}$", min_length = 32, max_length = 32)]
    pub cursor: Option<String>,
}

/// An account's audit trail
///
/// Every change to the account, newest first — also after it was
/// disconnected. Needs `accounts:read`.
#[utoipa::path(
    operation_id = "list_account_events",
    tag = "accounts",
    params(
        ("brand_id" = Uuid, Path, description = "The brand's id."),
        ("account_id" = Uuid, Path, description = "The account's id."),
        EventQuery
    ),
    responses(
        (status = 200, description = "A page of audit events.", body = AuditEventPage),
        (status = 400, description = "Malformed query string."),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 403, description = "The token lacks the `accounts:read` scope."),
        (status = 404, description = "No such account (now or before) in this brand of the caller's organization."),
        (status = 422, description = "A pagination parameter is invalid.")
    )
)]
#[get("/brands/{brand_id}/accounts/{account_id}/events")]
pub async fn list_account_events(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<(Uuid, Uuid)>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<AuditEventPage>, Error> {
    principal.require(Scope::AccountsRead)?;
    query.validate().map_err(query_validation_error)?;
    let (limit, before) = page_params(query.limit, query.cursor.as_deref(), decode_cursor)?;
    let (brand, account) = path.into_inner();
    let (org, brand, account) = (
        principal.organization_id().to_string(),
        brand.to_string(),
        account.to_string(),
    );
    let rows = db::run(&state.pool, move |conn| {
        let rows = db::audit::list_audit_events(
            conn,
            &org,
            Some(&account),
            before.as_deref(),
            i64::from(limit) + 1,
        )?;
        let exists = db::accounts::find_account(conn, &org, &brand, &account)?.is_some();
        let in_brand = rows
            .iter()
            .any(|r| r.brand_id.as_deref() == Some(brand.as_str()));
        if !exists && !in_brand && before.is_none() {
            return Err(Error::NotFound(format!(
                "no account with id {account} in brand {brand}"
            )));
        }
        Ok(rows)
    })
    .await?;
    let (rows, next_cursor) = split_page(rows, limit, |r| &r.id);
    Ok(web::Json(AuditEventPage {
        data: rows
            .into_iter()
            .map(AuditEvent::from_row)
            .collect::<Result<_, _>>()?,
        next_cursor,
    }))
}
