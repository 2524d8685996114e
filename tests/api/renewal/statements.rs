//! A renewal that reaches every brand of a profile makes as many SQL
//! statements for five brands as for two: one `UPDATE` for the accounts and
//! one multi-row `INSERT` for their audit events, whatever their number. So
//! does the first renewal that consolidates the brands' own credentials onto
//! one: their rows are read, deleted and judged for revocation in a fixed
//! number of statements, whatever their number (a thousand brands' too).
//! Counted with diesel's instrumentation, per database file.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use serde_json::Value;

use super::{brand_in, connect_in, expire_all, renew, set_plan};
use crate::helpers::{ALL_SCOPES, Backend, TestApp};

/// Statements started, by the database each connection was opened on.
fn started() -> &'static Mutex<HashMap<String, usize>> {
    static STARTED: OnceLock<Mutex<HashMap<String, usize>>> = OnceLock::new();
    STARTED.get_or_init(Mutex::default)
}

/// Counts the statements of one connection under its database's name.
struct Counter {
    database: Option<String>,
}

impl Instrumentation for Counter {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.database = Some(url.to_string());
            }
            InstrumentationEvent::StartQuery { .. } => {
                if let Some(database) = &self.database {
                    *started()
                        .lock()
                        .unwrap()
                        .entry(database.clone())
                        .or_default() += 1;
                }
            }
            _ => {}
        }
    }
}

fn counted(app: &TestApp) -> usize {
    let file = app.sqlite_file().unwrap().display().to_string();
    started()
        .lock()
        .unwrap()
        .iter()
        .filter(|(database, _)| database.contains(&file))
        .map(|(_, n)| n)
        .sum()
}

/// How the profile's accounts hold their grants before the renewal.
#[derive(Clone, Copy)]
enum Before {
    /// One grant, shared by every brand (connected on the Advanced plan).
    Shared,
    /// Each brand its own grant (connected on Starter, which does not
    /// propagate), the plan raised to Advanced before the renewal.
    OwnPerBrand,
}

/// The statements of renewing a profile enabled in `brands` brands, and the
/// profile's credentials afterwards.
async fn statements_of_a_renewal(brands: usize, before: Before) -> (usize, Value, usize) {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter { database: None })))
        .unwrap();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (org, token) = match before {
        Before::Shared => (app.org_id.clone(), app.admin_token()),
        Before::OwnPerBrand => {
            let org = app.create_org("Consolidating", "starter").await;
            let token = app.token(&org, ALL_SCOPES);
            (org, token)
        }
    };
    let mut accounts = Vec::new();
    for i in 0..brands {
        let brand = brand_in(&app, &token, &format!("Brand {i}")).await;
        accounts.push((
            brand.clone(),
            connect_in(&app, &token, &brand, "sandbox-alice").await,
        ));
    }
    if let Before::OwnPerBrand = before {
        assert_eq!(
            credentials_of(&app, &org),
            brands,
            "each brand its own grant"
        );
        set_plan(&app, &org, "advanced").await;
    }
    expire_all(&app);
    let (brand, account) = &accounts[0];

    let before = counted(&app);
    let body: Value = renew(&app, &token, brand, account)
        .await
        .json()
        .await
        .unwrap();
    (counted(&app) - before, body, credentials_of(&app, &org))
}

/// How many credentials the organization stores.
fn credentials_of(app: &TestApp, org: &str) -> usize {
    use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
    use tokenwarden::db::schema::credentials;
    let mut conn = app.pool().get().unwrap();
    let count: i64 = credentials::table
        .filter(credentials::organization_id.eq(org))
        .count()
        .get_result(&mut conn)
        .unwrap();
    usize::try_from(count).unwrap()
}

fn propagated(body: &Value) -> usize {
    body["propagation"]["renewed"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_reaching_five_brands_makes_the_statements_of_one_reaching_two() {
    // Arrange + Act
    let (two, renewed_two, _) = statements_of_a_renewal(2, Before::Shared).await;
    let (five, renewed_five, _) = statements_of_a_renewal(5, Before::Shared).await;

    // Assert: both renewed and reached every other brand, in as many statements.
    assert_eq!(renewed_two["outcome"], "renewed", "{renewed_two}");
    assert_eq!(renewed_five["outcome"], "renewed", "{renewed_five}");
    assert_eq!(propagated(&renewed_two), 1);
    assert_eq!(propagated(&renewed_five), 4);
    assert!(two > 0, "statements were counted");
    assert_eq!(two, five, "statements for 2 brands vs 5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_consolidating_brands_own_grants_makes_four_statements_more_whatever_their_number()
 {
    // Arrange + Act
    let (shared, _, _) = statements_of_a_renewal(5, Before::Shared).await;
    let (two, renewed_two, left_two) = statements_of_a_renewal(2, Before::OwnPerBrand).await;
    let (five, renewed_five, left_five) = statements_of_a_renewal(5, Before::OwnPerBrand).await;

    // Assert: every brand moved onto the renewed grant, the others' grants
    // deleted, in as many statements for four left-over grants as for one:
    // those of a renewal whose brands already shared the grant, and four
    // more (moving the accounts, deleting the left-over rows, reading their
    // profile, reading what is stored of its identity), whatever the number
    // of brands.
    assert_eq!(renewed_two["outcome"], "renewed", "{renewed_two}");
    assert_eq!(renewed_five["outcome"], "renewed", "{renewed_five}");
    assert_eq!(propagated(&renewed_two), 1);
    assert_eq!(propagated(&renewed_five), 4);
    assert_eq!((left_two, left_five), (1, 1), "one grant left");
    assert_eq!(two, five, "statements for 2 own grants vs 5");
    assert_eq!(
        five,
        shared + 4,
        "statements of a consolidation vs a shared renewal"
    );
}
