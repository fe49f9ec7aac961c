package http

import (
	"net/http"
	"strconv"
	"strings"
)

// guardRange rewrites a request's byte Range (RFC 9110 §14.1.2) for a file
// of size bytes before http.ServeContent reads it, so that it only ever sees
// satisfiable, non-empty ranges in absolute form (first-last). ServeContent
// takes a suffix range that selects nothing (bytes=-0, or any suffix of an
// empty file) for a range of length zero and answers it with an invalid 206
// (Content-Range: bytes 10000-9999/10000, or bytes 0--1/0), and it answers a
// malformed Range with a 416 that does not say the file's size.
//
// A Range that selects no byte of the file, or that is malformed (a server
// may reject those, §14.2), is answered 416 with Content-Range: bytes */size
// (§14.4, §15.5.17): rewritten to a first-pos at the end of the file, which
// ServeContent answers so, after the conditional requests (If-Range,
// If-None-Match…) that come before the Range. The unsatisfiable specs of a
// satisfiable Range are left out.
//
// An empty file is served whole (200) for first-pos ranges, as ServeContent
// does: some clients send such a Range with every request. A suffix range of
// an empty file (which ServeContent answers with the invalid 206), or a
// malformed Range, guardRange answers 416 itself, unless the request has
// preconditions (then the Range is ignored), and it reports false.
func guardRange(w http.ResponseWriter, r *http.Request, size int64) bool {
	v := r.Header.Get("Range")
	if !strings.HasPrefix(v, "bytes=") {
		return true
	}
	specs, suffix, ok := satisfiable(v[len("bytes="):], size)
	switch {
	case ok && len(specs) > 0:
		r.Header.Set("Range", "bytes="+strings.Join(specs, ","))
	case size > 0 || ok && !suffix || conditional(r.Header):
		r.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
	default:
		w.Header().Set("Content-Range", "bytes */0")
		writeError(w, r, http.StatusRequestedRangeNotSatisfiable, contentError(http.StatusRequestedRangeNotSatisfiable, "the file is empty"))
		return false
	}
	return true
}

// conditional reports whether a request has preconditions, which ServeContent
// evaluates before the Range.
func conditional(h http.Header) bool {
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

// satisfiable parses a byte-range-set (1#range-spec: empty list elements
// and whitespace around the commas allowed) and returns its satisfiable
// ranges for a file of size bytes as "first-last", in order, and whether it
// has a suffix range. It reports false if the set is malformed.
func satisfiable(set string, size int64) (specs []string, suffix, ok bool) {
	seen := false
	for _, spec := range strings.Split(set, ",") {
		spec = strings.Trim(spec, " \t")
		if spec == "" {
			continue
		}
		seen = true
		suffix = suffix || strings.HasPrefix(spec, "-")
		first, last, ok := byteRange(spec, size)
		if !ok {
			return nil, suffix, false
		}
		if first <= last {
			specs = append(specs, strconv.FormatInt(first, 10)+"-"+strconv.FormatInt(last, 10))
		}
	}
	return specs, suffix, seen
}

// byteRange parses one range-spec (first-pos "-" [last-pos], or "-"
// suffix-length) and returns the bytes it selects of a file of size bytes,
// [first, last]; first > last when it selects none (it starts at or past the
// end, or is a suffix of length 0, or the file is empty). Numbers too large
// for an int64 are valid and mean "past the end".
func byteRange(spec string, size int64) (first, last int64, ok bool) {
	a, b, found := strings.Cut(spec, "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix-range
		n, ok := digits(b)
		if !ok {
			return 0, 0, false
		}
		return size - min(n, size), size - 1, true
	}
	first, ok = digits(a)
	if !ok {
		return 0, 0, false
	}
	last = size - 1
	if b != "" {
		l, ok := digits(b)
		if !ok || l < first {
			return 0, 0, false // last-pos before first-pos: invalid (§14.1.1)
		}
		last = min(l, size-1)
	}
	if first >= size {
		return size, size - 1, true
	}
	return first, last, true
}

// digits parses 1*DIGIT; a number too large for an int64 is clamped to the
// largest one.
func digits(s string) (int64, bool) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 1<<63 - 1, true
	}
	return n, true
}
