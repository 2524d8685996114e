//! `tokenwarden keys rotate`: re-seal every stored secret under the active key.
//!
//! Each row is updated only if its ciphertext is still the one that was read,
//! so a refresh that writes a new token at the same moment wins and is not
//! overwritten with the old one (its new ciphertext is already under the
//! active key). Rows are walked in id order in batches. A secret that does
//! not open (not its row's, or under a key missing from the ring) is left as
//! it is and named in the report, and the walk goes on.
//!
//! A credential's grant fingerprint is keyed by the active key too (see
//! `KeyRing::fingerprint`), so it is made again under the new key here,
//! guarded by the `version` it was read at. Until this runs, fingerprints
//! made under the old key count as stale and are made again when their
//! profile is next touched, so lookups stay right in between.

use diesel::prelude::*;

use super::DbConnection;
use super::credentials::{ACCESS_TOKEN_FIELD, REFRESH_TOKEN_FIELD, grant_fingerprint};
use super::schema::credentials::dsl as c;
use super::schema::oauth_states::dsl as s;
use super::schema::webhook_subscriptions::dsl as w;
use crate::crypto::{Binding, KeyRing};
use crate::error::Result;

pub const PKCE_VERIFIER_FIELD: &str = "pkce_verifier";

const BATCH: i64 = 200;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    pub resealed: u64,
    pub already_current: u64,
    /// Secrets that did not open, left as they are, each named with why
    /// (`credential {id} access_token: …`): a ciphertext that is not its
    /// row's (that credential is `reauth_required (undecryptable)` and
    /// waits for its owner's re-authorization), or a key missing from the
    /// ring. One such secret must not keep every other from the new key.
    pub skipped: Vec<String>,
}

