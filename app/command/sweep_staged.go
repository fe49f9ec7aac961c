package command

import (
	"context"

	"github.com/baum-store/baum/messages"
)

// SweepStagedHandler removes, while the service runs, the staged files of
// this replica that no upload needs any more. The handlers remove a staged
// file when they finish with it, but only on the replica that finishes:
// with several replicas, one that staged the first chunks of an upload
// before its partition moved away keeps them, and nothing else ever asks
// for them (start-up repair would, at the next start).
type SweepStagedHandler struct {
	self    messages.Service
	uploads Uploads
	disk    Disk
}

// NewSweepStagedHandler returns a SweepStagedHandler.
func NewSweepStagedHandler(self messages.Service, uploads Uploads, disk Disk) SweepStagedHandler {
	return SweepStagedHandler{self: self, uploads: uploads, disk: disk}
}

// Handle removes the staged files whose upload is recorded and over for
// this service: failed, held, deleted, or decided for the other one. A
// staged file without a record is left alone: its first chunk may be
// committing right now (start-up repair, which runs before any message,
// removes those). It returns how many it removed.
func (h SweepStagedHandler) Handle(ctx context.Context) (int, error) {
	staged, err := h.disk.ListStaged()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range staged {
		u, err := uploadOrNil(ctx, h.uploads, id)
		if err != nil {
			return removed, err
		}
		if u == nil || needsStaged(h.self, u) {
			continue
		}
		if err := h.disk.RemoveStaged(id); err != nil {
			return removed, err
		}
		removed++
	}
	return removed, nil
}
