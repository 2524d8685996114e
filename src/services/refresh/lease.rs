//! The credential's lease: who may refresh it now, timed by the database's
//! clock, which every instance shares (docs/rules.md#single-flight-refresh).
//! A refresh that takes it holds a [`LeaseGuard`] until it ends.

use crate::domain::ids::CredentialId;
use std::time::Duration;

use crate::db::models::Credential;
use crate::db::{self, DbConnection, credentials as creds};
use crate::domain::new_id;
use crate::error::Error;
use crate::services::grants::sweep_if_unused;
use crate::services::revoke_later;
use crate::state::AppState;

/// The result of a caller's first trip: whether it took the lease, and the
/// row as read after trying.
#[derive(Debug)]
pub struct Claim {
    pub taken: bool,
    pub row: Box<Credential>,
}

/// A lease owner's name: this process and this attempt.
pub fn new_owner(app: &AppState) -> String {
    format!("{}:{}", app.instance_id, new_id())
}

/// How long a refresh may hold its credential's lease.
pub fn lease_length(app: &AppState) -> chrono::Duration {
    let lease = app.settings.outbound.request_timeout * 2 + Duration::from_secs(5);
    chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60))
}

/// The lease length in whole seconds (rounded up), as the database's clock
/// counts it.
pub(super) fn lease_seconds(app: &AppState) -> i64 {
    let length = lease_length(app);
    length.num_seconds() + i64::from(length.subsec_nanos() > 0)
}

/// Tries to take the credential's lease for `owner`, then reads the row.
/// Runs inside the caller's trip to the pool. The lease is timed by the
/// database's clock, which every instance shares.
pub fn claim(
    conn: &mut DbConnection,
    app: &AppState,
    credential_id: CredentialId,
    owner: &str,
) -> Result<Claim, Error> {
    let taken = creds::take_lease(conn, credential_id, owner, lease_seconds(app))?;
    let row = creds::find_credential_by_id(conn, credential_id)?
        .ok_or_else(|| Error::NotFound(format!("no credential {credential_id}")))?;
    Ok(Claim {
        taken,
        row: Box::new(row),
    })
}

/// Ends this caller's lease without storing a grant. A credential that
/// changes of its profile left unused while the lease was held (they leave it
/// to its refresh) goes now, judged like every orphan.
pub(super) async fn release(app: &AppState, id: CredentialId, owner: &str) -> Result<(), Error> {
    let (o, keys) = (owner.to_string(), app.keys.clone());
    let orphans = db::run(&app.pool, move |conn| {
        db::write_transaction(conn, |conn| {
            creds::release_lease(conn, id, &o)?;
            sweep_if_unused(conn, &keys, id)
        })
    })
    .await?;
    revoke_later(app, orphans);
    Ok(())
}

/// The lease a leading refresh holds, from the claim that took it to the
/// refresh's end. Every way a refresh ends consumes it: [`LeaseGuard::release`]
/// when nothing was stored, [`LeaseGuard::cleared`] after a write that
/// cleared the lease in its own statement (a stored grant, a recorded
/// failure, a grant found dead).
///
/// Releasing is a database write, which `Drop` cannot await; so the two
/// endings are explicit, and a guard dropped without one (an error returned
/// early with `?`, a panic) releases the lease from a task it spawns, and
/// logs. That release is only the conditional `UPDATE … WHERE lease_owner =
/// owner`: a no-op when the lease already ended or was lost, and no sweep of
/// the credential, whose grant may still wait in the journal.
#[must_use = "a lease is ended by release() or cleared(); dropped, it is released in the background"]
pub(super) struct LeaseGuard {
    app: AppState,
    credential_id: CredentialId,
    owner: String,
    ended: bool,
}

impl LeaseGuard {
    /// The lease `owner` took on the credential.
    pub(super) fn new(app: &AppState, credential_id: CredentialId, owner: &str) -> Self {
        Self {
            app: app.clone(),
            credential_id,
            owner: owner.to_string(),
            ended: false,
        }
    }

    pub(super) fn owner(&self) -> &str {
        &self.owner
    }

    /// Ends the lease without storing a grant (see [`release`]).
    pub(super) async fn release(mut self) -> Result<(), Error> {
        // Ended even when the write fails: the lease then runs out by the
        // database's clock, as before the guard.
        self.ended = true;
        release(&self.app, self.credential_id, &self.owner).await
    }

    /// A write of this refresh cleared the lease with what it stored.
    pub(super) fn cleared(mut self) {
        self.ended = true;
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        let (id, owner) = (self.credential_id, std::mem::take(&mut self.owner));
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!(credential = %id,
                "a refresh ended without settling its lease and there is no runtime to release it; it runs out by the database's clock");
            return;
        };
        tracing::warn!(credential = %id,
            "a refresh ended on an error before settling its lease; releasing it if still held");
        let pool = self.app.pool.clone();
        runtime.spawn(async move {
            let released = db::run(&pool, move |conn| creds::release_lease(conn, id, &owner)).await;
            if let Err(error) = released {
                tracing::warn!(credential = %id, %error,
                    "releasing the lease failed; it runs out by the database's clock");
            }
        });
    }
}
