//! What a polled read needs to be kept as a ready answer
//! (docs/rules.md#ready-answers): the organization's data version, read
//! before the data, and the next instant at which the clock alone changes
//! what the data shows. An answer kept under a version is never older than
//! the data of that version (the version is read first), and is let go when
//! the version moves or the clock reaches that instant.

use crate::domain::ids::OrganizationId;
use chrono::{DateTime, Utc};

use super::account_view::{find_organization, window_of};
use crate::db::{self, DbConnection, models::Organization};
use crate::domain::{from_db_time, to_db_time};
use crate::error::{Error, Result};
use crate::state::AppState;

/// A read, the data version it was taken at, and until when the clock
/// leaves it true (`None`: no instant ahead changes it).
#[derive(Debug)]
pub struct Fresh<T> {
    pub value: T,
    pub version: i64,
    pub valid_until: Option<DateTime<Utc>>,
}

impl<T> Fresh<T> {
    /// The same read, shaped otherwise.
    pub fn try_map<U, E>(self, shape: impl FnOnce(T) -> Result<U, E>) -> Result<Fresh<U>, E> {
        Ok(Fresh {
            value: shape(self.value)?,
            version: self.version,
            valid_until: self.valid_until,
        })
    }
}

/// Whether an answer made of a read at `version`, true until `valid_until`,
/// is still the answer at `now` for an organization at data version `current`.
pub fn holds(
    version: i64,
    valid_until: Option<DateTime<Utc>>,
    current: i64,
    now: DateTime<Utc>,
) -> bool {
    version == current && valid_until.is_none_or(|until| now < until)
}

fn no_organization(org: &OrganizationId) -> Error {
    Error::NotFound(format!("no organization with id {org}"))
}

/// The organization's data version: one indexed read.
pub async fn data_version(state: &AppState, org: &OrganizationId) -> Result<i64> {
    let o = org.clone();
    db::run(&state.pool, move |conn| {
        db::organizations::find_data_version(conn, &o)?.ok_or_else(|| no_organization(&o))
    })
    .await
}

/// Runs `read` at `at` inside one trip: the data version first, then the
/// organization and the read, then the next clock edge.
pub fn read_fresh<T>(
    conn: &mut DbConnection,
    org: &OrganizationId,
    at: DateTime<Utc>,
    read: impl FnOnce(&mut DbConnection, &Organization) -> Result<T>,
) -> Result<Fresh<T>> {
    let version =
        db::organizations::find_data_version(conn, org)?.ok_or_else(|| no_organization(org))?;
    let organization = find_organization(conn, org)?;
    let value = read(conn, &organization)?;
    let edge =
        db::credentials::next_clock_edge(conn, org, to_db_time(at), window_of(&organization))?;
    Ok(Fresh {
        value,
        version,
        valid_until: edge.map(from_db_time),
    })
}
