//! A renewal that reaches every brand of a profile makes as many SQL
//! statements for five brands as for two: one `UPDATE` for the accounts and
//! one multi-row `INSERT` for their audit events, whatever their number.
//! Counted with diesel's instrumentation, per database file.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use serde_json::Value;

use super::{brand_in, connect_in, expire_all, renew};
use crate::helpers::{Backend, TestApp};

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

/// The statements of renewing a profile enabled in `brands` brands that
/// share its grant (an Advanced organization).
async fn statements_of_a_renewal(brands: usize) -> (usize, Value) {
    diesel::connection::set_default_instrumentation(|| Some(Box::new(Counter { database: None })))
        .unwrap();
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.admin_token();
    let mut accounts = Vec::new();
    for i in 0..brands {
        let brand = brand_in(&app, &token, &format!("Brand {i}")).await;
        accounts.push((
            brand.clone(),
            connect_in(&app, &token, &brand, "sandbox-alice").await,
        ));
    }
    expire_all(&app);
    let (brand, account) = &accounts[0];

    let before = counted(&app);
    let body: Value = renew(&app, &token, brand, account)
        .await
        .json()
        .await
        .unwrap();
    (counted(&app) - before, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_reaching_five_brands_makes_the_statements_of_one_reaching_two() {
    // Arrange + Act
    let (two, renewed_two) = statements_of_a_renewal(2).await;
    let (five, renewed_five) = statements_of_a_renewal(5).await;

    // Assert: both renewed and reached every other brand, in as many statements.
    assert_eq!(renewed_two["outcome"], "renewed", "{renewed_two}");
    assert_eq!(renewed_five["outcome"], "renewed", "{renewed_five}");
    assert_eq!(
        renewed_two["propagation"]["renewed"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        renewed_five["propagation"]["renewed"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert!(two > 0, "statements were counted");
    assert_eq!(two, five, "statements for 2 brands vs 5");
}
