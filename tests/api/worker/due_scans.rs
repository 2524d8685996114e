//! The worker's scans for due and unscheduled credentials are index scans.

use diesel::prelude::*;

use crate::helpers::TestApp;
use crate::on_both_backends;

#[derive(QueryableByName)]
struct SqlitePlan {
    #[diesel(sql_type = diesel::sql_types::Text)]
    detail: String,
}

#[derive(QueryableByName)]
struct PgPlan {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The worker's scans (the SQL of `claim_due` and `list_unscheduled`) are
/// index scans on `credentials_due`, whatever the table's size.
async fn the_due_scans_use_the_index(app: TestApp) {
    let plans = tokenwarden::db::run(app.pool(), |conn| {
        let due = "SELECT id FROM credentials WHERE next_refresh_at <= '2030-01-01 00:00:00' \
                   AND (lease_owner IS NULL OR lease_expires_at < '2030-01-01 00:00:00') \
                   ORDER BY next_refresh_at ASC LIMIT 100";
        let unscheduled = "SELECT id FROM credentials WHERE next_refresh_at IS NULL LIMIT 100";
        let mut plans = Vec::new();
        for query in [due, unscheduled] {
            let plan = match conn {
                tokenwarden::db::DbConnection::Sqlite(c) => {
                    diesel::sql_query(format!("EXPLAIN QUERY PLAN {query}"))
                        .load::<SqlitePlan>(c)?
                        .into_iter()
                        .map(|p| p.detail)
                        .collect::<Vec<_>>()
                }
                tokenwarden::db::DbConnection::Postgresql(c) => {
                    // An empty table makes any plan cheap: forbid the
                    // sequential scan to see whether the index serves it.
                    diesel::sql_query("SET enable_seqscan = off").execute(c)?;
                    let plan = diesel::sql_query(format!("EXPLAIN {query}"))
                        .load::<PgPlan>(c)?
                        .into_iter()
                        .map(|p| p.line)
                        .collect();
                    diesel::sql_query("RESET enable_seqscan").execute(c)?;
                    plan
                }
            };
            plans.push(plan.join("\n"));
        }
        Ok(plans)
    })
    .await
    .unwrap();
    for plan in plans {
        assert!(plan.contains("credentials_due"), "{plan}");
        assert!(!plan.contains("Seq Scan"), "{plan}");
        assert!(!plan.contains("SCAN credentials"), "{plan}");
    }
}

on_both_backends!(the_due_scans_use_the_index);
