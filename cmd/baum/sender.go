package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"time"

	"github.com/google/uuid"

	"github.com/baum-store/baum/messages"
	"github.com/baum-store/baum/messages/kafkaclient"
)

// The states a file can end a send in.
const (
	stateStored = "stored" // every keeper holds it
	stateSent   = "sent"   // every chunk reached Kafka; the placement was not awaited or not seen in time
	stateFailed = "failed" // the services gave it up
	stateError  = "error"  // it could not be sent
)

// sendResult is one file's outcome; with --json, one line of output.
type sendResult struct {
	File     string             `json:"file"`
	Name     string             `json:"name"`
	ID       string             `json:"id,omitempty"`
	State    string             `json:"state"`
	Size     *int64             `json:"size,omitempty"`
	SHA256   string             `json:"sha256,omitempty"`
	ZeroBits *uint64            `json:"zero_bits,omitempty"`
	OneBits  *uint64            `json:"one_bits,omitempty"`
	StoredIn []messages.Service `json:"stored_in"`
	Reason   string             `json:"reason,omitempty"` // why the services gave it up
	Error    string             `json:"error,omitempty"`
	err      error
}

func (r sendResult) human() string {
	where := "-"
	switch r.State {
	case stateStored:
		where = joinServices(r.StoredIn)
	case stateFailed:
		where = r.Reason
	}
	size := "?"
	if r.Size != nil {
		size = humanBytes(*r.Size)
	}
	return fmt.Sprintf("%-6s  %-10s  %10s  %s  %s", r.State, where, size, r.ID, r.Name)
}

// sender sends the files of one baum send, each on its own.
type sender struct {
	client      *kafkaclient.Client
	wait        time.Duration
	contentType string
	stdin       io.Reader
	bar         *progress
}

// send sends one file and, with --wait, waits for its placement.
func (s *sender) send(ctx context.Context, in input) sendResult {
	r := sendResult{File: in.path, Name: in.name, State: stateError, StoredIn: []messages.Service{}}
	var src io.Reader = s.stdin
	if !in.stdin {
		f, err := os.Open(in.path)
		if err != nil {
			return r.failed(err)
		}
		defer f.Close()
		src = f
	}
	body := bufio.NewReaderSize(s.bar.Reader(src), 64<<10)
	ct := s.contentType
	if ct == "" {
		ct = detectContentType(in.name, body)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return r.failed(err)
	}
	r.ID = id.String()
	file := messages.File{UploadID: r.ID, Name: in.name, ContentType: ct}

	var watch *messages.UploadWatch
	if s.wait > 0 {
		// Before the first chunk, so that no event of the upload is missed.
		if watch, err = s.client.WatchUpload(ctx, r.ID); err != nil {
			return r.failed(err)
		}
		defer watch.Stop()
	}
	sent, err := s.client.Send(ctx, file, body)
	if err != nil {
		return r.failed(err)
	}
	r.State, r.Size, r.SHA256 = stateSent, &sent.Size, sent.SHA256
	if watch == nil {
		return r
	}
	return s.await(ctx, watch, r)
}

// await waits up to --wait for the placement of r, a file sent, and returns
// r with the outcome.
func (s *sender) await(ctx context.Context, watch *messages.UploadWatch, r sendResult) sendResult {
	waitCtx, cancel := context.WithTimeout(ctx, s.wait)
	defer cancel()
	p, err := watch.Wait(waitCtx)
	if p.Keepers != nil {
		r.ZeroBits, r.OneBits = &p.ZeroBits, &p.OneBits
	}
	var failed *messages.UploadFailedError
	switch {
	case err == nil:
		r.State, r.StoredIn = stateStored, p.StoredIn
		return r
	case errors.As(err, &failed):
		r.State, r.Reason = stateFailed, failed.Event.Reason
	case errors.Is(err, messages.ErrNotSettled) && ctx.Err() == nil:
		err = fmt.Errorf("%w within --wait %s (GET /data/uploads/%s tells how it ends): %s", messages.ErrNotSettled, s.wait, r.ID, progressOf(p))
	}
	return r.failed(err)
}

// failed returns r with err as its error.
func (r sendResult) failed(err error) sendResult {
	r.err, r.Error = err, err.Error()
	return r
}

func progressOf(p messages.Placement) string {
	switch {
	case p.Keepers != nil:
		return fmt.Sprintf("placed in %s, stored in %s so far", joinServices(p.Keepers), or(joinServices(p.StoredIn), "none"))
	}
	return "not counted by both services yet"
}

// detectContentType names a file's media type: from its name's extension,
// else from its first bytes (without consuming them).
func detectContentType(name string, r *bufio.Reader) string {
	if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
		return ct
	}
	head, _ := r.Peek(512) // a read error shows again when the send reads
	return http.DetectContentType(head)
}
