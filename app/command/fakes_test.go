package command_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
)

// memUploads is an in-memory command.Uploads for use-case tests.
type memUploads struct {
	mu      sync.Mutex
	uploads map[string]*domain.Upload
	files   map[string]domain.File
	totals  domain.Totals
	updates int // transactions run
}

func newMemUploads() *memUploads {
	return &memUploads{uploads: map[string]*domain.Upload{}, files: map[string]domain.File{}}
}

func clone(u *domain.Upload) *domain.Upload {
	c := *u
	c.Keepers, c.StoredIn = slices.Clone(u.Keepers), slices.Clone(u.StoredIn)
	return &c
}

func (m *memUploads) Get(_ context.Context, id string) (*domain.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok {
		return nil, fmt.Errorf("upload %s: %w", id, domain.ErrNotFound)
	}
	return clone(u), nil
}

func (m *memUploads) Update(_ context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates++
	u, ok := m.uploads[id]
	if !ok {
		u = domain.NewUpload(id)
	}
	work := clone(u)
	tx := &memTx{files: maps.Clone(m.files), totals: m.totals}
	if err := fn(work, tx); err != nil {
		return err // nothing saved, as a rolled-back transaction
	}
	m.uploads[id], m.files, m.totals = work, tx.files, tx.totals
	return nil
}

type memTx struct {
	files  map[string]domain.File
	totals domain.Totals
}

func (t *memTx) Add(_ context.Context, f domain.File) error {
	if _, ok := t.files[f.ID]; ok {
		return nil
	}
	t.files[f.ID] = f
	t.totals.Count++
	t.totals.TotalSize += f.Size
	return nil
}

func (m *memUploads) DeleteFile(_ context.Context, id string) (domain.File, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[id]
	if !ok {
		return f, false, nil
	}
	delete(m.files, id)
	m.totals.Count--
	m.totals.TotalSize -= f.Size
	if u, ok := m.uploads[id]; ok {
		u.Kept, u.Deleted = false, true
	}
	return f, true, nil
}

func (m *memUploads) Stalled(context.Context, float64) ([]string, error) { return nil, nil }

func (m *memUploads) FileIDs(context.Context) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := map[string]bool{}
	for id := range m.files {
		ids[id] = true
	}
	return ids, nil
}
