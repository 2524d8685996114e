//! An account's audit trail: `/v1/brands/{brand_id}/accounts/{account_id}/events`,
//! readable also after the account was disconnected.

use actix_web::{get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::paths::BrandAccountPath;
use super::responses::{AuthErrors, QueryErrors};
use super::shared::PageQuery;
use crate::auth::{Principal, Scope};
use crate::db::models;
use crate::domain::from_db_time;
use crate::error::Error;
use crate::services::accounts;
use crate::state::AppState;

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
            id: Uuid::from(row.id),
            action: row.action,
            outcome: row.outcome,
            actor: row.actor,
            brand_id: row.brand_id.map(Uuid::from),
            account_id: row.account_id.map(Uuid::from),
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
    #[schema(schema_with = super::shared::older_cursor)]
    pub next_cursor: Option<String>,
}

/// An account's audit trail
///
/// Every change to the account, newest first — also after it was
/// disconnected. Needs `accounts:read`.
#[utoipa::path(
    operation_id = "list_account_events",
    tag = "accounts",
    security(("bearer" = ["accounts:read"])),
    params(
        BrandAccountPath,
        PageQuery
    ),
    responses(
        (status = 200, description = "A page of audit events.", body = AuditEventPage),
        AuthErrors,
        QueryErrors,
        (status = 404, description = "No such account (now or before) in this brand of the caller's organization.")
    )
)]
#[get("/brands/{brand_id}/accounts/{account_id}/events")]
pub async fn list_account_events(
    state: web::Data<AppState>,
    principal: Principal,
    path: web::Path<BrandAccountPath>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<AuditEventPage>, Error> {
    principal.require(Scope::AccountsRead)?;
    let (limit, before) = query.resolve()?;
    let BrandAccountPath {
        brand_id: brand,
        account_id: account,
    } = path.into_inner();
    let page =
        accounts::events(&state, principal.audience(), brand, account, limit, before).await?;
    Ok(web::Json(AuditEventPage {
        data: page
            .items
            .into_iter()
            .map(AuditEvent::from_row)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    }))
}
