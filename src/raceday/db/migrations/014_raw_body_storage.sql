-- A recorded body is already zstd-compressed: PostgreSQL's own TOAST compression would only spend CPU on
-- every poll trying (and failing) to shrink it. EXTERNAL keeps it out of line, uncompressed. Partitions
-- made after this inherit the setting from the parent.

ALTER TABLE raw_responses ALTER COLUMN body SET STORAGE EXTERNAL;
