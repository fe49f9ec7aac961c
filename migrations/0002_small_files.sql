-- Where an upload's first chunk is in the chunk topic (its others follow in
-- the same partition): a file of one chunk is staged in memory and read back
-- from there after a restart, and a replica stages from there what another
-- staged (domain.Upload.InLog). NULL while unknown.
ALTER TABLE uploads ADD COLUMN chunk_partition integer, ADD COLUMN chunk_offset bigint;

-- Every message an upload brings updates its record: let those updates be
-- HOT (the new version on the same page, no index entries to add). An index
-- on updated_at forbade that for every one of them; the stalled-upload
-- sweep finds the uploads still receiving through this index instead (a
-- handful at any time) and filters them by updated_at. Free room on each
-- page (fillfactor) keeps the new versions beside the old.
DROP INDEX uploads_receiving_idx;
CREATE INDEX uploads_receiving_idx ON uploads (id) WHERE state = 'receiving';
ALTER TABLE uploads SET (fillfactor = 70);
