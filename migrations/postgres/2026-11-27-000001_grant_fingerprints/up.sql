-- One grant, one credential (docs/rules.md#propagation): a keyed fingerprint
-- (HMAC-SHA256 under a key derived from the key ring, never the plaintext) of
-- the token that identifies the grant — the refresh token, else the access
-- token — so a grant already stored is recognized. `fingerprint_version` is
-- the credential `version` it was made at: every change of a token moves
-- `version`, so a fingerprint is current only while the two are equal (and it
-- names the ring's active key). Rows from before this migration have none;
-- they are fingerprinted when their profile is next touched.
ALTER TABLE credentials ADD COLUMN token_fingerprint TEXT;
ALTER TABLE credentials ADD COLUMN fingerprint_version BIGINT;
CREATE INDEX credentials_token_fingerprint ON credentials (token_fingerprint);
-- Revocation asks whether a network identity is stored in any organization.
CREATE INDEX profiles_identity ON profiles (network, external_id);
