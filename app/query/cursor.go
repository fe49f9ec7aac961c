package query

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/domain"
)

// A cursor says where the next page starts. In the default order (ids,
// ascending) it is the last id of the page, as it always was; in any other
// it is opaque: base64url of the order and the last file's key, so a cursor
// cannot be used with another order by mistake.
type cursor struct {
	Key  SortKey   `json:"k"`
	Desc bool      `json:"d,omitempty"`
	ID   string    `json:"i"`
	At   time.Time `json:"t,omitzero"`
	Size int64     `json:"s,omitempty"`
	Name string    `json:"n,omitempty"`
}

// encodeCursor returns the cursor of the page that ends with f.
func encodeCursor(o FileOrder, f domain.File) string {
	if o.Sort() == SortID && !o.Desc {
		return f.ID
	}
	c := cursor{Key: o.Sort(), Desc: o.Desc, ID: f.ID}
	switch o.Sort() {
	case SortStoredAt:
		c.At = f.StoredAt
	case SortSize:
		c.Size = f.Size
	case SortName:
		c.Name = f.Name
	}
	b, _ := json.Marshal(c) // nothing in a cursor fails to encode
	return base64.RawURLEncoding.EncodeToString(b)
}

var errForeignCursor = errors.New("not the next of a page in this sort and order")

// decodeCursor reads a cursor made by encodeCursor for the same order.
func decodeCursor(o FileOrder, s string) (FileKey, error) {
	if o.Sort() == SortID && !o.Desc {
		id, err := canonicalID(s)
		return FileKey{ID: id}, err
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	var c cursor
	if err != nil || json.Unmarshal(raw, &c) != nil || c.Key != o.Sort() || c.Desc != o.Desc {
		return FileKey{}, errForeignCursor
	}
	id, err := canonicalID(c.ID)
	return FileKey{ID: id, StoredAt: c.At, Size: c.Size, Name: c.Name}, err
}

// canonicalID accepts a UUID written 8-4-4-4-12 in any case and returns it
// lowercase.
func canonicalID(s string) (string, error) {
	u, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return "", fmt.Errorf("%w (a file id was expected)", errForeignCursor)
	}
	return u.String(), nil
}

// Cursor returns the cursor that lists, in order o, the files after f: the
// Next of a page that ends with f. A client gets cursors from the pages;
// a benchmark that seeded the files itself makes one to start in the middle.
func Cursor(o FileOrder, f domain.File) string { return encodeCursor(o, f) }
