-- Every upload this service has heard of, whoever received it.
CREATE TABLE uploads (
    id             uuid PRIMARY KEY,
    state          text        NOT NULL CHECK (state IN ('receiving', 'counting', 'placed', 'failed')),
    name           text        NOT NULL DEFAULT '',
    content_type   text        NOT NULL DEFAULT '',
    origin         text        NOT NULL DEFAULT '',
    received_bytes bigint      NOT NULL DEFAULT 0,
    staged         boolean     NOT NULL DEFAULT false,
    staged_count   bigint      NOT NULL DEFAULT 0,
    staging_error  text        NOT NULL DEFAULT '',
    size           bigint      NOT NULL DEFAULT -1,
    sha256         text        NOT NULL DEFAULT '',
    zero_bits      bigint,
    one_bits       bigint,
    keepers        text[]      NOT NULL DEFAULT '{}',
    stored_in      text[]      NOT NULL DEFAULT '{}',
    kept           boolean     NOT NULL DEFAULT false,
    deleted        boolean     NOT NULL DEFAULT false,
    failure_reason text        NOT NULL DEFAULT '',
    failure_detail text        NOT NULL DEFAULT '',
    failed_by      text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- The stalled-upload sweep looks only at uploads still receiving.
CREATE INDEX uploads_receiving_idx ON uploads (updated_at) WHERE state = 'receiving';

-- The files this service holds (read model of GET /data).
CREATE TABLE files (
    id           uuid PRIMARY KEY,
    name         text        NOT NULL,
    content_type text        NOT NULL,
    size         bigint      NOT NULL CHECK (size >= 0),
    sha256       text        NOT NULL,
    zero_bits    bigint      NOT NULL CHECK (zero_bits >= 0),
    one_bits     bigint      NOT NULL CHECK (one_bits >= 0),
    stored_at    timestamptz NOT NULL,
    CHECK (zero_bits + one_bits = 8 * size)
);

-- Running totals of files, changed in the same transaction as files, so that
-- GET /data answers total size and count without summing the table.
CREATE TABLE totals (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    total_size bigint  NOT NULL CHECK (total_size >= 0),
    count      bigint  NOT NULL CHECK (count >= 0)
);
INSERT INTO totals (singleton, total_size, count) VALUES (true, 0, 0);
