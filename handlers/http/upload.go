package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/app/domain"
	"github.com/baum-store/baum/app/query"
	"github.com/baum-store/baum/messages"
)

// Multipart limits besides the file itself.
const (
	maxParts     = 32       // form parts before the file
	maxFieldSize = 64 << 10 // bytes of one non-file part
	// multipartSlack is how far Content-Length may exceed the file limit
	// (boundaries, part headers, small fields) before it is refused unread.
	multipartSlack = 1 << 20
	// bodyBufferSize is how much of a request body one read takes in.
	bodyBufferSize = 64 << 10
)

var (
	errTooLarge = errors.New("file too large")
	errIdle     = errors.New("the request body stalled")
)

// upload answers POST /data/upload: it streams the multipart "file" part as
// chunk commands onto the bus (the SendUpload use case), then waits for the
// placement.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	boundary, wait, ok := s.uploadRequest(w, r)
	if !ok {
		return
	}
	// The deadline stays on if the upload is refused before its end: it
	// bounds how long net/http then drains the body.
	body := newIdleReader(w, r.Body, s.config.IdleReadTimeout)
	file, part, ok := s.filePart(w, r, body, boundary)
	if !ok {
		return
	}
	defer part.Close()
	ctx := r.Context()
	// Watching before sending: no change of the upload can be missed, so
	// the wait needs to read nothing but what the store hands over.
	placement := s.deps.App.Queries.Upload.Watch(file.UploadID)
	// Not cancelled when the client's side of the connection ends: the body
	// tells of a client gone mid-way (its read fails), and an upload whose
	// body arrived whole is sent whole even if the client then half-closes.
	sent, err := s.deps.App.Commands.SendUpload.Handle(context.WithoutCancel(ctx), command.SendUpload{File: file,
		Body: &limitedReader{r: part, left: s.config.MaxUploadBytes, atEOF: body.stop}})
	// The body is read: from here on the client only waits for the answer.
	body.stop()
	if err != nil {
		s.deps.Metrics.UploadRejected()
		if body.timedOut {
			err = errIdle
		}
		placement.Stop()
		s.sendFailed(w, r, file.UploadID, err)
		return
	}
	s.deps.Metrics.UploadAccepted(sent.Size)
	s.deps.Log.InfoContext(ctx, "upload accepted", "upload_id", sent.UploadID, "size", sent.Size, "chunks", sent.Chunks, "sha256", sent.SHA256)
	s.answerUpload(w, r, sent.UploadID, placement, wait)
}

// uploadRequest checks what can be checked before the body is read: the
// content type, the announced length, ?wait= and whether uploads are
// accepted now. It answers the request itself when they fail.
func (s *Server) uploadRequest(w http.ResponseWriter, r *http.Request) (boundary string, wait time.Duration, ok bool) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err != nil || mediaType != "multipart/form-data":
		writeError(w, r, http.StatusUnsupportedMediaType, "the request must be multipart/form-data with the file in field \"file\"")
		return "", 0, false
	case params["boundary"] == "":
		writeError(w, r, http.StatusBadRequest, "the multipart/form-data Content-Type has no boundary")
		return "", 0, false
	}
	if r.ContentLength > s.config.MaxUploadBytes+multipartSlack {
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than the %d byte limit", s.config.MaxUploadBytes))
		return "", 0, false
	}
	if wait, err = s.waitFor(r); err != nil {
		writeError(w, r, http.StatusBadRequest, err.Error())
		return "", 0, false
	}
	if err := s.deps.Readiness.Accepting(r.Context()); err != nil {
		writeError(w, r, http.StatusServiceUnavailable, "not accepting uploads: "+err.Error())
		return "", 0, false
	}
	return params["boundary"], wait, true
}

