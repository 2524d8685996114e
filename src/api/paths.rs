//! The path parameters of the API, each declared once: the struct a handler
//! takes (`web::Path<BrandAccountPath>`) is the one its `#[utoipa::path]`
//! lists in `params(…)`, so the document and the handler cannot disagree.
//! Each id is parsed here, at the edge; a malformed one answers the
//! problem+json 404 of `extractors::path_error`.

use serde::Deserialize;
use utoipa::IntoParams;

use crate::domain::ids::{AccountId, BrandId, ConnectionId, OrganizationId, ProfileId, WebhookId};

/// `/brands/{brand_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BrandPath {
    /// The brand's id.
    #[param(value_type = uuid::Uuid)]
    pub brand_id: BrandId,
}

/// `/brands/{brand_id}/accounts/{account_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct BrandAccountPath {
    /// The brand's id.
    #[param(value_type = uuid::Uuid)]
    pub brand_id: BrandId,
    /// The account's id.
    #[param(value_type = uuid::Uuid)]
    pub account_id: AccountId,
}

/// `/accounts/{account_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AccountPath {
    /// The account's id.
    #[param(value_type = uuid::Uuid)]
    pub account_id: AccountId,
}

/// `/profiles/{profile_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProfilePath {
    /// The profile's id.
    #[param(value_type = uuid::Uuid)]
    pub profile_id: ProfileId,
}

/// `/webhooks/{webhook_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct WebhookPath {
    /// The subscription's id.
    #[param(value_type = uuid::Uuid)]
    pub webhook_id: WebhookId,
}

/// `/connections/{connection_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ConnectionPath {
    /// The connection's id (from the callback).
    #[param(value_type = uuid::Uuid)]
    pub connection_id: ConnectionId,
}

/// `/organizations/{organization_id}`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrganizationPath {
    /// The organization's id.
    // A UUID here, though an organization id in general is any text a
    // token's claim holds: the billing routes only ever name ours.
    #[param(value_type = uuid::Uuid)]
    organization_id: uuid::Uuid,
}

impl OrganizationPath {
    pub fn organization_id(&self) -> OrganizationId {
        self.organization_id.into()
    }
}
