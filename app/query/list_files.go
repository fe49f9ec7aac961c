package query

import (
	"context"
	"fmt"

	"github.com/baum-store/baum/app/domain"
)

// Page limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// ListFiles asks for one page of the files a service holds.
type ListFiles struct {
	Limit int    // 1..MaxLimit; 0 means DefaultLimit
	After string // cursor: the last id of the previous page, or ""
}

// FilesPage is one page of files with the totals of everything held.
type FilesPage struct {
	Totals domain.Totals
	Files  []domain.File
	Next   string // cursor of the next page; "" on the last page
}

// ListFilesHandler answers ListFiles.
type ListFilesHandler struct{ read ReadModel }

// NewListFilesHandler returns a ListFilesHandler.
func NewListFilesHandler(read ReadModel) ListFilesHandler { return ListFilesHandler{read: read} }

// Handle answers one ListFiles.
func (h ListFilesHandler) Handle(ctx context.Context, q ListFiles) (FilesPage, error) {
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return FilesPage{}, fmt.Errorf("limit %d is not between 1 and %d", q.Limit, MaxLimit)
	}
	// One more than asked tells whether there is a next page.
	totals, files, err := h.read.Files(ctx, q.After, q.Limit+1)
	if err != nil {
		return FilesPage{}, err
	}
	page := FilesPage{Totals: totals, Files: files}
	if len(files) > q.Limit {
		page.Files = files[:q.Limit]
		page.Next = page.Files[q.Limit-1].ID
	}
	return page, nil
}