// filePart reads the multipart body up to its "file" part and describes
// the upload it starts, with a new time-ordered id.
func (s *Server) filePart(w http.ResponseWriter, r *http.Request, body *idleReader, boundary string) (messages.File, *multipart.Part, bool) {
	// multipart reads through a 4 KiB buffer of its own: without a bigger
	// one below it, a large file costs a read system call per 4 KiB.
	part, status, err := fileOf(multipart.NewReader(bufio.NewReaderSize(body, bodyBufferSize), boundary))
	if err != nil {
		if body.timedOut {
			s.idleTimeout(w, r)
		} else {
			writeError(w, r, status, err.Error())
		}
		return messages.File{}, nil, false
	}
	name, err := fileName(part.FileName())
	if err != nil {
		part.Close()
		writeError(w, r, http.StatusBadRequest, err.Error())
		return messages.File{}, nil, false
	}
	id, err := uuid.NewV7()
	if err != nil {
		part.Close()
		writeError(w, r, http.StatusInternalServerError, "cannot make an upload id")
		return messages.File{}, nil, false
	}
	return messages.File{UploadID: id.String(), Name: name, ContentType: contentType(part.Header.Get("Content-Type"))}, part, true
}

// answerUpload waits up to wait for the upload's placement: 201 with the
// file once every keeper holds it, an error if it failed, 202 with the
// status URL if it is not settled by then.
func (s *Server) answerUpload(w http.ResponseWriter, r *http.Request, id string, placement *query.UploadWait, wait time.Duration) {
	ctx := r.Context()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	u, err := placement.Await(waitCtx)
	switch {
	case err == nil && u.State == domain.Placed:
		w.Header().Set("Location", "/data/"+u.ID)
		writeJSON(w, http.StatusCreated, newFileView(u.File()))
	case err == nil && u.State == domain.Failed:
		status := http.StatusInternalServerError
		if u.FailureReason == messages.ReasonStorageFull {
			status = http.StatusInsufficientStorage
		}
		writeErrorDetails(w, r, status, "the upload failed: "+u.FailureReason, newUploadView(u))
	default:
		// Accepted, not settled yet (or the database is slow to tell), or
		// the client stopped waiting: a client that half-closed its side of
		// the connection still reads, and an answer nobody reads costs
		// nothing. Returning without one would make net/http send an empty
		// 200.
		if u == nil {
			u = domain.NewUpload(id)
		}
		v := newUploadView(u)
		w.Header().Set("Location", v.StatusURL)
		writeJSON(w, http.StatusAccepted, v)
	}
}

// fileOf returns the "file" part, skipping (bounded) other fields before it.
func fileOf(mr *multipart.Reader) (*multipart.Part, int, error) {
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		switch {
		case errors.Is(err, io.EOF):
			return nil, http.StatusBadRequest, errors.New("the form has no \"file\" field")
		case err != nil:
			return nil, http.StatusBadRequest, fmt.Errorf("malformed multipart body: %v", err)
		case i >= maxParts:
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("more than %d form fields before \"file\"", maxParts)
		}
		if part.FormName() == "file" {
			return part, 0, nil
		}
		n, err := io.Copy(io.Discard, io.LimitReader(part, maxFieldSize+1))
		part.Close()
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("malformed multipart body: %v", err)
		}
		if n > maxFieldSize {
			return nil, http.StatusRequestEntityTooLarge, fmt.Errorf("form field %q is over %d bytes", truncate(part.FormName(), 64), maxFieldSize)
		}
	}
}

// fileName makes the client's name safe to keep and to show: valid UTF-8
// without control characters, and without directories, whether written
// with / or \ (Windows clients send C:\Users\...\name). It is never used
// in a path anyway: files are stored under their upload id.
func fileName(name string) (string, error) {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if name == "." || name == ".." {
		name = ""
	}
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if len(name) > messages.MaxNameBytes {
		return "", fmt.Errorf("the file name is %d bytes long; the limit is %d", len(name), messages.MaxNameBytes)
	}
	return name, nil
}

