//! How a token is renewed, and where a client asks for it.

use super::ids::{AccountId, BrandId};
use serde::Serialize;
use utoipa::ToSchema;

/// How a token is renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RenewMethod {
    /// The server renews it at once with the network's refresh grant; no user needed.
    Refresh,
    /// The profile's owner must re-authorize at the network: the renew answer carries the URL.
    Reauthorize,
}

/// The path a client `POST`s to renew an account's token.
pub fn renew_href(brand: BrandId, account: AccountId) -> String {
    format!("/v1/brands/{brand}/accounts/{account}/renew")
}
