//! Storage: both backends migrate from empty and answer alike; the backend
//! comes from the URL scheme only; secrets are sealed at rest; keys rotate.

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokenwarden::crypto::KeyRing;
use tokenwarden::db::credentials::{NewGrant, open_tokens, seal_new_credential};
use tokenwarden::db::models::Profile;
use tokenwarden::db::{self, DbConnection};
use tokenwarden::domain::ids::{CredentialId, ProfileId};
use tokenwarden::domain::{new_id, now, to_db_time};

use crate::helpers::{Backend, TestApp, assert_problem, postgres_enabled};
use crate::on_both_backends;

/// A scripted session; ids, times and request ids are replaced by
/// placeholders so two backends' transcripts can be compared.
async fn transcript(app: &TestApp) -> Vec<(u16, Value)> {
    let token = app.admin_token();
    let mut out = Vec::new();
    let mut record = |status: u16, body: Value| out.push((status, normalize(body)));
    for name in ["Alpha", "Beta", "Gamma"] {
        let r = app.create_brand(&token, name).await;
        record(r.status().as_u16(), r.json().await.unwrap());
    }
    let r = app.create_brand(&token, "Alpha").await;
    record(r.status().as_u16(), r.json().await.unwrap());
    let r = app.get("/v1/brands?limit=2").bearer(&token).send().await;
    let page: Value = r.json().await.unwrap();
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    record(200, page);
    let r = app
        .get(format!("/v1/brands?limit=2&cursor={cursor}"))
        .bearer(&token)
        .send()
        .await;
    record(r.status().as_u16(), r.json().await.unwrap());
    let r = app.get("/v1/organization").bearer(&token).send().await;
    record(r.status().as_u16(), r.json().await.unwrap());
    let r = app
        .get("/v1/brands/00000000-0000-0000-0000-000000000000")
        .bearer(&token)
        .send()
        .await;
    record(r.status().as_u16(), r.json().await.unwrap());
    out
}

fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "id" | "request_id" | "next_cursor" | "created_at" | "updated_at"
                            if !v.is_null() =>
                        {
                            json!(format!("<{k}>"))
                        }
                        _ => normalize(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::String(s) if s.contains(char::is_numeric) && uuid::Uuid::parse_str(&s).is_ok() => {
            json!("<uuid>")
        }
        other => other,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_migrate_from_empty_and_answer_alike() {
    let sqlite = TestApp::spawn(Backend::Sqlite).await;
    let sqlite_transcript = transcript(&sqlite).await;
    let statuses: Vec<u16> = sqlite_transcript.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses, vec![201, 201, 201, 409, 200, 200, 200, 404]);
    if !postgres_enabled() {
        eprintln!(
            "PostgreSQL half skipped: {} is not set",
            crate::helpers::PG_ENV
        );
        return;
    }
    let postgres = TestApp::spawn(Backend::Postgres).await;
    let postgres_transcript = transcript(&postgres).await;
    assert_eq!(sqlite_transcript, postgres_transcript);
}

#[test]
fn a_postgres_url_never_falls_back_to_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1: nothing listens there.
    let url = "postgres://postgres@127.0.0.1:1/tokenwarden";
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwarden"))
        .current_dir(dir.path())
        .args([
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--database-url",
            url,
            "migrate",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "cannot connect to Postgres database at postgres://postgres@127.0.0.1:1/tokenwarden"
        ),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no file may be created: {left:?}");

    // The library agrees, and unknown schemes are refused rather than guessed.
    let error = db::connect(url, &db::PoolOptions::default()).err().unwrap();
    assert!(matches!(
        error,
        db::SetupError::Connect {
            backend: db::Backend::Postgres,
            ..
        }
    ));
    for bad in ["mysql://localhost/x", "tokenwarden.db", "", "http://x"] {
        assert!(
            matches!(
                db::DatabaseTarget::parse(bad),
                Err(db::SetupError::UnsupportedScheme(_))
            ),
            "{bad}"
        );
    }
    assert_eq!(
        db::DatabaseTarget::parse("postgresql://h/x")
            .unwrap()
            .backend,
        db::Backend::Postgres
    );
    assert_eq!(
        db::DatabaseTarget::parse("sqlite://./x.db")
            .unwrap()
            .backend,
        db::Backend::Sqlite
    );
}

