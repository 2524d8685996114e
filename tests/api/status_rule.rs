//! The token-status rule has two forms: `domain::token_status::compute` for
//! one account in Rust, and its SQL form that listings filter by. This holds
//! them equal over every stored status, expiry and `enabled` value.

use std::collections::BTreeSet;

use chrono::Duration;
use secrecy::SecretString;
use tokenwarden::db::accounts::AccountFilter;
use tokenwarden::db::credentials::{NewGrant, seal_new_credential};
use tokenwarden::db::models::{Account, Brand, Profile};
use tokenwarden::db::{self};
use tokenwarden::domain::ids::{AccountId, BrandId, ProfileId};
use tokenwarden::domain::token_status::{self, CredentialStatus, StoredState, TokenStatus};
use tokenwarden::domain::{new_id, now, to_db_time};

use crate::helpers::TestApp;
use crate::on_both_backends;

async fn the_sql_status_rule_equals_the_rust_rule(app: TestApp) {
    // Arrange: one account per (enabled, stored status, expiry).
    let (pool, keys, org) = (
        app.pool().clone(),
        app.parts.state.keys.clone(),
        crate::helpers::org_id(&app.org_id),
    );
    let at = now();
    let window = Duration::days(7);
    let expiries = [
        None,
        Some(at - Duration::minutes(1)),
        Some(at + Duration::days(1)),
        Some(at + Duration::days(30)),
    ];
    let (brand, expected) = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let stamp = to_db_time(at);
        let brand = Brand {
            id: BrandId::new(),
            organization_id: org.clone(),
            name: "Statuses".into(),
            created_at: stamp,
            updated_at: stamp,
        };
        db::brands::insert_brand(&mut conn, &brand).unwrap();
        let mut expected: Vec<(AccountId, TokenStatus)> = Vec::new();
        for enabled in [true, false] {
            for stored in CredentialStatus::ALL {
                for expires_at in expiries {
                    let profile = Profile {
                        id: ProfileId::new(),
                        organization_id: org.clone(),
                        network: "sandbox".into(),
                        external_id: new_id(),
                        handle: "@status".into(),
                        display_name: None,
                        avatar_url: None,
                        created_at: stamp,
                        updated_at: stamp,
                        kind: "person".into(),
                        manager_profile_id: None,
                        manager_external_id: None,
                        manager_name: None,
                    };
                    db::profiles::insert_profile(&mut conn, &profile).unwrap();
                    let mut credential = seal_new_credential(
                        &keys,
                        NewGrant {
                            organization_id: org.clone(),
                            profile_id: profile.id,
                            network: "sandbox".into(),
                            access_token: SecretString::from("access".to_string()),
                            refresh_token: None,
                            scopes: Vec::new(),
                            expires_at,
                            refresh_expires_at: None,
                        },
                        at,
                    );
                    credential.status = stored.as_str().into();
                    db::credentials::insert_credential(&mut conn, &credential).unwrap();
                    let account = Account {
                        id: AccountId::new(),
                        organization_id: org.clone(),
                        brand_id: brand.id,
                        profile_id: profile.id,
                        credential_id: Some(credential.id),
                        enabled,
                        connected_at: stamp,
                        last_renewed_at: None,
                        created_at: stamp,
                        updated_at: stamp,
                    };
                    db::accounts::insert_account(&mut conn, &account).unwrap();
                    let status = token_status::compute(
                        enabled,
                        StoredState {
                            status: Some(*stored),
                            expires_at,
                        },
                        at,
                        window,
                    );
                    expected.push((account.id, status));
                }
            }
        }
        (brand.id, expected)
    })
    .await
    .unwrap();

    for status in TokenStatus::ALL {
        // Act: the listing filtered by the SQL form of the rule.
        let (pool, org) = (app.pool().clone(), crate::helpers::org_id(&app.org_id));
        let listed: BTreeSet<AccountId> = tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            let filter = AccountFilter {
                brand_id: Some(brand),
                brands: None,
                network: None,
                statuses: vec![status],
                now: Some(to_db_time(at)),
                window_end: Some(to_db_time(at + window)),
            };
            db::accounts::list_accounts(&mut conn, &org, &filter, None, 1000)
                .unwrap()
                .into_iter()
                .map(|(account, _, _)| account.id)
                .collect()
        })
        .await
        .unwrap();

        // Assert: exactly the accounts the Rust rule gives this status.
        let computed: BTreeSet<AccountId> = expected
            .iter()
            .filter(|(_, s)| *s == status)
            .map(|(id, _)| *id)
            .collect();
        assert!(!computed.is_empty(), "{status:?} occurs in the matrix");
        assert_eq!(listed, computed, "{status:?}");
    }
}

on_both_backends!(the_sql_status_rule_equals_the_rust_rule);
