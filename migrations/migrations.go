// Package migrations holds the database schema of a BAUM service as numbered
// SQL files, applied in order at start (see infra/postgres.Migrate). A file,
// once released, never changes: a change to the schema is a new file.
package migrations

import "embed"

// FS holds the *.sql files of this directory.
//
//go:embed *.sql
var FS embed.FS
