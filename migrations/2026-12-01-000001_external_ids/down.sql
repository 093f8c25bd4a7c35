-- Integer-keyed users (non-UUID ids) cannot go back to UUID keys; this migration has no down.
SELECT 1 / 0 AS this_migration_cannot_be_reverted;
