-- GET /data sorts by stored_at, size or name, either way, and pages by the
-- last row's (key, id): one index per sort key, on (key, id), so that a
-- page walks its index from the cursor, forwards or backwards, and costs
-- about its own rows however many files are held. Names compare byte by
-- byte (code point order, the same on every installation whatever its
-- locale); that also makes a name prefix a range of the name index.
ALTER TABLE files ALTER COLUMN name TYPE text COLLATE "C";
CREATE INDEX files_stored_at_idx ON files (stored_at, id);
CREATE INDEX files_size_idx ON files (size, id);
CREATE INDEX files_name_idx ON files (name, id);
