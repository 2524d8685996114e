-- An Idempotency-Key belongs to the user who sent it (the JWT's `sub`,
-- stored as `actor`), not to the whole organization: another user of the
-- organization sending the same key must not get the first user's answer.
-- SQLite cannot change a primary key in place, so the table is rebuilt.
CREATE TABLE idempotency_records_by_subject (
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    idempotency_key  TEXT NOT NULL,
    actor            TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('in_flight', 'completed')),
    response_status  INTEGER,
    response_body    TEXT,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (organization_id, actor, idempotency_key)
);
INSERT INTO idempotency_records_by_subject
    (organization_id, idempotency_key, actor, request_hash, state, response_status,
     response_body, created_at, expires_at)
SELECT organization_id, idempotency_key, actor, request_hash, state, response_status,
       response_body, created_at, expires_at
FROM idempotency_records;
DROP TABLE idempotency_records;
ALTER TABLE idempotency_records_by_subject RENAME TO idempotency_records;
CREATE INDEX idempotency_records_expires ON idempotency_records (expires_at);
