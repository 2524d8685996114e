//! The "Expired Tokens" dropdown: what needs renewal across the caller's
//! brands, and the badge counts.

use crate::domain::ids::BrandId;
use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::response::Response;
use utoipa::{IntoParams, IntoResponses, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::extractors::{page_params, query_validation_error};
use super::responses::{AuthErrors, QueryErrors};
use super::shared::{Account, ProfileSummary, RenewHint};
use super::{conditional, ready};
use crate::auth::{Principal, Scope};
use crate::domain::pagination;
use crate::domain::token_status::{BlockedCapability, TokenStatus};
use crate::error::Error;
use crate::services::expired::{self, ExpiredFilter};
use crate::state::AppState;

/// What both reads answer beyond the usual errors: a 304, being conditional
/// reads, and a 404 when the token's organization is gone.
struct ReadAnswers;

impl IntoResponses for ReadAnswers {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut answers = conditional::NotModified::responses();
        answers.insert(
            "404".into(),
            Response::new("The token's organization does not exist.").into(),
        );
        answers
    }
}

/// What else the dropdown should list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Include {
    /// Also tokens that expire within the organization's warning window.
    Expiring,
}

/// Pagination of the dropdown (its cursor holds an expiry and an id).
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiredQuery {
    /// Items per page, 1–100 (default 25).
    #[validate(range(min = 1, max = 100))]
    #[param(minimum = 1, maximum = 100, default = 25)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: 48 lowercase hex digits. Any
    /// value of this shape is accepted (one that names no item marks a
    /// position all the same, and the page after it may be empty).
    #[param(pattern = "^[0-9a-f]{48}$", min_length = 48, max_length = 48)]
    pub cursor: Option<String>,
}

/// The brand an item belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandRef {
    /// The brand's id.
    pub id: Uuid,
    /// The brand's name.
    #[schema(max_length = 100, example = "Northwind Coffee")]
    pub name: String,
}

/// One account that needs renewal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpiredToken {
    /// The account whose token needs renewal.
    pub account_id: Uuid,
    /// The account's brand.
    pub brand: BrandRef,
    /// The connected identity.
    pub profile: ProfileSummary,
    /// The network's name.
    #[schema(max_length = 64, example = "x")]
    pub network: String,
    /// `expired`, `reauth_required` (or `expiring` with `include=expiring`).
    pub status: TokenStatus,
    /// Since when: the expiry for `expired`/`expiring`, the network's refusal for `reauth_required`.
    pub since: DateTime<Utc>,
    /// When the access token expires or expired (`null` when the network gave no expiry).
    pub expires_at: Option<DateTime<Utc>>,
    /// Why, when known (e.g. `invalid_grant`, `expired`).
    #[schema(max_length = 200, example = "invalid_grant")]
    pub reason: Option<String>,
    /// What stops working until it is renewed.
    pub blocked: Vec<BlockedCapability>,
    /// How to renew it: `refresh` renews at once, `reauthorize` answers an authorization URL.
    pub renew: RenewHint,
}

/// A page of the dropdown, newest expiry first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = crate::api::examples::expired_token_page)]
pub struct ExpiredTokenPage {
    /// The accounts of this page.
    pub data: Vec<ExpiredToken>,
    /// Pass as `cursor` to get the next page; `null` on the last page. 48 lowercase hex digits.
    #[schema(
        pattern = "^[0-9a-f]{48}$",
        min_length = 48,
        max_length = 48,
        example = "00063f1c2a8b4c000193a0c47a4e7d3c9b9e3f1f0f3a2b13"
    )]
    pub next_cursor: Option<String>,
}

/// The documented shape of this list's cursor: the last item's expiry (16 hex
/// digits of microseconds since 1970) and id (32 hex digits).
pub const EXPIRED_CURSOR_PATTERN: &str = "^[0-9a-f]{48}$";
const EXPIRED_CURSOR_LEN: usize = 48;
/// 9999-12-31T23:59:59.999999Z: expiries in a cursor are clamped into the
/// years every backend stores.
const MAX_CURSOR_MICROS: u64 = 253_402_300_799_999_999;

fn encode_cursor(expires: NaiveDateTime, id: &str) -> String {
    let micros = u64::try_from(expires.and_utc().timestamp_micros()).unwrap_or(0);
    format!(
        "{:016x}{}",
        micros.min(MAX_CURSOR_MICROS),
        pagination::encode_cursor(id)
    )
}

/// Every string of the documented shape is a position in the list (an
/// unknown one may give an empty page); anything else is `None`.
fn decode_cursor(cursor: &str) -> Option<(NaiveDateTime, String)> {
    if !pagination::is_lower_hex(cursor, EXPIRED_CURSOR_LEN) {
        return None;
    }
    let (micros, id) = cursor.split_at(16);
    let micros = u64::from_str_radix(micros, 16).ok()?.min(MAX_CURSOR_MICROS);
    let t = DateTime::from_timestamp_micros(i64::try_from(micros).ok()?)?;
    Some((t.naive_utc(), pagination::decode_cursor(id)?))
}

