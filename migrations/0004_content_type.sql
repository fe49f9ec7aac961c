-- A file whose upload declared no content type is described and served as
-- application/octet-stream (nothing is sniffed from its bytes); files kept
-- before that say so too, so that a filter on the type finds them.
UPDATE files SET content_type = 'application/octet-stream' WHERE content_type = '';
