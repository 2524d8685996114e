-- The brands the caller who started an authorization reaches (space-separated
-- ids; NULL: every brand of the organization), so that the callback's answer
-- shows that caller no more than its own answers would.
ALTER TABLE oauth_states ADD COLUMN brands TEXT;