/// List tokens that need renewal
///
/// The "Expired Tokens" dropdown: the accounts across the caller's brands
/// whose token is `expired` or `reauth_required` (and, with
/// `include=expiring`, `expiring`), newest expiry first, each with its brand,
/// profile, since when, why, what is blocked and how to renew it. Status is
/// computed against the clock at the time of the request. Disabled accounts
/// are not listed. Needs `accounts:read`.
#[utoipa::path(
    operation_id = "list_expired_tokens",
    tag = "expired tokens",
    security(("bearer" = ["accounts:read"])),
    params(
        SummaryQuery, ExpiredQuery, conditional::IfNoneMatch
    ),
    responses(
        (status = 200, description = "A page of accounts that need renewal.", body = ExpiredTokenPage),
        AuthErrors,
        QueryErrors,
        ReadAnswers
    )
)]
#[get("/expired-tokens")]
pub async fn list_expired_tokens(
    state: web::Data<AppState>,
    principal: Principal,
    filter: web::Query<SummaryQuery>,
    query: web::Query<ExpiredQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsRead)?;
    let filter = filter.into_inner().filter()?;
    query.validate().map_err(query_validation_error)?;
    let (limit, after) = page_params(query.limit, query.cursor.as_deref(), decode_cursor)?;
    let audience = principal.audience();
    ready::answer(&req, &state, audience, || async {
        expired::list(&state, audience, filter, limit, after)
            .await?
            .try_map(|(items, next)| {
                let data = items
                    .into_iter()
                    .map(ExpiredToken::try_from)
                    .collect::<Result<_, Error>>()?;
                Ok(ExpiredTokenPage {
                    data,
                    next_cursor: next.map(|(expires, id)| encode_cursor(expires, &id)),
                })
            })
    })
    .await
}

impl TryFrom<expired::ExpiredItem> for ExpiredToken {
    type Error = Error;

    fn try_from(item: expired::ExpiredItem) -> Result<Self, Error> {
        let account = Account::try_from(item.account)?;
        Ok(ExpiredToken {
            account_id: account.id,
            brand: BrandRef {
                id: account.brand_id,
                name: item.brand_name,
            },
            network: account.profile.network.clone(),
            profile: account.profile,
            status: account.token_status,
            since: item.since,
            expires_at: account.expires_at,
            reason: account.status_reason,
            blocked: account.blocked,
            renew: account.renew,
        })
    }
}

/// Which accounts the dropdown and its badge cover.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// Only this brand.
    pub brand_id: Option<Uuid>,
    /// Only this network.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub network: Option<String>,
    /// `expiring` to cover tokens expiring within the warning window too.
    pub include: Option<Include>,
}

impl SummaryQuery {
    fn filter(self) -> Result<ExpiredFilter, Error> {
        self.validate().map_err(query_validation_error)?;
        Ok(ExpiredFilter {
            brand_id: self.brand_id.map(BrandId::from),
            network: self.network,
            include_expiring: self.include == Some(Include::Expiring),
        })
    }
}

/// A count for one brand.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrandCount {
    /// The brand.
    pub brand_id: Uuid,
    /// The brand's name.
    #[schema(max_length = 100, example = "Northwind Coffee")]
    pub brand_name: String,
    /// How many of its accounts need renewal.
    #[schema(minimum = 0, example = 3)]
    pub count: u32,
}

/// A count for one network.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkCount {
    /// The network's name.
    #[schema(max_length = 64, example = "x")]
    pub network: String,
    /// How many accounts of this network need renewal.
    #[schema(minimum = 0, example = 2)]
    pub count: u32,
}

/// The badge: how many accounts need renewal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"total": 3, "by_brand": [{"brand_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b12", "brand_name": "Northwind Coffee", "count": 3}], "by_network": [{"network": "x", "count": 2}, {"network": "facebook", "count": 1}]}))]
pub struct ExpiredTokenSummary {
    /// How many accounts need renewal in all.
    #[schema(minimum = 0, example = 3)]
    pub total: u32,
    /// Counts per brand (brands with none are left out).
    pub by_brand: Vec<BrandCount>,
    /// Counts per network (networks with none are left out).
    pub by_network: Vec<NetworkCount>,
}

/// Count tokens that need renewal
///
/// The badge of the dropdown: totals by brand and by network, with the same
/// filters as the list. Needs `accounts:read`.
#[utoipa::path(
    operation_id = "get_expired_tokens_summary",
    tag = "expired tokens",
    security(("bearer" = ["accounts:read"])),
    params(
        SummaryQuery, conditional::IfNoneMatch
    ),
    responses(
        (status = 200, description = "The counts.", body = ExpiredTokenSummary),
        AuthErrors,
        QueryErrors,
        ReadAnswers
    )
)]
#[get("/expired-tokens/summary")]
pub async fn expired_tokens_summary(
    state: web::Data<AppState>,
    principal: Principal,
    query: web::Query<SummaryQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, Error> {
    principal.require(Scope::AccountsRead)?;
    let filter = query.into_inner().filter()?;
    let audience = principal.audience();
    ready::answer(&req, &state, audience, || async {
        expired::summary(&state, audience, filter)
            .await?
            .try_map(|summary| {
                Ok::<_, Error>(ExpiredTokenSummary {
                    total: u32::try_from(summary.total).unwrap_or(u32::MAX),
                    by_brand: summary
                        .by_brand
                        .into_iter()
                        .map(|(id, brand_name, count)| {
                            Ok(BrandCount {
                                brand_id: Uuid::from(id),
                                brand_name,
                                count,
                            })
                        })
                        .collect::<Result<_, Error>>()?,
                    by_network: summary
                        .by_network
                        .into_iter()
                        .map(|(network, count)| NetworkCount { network, count })
                        .collect(),
                })
            })
    })
    .await
}
