//! A fresh grant reaches the profile's other brands only on the plans that
//! propagate, never a disabled account or another organization.

use serde_json::{Value, json};

use super::{brand_in, connect_in, expire_all, renew, set_plan, stored};
use crate::helpers::{ALL_SCOPES, TestApp};
use crate::on_both_backends;

async fn propagation_matrix(app: TestApp) {
    for plan in ["free", "starter", "advanced", "enterprise"] {
        // Arrange: three brands with the same profile, each on its own grant
        // (connected while on Starter, which does not propagate), C disabled;
        // and another organization with the same profile.
        let org = app.create_org(&format!("Matrix {plan}"), "starter").await;
        let token = app.token(&org, ALL_SCOPES);
        let (a_brand, b_brand, c_brand) = (
            brand_in(&app, &token, "A").await,
            brand_in(&app, &token, "B").await,
            brand_in(&app, &token, "C").await,
        );
        let a = connect_in(&app, &token, &a_brand, "sandbox-alice").await;
        let b = connect_in(&app, &token, &b_brand, "sandbox-alice").await;
        let c = connect_in(&app, &token, &c_brand, "sandbox-alice").await;
        let response = app
            .patch(format!("/v1/brands/{c_brand}/accounts/{c}"))
            .bearer(&token)
            .json(&json!({ "enabled": false }))
            .send()
            .await;
        assert_eq!(response.status(), 200);
        let outsider_org = app
            .create_org(&format!("Outsider {plan}"), "advanced")
            .await;
        let outsider_token = app.token(&outsider_org, ALL_SCOPES);
        let outsider_brand = brand_in(&app, &outsider_token, "Elsewhere").await;
        let outsider = connect_in(&app, &outsider_token, &outsider_brand, "sandbox-alice").await;
        set_plan(&app, &org, plan).await;
        expire_all(&app);
        let before_a = stored(&app, &a).await;
        let before_b = stored(&app, &b).await;
        let before_c = stored(&app, &c).await;
        let before_outsider = stored(&app, &outsider).await;
        assert!(
            before_a.0 != before_b.0 && before_b.0 != before_c.0,
            "{plan}: separate grants"
        );

        // Act.
        let response = renew(&app, &token, &a_brand, &a).await;
        assert_eq!(response.status(), 200, "{plan}");
        let body: Value = response.json().await.unwrap();

        // Assert: the answer.
        assert_eq!(body["outcome"], "renewed", "{plan}");
        assert_eq!(
            body["account"]["token_status"], "expiring",
            "{plan}: 1-hour sandbox token"
        );
        let cross = matches!(plan, "advanced" | "enterprise");
        let renewed: Vec<&str> = body["propagation"]["renewed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["brand_id"].as_str().unwrap())
            .collect();
        let left: Vec<(String, String)> = body["propagation"]["left"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["brand_id"].as_str().unwrap().to_string(),
                    l["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        if cross {
            assert_eq!(renewed, [b_brand.as_str()], "{plan}");
            assert_eq!(left, [(c_brand.clone(), "disabled".to_string())], "{plan}");
        } else {
            assert!(renewed.is_empty(), "{plan}");
            assert_eq!(
                left,
                [
                    (b_brand.clone(), "plan".to_string()),
                    (c_brand.clone(), "disabled".to_string())
                ],
                "{plan}"
            );
            assert_eq!(
                body["propagation"]["left"][0]["token_status"], "expired",
                "{plan}"
            );
        }

        // Assert: the stored state.
        let after_a = stored(&app, &a).await;
        let after_b = stored(&app, &b).await;
        let after_c = stored(&app, &c).await;
        assert_eq!(after_a.0, before_a.0, "{plan}: refreshed in place");
        assert!(after_a.1 > before_a.1, "{plan}: new expiry");
        if cross {
            assert_eq!(
                after_b.0, after_a.0,
                "{plan}: B switched to the fresh grant"
            );
        } else {
            assert_eq!(after_b, before_b, "{plan}: B untouched");
        }
        assert_eq!(after_c, before_c, "{plan}: disabled C never changes");
        assert_eq!(
            stored(&app, &outsider).await,
            before_outsider,
            "{plan}: other organization untouched"
        );
    }
}

on_both_backends!(propagation_matrix);
