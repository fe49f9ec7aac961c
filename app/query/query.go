// Package query holds the use cases that read a service's state: the files it
// holds with their totals, one file, one upload's progress. They read the
// read models kept in PostgreSQL by the command handlers.
package query

import (
	"context"

	"github.com/baum-store/baum/app/domain"
)

// ReadModel answers the queries.
type ReadModel interface {
	// Files returns the totals of everything held and up to q.Limit files
	// that pass q.Filter, in q.Order after q.After (ties by id), read from
	// one snapshot so the totals match the files. A page costs about its
	// own rows in every order, however many files are held.
	Files(ctx context.Context, q FilesQuery) (domain.Totals, []domain.File, error)
	// File returns one held file or an error wrapping domain.ErrNotFound.
	File(ctx context.Context, id string) (domain.File, error)
	// Upload returns one upload's record or an error wrapping domain.ErrNotFound.
	Upload(ctx context.Context, id string) (*domain.Upload, error)
}
