package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/baum-store/baum/app/domain"
)

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ErrBadListing wraps what is wrong with a ListFiles: a limit out of range,
// a filter that cannot match as asked, a cursor from another listing.
var ErrBadListing = errors.New("bad listing")

// ListFiles asks for one page of the files a service holds.
type ListFiles struct {
	Limit  int    // 1..MaxLimit; 0 means DefaultLimit
	After  string // cursor: the Next of the previous page (same Order), or ""
	Filter FileFilter
	Order  FileOrder
}

// FilesPage is one page of files with the totals of everything held. The
// totals are the service's, not the filter's: a count of the files a filter
// matches would cost a scan of all of them, where a page costs its own rows.
type FilesPage struct {
	Totals domain.Totals
	Files  []domain.File
	Next   string // cursor of the next page; "" on the last page
}

// ListFilesHandler answers ListFiles.
type ListFilesHandler struct{ read ReadModel }

// NewListFilesHandler returns a ListFilesHandler.
func NewListFilesHandler(read ReadModel) ListFilesHandler { return ListFilesHandler{read: read} }

// Handle answers one ListFiles. A bad request fails with an error wrapping
// ErrBadListing.
func (h ListFilesHandler) Handle(ctx context.Context, q ListFiles) (FilesPage, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return FilesPage{}, fmt.Errorf("%w: limit %d is not between 1 and %d", ErrBadListing, q.Limit, MaxLimit)
	}
	if err := errors.Join(q.Order.validate(), q.Filter.validate()); err != nil {
		return FilesPage{}, fmt.Errorf("%w: %w", ErrBadListing, err)
	}
	fq := FilesQuery{Filter: q.Filter, Order: q.Order, Limit: q.Limit + 1} // one more tells whether there is a next page
	if q.After != "" {
		after, err := decodeCursor(q.Order, q.After)
		if err != nil {
			return FilesPage{}, fmt.Errorf("%w: after: %w", ErrBadListing, err)
		}
		fq.After = &after
	}
	totals, files, err := h.read.Files(ctx, fq)
	if err != nil {
		return FilesPage{}, err
	}
	page := FilesPage{Totals: totals, Files: files}
	if len(files) > q.Limit {
		page.Files = files[:q.Limit]
		page.Next = encodeCursor(q.Order, page.Files[q.Limit-1])
	}
	return page, nil
}
