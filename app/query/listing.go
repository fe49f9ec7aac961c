package query

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/messages"
)

// SortKey is what a listing is ordered by; ties go by id.
type SortKey string

// Sort keys.
const (
	SortID       SortKey = "id"        // upload order: ids are time-ordered UUIDs (the default)
	SortStoredAt SortKey = "stored_at" // when the placement was decided
	SortSize     SortKey = "size"      // bytes
	SortName     SortKey = "name"      // the client's name, byte by byte (UTF-8 code point order)
)

// SortKeys lists every SortKey, the default first.
func SortKeys() []SortKey { return []SortKey{SortID, SortStoredAt, SortSize, SortName} }

// FileOrder orders a listing.
type FileOrder struct {
	Key  SortKey // "" means SortID
	Desc bool    // largest, latest or last first
}

// Sort returns the key, with the default filled in.
func (o FileOrder) Sort() SortKey {
	if o.Key == "" {
		return SortID
	}
	return o.Key
}

func (o FileOrder) validate() error {
	for _, k := range SortKeys() {
		if o.Sort() == k {
			return nil
		}
	}
	return fmt.Errorf("sort %q is not one of %v", o.Key, SortKeys())
}

// FileFilter narrows a listing; its zero value lets every file through.
// Every condition must hold.
type FileFilter struct {
	// Prefix: the name starts with it (byte by byte, case-sensitive).
	Prefix string
	// ContentType: "type/subtype" matches that media type with any
	// parameters; "type/*" every subtype of type. Media types compare
	// case-insensitively.
	ContentType string
	// MinSize and MaxSize bound the size in bytes, inclusive; nil is no bound.
	MinSize, MaxSize *int64
	// StoredSince and StoredBefore bound stored_at: since ≤ stored_at <
	// before (half-open, so that adjacent windows never share a file); the
	// zero time is no bound.
	StoredSince, StoredBefore time.Time
}

// MediaRange is the filter's content type split for matching: the
// media type, or the type of "type/*" with wildcard set.
func (f FileFilter) MediaRange() (mediaType string, wildcard bool) {
	ct := strings.ToLower(strings.TrimSpace(f.ContentType))
	if t, ok := strings.CutSuffix(ct, "/*"); ok {
		return t, true
	}
	return ct, false
}

// Matches reports whether a file passes the filter (for read models that
// filter in memory; the PostgreSQL one says the same in SQL).
func (f FileFilter) Matches(file domain.File) bool {
	if !strings.HasPrefix(file.Name, f.Prefix) {
		return false
	}
	if f.ContentType != "" {
		mt, wildcard := f.MediaRange()
		got := strings.ToLower(domain.MediaType(file.ContentType))
		got, _, _ = strings.Cut(got, ";")
		if wildcard && !strings.HasPrefix(got, mt+"/") || !wildcard && got != mt {
			return false
		}
	}
	switch {
	case f.MinSize != nil && file.Size < *f.MinSize, f.MaxSize != nil && file.Size > *f.MaxSize:
		return false
	case !f.StoredSince.IsZero() && file.StoredAt.Before(f.StoredSince):
		return false
	case !f.StoredBefore.IsZero() && !file.StoredAt.Before(f.StoredBefore):
		return false
	}
	return true
}

func (f FileFilter) validate() error {
	var errs []error
	if !utf8.ValidString(f.Prefix) || len(f.Prefix) > messages.MaxNameBytes {
		errs = append(errs, fmt.Errorf("prefix must be UTF-8 of at most %d bytes", messages.MaxNameBytes))
	}
	if f.ContentType != "" {
		mt, wildcard := f.MediaRange()
		probe := mt
		if wildcard {
			probe += "/x"
		}
		if parsed, params, err := mime.ParseMediaType(probe); err != nil || len(params) > 0 || !strings.Contains(parsed, "/") ||
			strings.Contains(mt, "*") || wildcard && strings.Contains(mt, "/") {
			errs = append(errs, fmt.Errorf("content type %q is not type/subtype or type/*", f.ContentType))
		}
	}
	if f.MinSize != nil && *f.MinSize < 0 || f.MaxSize != nil && *f.MaxSize < 0 {
		errs = append(errs, errors.New("sizes are not negative"))
	}
	return errors.Join(errs...)
}

// FileKey is where a file stands in a listing: the value of each sort key
// and the id that breaks ties. A read model uses the one its order needs.
type FileKey struct {
	ID       string
	StoredAt time.Time
	Size     int64
	Name     string
}

// FilesQuery is what a read model reads for one page: the files that pass
// the filter, in order, after a key (nil: from the first), at most Limit.
type FilesQuery struct {
	Filter FileFilter
	Order  FileOrder
	After  *FileKey
	Limit  int
}
