DROP INDEX profiles_identity;
DROP INDEX credentials_token_fingerprint;
ALTER TABLE credentials DROP COLUMN fingerprint_version;
ALTER TABLE credentials DROP COLUMN token_fingerprint;
