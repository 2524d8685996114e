// Portable schema shared by the SQLite and PostgreSQL migrations.

diesel::table! {
    organizations (id) {
        id -> Text,
        name -> Text,
        plan -> Text,
        warning_window_days -> Integer,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        data_version -> BigInt,
    }
}

diesel::table! {
    brands (id) {
        id -> Text,
        organization_id -> Text,
        name -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    profiles (id) {
        id -> Text,
        organization_id -> Text,
        network -> Text,
        external_id -> Text,
        handle -> Text,
        display_name -> Nullable<Text>,
        avatar_url -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        kind -> Text,
        manager_profile_id -> Nullable<Text>,
        manager_external_id -> Nullable<Text>,
        manager_name -> Nullable<Text>,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        organization_id -> Text,
        profile_id -> Text,
        network -> Text,
        access_token -> Binary,
        access_token_key_id -> Text,
        refresh_token -> Nullable<Binary>,
        refresh_token_key_id -> Nullable<Text>,
        scopes -> Text,
        issued_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        refresh_expires_at -> Nullable<Timestamp>,
        status -> Text,
        status_reason -> Nullable<Text>,
        status_changed_at -> Timestamp,
        version -> BigInt,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        last_refreshed_at -> Nullable<Timestamp>,
        next_refresh_at -> Nullable<Timestamp>,
        failure_count -> Integer,
        last_failure_at -> Nullable<Timestamp>,
        last_failure_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        token_fingerprint -> Nullable<Text>,
        fingerprint_version -> Nullable<BigInt>,
        derived_from_credential_id -> Nullable<Text>,
    }
}

diesel::table! {
    connections (id) {
        id -> Text,
        organization_id -> Text,
        brand_id -> Text,
        network -> Text,
        profile_id -> Text,
        credential_id -> Text,
        scopes -> Text,
        return_url -> Nullable<Text>,
        actor -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    accounts (id) {
        id -> Text,
        organization_id -> Text,
        brand_id -> Text,
        profile_id -> Text,
        credential_id -> Nullable<Text>,
        enabled -> Bool,
        connected_at -> Timestamp,
        last_renewed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    oauth_states (id) {
        id -> Text,
        state_hash -> Text,
        organization_id -> Text,
        brand_id -> Text,
        account_id -> Nullable<Text>,
        network -> Text,
        purpose -> Text,
        pkce_verifier -> Binary,
        pkce_verifier_key_id -> Text,
        return_url -> Nullable<Text>,
        actor -> Text,
        request_id -> Nullable<Text>,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        brands -> Nullable<Text>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        organization_id -> Text,
        actor -> Text,
        action -> Text,
        outcome -> Text,
        brand_id -> Nullable<Text>,
        account_id -> Nullable<Text>,
        credential_id -> Nullable<Text>,
        detail -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    idempotency_records (organization_id, actor, idempotency_key) {
        organization_id -> Text,
        idempotency_key -> Text,
        actor -> Text,
        request_hash -> Text,
        state -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::joinable!(brands -> organizations (organization_id));
diesel::joinable!(profiles -> organizations (organization_id));
diesel::joinable!(credentials -> profiles (profile_id));
diesel::joinable!(accounts -> brands (brand_id));
diesel::joinable!(accounts -> profiles (profile_id));
diesel::joinable!(accounts -> credentials (credential_id));

diesel::allow_tables_to_appear_in_same_query!(
    organizations,
    brands,
    profiles,
    credentials,
    accounts,
    oauth_states,
    audit_events,
    idempotency_records,
    reconnect_links,
    connections,
);

diesel::table! {
    reconnect_links (id) {
        id -> Text,
        token_hash -> Text,
        organization_id -> Text,
        brand_id -> Text,
        account_id -> Text,
        network -> Text,
        return_url -> Nullable<Text>,
        created_by -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Text,
        organization_id -> Text,
        url -> Text,
        description -> Nullable<Text>,
        events -> Text,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        secret -> Binary,
        secret_key_id -> Text,
        previous_secret -> Nullable<Binary>,
        previous_secret_key_id -> Nullable<Text>,
        previous_secret_expires_at -> Nullable<Timestamp>,
        failing_since -> Nullable<Timestamp>,
        created_by -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_messages (id) {
        id -> Text,
        organization_id -> Text,
        subscription_id -> Text,
        event_type -> Text,
        payload -> Text,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Text,
        organization_id -> Text,
        subscription_id -> Text,
        message_id -> Text,
        event_type -> Text,
        attempt -> Integer,
        outcome -> Text,
        response_status -> Nullable<Integer>,
        latency_ms -> BigInt,
        error -> Nullable<Text>,
        attempted_at -> Timestamp,
    }
}

diesel::joinable!(webhook_messages -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_subscriptions -> organizations (organization_id));

diesel::allow_tables_to_appear_in_same_query!(
    webhook_subscriptions,
    webhook_messages,
    webhook_attempts,
    organizations,
);
