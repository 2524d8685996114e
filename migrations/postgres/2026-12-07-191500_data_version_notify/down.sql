CREATE OR REPLACE FUNCTION tokenwarden_bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION tokenwarden_bump_own_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE organizations SET data_version = data_version + 1 WHERE id = NEW.id;
    RETURN NULL;
END;
$$;

DROP FUNCTION tokenwarden_announce_data_version(TEXT, BIGINT);
