-- An Idempotency-Key belongs to the user who sent it (the JWT's `sub`,
-- stored as `actor`), not to the whole organization: another user of the
-- organization sending the same key must not get the first user's answer.
ALTER TABLE idempotency_records DROP CONSTRAINT idempotency_records_pkey;
ALTER TABLE idempotency_records ADD PRIMARY KEY (organization_id, actor, idempotency_key);