impl RotationReport {
    /// Re-seals one secret with `write` (guarded by the ciphertext read),
    /// counting it, or names it in `skipped` when it does not open.
    fn reseal(
        &mut self,
        ring: &KeyRing,
        what: &str,
        (key_id, bytes, binding): (&str, &[u8], Binding<'_>),
        write: impl FnOnce(&crate::crypto::Sealed) -> Result<usize>,
    ) -> Result<()> {
        match ring.reseal(key_id, bytes, binding) {
            Ok(Some(sealed)) => {
                write(&sealed)?;
                self.resealed += 1;
            }
            Ok(None) => self.already_current += 1,
            Err(e) => {
                tracing::warn!(secret = %what, error = %e, "key rotation: a secret does not open; left under its key");
                self.skipped.push(format!("{what}: {e}"));
            }
        }
        Ok(())
    }
}

type SecretRow = (
    String,
    Vec<u8>,
    String,
    Option<Vec<u8>>,
    Option<String>,
    i64,
);

pub fn rotate_all(conn: &mut DbConnection, ring: &KeyRing) -> Result<RotationReport> {
    let active = ring.active_key_id().to_string();
    let mut report = RotationReport::default();
    rotate_credentials(conn, ring, &mut report)?;
    rotate_oauth_states(conn, ring, &mut report)?;
    rotate_webhook_secrets(conn, ring, &mut report)?;
    tracing::info!(
        active_key = %active,
        resealed = report.resealed,
        already_current = report.already_current,
        skipped = report.skipped.len(),
        "key rotation finished"
    );
    Ok(report)
}

/// Credentials' access and refresh tokens, each guarded by the ciphertext
/// that was read, and the grant fingerprint refreshed under the active key.
fn rotate_credentials(
    conn: &mut DbConnection,
    ring: &KeyRing,
    report: &mut RotationReport,
) -> Result<()> {
    let mut after = String::new();
    loop {
        let rows: Vec<SecretRow> = c::credentials
            .filter(c::id.gt(&after))
            .order(c::id.asc())
            .limit(BATCH)
            .select((
                c::id,
                c::access_token,
                c::access_token_key_id,
                c::refresh_token,
                c::refresh_token_key_id,
                c::version,
            ))
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, access, access_key, refresh, refresh_key, version) in rows {
            let binding = |field| Binding {
                record_id: &id,
                field,
            };
            let open = |key_id: &str, bytes: &[u8], field| {
                ring.decrypt_secret(key_id, bytes, binding(field)).ok()
            };
            // The fingerprint needs both tokens; a row that does not open
            // keeps its own, which no lookup matches once it is stale.
            let access_token = open(&access_key, &access, ACCESS_TOKEN_FIELD);
            let refresh_token = match (&refresh, &refresh_key) {
                (Some(bytes), Some(key_id)) => open(key_id, bytes, REFRESH_TOKEN_FIELD).map(Some),
                _ => Some(None),
            };
            if let (Some(access_token), Some(refresh_token)) = (access_token, refresh_token) {
                let fingerprint = grant_fingerprint(ring, &access_token, refresh_token.as_ref());
                diesel::update(
                    c::credentials
                        .filter(c::id.eq(&id))
                        .filter(c::version.eq(version)),
                )
                .set((
                    c::token_fingerprint.eq(Some(&fingerprint)),
                    c::fingerprint_version.eq(Some(version)),
                ))
                .execute(conn)?;
            }
            report.reseal(
                ring,
                &format!("credential {id} {ACCESS_TOKEN_FIELD}"),
                (&access_key, &access, binding(ACCESS_TOKEN_FIELD)),
                |sealed| {
                    Ok(diesel::update(
                        c::credentials
                            .filter(c::id.eq(&id))
                            .filter(c::access_token.eq(&access)),
                    )
                    .set((
                        c::access_token.eq(&sealed.bytes),
                        c::access_token_key_id.eq(&sealed.key_id),
                    ))
                    .execute(conn)?)
                },
            )?;
            if let (Some(bytes), Some(key_id)) = (refresh, refresh_key) {
                report.reseal(
                    ring,
                    &format!("credential {id} {REFRESH_TOKEN_FIELD}"),
                    (&key_id, &bytes, binding(REFRESH_TOKEN_FIELD)),
                    |sealed| {
                        Ok(diesel::update(
                            c::credentials
                                .filter(c::id.eq(&id))
                                .filter(c::refresh_token.eq(&bytes)),
                        )
                        .set((
                            c::refresh_token.eq(&sealed.bytes),
                            c::refresh_token_key_id.eq(&sealed.key_id),
                        ))
                        .execute(conn)?)
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// The PKCE verifiers of OAuth flows in progress.
fn rotate_oauth_states(
    conn: &mut DbConnection,
    ring: &KeyRing,
    report: &mut RotationReport,
) -> Result<()> {
    let mut after = String::new();
    loop {
        let rows: Vec<(String, Vec<u8>, String)> = s::oauth_states
            .filter(s::id.gt(&after))
            .order(s::id.asc())
            .limit(BATCH)
            .select((s::id, s::pkce_verifier, s::pkce_verifier_key_id))
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, bytes, key_id) in rows {
            let binding = Binding {
                record_id: &id,
                field: PKCE_VERIFIER_FIELD,
            };
            report.reseal(
                ring,
                &format!("oauth state {id}"),
                (&key_id, &bytes, binding),
                |sealed| {
                    Ok(diesel::update(
                        s::oauth_states
                            .filter(s::id.eq(&id))
                            .filter(s::pkce_verifier.eq(&bytes)),
                    )
                    .set((
                        s::pkce_verifier.eq(&sealed.bytes),
                        s::pkce_verifier_key_id.eq(&sealed.key_id),
                    ))
                    .execute(conn)?)
                },
            )?;
        }
    }
    Ok(())
}

/// Webhook signing secrets (the current one and, during a rotation's
/// overlap, the previous one), each guarded by the ciphertext that was read.
fn rotate_webhook_secrets(
    conn: &mut DbConnection,
    ring: &KeyRing,
    report: &mut RotationReport,
) -> Result<()> {
    use super::webhooks::{PREVIOUS_SECRET_FIELD, SECRET_FIELD};
    let mut after = String::new();
    loop {
        type Row = (String, Vec<u8>, String, Option<Vec<u8>>, Option<String>);
        let rows: Vec<Row> = w::webhook_subscriptions
            .filter(w::id.gt(&after))
            .order(w::id.asc())
            .limit(BATCH)
            .select((
                w::id,
                w::secret,
                w::secret_key_id,
                w::previous_secret,
                w::previous_secret_key_id,
            ))
            .load(conn)?;
        let Some(last) = rows.last() else { break };
        after = last.0.clone();
        for (id, secret, key_id, previous, previous_key_id) in rows {
            let binding = |field| Binding {
                record_id: &id,
                field,
            };
            report.reseal(
                ring,
                &format!("webhook subscription {id} {SECRET_FIELD}"),
                (&key_id, &secret, binding(SECRET_FIELD)),
                |sealed| {
                    Ok(diesel::update(
                        w::webhook_subscriptions
                            .filter(w::id.eq(&id))
                            .filter(w::secret.eq(&secret)),
                    )
                    .set((
                        w::secret.eq(&sealed.bytes),
                        w::secret_key_id.eq(&sealed.key_id),
                    ))
                    .execute(conn)?)
                },
            )?;
            if let (Some(bytes), Some(key_id)) = (previous, previous_key_id) {
                report.reseal(
                    ring,
                    &format!("webhook subscription {id} {PREVIOUS_SECRET_FIELD}"),
                    (&key_id, &bytes, binding(PREVIOUS_SECRET_FIELD)),
                    |sealed| {
                        Ok(diesel::update(
                            w::webhook_subscriptions
                                .filter(w::id.eq(&id))
                                .filter(w::previous_secret.eq(&bytes)),
                        )
                        .set((
                            w::previous_secret.eq(Some(&sealed.bytes)),
                            w::previous_secret_key_id.eq(Some(&sealed.key_id)),
                        ))
                        .execute(conn)?)
                    },
                )?;
            }
        }
    }
    Ok(())
}

/// How many stored secrets are sealed under a key other than the active one.
pub fn count_not_under(conn: &mut DbConnection, key_id: &str) -> Result<i64> {
    let access: i64 = c::credentials
        .filter(c::access_token_key_id.ne(key_id))
        .count()
        .get_result(conn)?;
    let refresh: i64 = c::credentials
        .filter(c::refresh_token_key_id.is_not_null())
        .filter(c::refresh_token_key_id.ne(key_id))
        .count()
        .get_result(conn)?;
    let states: i64 = s::oauth_states
        .filter(s::pkce_verifier_key_id.ne(key_id))
        .count()
        .get_result(conn)?;
    let webhook_secrets: i64 = w::webhook_subscriptions
        .filter(w::secret_key_id.ne(key_id))
        .count()
        .get_result(conn)?;
    let previous_webhook_secrets: i64 = w::webhook_subscriptions
        .filter(w::previous_secret_key_id.is_not_null())
        .filter(w::previous_secret_key_id.ne(key_id))
        .count()
        .get_result(conn)?;
    Ok(access + refresh + states + webhook_secrets + previous_webhook_secrets)
}
