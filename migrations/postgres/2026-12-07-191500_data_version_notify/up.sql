-- Each instance keeps the data versions it has learned, so that a poll of a
-- ready answer reads no table (docs/rules.md#ready-answers). The transaction
-- that moves an organization's `data_version` also announces the new value
-- on the channel `tokenwarden_data_version` (payload `<organization id>
-- <version>`); PostgreSQL delivers it to every listening instance after the
-- commit, in commit order, and never for a rolled-back transaction. Whoever
-- writes (an API instance, a worker, `keys rotate`, psql) goes through these
-- triggers, so none can forget it.
CREATE FUNCTION tokenwarden_announce_data_version(org TEXT, moved BIGINT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    -- No row: the organization is gone, and so is anything kept of it.
    IF moved IS NOT NULL THEN
        PERFORM pg_notify('tokenwarden_data_version', org || ' ' || moved::text);
    END IF;
END;
$$;

CREATE OR REPLACE FUNCTION tokenwarden_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    org TEXT;
    flag TEXT;
    moved BIGINT;
BEGIN
    IF TG_OP = 'DELETE' THEN org := OLD.organization_id; ELSE org := NEW.organization_id; END IF;
    flag := 'tokenwarden.v_' || md5(org);
    IF current_setting(flag, true) IS DISTINCT FROM txid_current()::text THEN
        UPDATE organizations SET data_version = data_version + 1 WHERE id = org
            RETURNING data_version INTO moved;
        PERFORM tokenwarden_announce_data_version(org, moved);
        PERFORM set_config(flag, txid_current()::text, true);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.organization_id IS DISTINCT FROM NEW.organization_id THEN
        UPDATE organizations SET data_version = data_version + 1 WHERE id = OLD.organization_id
            RETURNING data_version INTO moved;
        PERFORM tokenwarden_announce_data_version(OLD.organization_id, moved);
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION tokenwarden_bump_own_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    moved BIGINT;
BEGIN
    UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.id
        RETURNING data_version INTO moved;
    PERFORM tokenwarden_announce_data_version(NEW.id, moved);
    RETURN NULL;
END;
$$;
