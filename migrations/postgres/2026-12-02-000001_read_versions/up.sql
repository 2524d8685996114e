-- Reads that front ends poll (the Expired Tokens dropdown and badge, Manage
-- Accounts) are kept as ready answers, valid while the organization's
-- `data_version` is unchanged and the clock has not reached the next instant
-- at which a token's status changes (docs/rules.md#ready-answers). Every
-- change of what those answers show moves `data_version` in the change's own
-- transaction: the triggers below, so that no write path can forget it.
ALTER TABLE organizations ADD COLUMN data_version BIGINT NOT NULL DEFAULT 0;
-- The next instant a renew method changes with the clock.
CREATE INDEX credentials_org_refresh_expires ON credentials (organization_id, refresh_expires_at);

-- Deferred to the commit, so the organization's row is locked last and only
-- for the instant before the commit (a writer holding it never then waits on
-- a profile or credential another writer holds), and once per organization
-- and transaction (a flag local to the transaction), so a propagation to a
-- thousand brands moves it once.
CREATE FUNCTION tokenwarden_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org TEXT;
    flag TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN org := OLD.organization_id; ELSE org := NEW.organization_id; END IF;
    flag := 'tokenwarden.v_' || md5(org);
    IF current_setting(flag, true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE organizations SET data_version = data_version + 1 WHERE id = org;
        PERFORM set_config(flag, txid_current()::text, true);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.organization_id IS DISTINCT FROM NEW.organization_id THEN
        UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE FUNCTION tokenwarden_bump_own_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER organizations_version_update AFTER UPDATE OF name, plan, warning_window_days ON organizations
    FOR EACH ROW EXECUTE FUNCTION tokenwarden_bump_own_data_version();

CREATE CONSTRAINT TRIGGER brands_version AFTER INSERT OR UPDATE OR DELETE ON brands
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tokenwarden_bump_data_version();
CREATE CONSTRAINT TRIGGER profiles_version AFTER INSERT OR UPDATE OR DELETE ON profiles
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tokenwarden_bump_data_version();
CREATE CONSTRAINT TRIGGER accounts_version AFTER INSERT OR UPDATE OR DELETE ON accounts
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tokenwarden_bump_data_version();
CREATE CONSTRAINT TRIGGER credentials_version_insert_delete AFTER INSERT OR DELETE ON credentials
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tokenwarden_bump_data_version();
-- Leases, schedules, failure counters, ciphertexts and key ids (a rotation
-- reseals every row) are not shown, so writes of only those move nothing.
CREATE CONSTRAINT TRIGGER credentials_version_update AFTER UPDATE ON credentials
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status IS DISTINCT FROM OLD.status
       OR NEW.status_reason IS DISTINCT FROM OLD.status_reason
       OR NEW.status_changed_at IS DISTINCT FROM OLD.status_changed_at
       OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
       OR NEW.refresh_expires_at IS DISTINCT FROM OLD.refresh_expires_at
       OR (NEW.refresh_token_key_id IS NULL) IS DISTINCT FROM (OLD.refresh_token_key_id IS NULL)
       OR NEW.scopes IS DISTINCT FROM OLD.scopes
       OR NEW.issued_at IS DISTINCT FROM OLD.issued_at
       OR NEW.last_refreshed_at IS DISTINCT FROM OLD.last_refreshed_at
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.profile_id IS DISTINCT FROM OLD.profile_id
       OR NEW.organization_id IS DISTINCT FROM OLD.organization_id)
    EXECUTE FUNCTION tokenwarden_bump_data_version();
