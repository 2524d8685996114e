-- Single-use links that let a profile's owner re-authorize without a login.
-- Only a hash of the link's token is stored.
CREATE TABLE reconnect_links (
    id               TEXT PRIMARY KEY NOT NULL,
    token_hash       TEXT NOT NULL UNIQUE,
    organization_id  TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    brand_id         TEXT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    network          TEXT NOT NULL,
    return_url       TEXT,
    created_by       TEXT NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    used_at          TIMESTAMP,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX reconnect_links_account ON reconnect_links (account_id);
CREATE INDEX reconnect_links_expires ON reconnect_links (expires_at);
