-- Profiles that a person manages (docs/rules.md#assets). Additive: every row stored before is
-- a `person` with no manager, and keeps working unchanged.
--
-- `kind` is what the profile is at its network (`ProfileKind`). An asset's manager is the
-- person profile whose grant reaches it; the manager's network id and name are kept beside the
-- reference so that every answer that shows an account names its manager without joining
-- profiles to themselves (they are written whenever the asset is connected).
ALTER TABLE profiles ADD COLUMN kind TEXT NOT NULL DEFAULT 'person'
    CHECK (kind IN ('person', 'page', 'organization', 'channel', 'location'));
ALTER TABLE profiles ADD COLUMN manager_profile_id TEXT REFERENCES profiles (id);
ALTER TABLE profiles ADD COLUMN manager_external_id TEXT;
ALTER TABLE profiles ADD COLUMN manager_name TEXT;

-- An asset's credential comes from its manager's: a derived Page token sealed in its own row,
-- or (shared) the manager's grant used with the asset's id. Either way the row names the
-- manager's credential it came from, which keeps that credential stored while it does.
ALTER TABLE credentials ADD COLUMN derived_from_credential_id TEXT REFERENCES credentials (id);
CREATE INDEX credentials_derived_from ON credentials (derived_from_credential_id);

-- A person's grant just authorized, waiting for the assets to connect to be chosen. It keeps
-- the person's credential stored until it expires (an hour after the callback); the worker
-- then deletes it and the credential goes by the rules of unused grants.
CREATE TABLE connections (
    id               TEXT PRIMARY KEY NOT NULL,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    brand_id         TEXT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    network          TEXT NOT NULL,
    profile_id       TEXT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    credential_id    TEXT NOT NULL REFERENCES credentials (id),
    scopes           TEXT NOT NULL DEFAULT '',
    return_url       TEXT,
    actor            TEXT NOT NULL,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL
);
CREATE INDEX connections_credential ON connections (credential_id);
CREATE INDEX connections_expires ON connections (expires_at);
