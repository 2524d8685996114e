//! `/v1/organization` (the caller's own) and `/v1/organizations` (the billing
//! system's view across tenants).

use crate::domain::ids::OrganizationId;
use actix_web::{HttpResponse, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;
use validator::Validate;

use super::extractors::{Json, PlatformCaller, integer};
use super::paths::OrganizationPath;
use super::responses::{BodyErrors, OrganizationAuthErrors};
use crate::auth::{Principal, Scope};
use crate::db::models;
use crate::domain::from_db_time;
use crate::domain::plan::{Features, Plan};
use crate::error::Error;
use crate::services::organizations::{self, AdminUpdate, NewOrganization, Update};
use crate::state::AppState;

/// An organization (tenant), with its plan and what the plan allows.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10",
    "name": "Acme Agency",
    "plan": "advanced",
    "features": {"max_brands": 50, "cross_brand_renewal": true, "webhooks": true},
    "warning_window_days": 7,
    "created_at": "2026-11-26T08:00:00Z",
    "updated_at": "2026-11-26T08:00:00Z"
}))]
pub struct Organization {
    /// The organization's id (the `org` claim of its tokens).
    pub id: Uuid,
    /// Display name.
    #[schema(max_length = 200)]
    pub name: String,
    /// The organization's plan; the billing system changes it.
    pub plan: Plan,
    /// What the current plan allows (the feature matrix).
    pub features: Features,
    /// Tokens expiring within this many days are reported as `expiring`.
    #[schema(minimum = 1, maximum = 90)]
    pub warning_window_days: i32,
    /// When the organization was created.
    pub created_at: DateTime<Utc>,
    /// When the organization last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<models::Organization> for Organization {
    type Error = Error;

    fn try_from(row: models::Organization) -> Result<Self, Error> {
        let plan = row.plan()?;
        Ok(Self {
            id: Uuid::parse_str(row.id.as_str())
                .map_err(|e| Error::internal(format!("organization id {}: {e}", row.id)))?,
            name: row.name,
            plan,
            features: plan.features(),
            warning_window_days: row.warning_window_days,
            created_at: from_db_time(row.created_at),
            updated_at: from_db_time(row.updated_at),
        })
    }
}

/// Changes to the caller's organization. Absent members stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Agency", "warning_window_days": 14}))]
pub struct OrganizationUpdate {
    /// Display name, 1–200 characters.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// Days before expiry at which a token is reported as `expiring`, 1–90.
    #[validate(range(min = 1, max = 90))]
    #[schema(minimum = 1, maximum = 90)]
    #[serde(default, deserialize_with = "integer::optional")]
    pub warning_window_days: Option<i32>,
}

/// Changes the billing system makes to an organization. A downgrade deletes
/// nothing; it only stops what the new plan does not allow from then on.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"plan": "advanced"}))]
pub struct OrganizationAdminUpdate {
    /// Display name, 1–200 characters.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// The new plan; a downgrade deletes nothing.
    pub plan: Option<Plan>,
}

/// A new organization, created by the billing system.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Acme Agency", "plan": "starter"}))]
pub struct OrganizationCreate {
    /// Optional id to use (e.g. the billing system's tenant id); generated when absent.
    pub id: Option<Uuid>,
    /// Display name, 1–200 characters.
    #[validate(length(min = 1, max = 200))]
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The plan to start on.
    pub plan: Plan,
    /// Days before expiry at which a token is reported as `expiring`, 1–90; default 7.
    #[validate(range(min = 1, max = 90))]
    #[schema(minimum = 1, maximum = 90)]
    #[serde(default, deserialize_with = "integer::optional")]
    pub warning_window_days: Option<i32>,
}

/// Get the caller's organization
///
/// The organization named by the token's `org` claim: its plan, the plan's
/// feature matrix and the expiry warning window. Any valid token of the
/// organization may read it.
#[utoipa::path(
    operation_id = "get_organization",
    tag = "organization",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's organization.", body = Organization),
        (status = 401, description = "Missing or invalid bearer token."),
        (status = 404, description = "The token's organization does not exist.")
    )
)]
#[get("/organization")]
pub async fn get_organization(
    state: web::Data<AppState>,
    principal: Principal,
) -> Result<web::Json<Organization>, Error> {
    let row = organizations::get(&state, principal.organization_id()).await?;
    Ok(web::Json(row.try_into()?))
}

