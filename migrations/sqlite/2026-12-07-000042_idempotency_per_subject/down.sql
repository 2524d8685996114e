-- Back to one key per organization: of the records sharing a key, the
-- first user's stays.
CREATE TABLE idempotency_records_by_organization (
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
INSERT OR IGNORE INTO idempotency_records_by_organization
    (organization_id, idempotency_key, actor, request_hash, state, response_status,
     response_body, created_at, expires_at)
SELECT organization_id, idempotency_key, actor, request_hash, state, response_status,
       response_body, created_at, expires_at
FROM idempotency_records
ORDER BY created_at;
DROP TABLE idempotency_records;
ALTER TABLE idempotency_records_by_organization RENAME TO idempotency_records;
CREATE INDEX idempotency_records_expires ON idempotency_records (expires_at);
