//! How a stored grant is recognized: by a keyed fingerprint of its refresh
//! token (its access token without one), never the plaintext, kept valid
//! across key rotation and for rows stored before fingerprints existed.

use diesel::{ExpressionMethods, QueryDsl, RunQueryDsl};
use secrecy::{ExposeSecret, SecretString};
use tokenwarden::crypto::KeyRing;
use tokenwarden::db::{self, schema::credentials};

use super::{id, import, sandbox_grant, stored_grants};
use crate::helpers::TestApp;
use crate::on_both_backends;

on_both_backends!(
    key_rotation_keeps_stored_grants_recognizable,
    a_grant_stored_before_fingerprints_existed_is_recognized,
);

async fn key_rotation_keeps_stored_grants_recognizable(app: TestApp) {
    // Arrange: a grant imported under the instance's key.
    let token = app.admin_token();
    let pair = sandbox_grant(&app, "sandbox-alice").await;
    let north = app.new_brand("North").await;
    let account = id(&import(&app, &token, &north, &pair).await);
    let credential = stored_grants(&app).await.0[&account].clone().unwrap();
    let credential: tokenwarden::domain::ids::CredentialId = crate::helpers::id(&credential);
    let (org, spec) = (
        crate::helpers::org_id(&app.org_id),
        app.settings.encryption_keys.clone().unwrap(),
    );
    db::run(app.pool(), move |conn| {
        let old = KeyRing::parse(&spec).unwrap();
        let refresh = SecretString::from(pair.1.clone());
        let row = db::credentials::find_credential_by_id(conn, credential)?.unwrap();
        let fingerprint = row.token_fingerprint.clone().unwrap();
        assert_eq!(fingerprint, old.fingerprint(&refresh));
        assert!(fingerprint.starts_with(&format!("{}:", old.active_key_id())));
        assert!(!fingerprint.contains(pair.0.as_str()) && !fingerprint.contains(pair.1.as_str()));

        // Act: a new key goes first, and `keys rotate` runs.
        let both = KeyRing::parse(&SecretString::from(format!(
            "k-next:{},{}",
            "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
            spec.expose_secret()
        )))
        .unwrap();
        let under_new = both.fingerprint(&refresh);
        let before = db::credentials::find_credential_by_fingerprint(
            conn,
            &org,
            row.profile_id,
            &under_new,
        )?;
        db::rotation::rotate_all(conn, &both)?;

        // Assert: the fingerprint was made again under the new key; the grant is found by it.
        assert!(
            before.is_none(),
            "a fingerprint under the old key is not compared"
        );
        let after = db::credentials::find_credential_by_id(conn, credential)?.unwrap();
        assert_eq!(after.token_fingerprint.as_deref(), Some(under_new.as_str()));
        assert_eq!(after.fingerprint_version, Some(after.version));
        let found = db::credentials::find_credential_by_fingerprint(
            conn,
            &org,
            row.profile_id,
            &under_new,
        )?;
        assert_eq!(found.map(|c| c.id), Some(credential));
        Ok(())
    })
    .await
    .unwrap();
}

async fn a_grant_stored_before_fingerprints_existed_is_recognized(app: TestApp) {
    // Arrange: a grant as stored before the fingerprint column existed (a row
    // no passing of time produces, so it is written).
    let token = app.admin_token();
    let pair = sandbox_grant(&app, "sandbox-bob").await;
    let (north, harbor) = (app.new_brand("North").await, app.new_brand("Harbor").await);
    let first = id(&import(&app, &token, &north, &pair).await);
    db::run(app.pool(), |conn| {
        diesel::update(credentials::table)
            .set((
                credentials::token_fingerprint.eq(None::<String>),
                credentials::fingerprint_version.eq(None::<i64>),
            ))
            .execute(conn)?;
        Ok(())
    })
    .await
    .unwrap();

    // Act: the same grant imported into another brand.
    let second = id(&import(&app, &token, &harbor, &pair).await);

    // Assert: one credential, now fingerprinted; nothing revoked.
    assert_eq!(app.counts().await, (1, 2, 1));
    let (accounts, _) = stored_grants(&app).await;
    assert_eq!(accounts[&first], accounts[&second]);
    let fingerprints: Vec<Option<String>> = db::run(app.pool(), |conn| {
        Ok(credentials::table
            .select(credentials::token_fingerprint)
            .load(conn)?)
    })
    .await
    .unwrap();
    assert!(fingerprints.iter().all(Option::is_some));
    app.revocations_settled().await;
    assert_eq!(app.sandbox().calls().revoke, 0);
    app.revocations_settled().await;
    assert_eq!(app.sandbox().live_grants("sandbox-bob"), 1);
}