const SENTINEL_ACCESS: &str = "SENTINEL-ACCESS-7f3a9c2e51d84b06";
const SENTINEL_REFRESH: &str = "SENTINEL-REFRESH-0c9d8e7f6a5b4c3d";

/// Stores a profile and a credential holding `access`/`refresh`; returns the credential id.
fn store_credential(
    conn: &mut DbConnection,
    keys: &KeyRing,
    org: &str,
    access: &str,
    refresh: &str,
) -> CredentialId {
    let at = to_db_time(now());
    let profile = Profile {
        id: ProfileId::new(),
        organization_id: crate::helpers::org_id(org),
        network: "sandbox".into(),
        external_id: new_id(),
        handle: "@someone".into(),
        display_name: None,
        avatar_url: None,
        created_at: at,
        updated_at: at,
        kind: "person".into(),
        manager_profile_id: None,
        manager_external_id: None,
        manager_name: None,
    };
    db::profiles::insert_profile(conn, &profile).unwrap();
    let credential = seal_new_credential(
        keys,
        NewGrant {
            organization_id: crate::helpers::org_id(org),
            profile_id: profile.id,
            network: "sandbox".into(),
            access_token: SecretString::from(access.to_string()),
            refresh_token: Some(SecretString::from(refresh.to_string())),
            scopes: vec!["read".into()],
            expires_at: Some(now() + chrono::Duration::hours(1)),
            refresh_expires_at: None,
        },
        now(),
    );
    db::credentials::insert_credential(conn, &credential).unwrap();
    credential.id
}

async fn stored_secrets_are_not_plaintext(app: TestApp) {
    let org = app.org_id.clone();
    let pool = app.pool().clone();
    let keys = app.parts.state.keys.clone();
    let (id, raw) = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let id = store_credential(&mut conn, &keys, &org, SENTINEL_ACCESS, SENTINEL_REFRESH);
        let row = db::credentials::find_credential(&mut conn, &crate::helpers::org_id(&org), id)
            .unwrap()
            .unwrap();
        // Readable through the key ring.
        let (access, refresh) = open_tokens(&keys, &row).unwrap();
        assert_eq!(access.expose_secret(), SENTINEL_ACCESS);
        assert_eq!(refresh.unwrap().expose_secret(), SENTINEL_REFRESH);
        let mut raw = row.access_token.clone();
        raw.extend(row.refresh_token.clone().unwrap());
        (id, raw)
    })
    .await
    .unwrap();
    assert!(!contains(&raw, SENTINEL_ACCESS.as_bytes()));
    assert!(!contains(&raw, SENTINEL_REFRESH.as_bytes()));
    assert!(!id.as_str().is_empty());

    if let Some(file) = app.sqlite_file() {
        // Every byte SQLite wrote: the database file and its write-ahead log.
        let mut bytes = std::fs::read(&file).unwrap();
        bytes.extend(std::fs::read(file.with_extension("db-wal")).unwrap_or_default());
        assert!(bytes.len() > 4096);
        assert!(!contains(&bytes, SENTINEL_ACCESS.as_bytes()));
        assert!(!contains(&bytes, SENTINEL_REFRESH.as_bytes()));
        assert!(!contains(&bytes, b"SENTINEL-"));
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn key_rotation_leaves_every_secret_readable_and_none_under_old_keys(app: TestApp) {
    let org = app.org_id.clone();
    let pool = app.pool().clone();
    let old_ring_spec = app.settings.encryption_keys.clone().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let old = KeyRing::parse(&old_ring_spec).unwrap();
        let ids: Vec<CredentialId> = (0..5)
            .map(|i| {
                store_credential(
                    &mut conn,
                    &old,
                    &org,
                    &format!("access-{i}"),
                    &format!("refresh-{i}"),
                )
            })
            .collect();
        assert_eq!(
            db::rotation::count_not_under(&mut conn, old.active_key_id()).unwrap(),
            0
        );

        // A new key goes first; the old one stays to decrypt.
        let new_entry = SecretString::from(format!("k-next:{}", {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode([7u8; 32])
        }));
        let both = KeyRing::parse(&SecretString::from(format!(
            "{},{}",
            new_entry.expose_secret(),
            old_ring_spec.expose_secret()
        )))
        .unwrap();
        assert_eq!(
            db::rotation::count_not_under(&mut conn, "k-next").unwrap(),
            10
        );
        let report = db::rotation::rotate_all(&mut conn, &both).unwrap();
        assert_eq!(report.resealed, 10);
        assert_eq!(
            db::rotation::count_not_under(&mut conn, "k-next").unwrap(),
            0
        );
        // Running it again finds nothing to do.
        let again = db::rotation::rotate_all(&mut conn, &both).unwrap();
        assert_eq!((again.resealed, again.already_current), (0, 10));

        // The new key alone reads every secret.
        let only_new = KeyRing::parse(&new_entry).unwrap();
        for (i, id) in ids.iter().enumerate() {
            let row =
                db::credentials::find_credential(&mut conn, &crate::helpers::org_id(&org), *id)
                    .unwrap()
                    .unwrap();
            assert_eq!(row.access_token_key_id, "k-next");
            let (access, refresh) = open_tokens(&only_new, &row).unwrap();
            assert_eq!(access.expose_secret(), &format!("access-{i}"));
            assert_eq!(refresh.unwrap().expose_secret(), &format!("refresh-{i}"));
            // And the old key alone no longer can.
            assert!(open_tokens(&old, &row).is_err());
        }
    })
    .await
    .unwrap();
}

