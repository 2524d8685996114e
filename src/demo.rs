//! `tokenwarden demo`: seeded organizations and a printed guide whose every
//! line works as printed.

use std::path::Path;
use std::time::Duration;

use crate::auth::TokenMinter;
use crate::db::audit::{Audit, insert_audit_event};
use crate::db::{self, Pool, models};
use crate::domain::{new_id, now, to_db_time};

pub struct SeededOrg {
    pub id: String,
    pub name: String,
    pub plan: &'static str,
    pub brands: Vec<(String, String)>,
}

pub struct Seeded {
    pub advanced: SeededOrg,
    pub starter: SeededOrg,
}

fn seed_org(
    conn: &mut db::DbConnection,
    name: &str,
    plan: &'static str,
    brands: &[&str],
) -> Result<SeededOrg, crate::error::Error> {
    let at = to_db_time(now());
    let org = models::Organization {
        id: new_id(),
        name: name.into(),
        plan: plan.into(),
        warning_window_days: 7,
        created_at: at,
        updated_at: at,
    };
    db::organizations::insert_organization(conn, &org)?;
    insert_audit_event(
        conn,
        Audit {
            organization_id: &org.id,
            actor: "demo",
            action: "organization.created",
            outcome: "success",
            ..Default::default()
        },
    )?;
    let mut seeded = Vec::new();
    for brand in brands {
        let row = models::Brand {
            id: new_id(),
            organization_id: org.id.clone(),
            name: (*brand).into(),
            created_at: at,
            updated_at: at,
        };
        db::brands::insert_brand(conn, &row)?;
        seeded.push((row.id, row.name));
    }
    Ok(SeededOrg {
        id: org.id,
        name: org.name,
        plan,
        brands: seeded,
    })
}

pub fn seed(pool: &Pool) -> anyhow::Result<Seeded> {
    let mut conn = pool.get()?;
    db::write_transaction(&mut conn, |conn| {
        Ok(Seeded {
            advanced: seed_org(
                conn,
                "Acme Agency (Advanced)",
                "advanced",
                &["Northwind Coffee", "Blue Harbor Hotels", "Copperleaf Books"],
            )?,
            starter: seed_org(
                conn,
                "Pine Street Studio (Starter)",
                "starter",
                &["Pine Street Bakery", "Pine Street Florist"],
            )?,
        })
    })
    .map_err(|e| anyhow::anyhow!("seeding the demo: {e}"))
}

const DEMO_SCOPES: &str =
    "accounts:read accounts:write accounts:import tokens:renew tokens:read org:admin";

pub fn print_guide(base: &str, seeded: &Seeded, minter: &TokenMinter, dir: &Path) {
    let day = Duration::from_secs(24 * 3600);
    let advanced = minter.mint(&seeded.advanced.id, "demo-user", DEMO_SCOPES, day);
    let starter = minter.mint(&seeded.starter.id, "demo-user", DEMO_SCOPES, day);
    println!(
        "tokenwarden demo — serving {base} (data in {}; Ctrl-C stops and deletes it)\n",
        dir.display()
    );
    for (org, token, var) in [
        (&seeded.advanced, &advanced, "ADV"),
        (&seeded.starter, &starter, "START"),
    ] {
        println!(
            "# {} — plan {}, organization {}",
            org.name, org.plan, org.id
        );
        println!("export {var}='{token}'");
        for (id, name) in &org.brands {
            println!("#   brand {name}: {id}");
        }
        println!();
    }
    println!("# The organization, its plan and feature matrix:");
    println!("curl -s {base}/v1/organization -H \"Authorization: Bearer $ADV\"");
    println!("curl -s {base}/v1/organization -H \"Authorization: Bearer $START\"\n");
    println!("# Its brands:");
    println!("curl -s {base}/v1/brands -H \"Authorization: Bearer $ADV\"\n");
    println!("# Create a brand (the Starter plan allows 5):");
    println!(
        "curl -s -X POST {base}/v1/brands -H \"Authorization: Bearer $START\" -H 'Content-Type: application/json' -d '{{\"name\": \"Pine Street Café\"}}'\n"
    );
    println!("# The API document: {base}/docs (Swagger UI), {base}/openapi.json");
}
