ALTER TABLE oauth_states DROP COLUMN brands;
