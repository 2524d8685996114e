//! Organizations: the caller's own, and the billing system's view across
//! tenants (creating them and changing their plan).
//!
//! Every change is audited and read back in the transaction that made it, so
//! the answer is the organization as that change left it.

use crate::db::audit::{Audit, insert_audit_event};
use crate::db::{self, DbConnection, models};
use crate::domain::audit::AuditAction;
use crate::domain::ids::OrganizationId;
use crate::domain::plan::Plan;
use crate::domain::to_db_time;
use crate::error::{Error, Result};
use crate::state::AppState;

/// The warning window of an organization created without one, in days.
pub const DEFAULT_WARNING_WINDOW_DAYS: i32 = 7;

/// The organization, or 404.
fn find(conn: &mut DbConnection, id: &OrganizationId) -> Result<models::Organization> {
    db::organizations::find_organization(conn, id)?.ok_or_else(|| not_found(id))
}

fn not_found(id: &OrganizationId) -> Error {
    Error::NotFound(format!("no organization with id {id}"))
}

/// One organization.
pub async fn get(state: &AppState, id: &OrganizationId) -> Result<models::Organization> {
    let id = id.clone();
    db::run(&state.pool, move |conn| find(conn, &id)).await
}

/// What an organization may change of itself. Absent members stay as they are.
#[derive(Debug, Default)]
pub struct Update {
    pub name: Option<String>,
    pub warning_window_days: Option<i32>,
}

/// Changes the organization's name or warning window.
pub async fn update(
    state: &AppState,
    id: &OrganizationId,
    actor: &str,
    update: Update,
) -> Result<models::Organization> {
    let now = state.now();
    let changes = models::OrganizationChanges {
        name: update.name,
        plan: None,
        warning_window_days: update.warning_window_days,
        updated_at: Some(to_db_time(now)),
    };
    let (id, actor) = (id.clone(), actor.to_string());
    db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            if !db::organizations::update_organization(conn, &id, &changes)? {
                return Err(not_found(&id));
            }
            insert_audit_event(
                conn,
                Audit {
                    detail: Some(serde_json::json!({
                        "name": changes.name,
                        "warning_window_days": changes.warning_window_days,
                    })),
                    ..Audit::new(&id, &actor, AuditAction::OrganizationUpdated)
                },
                now,
            )?;
            find(conn, &id)
        })
    })
    .await
}

/// A new organization.
#[derive(Debug)]
pub struct NewOrganization {
    /// The id to use (e.g. the billing system's tenant id); generated when absent.
    pub id: Option<OrganizationId>,
    pub name: String,
    pub plan: Plan,
    /// [`DEFAULT_WARNING_WINDOW_DAYS`] when absent.
    pub warning_window_days: Option<i32>,
}

/// Creates an organization; an id already taken is a conflict.
pub async fn create(
    state: &AppState,
    actor: &str,
    new: NewOrganization,
) -> Result<models::Organization> {
    let now = state.now();
    let at = to_db_time(now);
    let row = models::Organization {
        id: new.id.unwrap_or_else(OrganizationId::new),
        name: new.name,
        plan: new.plan.as_str().to_string(),
        warning_window_days: new
            .warning_window_days
            .unwrap_or(DEFAULT_WARNING_WINDOW_DAYS),
        created_at: at,
        updated_at: at,
    };
    let who = actor.to_string();
    let organization = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            db::organizations::insert_organization(conn, &row).map_err(|e| match e {
                Error::Conflict(_) => {
                    Error::Conflict(format!("an organization with id {} exists", row.id))
                }
                other => other,
            })?;
            insert_audit_event(
                conn,
                Audit {
                    detail: Some(serde_json::json!({ "plan": row.plan, "name": row.name })),
                    ..Audit::new(&row.id, &who, AuditAction::OrganizationCreated)
                },
                now,
            )?;
            find(conn, &row.id)
        })
    })
    .await?;
    tracing::info!(organization = %organization.id, plan = %organization.plan,
        actor = %actor, "organization created");
    Ok(organization)
}

/// What the billing system may change of any organization.
#[derive(Debug, Default)]
pub struct AdminUpdate {
    pub name: Option<String>,
    pub plan: Option<Plan>,
}

/// Changes an organization's name or plan. A downgrade deletes nothing: what
/// the new plan does not allow is refused from then on, where it is checked.
pub async fn update_any(
    state: &AppState,
    id: &OrganizationId,
    actor: &str,
    update: AdminUpdate,
) -> Result<models::Organization> {
    let now = state.now();
    let changes = models::OrganizationChanges {
        name: update.name,
        plan: update.plan.map(|p| p.as_str().to_string()),
        warning_window_days: None,
        updated_at: Some(to_db_time(now)),
    };
    let (o, who) = (id.clone(), actor.to_string());
    let organization = db::run(&state.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            let before = find(conn, &o)?;
            db::organizations::update_organization(conn, &o, &changes)?;
            insert_audit_event(
                conn,
                Audit {
                    detail: Some(serde_json::json!({
                        "plan_before": before.plan,
                        "plan": changes.plan,
                        "name": changes.name,
                    })),
                    ..Audit::new(&o, &who, AuditAction::OrganizationPlanChanged)
                },
                now,
            )?;
            find(conn, &o)
        })
    })
    .await?;
    tracing::info!(organization = %organization.id, plan = %organization.plan,
        actor = %actor, "organization updated");
    Ok(organization)
}
