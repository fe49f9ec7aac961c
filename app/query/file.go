package query

import (
	"context"

	"github.com/baum-store/baum/app"
)

// FileHandler answers for one held file.
type FileHandler struct{ read ReadModel }

// NewFileHandler returns a FileHandler.
func NewFileHandler(read ReadModel) FileHandler { return FileHandler{read: read} }

// Handle returns the file's metadata or an error wrapping app.ErrNotFound.
func (h FileHandler) Handle(ctx context.Context, id string) (app.File, error) {
	return h.read.File(ctx, id)
}
