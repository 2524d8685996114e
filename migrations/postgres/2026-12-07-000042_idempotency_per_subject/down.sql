-- Back to one key per organization: of the records sharing a key, the
-- first user's stays.
DELETE FROM idempotency_records r
USING idempotency_records earlier
WHERE r.organization_id = earlier.organization_id
  AND r.idempotency_key = earlier.idempotency_key
  AND (earlier.created_at, earlier.actor) < (r.created_at, r.actor);
ALTER TABLE idempotency_records DROP CONSTRAINT idempotency_records_pkey;
ALTER TABLE idempotency_records ADD PRIMARY KEY (organization_id, idempotency_key);
