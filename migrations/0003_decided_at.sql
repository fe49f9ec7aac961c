-- When an upload's placement was decided: the time of the BitsCounted that
-- completed both counts. Every keeper stores the file with it as its
-- stored_at, and the receiving service answers the upload with it, so the
-- 201 and every GET /data/{id} show one stored_at. NULL for records decided
-- before this column existed.
ALTER TABLE uploads ADD COLUMN decided_at timestamptz;