/// Update the caller's organization
///
/// Changes the name or the expiry warning window. Needs the `org:admin` scope
/// and a token without a `brands` claim.
#[utoipa::path(
    operation_id = "update_organization",
    tag = "organization",
    security(("bearer" = ["org:admin"])),
    request_body = OrganizationUpdate,
    responses(
        (status = 200, description = "The updated organization.", body = Organization),
        OrganizationAuthErrors,
        BodyErrors,
        (status = 404, description = "The token's organization does not exist."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[patch("/organization")]
pub async fn update_organization(
    state: web::Data<AppState>,
    principal: Principal,
    body: Json<OrganizationUpdate>,
) -> Result<web::Json<Organization>, Error> {
    principal.require(Scope::OrgAdmin)?;
    principal.require_whole_organization()?;
    let body = body.0;
    let row = organizations::update(
        &state,
        principal.organization_id(),
        &principal.subject,
        Update {
            name: body.name,
            warning_window_days: body.warning_window_days,
        },
    )
    .await?;
    Ok(web::Json(row.try_into()?))
}

/// Create an organization (billing system)
///
/// Creates a tenant. Needs the `platform:admin` scope and a token without a
/// `brands` claim; the token's `org` claim is ignored here.
#[utoipa::path(
    operation_id = "create_organization",
    tag = "organization",
    security(("bearer" = ["platform:admin"])),
    request_body = OrganizationCreate,
    responses(
        (status = 201, description = "The new organization.", body = Organization,
            headers(("Location" = String, description = "URL of the new organization"))),
        OrganizationAuthErrors,
        BodyErrors,
        (status = 409, description = "An organization with this id exists."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[post("/organizations")]
pub async fn create_organization(
    state: web::Data<AppState>,
    caller: PlatformCaller,
    body: Json<OrganizationCreate>,
) -> Result<HttpResponse, Error> {
    let principal = caller.0;
    principal.require(Scope::PlatformAdmin)?;
    principal.require_whole_organization()?;
    let body = body.0;
    let row = organizations::create(
        &state,
        &principal.subject,
        NewOrganization {
            id: body.id.map(OrganizationId::from),
            name: body.name,
            plan: body.plan,
            warning_window_days: body.warning_window_days,
        },
    )
    .await?;
    let location = format!("/v1/organizations/{}", row.id);
    Ok(HttpResponse::Created()
        .insert_header(("Location", location))
        .json(Organization::try_from(row)?))
}

/// Update any organization (billing system)
///
/// Changes an organization's plan or name. Needs the `platform:admin` scope
/// and a token without a `brands` claim. A downgrade deletes nothing; from
/// then on the organization can only do what the new plan allows.
#[utoipa::path(
    operation_id = "update_any_organization",
    tag = "organization",
    security(("bearer" = ["platform:admin"])),
    params(OrganizationPath),
    request_body = OrganizationAdminUpdate,
    responses(
        (status = 200, description = "The updated organization.", body = Organization),
        OrganizationAuthErrors,
        BodyErrors,
        (status = 404, description = "No such organization."),
        (status = 422, description = "Invalid or unknown members.")
    )
)]
#[patch("/organizations/{organization_id}")]
pub async fn update_any_organization(
    state: web::Data<AppState>,
    caller: PlatformCaller,
    path: web::Path<OrganizationPath>,
    body: Json<OrganizationAdminUpdate>,
) -> Result<web::Json<Organization>, Error> {
    let principal = caller.0;
    principal.require(Scope::PlatformAdmin)?;
    principal.require_whole_organization()?;
    let body = body.0;
    let row = organizations::update_any(
        &state,
        &path.into_inner().organization_id(),
        &principal.subject,
        AdminUpdate {
            name: body.name,
            plan: body.plan,
        },
    )
    .await?;
    Ok(web::Json(row.try_into()?))
}
