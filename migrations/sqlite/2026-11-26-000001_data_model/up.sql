-- The whole data model (docs/rules.md, "Vocabulary"). Types are the portable subset shared with
-- the SQLite migration (ids as text, UTC timestamps without zone, booleans,
-- byte strings) so one schema.rs serves both backends.

CREATE TABLE organizations (
    id                   TEXT PRIMARY KEY NOT NULL,
    name                 TEXT NOT NULL,
    plan                 TEXT NOT NULL CHECK (plan IN ('free', 'starter', 'advanced', 'enterprise')),
    warning_window_days  INTEGER NOT NULL DEFAULT 7,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);

CREATE TABLE brands (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (organization_id, name)
);
-- Cursor pagination walks (organization_id, id); ids are UUIDv7, so id order is creation order.
CREATE UNIQUE INDEX brands_org_id ON brands (organization_id, id);

CREATE TABLE profiles (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    network          TEXT NOT NULL,
    external_id      TEXT NOT NULL,
    handle           TEXT NOT NULL,
    display_name     TEXT,
    avatar_url       TEXT,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (organization_id, network, external_id)
);
CREATE UNIQUE INDEX profiles_org_id ON profiles (organization_id, id);

CREATE TABLE credentials (
    id                      TEXT PRIMARY KEY NOT NULL,
    organization_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    profile_id              TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    network                 TEXT NOT NULL,
    access_token            BLOB NOT NULL,
    access_token_key_id     TEXT NOT NULL,
    refresh_token           BLOB,
    refresh_token_key_id    TEXT,
    scopes                  TEXT NOT NULL DEFAULT '',
    issued_at               TIMESTAMP NOT NULL,
    expires_at              TIMESTAMP,
    refresh_expires_at      TIMESTAMP,
    status                  TEXT NOT NULL CHECK (status IN ('active', 'expiring', 'expired', 'reauth_required', 'refresh_failing')),
    status_reason           TEXT,
    status_changed_at       TIMESTAMP NOT NULL,
    version                 BIGINT NOT NULL DEFAULT 1,
    lease_owner             TEXT,
    lease_expires_at        TIMESTAMP,
    last_refreshed_at       TIMESTAMP,
    next_refresh_at         TIMESTAMP,
    failure_count           INTEGER NOT NULL DEFAULT 0,
    last_failure_at         TIMESTAMP,
    last_failure_reason     TEXT,
    created_at              TIMESTAMP NOT NULL,
    updated_at              TIMESTAMP NOT NULL
);
-- The expired-token listing filters by organization and expiry or status.
CREATE INDEX credentials_org_expires ON credentials (organization_id, expires_at);
CREATE INDEX credentials_org_status ON credentials (organization_id, status);
CREATE INDEX credentials_profile ON credentials (profile_id);
-- The worker's due-scan: credentials whose proactive refresh time has come.
CREATE INDEX credentials_due ON credentials (next_refresh_at);
-- Key rotation walks ciphertexts by key id.
CREATE INDEX credentials_access_key ON credentials (access_token_key_id);
CREATE INDEX credentials_refresh_key ON credentials (refresh_token_key_id);

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    brand_id         TEXT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    profile_id       TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    credential_id    TEXT REFERENCES credentials (id) ON DELETE SET NULL,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    connected_at     TIMESTAMP NOT NULL,
    last_renewed_at  TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    UNIQUE (brand_id, profile_id)
);
CREATE UNIQUE INDEX accounts_org_id ON accounts (organization_id, id);
CREATE INDEX accounts_brand ON accounts (brand_id, id);
CREATE INDEX accounts_profile ON accounts (profile_id);
CREATE INDEX accounts_credential ON accounts (credential_id);

CREATE TABLE oauth_states (
    id                 TEXT PRIMARY KEY NOT NULL,
    state_hash         TEXT NOT NULL UNIQUE,
    organization_id    TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    brand_id           TEXT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    account_id         TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    network            TEXT NOT NULL,
    purpose            TEXT NOT NULL CHECK (purpose IN ('connect', 'renew', 'reconnect_link')),
    pkce_verifier      BLOB NOT NULL,
    pkce_verifier_key_id TEXT NOT NULL,
    return_url         TEXT,
    actor              TEXT NOT NULL,
    request_id         TEXT,
    expires_at         TIMESTAMP NOT NULL,
    consumed_at        TIMESTAMP,
    created_at         TIMESTAMP NOT NULL
);
CREATE INDEX oauth_states_expires ON oauth_states (expires_at);
CREATE INDEX oauth_states_key ON oauth_states (pkce_verifier_key_id);

CREATE TABLE audit_events (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    actor            TEXT NOT NULL,
    action           TEXT NOT NULL,
    outcome          TEXT NOT NULL,
    -- No foreign keys: the trail outlives the accounts and credentials it names.
    brand_id         TEXT,
    account_id       TEXT,
    credential_id    TEXT,
    detail           TEXT,
    request_id       TEXT,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_account ON audit_events (organization_id, account_id, id);
CREATE INDEX audit_events_org ON audit_events (organization_id, id);

CREATE TABLE idempotency_records (
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL,
    actor            TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status  INTEGER,
    response_body    TEXT,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, idempotency_key)
);
CREATE INDEX idempotency_records_expires ON idempotency_records (expires_at);
