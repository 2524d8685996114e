-- Lifecycle webhooks: an organization's subscriptions, the outbox of
-- messages written in the same transaction as the change they announce, and
-- every delivery attempt. Secrets are sealed with the key ring, bound to the
-- subscription and the column.
CREATE TABLE webhook_subscriptions (
    id                          TEXT PRIMARY KEY NOT NULL,
    organization_id             TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    url                         TEXT NOT NULL,
    description                 TEXT,
    events                      TEXT NOT NULL,
    enabled                     BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason             TEXT,
    secret                      BLOB NOT NULL,
    secret_key_id               TEXT NOT NULL,
    previous_secret             BLOB,
    previous_secret_key_id      TEXT,
    previous_secret_expires_at  TIMESTAMP,
    failing_since               TIMESTAMP,
    created_by                  TEXT NOT NULL,
    created_at                  TIMESTAMP NOT NULL,
    updated_at                  TIMESTAMP NOT NULL
);
CREATE INDEX webhook_subscriptions_organization ON webhook_subscriptions (organization_id, enabled);

-- One row per event and subscription; next_attempt_at is NULL once the
-- message is delivered or given up.
CREATE TABLE webhook_messages (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at);
CREATE INDEX webhook_messages_subscription ON webhook_messages (subscription_id);

CREATE TABLE webhook_attempts (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    subscription_id  TEXT NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    message_id       TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    event_type       TEXT NOT NULL,
    attempt          INTEGER NOT NULL,
    outcome          TEXT NOT NULL,
    response_status  INTEGER,
    latency_ms       BIGINT NOT NULL,
    error            TEXT,
    attempted_at     TIMESTAMP NOT NULL
);
CREATE INDEX webhook_attempts_subscription ON webhook_attempts (subscription_id, id);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id);