func contentType(s string) string {
	if s == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(s)
	if err != nil {
		return "application/octet-stream"
	}
	if out := mime.FormatMediaType(mt, params); out != "" && len(out) <= messages.MaxContentTypeBytes {
		return out
	}
	return "application/octet-stream"
}

// waitFor reads ?wait= (a Go duration like 5s, or seconds) with the default
// and cap of the configuration.
func (s *Server) waitFor(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("wait")
	if v == "" {
		return s.config.UploadWait, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		secs, serr := strconv.ParseFloat(v, 64)
		if serr != nil {
			return 0, fmt.Errorf("wait %q is not a duration (e.g. 10s) or a number of seconds", truncate(v, 32))
		}
		d = time.Duration(secs * float64(time.Second))
	}
	if d < 0 || d > s.config.MaxUploadWait {
		return 0, fmt.Errorf("wait must be between 0s and %s", s.config.MaxUploadWait)
	}
	return d, nil
}

// sendFailed answers an upload whose chunks did not all reach Kafka (the
// SendUpload use case tells the services to drop what did).
func (s *Server) sendFailed(w http.ResponseWriter, r *http.Request, id string, err error) {
	switch {
	case errors.Is(err, errIdle):
		s.idleTimeout(w, r)
	case errors.Is(err, errTooLarge):
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than the %d byte limit", s.config.MaxUploadBytes))
	case errors.Is(err, messages.ErrSend):
		s.deps.Log.ErrorContext(r.Context(), "upload failed: Kafka", "upload_id", id, "error", err)
		writeError(w, r, http.StatusServiceUnavailable, "Kafka is unavailable; nothing was stored, try again shortly")
	default:
		// The body failed or ended before the multipart form did (io.ErrUnexpectedEOF):
		// a body cut short, its client half-closed or gone. One still reading
		// gets its 400; one gone costs a failed write.
		if r.Context().Err() != nil {
			clientLeft(w)
		}
		writeError(w, r, http.StatusBadRequest, fmt.Sprintf("cannot read the file: %v", err))
	}
}

// limitedReader fails with errTooLarge once more than left bytes are read,
// and calls atEOF when the file ends.
type limitedReader struct {
	r     io.Reader
	left  int64
	atEOF func()
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	if err == io.EOF && l.atEOF != nil { //nolint:errorlint // io.EOF is returned unwrapped by contract
		l.atEOF()
	}
	return n, err
}

func (s *Server) idleTimeout(w http.ResponseWriter, r *http.Request) {
	s.deps.Log.InfoContext(r.Context(), "upload cut off: the body stalled", "idle_read_timeout", s.config.IdleReadTimeout.String())
	w.Header().Set("Connection", "close")
	writeError(w, r, http.StatusRequestTimeout, fmt.Sprintf("no data arrived for %s; the upload was dropped", s.config.IdleReadTimeout))
}

// idleReader reads a request body with a deadline that moves on with every
// read: a body that stalls for longer than idle fails, one that trickles
// steadily does not.
type idleReader struct {
	r        io.Reader
	rc       *http.ResponseController
	idle     time.Duration
	timedOut bool
	stopped  bool
}

func newIdleReader(w http.ResponseWriter, r io.Reader, idle time.Duration) *idleReader {
	return &idleReader{r: r, rc: http.NewResponseController(w), idle: idle}
}

func (b *idleReader) Read(p []byte) (int, error) {
	if b.timedOut {
		return 0, errIdle
	}
	if !b.stopped {
		// ErrNotSupported: not a real connection (tests with a recorder).
		if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		b.timedOut = true
		return n, errIdle
	}
	return n, err
}

// stop lifts the deadline once the body is read. The server keeps reading
// the connection in the background to notice a client that leaves; a
// deadline left behind would cancel the request while it waits for the
// placement.
func (b *idleReader) stop() {
	if !b.stopped && !b.timedOut {
		b.stopped = true
		b.rc.SetReadDeadline(time.Time{})
	}
}