async fn another_organizations_credential_is_invisible(app: TestApp) {
    let other = app.create_org("Other", "starter").await;
    let pool = app.pool().clone();
    let keys = app.parts.state.keys.clone();
    let mine = app.org_id.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let id = store_credential(&mut conn, &keys, &other, "a", "r");
        assert!(
            db::credentials::find_credential(&mut conn, &crate::helpers::org_id(&mine), id)
                .unwrap()
                .is_none()
        );
        assert!(
            db::credentials::find_credential(&mut conn, &crate::helpers::org_id(&other), id)
                .unwrap()
                .is_some()
        );
    })
    .await
    .unwrap();
    // And the API's 404 for a missing brand is the same for everyone.
    assert_problem(
        app.get(format!("/v1/brands/{}", uuid::Uuid::new_v4()))
            .bearer(app.admin_token())
            .send()
            .await,
        404,
        "not-found",
    )
    .await;
}

on_both_backends!(
    stored_secrets_are_not_plaintext,
    key_rotation_leaves_every_secret_readable_and_none_under_old_keys,
    another_organizations_credential_is_invisible,
);

/// Both backends migrate through the same versions, and no two migrations
/// share one (diesel would run only one of them and record both as done).
#[test]
fn migration_versions_are_unique_and_the_same_on_both_backends() {
    let names = |backend: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert_eq!(sqlite, postgres);
    let mut versions: Vec<&str> = sqlite
        .iter()
        .map(|n| n.split('_').next().unwrap())
        .collect();
    let count = versions.len();
    versions.dedup();
    assert_eq!(versions.len(), count, "{sqlite:?}");
}

/// SQLite has one writer at a time. Concurrent writers queue for it, and one
/// that waited longer than `busy_timeout` asks again: a client never sees
/// "database is locked" (here with a 1 ms timeout, so that they collide).
#[tokio::test]
async fn concurrent_sqlite_writers_are_never_refused() {
    // Arrange
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.database.sqlite_busy_timeout_ms = 1;
        settings.database.pool_size = 16;
    })
    .await;
    let token = app.admin_token();

    // Act: 40 brands created at once.
    let creations = (0..40).map(|i| {
        let (app, token) = (&app, &token);
        async move {
            let response = app.create_brand(token, &format!("Concurrent {i}")).await;
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    });
    let answers = futures_util::future::join_all(creations).await;

    // Assert: every one was created, and stored.
    for (status, body) in &answers {
        assert_eq!(*status, 201, "{body}");
    }
    let listed: Value = app
        .get("/v1/brands?limit=100")
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"].as_array().unwrap().len(), 40);
}

