//! Answer pieces and query parameters that several resources share: the
//! account as Manage Accounts shows it, the renew hint, the propagation
//! report, the authorization start, stored ids and page parameters.
//! Resource modules import from here, never from each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use validator::Validate;

use super::extractors::{page_params, query_validation_error};
use crate::db::models;
use crate::domain::from_db_time;
use crate::domain::pagination::decode_cursor;
use crate::domain::profile_kind::ProfileKind;
use crate::domain::propagation::{LeftReason, Sibling};
use crate::domain::renewal::{RenewMethod, renew_href};
use crate::domain::token_status::{self, BlockedCapability, TokenStatus};
use crate::error::Error;
use crate::services::accounts::{AccountView, GrantOutcome};
use crate::services::oauth::Started;

/// One scope the network granted, as the network names it.
#[derive(ToSchema)]
#[schema(example = "offline_access", min_length = 1, max_length = 200)]
#[expect(dead_code, reason = "documents the items of `scopes`")]
pub struct GrantedScope(String);

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
    /// What the profile is at its network: the person who signs in (`person`), or what a
    /// person manages and the suite publishes as (`page`, `organization`, `channel`,
    /// `location`). For those, `display_name` is the asset's name and `avatar_url` its picture.
    pub kind: ProfileKind,
    /// For an asset: the person whose grant reaches it, whom to ask for a re-authorization.
    /// `null` for a person.
    pub manager: Option<Manager>,
}

/// The person whose grant reaches an asset.
#[derive(Debug, Serialize, ToSchema)]
pub struct Manager {
    /// The person's name on the network (their handle when the network gives no name).
    #[schema(max_length = 255, example = "Dana Whitfield")]
    pub name: String,
    /// The network's id of the person.
    #[schema(max_length = 255, example = "10228471930211")]
    pub external_id: String,
}

impl Manager {
    /// The manager an asset's profile row names, if it is an asset.
    pub fn of(p: &models::Profile) -> Option<Self> {
        let external_id = p.manager_external_id.clone()?;
        Some(Self {
            name: p
                .manager_name
                .clone()
                .unwrap_or_else(|| external_id.clone()),
            external_id,
        })
    }
}

impl ProfileSummary {
    pub fn from_row(p: models::Profile) -> Result<Self, Error> {
        let (kind, manager) = (p.kind()?, Manager::of(&p));
        Ok(Self {
            kind,
            manager,
            id: Uuid::from(p.id),
            network: p.network,
            external_id: p.external_id,
            handle: p.handle,
            display_name: p.display_name,
            avatar_url: p.avatar_url,
        })
    }
}

/// How to renew an account's token.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenewHint {
    /// How `POST href` renews the token: at once (`refresh`) or through a re-authorization (`reauthorize`).
    pub method: RenewMethod,
    #[schema(schema_with = renew_href_schema)]
    pub href: String,
}

/// The `href` of a [`RenewHint`], whose example is the path the examples'
/// account is renewed at (so the two cannot drift apart).
#[expect(
    deprecated,
    reason = "the document gives member examples as `example`, like the derived schemas"
)]
fn renew_href_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uri-reference".into())))
        .description(Some(
            "`POST` this path (relative to the API's base URL) to renew.",
        ))
        .max_length(Some(200))
        .example(Some(crate::api::examples::account_renew_href().into()))
        .build()
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

impl TryFrom<AccountView> for Account {
    type Error = Error;

    fn try_from(view: AccountView) -> Result<Self, Error> {
        let AccountView {
            account,
            profile,
            credential,
            status,
            status_reason,
            method,
        } = view;
        Ok(Account {
            id: Uuid::from(account.id),
            brand_id: Uuid::from(account.brand_id),
            profile: ProfileSummary::from_row(profile)?,
            enabled: account.enabled,
            token_status: status,
            status_reason,
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
                href: renew_href(account.brand_id, account.id),
            },
            created_at: from_db_time(account.created_at),
            updated_at: from_db_time(account.updated_at),
        })
    }
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

impl AuthorizationStart {
    pub fn new(network: &str, started: Started) -> Self {
        Self {
            network: network.to_string(),
            authorization_url: started.authorization_url.to_string(),
            expires_at: started.expires_at,
        }
    }
}

/// The callback of a network whose profiles are assets a person manages: the person's grant is
/// stored and waits (an hour) for the assets to connect to be chosen.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "status": "select",
    "connection_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b20",
    "brand_id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10",
    "expires_at": "2026-11-26T09:00:00Z"
}))]
pub struct SelectionStart {
    /// Always `select`: list the assets with `GET /v1/connections/{connection_id}` and connect the
    /// chosen ones with `POST /v1/connections/{connection_id}/accounts`.
    pub status: SelectStatus,
    /// The connection holding the person's grant.
    pub connection_id: Uuid,
    /// The brand the connect started in, where the chosen assets are connected.
    pub brand_id: Uuid,
    /// The connection expires then; its grant is then revoked unless stored elsewhere.
    pub expires_at: DateTime<Utc>,
}

