package http

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/baum-store/baum/app/domain"
)

// getContent answers GET and HEAD /data/{id}/content: the stored bytes.
// http.ServeContent does Range (206, multipart/byteranges, 416) and the
// conditional requests (If-None-Match → 304, If-Match → 412, If-Range,
// If-Modified-Since) against the ETag, the file's SHA-256, and
// Last-Modified, the time it was stored.
func (s *Server) getContent(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(w, r)
	if !ok {
		return
	}
	disposition := r.URL.Query().Get("disposition")
	switch disposition {
	case "":
		disposition = "attachment"
	case "attachment", "inline":
	default:
		writeError(w, r, http.StatusBadRequest, "disposition must be attachment or inline")
		return
	}
	c, err := s.deps.App.Queries.FileContent.Handle(r.Context(), id)
	if err != nil {
		s.queryFailed(w, r, err)
		return
	}
	defer c.Body.Close()
	h := w.Header()
	// The type the metadata says, never one guessed from the bytes.
	h.Set("Content-Type", domain.MediaType(c.File.ContentType))
	h.Set("Content-Disposition", contentDisposition(disposition, c.File.Name, id))
	h.Set("ETag", `"`+c.File.SHA256+`"`)
	if sum, err := hex.DecodeString(c.File.SHA256); err == nil {
		// RFC 9530: the digest of the whole file, on a part of it too.
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum)+":")
	}
	// The bytes of an id never change, but the file may be deleted: caches
	// revalidate (cheaply, with If-None-Match → 304) before reusing them.
	h.Set("Cache-Control", "no-cache")
	// A stored file is whatever a client sent. These keep it from running
	// as a page of this origin (where the API and its docs live), even
	// when it claims to be HTML and is shown inline.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox")
	// RFC 9110 §14.2: a Range in a unit the server does not know is ignored
	// (net/http would answer 416).
	if rng := r.Header.Get("Range"); rng != "" && !strings.HasPrefix(rng, "bytes=") {
		r.Header.Del("Range")
	}
	if !guardRange(w, r, c.File.Size) {
		return
	}
	jw := &jsonErrors{ResponseWriter: w, r: r, describe: contentError}
	http.ServeContent(jw, r, "", c.File.StoredAt, c.Body)
	jw.finish()
}

// contentDisposition returns a Content-Disposition header (RFC 6266) that
// names the file safely. filename= carries a plain ASCII form for old
// clients; if the name is more than that, filename*= carries it whole,
// UTF-8 and percent-encoded (RFC 8187, formerly 5987), and clients prefer it.
// The name loses what could hurt a client saving it: path separators, control
// characters (CR, LF, NUL…), bidirectional overrides that disguise an
// extension, and names of only dots. If nothing is left, fallback names it.
func contentDisposition(disposition, name, fallback string) string {
	name = safeFileName(name)
	if name == "" {
		name = fallback
	}
	ascii := asciiFileName(name)
	v := disposition + `; filename="` + ascii + `"`
	if ascii != name {
		v += "; filename*=UTF-8''" + percentEncode(name)
	}
	return v
}

func safeFileName(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\':
			return '_'
		case unicode.IsControl(r) || isBidiControl(r):
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if strings.Trim(name, ".") == "" {
		return ""
	}
	return name
}

// isBidiControl reports the invisible characters that reorder text, used to
// make "exe.txt" look like "txt.exe".
func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' || '\u202A' <= r && r <= '\u202E' || '\u2066' <= r && r <= '\u2069'
}

// asciiFileName keeps printable ASCII except the characters that need
// escaping in a quoted string or that some clients percent-decode (RFC 6266
// appendix D): those, and everything else, become "_".
func asciiFileName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r >= 0x7f || r == '"' || r == '\\' || r == '%' {
			b.WriteByte('_')
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// percentEncode encodes every byte that is not an attr-char of RFC 8187.
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < utf8.RuneSelf && isAttrChar(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAttrChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

// jsonErrors turns the plain-text errors of http.ServeContent (412, 416,
// 500) into the API's JSON errors, keeping the headers it set (such as
// Content-Range on a 416).
type jsonErrors struct {
	http.ResponseWriter
	r *http.Request
	// describe returns the message for an error status and the handler's
	// text; nil keeps the text.
	describe func(status int, text string) string
	status   int  // an error status held back until its text arrives
	done     bool // the JSON error was written
}

func (j *jsonErrors) WriteHeader(status int) {
	if status < 400 {
		j.ResponseWriter.WriteHeader(status)
		return
	}
	j.status = status
}

func (j *jsonErrors) Write(p []byte) (int, error) {
	if j.status == 0 {
		return j.ResponseWriter.Write(p)
	}
	if !j.done {
		j.writeError(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// finish writes the JSON error of a status written without a body.
func (j *jsonErrors) finish() {
	if j.status != 0 && !j.done {
		j.writeError("")
	}
}

func (j *jsonErrors) writeError(text string) {
	j.done = true
	msg := text
	if j.describe != nil {
		msg = j.describe(j.status, text)
	}
	if msg == "" {
		msg = http.StatusText(j.status)
	}
	j.ResponseWriter.Header().Del("Content-Length")
	writeError(j.ResponseWriter, j.r, j.status, msg)
}

// contentError says in the API's words what http.ServeContent refused.
func contentError(status int, text string) string {
	switch status {
	case http.StatusRequestedRangeNotSatisfiable:
		return fmt.Sprintf("the Range cannot be served from this file (%s); Content-Range gives its size", text)
	case http.StatusPreconditionFailed:
		return "precondition failed: the file does not match If-Match or If-Unmodified-Since"
	case http.StatusInternalServerError:
		return "cannot read the stored file"
	}
	return text
}

// ReadFrom passes a body on with the server's ReadFrom (sendfile(2)).
func (j *jsonErrors) ReadFrom(src io.Reader) (int64, error) {
	if j.status != 0 {
		return io.Copy(io.Discard, src)
	}
	return io.Copy(j.ResponseWriter, src)
}

func (j *jsonErrors) Unwrap() http.ResponseWriter { return j.ResponseWriter }