/// Copies `from`'s sealed access token onto `to`'s row (what a misdirected
/// restore or a tampered database would do).
async fn move_ciphertext(app: &TestApp, from: &str, to: &str) {
    use diesel::prelude::*;
    use tokenwarden::db::schema::credentials::dsl as c;
    let (pool, org, from, to) = (
        app.pool().clone(),
        app.org_id.clone(),
        from.to_string(),
        to.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let credential_of = |conn: &mut DbConnection, account: &str| {
            let org = crate::helpers::org_id(&org);
            db::accounts::find_account_by_id(conn, &org, crate::helpers::id(account))
                .unwrap()
                .unwrap()
                .2
                .id
        };
        let (source, target) = (
            credential_of(&mut conn, &from),
            credential_of(&mut conn, &to),
        );
        let (bytes, key): (Vec<u8>, String) = c::credentials
            .filter(c::id.eq(&source))
            .select((c::access_token, c::access_token_key_id))
            .first(&mut conn)
            .unwrap();
        diesel::update(c::credentials.filter(c::id.eq(&target)))
            .set((c::access_token.eq(bytes), c::access_token_key_id.eq(key)))
            .execute(&mut conn)
            .unwrap();
    })
    .await
    .unwrap();
}

/// A brand with two accounts, the second's row holding the first's sealed
/// token: `(brand, first, second)`.
pub(crate) async fn two_accounts_one_moved(app: &TestApp, name: &str) -> (String, String, String) {
    let brand = app.new_brand(name).await;
    let mut accounts = Vec::new();
    for subject in ["sandbox-alice", "sandbox-bob"] {
        let connected = app.connect_sandbox(&brand, subject).await;
        accounts.push(connected["account"]["id"].as_str().unwrap().to_string());
    }
    move_ciphertext(app, &accounts[0], &accounts[1]).await;
    let second = accounts.pop().unwrap();
    let first = accounts.pop().unwrap();
    (brand, first, second)
}

async fn a_ciphertext_moved_to_another_row_is_never_used(app: TestApp) {
    // Arrange: two accounts; the second's row gets the first's sealed token.
    let (brand, first, second) = two_accounts_one_moved(&app, "Moved").await;
    let token = app.token(&app.org_id, "tokens:read tokens:renew accounts:read");

    // Act + Assert: the vault hands nothing out and says re-authorize.
    let response = app
        .post(format!("/v1/accounts/{second}/access-token"))
        .bearer(&token)
        .send()
        .await;
    let problem = assert_problem(response, 409, "reauthorization-required").await;
    assert!(
        !problem.to_string().contains("access_token\":\""),
        "{problem}"
    );

    // The account now shows `reauth_required`, and a renew asks for a
    // re-authorization without any call to the network.
    let refreshes = app.sandbox().calls().refresh;
    let shown: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{second}"))
        .bearer(&token)
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["token_status"], "reauth_required", "{shown}");
    let renew: Value = crate::renewal::renew_body(&app, &token, &brand, &second).await;
    assert_eq!(renew["outcome"], "authorization_required", "{renew}");
    assert_eq!(app.sandbox().calls().refresh, refreshes);

    // The first account, whose row is intact, still works.
    let response = app
        .post(format!("/v1/accounts/{first}/access-token"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

on_both_backends!(a_ciphertext_moved_to_another_row_is_never_used);

async fn a_refresh_never_sends_a_token_that_is_not_its_rows(app: TestApp) {
    // Arrange: an expired account whose row holds another row's ciphertext.
    let (brand, _, second) = two_accounts_one_moved(&app, "Moved before renewal").await;
    app.advance(chrono::Duration::minutes(61));
    let refreshes = app.sandbox().calls().refresh;

    // Act: the refresh engine takes the lease and opens the row's tokens.
    let renew: Value = crate::renewal::renew_body(&app, &app.admin_token(), &brand, &second).await;

    // Assert: nothing reached the network; the grant is re-authorization's,
    // and the audit trail says why.
    assert_eq!(renew["outcome"], "authorization_required", "{renew}");
    assert_eq!(app.sandbox().calls().refresh, refreshes);
    assert_eq!(
        renew["account"]["token_status"], "reauth_required",
        "{renew}"
    );
    let events: Value = app
        .get(format!("/v1/brands/{brand}/accounts/{second}/events"))
        .bearer(app.admin_token())
        .send()
        .await
        .json()
        .await
        .unwrap();
    assert!(events.to_string().contains("undecryptable"), "{events}");
}

on_both_backends!(a_refresh_never_sends_a_token_that_is_not_its_rows);
