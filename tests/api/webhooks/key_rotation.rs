//! `keys rotate` re-seals webhook signing secrets with everything else: after
//! it, a key ring without the old key still signs deliveries a receiver can
//! verify with the secret it was shown.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use tokenwarden::crypto::KeyRing;
use tokenwarden::db;

use super::{Receiver, post, state, subscribe, verify_with_library};
use crate::helpers::TestApp;
use crate::on_both_backends;

async fn key_rotation_keeps_webhook_secrets_usable(app: TestApp) {
    // Arrange: a subscription whose secret is sealed under the first key.
    let receiver = Receiver::start();
    let (id, secret) = subscribe(&app, &receiver.url, &["account.connected"]).await;
    let old = app.settings.encryption_keys.clone().unwrap();
    let new_entry = format!("k-next:{}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([9u8; 32])
    });

    // Act: rotate onto a new key, then run with the new key alone.
    let (pool, spec, entry) = (app.pool().clone(), old.clone(), new_entry.clone());
    let left = tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().unwrap();
        let both = KeyRing::parse(&SecretString::from(format!(
            "{entry},{}",
            spec.expose_secret()
        )))
        .unwrap();
        db::rotation::rotate_all(&mut conn, &both).unwrap();
        db::rotation::count_not_under(&mut conn, "k-next").unwrap()
    })
    .await
    .unwrap();
    let only_new = tokenwarden::state::AppState {
        keys: Arc::new(KeyRing::parse(&SecretString::from(new_entry)).unwrap()),
        ..state(&app).clone()
    };
    assert_eq!(
        post(&app, &format!("/v1/webhooks/{id}/test"))
            .await
            .status(),
        202
    );
    tokenwarden::worker::tick(&only_new, app.now())
        .await
        .expect("tick");

    // Assert: nothing left under the old key, and the delivery verifies.
    assert_eq!(left, 0);
    let received = receiver.received();
    assert!(!received.is_empty(), "the test event was delivered");
    assert!(received.iter().all(|r| verify_with_library(&secret, r)));
}

on_both_backends!(
    spawn = crate::webhooks::dev_app;
    key_rotation_keeps_webhook_secrets_usable);
