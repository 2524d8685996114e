DROP TABLE idempotency_records;
DROP TABLE audit_events;
DROP TABLE oauth_states;
DROP TABLE accounts;
DROP TABLE credentials;
DROP TABLE profiles;
DROP TABLE brands;
DROP TABLE organizations;