/// The status of a [`SelectionStart`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectStatus {
    /// The assets to connect are to be chosen.
    Select,
}

/// What the callback answers without a return URL: the stored grant, or a connection waiting
/// for the assets to connect to be chosen.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum CallbackResult {
    Stored(Box<GrantResult>),
    Select(SelectionStart),
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
    /// The propagation report: the other brands' accounts of the same profile.
    pub propagation: PropagationReport,
}

/// The propagation report: which other brands' accounts of the same profile
/// now share the fresh grant, and which were left and why.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct PropagationReport {
    /// Other brands' accounts of the same profile that now share the fresh grant.
    pub renewed: Vec<PropagatedAccount>,
    /// Other brands' accounts of the same profile that kept their own grant, and why.
    pub left: Vec<LeftAccount>,
    /// How many accounts in brands the caller's token does not reach (its `brands` claim) now
    /// share the fresh grant. They are counted, never named; always 0 for a token without
    /// `brands`, whose `renewed` lists every one.
    #[schema(minimum = 0)]
    pub renewed_elsewhere: u32,
    /// How many accounts in brands the caller's token does not reach kept their own grant.
    /// Always 0 for a token without `brands`.
    #[schema(minimum = 0)]
    pub left_elsewhere: u32,
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

impl TryFrom<crate::services::accounts::PropagationReport> for PropagationReport {
    type Error = Error;

    fn try_from(report: crate::services::accounts::PropagationReport) -> Result<Self, Error> {
        let ids = |s: &Sibling| -> Result<(Uuid, Uuid), Error> {
            Ok((Uuid::from(s.brand_id), Uuid::from(s.account_id)))
        };
        Ok(Self {
            renewed: report
                .renewed
                .iter()
                .map(|s| {
                    let (brand_id, account_id) = ids(s)?;
                    Ok(PropagatedAccount {
                        brand_id,
                        account_id,
                    })
                })
                .collect::<Result<_, Error>>()?,
            left: report
                .left
                .iter()
                .map(|(s, reason, status)| {
                    let (brand_id, account_id) = ids(s)?;
                    Ok(LeftAccount {
                        brand_id,
                        account_id,
                        reason: *reason,
                        token_status: *status,
                    })
                })
                .collect::<Result<_, Error>>()?,
            renewed_elsewhere: u32::try_from(report.renewed_elsewhere).unwrap_or(u32::MAX),
            left_elsewhere: u32::try_from(report.left_elsewhere).unwrap_or(u32::MAX),
        })
    }
}

impl GrantResult {
    pub fn new(status: GrantStatus, outcome: GrantOutcome) -> Result<Self, Error> {
        Ok(Self {
            status,
            account: outcome.account.try_into()?,
            propagation: outcome.propagation.try_into()?,
        })
    }
}

/// Cursor pagination parameters of the lists whose cursor is an id.
#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
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

impl PageQuery {
    /// `(limit, id to start after)`, or a 422 naming the bad parameter.
    pub fn resolve(&self) -> Result<(u32, Option<String>), Error> {
        self.validate().map_err(query_validation_error)?;
        page_params(self.limit, self.cursor.as_deref(), decode_cursor)
    }
}

/// The `next_cursor` member of a page listed oldest first
/// (`#[schema(schema_with = next_cursor)]`).
pub fn next_cursor() -> Object {
    cursor_schema(
        "Pass as `cursor` to get the next page; `null` on the last page. 32 lowercase hex digits.",
    )
}

/// The `next_cursor` member of a page listed newest first
/// (`#[schema(schema_with = older_cursor)]`).
pub fn older_cursor() -> Object {
    cursor_schema(
        "Pass as `cursor` to get the next (older) page; `null` on the last page. 32 lowercase hex digits.",
    )
}

/// A page's cursor: the shape `PageQuery::cursor` takes, or `null` on the last page.
#[expect(
    deprecated,
    reason = "the document gives member examples as `example`, like the derived schemas"
)]
fn cursor_schema(description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(description))
        .pattern(Some("^[0-9a-f]{32}$"))
        .min_length(Some(32))
        .max_length(Some(32))
        .example(Some("0193a0c47a4e7d3c9b9e3f1f0f3a2b13".into()))
        .build()
}

/// The optional `return_url` member of the requests that start an
/// authorization (`#[schema(schema_with = return_url)]`, beside
/// `#[validate(length(min = 1, max = 2048))]`).
#[expect(
    deprecated,
    reason = "the document gives member examples as `example`, like the derived schemas"
)]
pub fn return_url() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .format(Some(SchemaFormat::Custom("uri".into())))
        .description(Some(
            "Where the browser goes once the network's authorization is finished (must be \
             allow-listed). Without it, the callback answers JSON.",
        ))
        .min_length(Some(1))
        .max_length(Some(2048))
        .example(Some("https://app.example.com/accounts".into()))
        .build()
}
