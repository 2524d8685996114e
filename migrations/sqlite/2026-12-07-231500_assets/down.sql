DROP TABLE connections;
DROP INDEX credentials_derived_from;
ALTER TABLE credentials DROP COLUMN derived_from_credential_id;
ALTER TABLE profiles DROP COLUMN manager_name;
ALTER TABLE profiles DROP COLUMN manager_external_id;
ALTER TABLE profiles DROP COLUMN manager_profile_id;
ALTER TABLE profiles DROP COLUMN kind;
