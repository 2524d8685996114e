-- Reads that front ends poll (the Expired Tokens dropdown and badge, Manage
-- Accounts) are kept as ready answers, valid while the organization's
-- `data_version` is unchanged and the clock has not reached the next instant
-- at which a token's status changes (docs/rules.md#ready-answers). Every
-- change of what those answers show moves `data_version` in the change's own
-- transaction: the triggers below, so that no write path can forget it.
ALTER TABLE organizations ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
-- The next instant a renew method changes with the clock.
CREATE INDEX credentials_org_refresh_expires ON credentials (organization_id, refresh_expires_at);

CREATE TRIGGER organizations_version_update AFTER UPDATE OF name, plan, warning_window_days ON organizations
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.id; END;

CREATE TRIGGER brands_version_insert AFTER INSERT ON brands
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.organization_id; END;
CREATE TRIGGER brands_version_update AFTER UPDATE ON brands
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id IN (OLD.organization_id, NEW.organization_id); END;
CREATE TRIGGER brands_version_delete AFTER DELETE ON brands
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id; END;

CREATE TRIGGER profiles_version_insert AFTER INSERT ON profiles
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.organization_id; END;
CREATE TRIGGER profiles_version_update AFTER UPDATE ON profiles
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id IN (OLD.organization_id, NEW.organization_id); END;
CREATE TRIGGER profiles_version_delete AFTER DELETE ON profiles
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id; END;

CREATE TRIGGER accounts_version_insert AFTER INSERT ON accounts
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.organization_id; END;
CREATE TRIGGER accounts_version_update AFTER UPDATE ON accounts
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id IN (OLD.organization_id, NEW.organization_id); END;
CREATE TRIGGER accounts_version_delete AFTER DELETE ON accounts
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id; END;

CREATE TRIGGER credentials_version_insert AFTER INSERT ON credentials
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.organization_id; END;
-- Leases, schedules, failure counters, ciphertexts and key ids (a rotation
-- reseals every row) are not shown, so writes of only those move nothing.
CREATE TRIGGER credentials_version_update AFTER UPDATE ON credentials
WHEN NEW.status IS NOT OLD.status
  OR NEW.status_reason IS NOT OLD.status_reason
  OR NEW.status_changed_at IS NOT OLD.status_changed_at
  OR NEW.expires_at IS NOT OLD.expires_at
  OR NEW.refresh_expires_at IS NOT OLD.refresh_expires_at
  OR (NEW.refresh_token_key_id IS NULL) IS NOT (OLD.refresh_token_key_id IS NULL)
  OR NEW.scopes IS NOT OLD.scopes
  OR NEW.issued_at IS NOT OLD.issued_at
  OR NEW.last_refreshed_at IS NOT OLD.last_refreshed_at
  OR NEW.version IS NOT OLD.version
  OR NEW.profile_id IS NOT OLD.profile_id
  OR NEW.organization_id IS NOT OLD.organization_id
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id IN (OLD.organization_id, NEW.organization_id); END;
CREATE TRIGGER credentials_version_delete AFTER DELETE ON credentials
BEGIN UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id; END;
