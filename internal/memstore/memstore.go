// Package memstore keeps a service's state in memory: the fake of the
// store port (command.Uploads and query.ReadModel) that the use-case tests
// run on, so that they need no PostgreSQL. It keeps the promises the
// PostgreSQL adapter keeps (infra/postgres, tested against the real
// database): an Update is one transaction, all or nothing; totals move with
// the files; a page and its totals come from one snapshot.
package memstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/messages"
)

// Store is an in-memory command.Uploads and query.ReadModel.
type Store struct {
	// Committed, if set, is handed a copy of every record an Update
	// changed, as the PostgreSQL store hands it (postgres.NewStore).
	Committed func(*domain.Upload)

	mu      sync.Mutex
	uploads map[string]*domain.Upload
	files   map[string]domain.File
	totals  domain.Totals
	updates int
	now     func() time.Time
}

var (
	_ command.Uploads = (*Store)(nil)
	_ query.ReadModel = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	return &Store{uploads: map[string]*domain.Upload{}, files: map[string]domain.File{}, now: time.Now}
}

func clone(u *domain.Upload) *domain.Upload {
	c := *u
	c.Keepers, c.StoredIn = slices.Clone(u.Keepers), slices.Clone(u.StoredIn)
	return &c
}

// Updates reports how many transactions Update ran, committed or not.
func (m *Store) Updates() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.updates
}

// Get implements command.Uploads.
func (m *Store) Get(_ context.Context, id string) (*domain.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok {
		return nil, fmt.Errorf("upload %s: %w", id, domain.ErrNotFound)
	}
	return clone(u), nil
}

// Upload implements query.ReadModel.
func (m *Store) Upload(ctx context.Context, id string) (*domain.Upload, error) { return m.Get(ctx, id) }

// Update implements command.Uploads: fn works on copies, which replace the
// originals only if it succeeds, as a transaction that commits or rolls
// back.
func (m *Store) Update(_ context.Context, id string, fn func(*domain.Upload, command.FileIndex) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.updates++
	u, ok := m.uploads[id]
	if !ok {
		u = domain.NewUpload(id)
		u.CreatedAt = m.now()
	}
	work := clone(u)
	tx := &tx{files: maps.Clone(m.files), totals: m.totals}
	if err := fn(work, tx); err != nil {
		return err
	}
	if !ok || !equal(u, work) {
		work.UpdatedAt = m.now()
	}
	changed := !ok || !equal(u, work)
	m.uploads[id], m.files, m.totals = work, tx.files, tx.totals
	if changed && m.Committed != nil {
		m.Committed(clone(work))
	}
	return nil
}

func equal(a, b *domain.Upload) bool { return reflect.DeepEqual(a, b) }

type tx struct {
	files  map[string]domain.File
	totals domain.Totals
}

// Add implements command.FileIndex.
func (t *tx) Add(_ context.Context, f domain.File) error {
	if _, ok := t.files[f.ID]; ok {
		return nil
	}
	t.files[f.ID] = f
	t.totals.Count++
	t.totals.TotalSize += f.Size
	return nil
}

// DeleteFile implements command.Uploads.
func (m *Store) DeleteFile(_ context.Context, id string) (domain.File, bool, error) {
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
		u.Kept, u.Deleted, u.UpdatedAt = false, true, m.now()
	}
	return f, true, nil
}

// Stalled implements command.Uploads.
func (m *Store) Stalled(_ context.Context, olderThanSeconds float64) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cutoff := m.now().Add(-time.Duration(olderThanSeconds * float64(time.Second)))
	var ids []string
	for id, u := range m.uploads {
		if u.State == domain.Receiving && !u.Staged && u.StagingError == "" && u.UpdatedAt.Before(cutoff) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// FileIDs implements command.Uploads.
func (m *Store) FileIDs(context.Context) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := map[string]bool{}
	for id := range m.files {
		ids[id] = true
	}
	return ids, nil
}

// Totals returns the running totals of held files.
func (m *Store) Totals(context.Context) (domain.Totals, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.totals, nil
}

// Files implements query.ReadModel: the files that pass the filter, in
// the order asked, after the cursor's key.
func (m *Store) Files(_ context.Context, q query.FilesQuery) (domain.Totals, []domain.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var all []domain.File
	for _, f := range m.files {
		if q.Filter.Matches(f) {
			all = append(all, m.held(f))
		}
	}
	order := func(a, b domain.File) int {
		c := compareKey(q.Order.Sort(), a, b)
		if q.Order.Desc {
			return -c
		}
		return c
	}
	slices.SortFunc(all, order)
	var page []domain.File
	for _, f := range all {
		if q.After != nil && order(f, domain.File{ID: q.After.ID, StoredAt: q.After.StoredAt, Size: q.After.Size, Name: q.After.Name}) <= 0 {
			continue
		}
		if len(page) == q.Limit {
			break
		}
		page = append(page, f)
	}
	return m.totals, page, nil
}

// compareKey orders two files by a sort key, then by id.
func compareKey(key query.SortKey, a, b domain.File) int {
	var c int
	switch key {
	case query.SortStoredAt:
		c = a.StoredAt.Compare(b.StoredAt)
	case query.SortSize:
		c = cmp.Compare(a.Size, b.Size)
	case query.SortName:
		c = strings.Compare(a.Name, b.Name)
	}
	return cmp.Or(c, strings.Compare(a.ID, b.ID))
}

// File implements query.ReadModel.
func (m *Store) File(_ context.Context, id string) (domain.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[id]
	if !ok {
		return f, fmt.Errorf("file %s: %w", id, domain.ErrNotFound)
	}
	return m.held(f), nil
}

// held fills in where the file is held from its upload's record, as the
// PostgreSQL read model joins it.
func (m *Store) held(f domain.File) domain.File {
	if u, ok := m.uploads[f.ID]; ok {
		f.StoredIn = u.Holders()
	} else {
		f.StoredIn = messages.Keepers(f.ZeroBits, f.OneBits)
	}
	return f
}
