//! Brands: the workspaces of an organization. Creating one is bounded by the
//! plan; names are unique within the organization; a brand that still has
//! accounts is not deleted.

use super::{Page, reach};
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::{self, models};
use crate::domain::audience::Audience;
use crate::domain::audit::AuditAction;
use crate::domain::ids::{BrandId, OrganizationId};
use crate::domain::pagination::split_page;
use crate::domain::plan::Plan;
use crate::domain::to_db_time;
use crate::error::{Error, Result};
use crate::state::AppState;

fn not_found(id: BrandId) -> Error {
    Error::NotFound(format!("no brand with id {id}"))
}

/// The database's unique-name conflict, told in the client's terms.
fn duplicate_name(name: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| match e {
        Error::Conflict(_) => Error::Conflict(format!("a brand named {name:?} already exists")),
        other => other,
    }
}

/// Refuses one brand more than the plan allows (a downgrade keeps the brands
/// an organization has; it only stops new ones), naming the cheapest plan
/// that would allow it.
fn check_brand_limit(plan: Plan, existing: u64) -> Result<()> {
    let wanted = existing.saturating_add(1);
    if plan.allows_brand_count(wanted) {
        return Ok(());
    }
    let required = Plan::cheapest_where(|p| p.allows_brand_count(wanted));
    Err(Error::PlanLimit {
        detail: format!(
            "the {plan} plan allows {} brand(s); {}",
            plan.features().max_brands.unwrap_or(u32::MAX),
            match required {
                Some(p) => format!("the {p} plan allows more"),
                None => "no plan allows more".into(),
            }
        ),
        required_plan: required,
    })
}

/// A page of the brands the audience reaches, in id order after `after`.
pub async fn list(
    state: &AppState,
    audience: &Audience,
    limit: u32,
    after: Option<String>,
) -> Result<Page<models::Brand>> {
    let audience = audience.clone();
    let rows = db::run(&state.pool, move |conn| {
        db::brands::list_brands(conn, &audience, after.as_deref(), i64::from(limit) + 1)
    })
    .await?;
    let (items, next_cursor) = split_page(rows, limit, |b| b.id.as_str());
    Ok(Page { items, next_cursor })
}

/// Creates a brand named `name` (already cleaned) if the plan allows one more.
pub async fn create(
    state: &AppState,
    org: &OrganizationId,
    actor: &str,
    name: String,
) -> Result<models::Brand> {
    let now = state.now();
    let at = to_db_time(now);
    let (org, actor) = (org.clone(), actor.to_string());
    db::run_write(&state.pool, move |conn| {
        let organization = db::organizations::find_organization(conn, &org)?
            .ok_or_else(|| Error::NotFound(format!("no organization with id {org}")))?;
        let count = u64::try_from(db::brands::count_brands(conn, &org)?).unwrap_or(u64::MAX);
        check_brand_limit(organization.plan()?, count)?;
        let row = models::Brand {
            id: BrandId::new(),
            organization_id: org.clone(),
            name: name.clone(),
            created_at: at,
            updated_at: at,
        };
        db::brands::insert_brand(conn, &row).map_err(duplicate_name(&name))?;
        insert_audit_event(
            conn,
            Audit {
                brand_id: Some(row.id),
                detail: Some(serde_json::json!({ "name": row.name })),
                ..Audit::new(&org, &actor, AuditAction::BrandCreated)
            },
            now,
        )?;
        Ok(row)
    })
    .await
}

/// One brand the audience reaches; another organization's is 404.
pub async fn get(state: &AppState, audience: &Audience, id: BrandId) -> Result<models::Brand> {
    reach(audience, id)?;
    let org = audience.organization_id().clone();
    db::run(&state.pool, move |conn| {
        db::brands::find_brand(conn, &org, id)?.ok_or_else(|| not_found(id))
    })
    .await
}

/// Renames a brand to `name` (already cleaned).
pub async fn rename(
    state: &AppState,
    audience: &Audience,
    id: BrandId,
    actor: &str,
    name: String,
) -> Result<models::Brand> {
    reach(audience, id)?;
    let now = state.now();
    let at = to_db_time(now);
    let (org, actor) = (audience.organization_id().clone(), actor.to_string());
    db::run_write(&state.pool, move |conn| {
        if !db::brands::rename_brand(conn, &org, id, &name, at).map_err(duplicate_name(&name))? {
            return Err(not_found(id));
        }
        insert_audit_event(
            conn,
            Audit {
                brand_id: Some(id),
                detail: Some(serde_json::json!({ "name": name })),
                ..Audit::new(&org, &actor, AuditAction::BrandRenamed)
            },
            now,
        )?;
        db::brands::find_brand(conn, &org, id)?.ok_or_else(|| not_found(id))
    })
    .await
}

/// Deletes a brand that has no accounts left. One that still has some is a
/// conflict: deleting it would drop grants without revoking them, so they
/// are disconnected (and revoked) first.
pub async fn delete(
    state: &AppState,
    org: &OrganizationId,
    id: BrandId,
    actor: &str,
) -> Result<()> {
    let now = state.now();
    let (org, actor, keys) = (org.clone(), actor.to_string(), state.keys.clone());
    let orphans = db::run_write(&state.pool, move |conn| {
        if db::brands::find_brand(conn, &org, id)?.is_none() {
            return Err(not_found(id));
        }
        let accounts = db::brands::count_accounts_of_brand(conn, &org, id)?;
        if accounts > 0 {
            return Err(Error::Conflict(format!(
                "the brand still has {accounts} account(s); disconnect them first"
            )));
        }
        // The brand's connections go with it; the grants they held then go
        // by the rules of unused grants (docs/rules.md#assets).
        let waiting = db::connections::list_connection_profiles_of_brand(conn, &org, id)?;
        db::brands::delete_brand(conn, &org, id)?;
        let mut orphans = Vec::new();
        for person in waiting {
            orphans.extend(super::grants::sweep_profile(conn, &keys, person)?);
        }
        insert_audit_event(
            conn,
            Audit {
                brand_id: Some(id),
                ..Audit::new(&org, &actor, AuditAction::BrandDeleted)
            },
            now,
        )?;
        Ok(orphans)
    })
    .await?;
    super::revoke_later(state, orphans);
    Ok(())
}
