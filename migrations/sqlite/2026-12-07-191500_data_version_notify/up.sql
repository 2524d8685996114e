-- Nothing to do on SQLite: each instance learns that data versions moved
-- from `PRAGMA data_version` (docs/rules.md#ready-answers), which needs no
-- schema. PostgreSQL's migration of this version announces the moves.
SELECT 1;
