package http

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/handlers/http/api"
)

// listFiles answers GET /data: one page of what this service holds, with
// its totals, filtered and sorted as asked.
func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	q, err := listingOf(r.URL.Query())
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	page, err := s.deps.App.Queries.ListFiles.Handle(r.Context(), q)
	if errors.Is(err, query.ErrBadListing) {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.queryFailed(w, r, err)
		return
	}
	view := api.FileList{TotalSize: page.Totals.TotalSize, Count: page.Totals.Count, ListMetadata: make(map[string]api.File, len(page.Files)),
		Order: make([]string, 0, len(page.Files))}
	for _, f := range page.Files {
		view.ListMetadata[f.ID] = newFileView(f)
		view.Order = append(view.Order, f.ID)
	}
	if page.Next != "" {
		view.Next = &page.Next
	}
	writeJSON(w, http.StatusOK, view)
}

// listingOf reads GET /data's parameters: limit, after, the filters
// (prefix, content_type, min_size, max_size, stored_since, stored_before)
// and the order (sort, order). What they mean together the query checks.
func listingOf(v url.Values) (query.ListFiles, error) {
	q := query.ListFiles{After: v.Get("after")}
	var errs []error
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > query.MaxLimit {
			errs = append(errs, fmt.Errorf("limit must be a whole number from 1 to %d", query.MaxLimit))
		}
		q.Limit = n
	}
	q.Filter.Prefix, q.Filter.ContentType = v.Get("prefix"), v.Get("content_type")
	q.Filter.MinSize, errs = sizeParam(v, "min_size", errs)
	q.Filter.MaxSize, errs = sizeParam(v, "max_size", errs)
	q.Filter.StoredSince, errs = timeParam(v, "stored_since", errs)
	q.Filter.StoredBefore, errs = timeParam(v, "stored_before", errs)
	q.Order.Key = query.SortKey(v.Get("sort"))
	switch v.Get("order") {
	case "", "asc":
	case "desc":
		q.Order.Desc = true
	default:
		errs = append(errs, errors.New("order must be asc or desc"))
	}
	return q, errors.Join(errs...)
}

func sizeParam(v url.Values, name string, errs []error) (*int64, []error) {
	s := v.Get(name)
	if s == "" {
		return nil, errs
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return nil, append(errs, fmt.Errorf("%s must be a size in bytes (a whole number, 0 or more)", name))
	}
	return &n, errs
}

func timeParam(v url.Values, name string, errs []error) (time.Time, []error) {
	s := v.Get(name)
	if s == "" {
		return time.Time{}, errs
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, append(errs, fmt.Errorf("%s must be an RFC 3339 time, e.g. 2026-11-27T02:51:33Z", name))
	}
	return t, errs
}
