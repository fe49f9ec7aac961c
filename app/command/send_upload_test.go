package command_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/baum-store/baum/app/command"
	"github.com/baum-store/baum/messages"
)

// flakySender fails every Send, and fails Abort until abortAfter attempts.
type flakySender struct {
	mu         sync.Mutex
	abortAfter int // attempts that fail before one gets through; -1: never
	aborts     []string
	attempts   int
	done       chan struct{}
}

func (s *flakySender) Send(ctx context.Context, f messages.File, r io.Reader) (messages.Sent, error) {
	io.Copy(io.Discard, r)
	return messages.Sent{}, errors.New("broker down")
}

func (s *flakySender) AbortRetrying(ctx context.Context, id, reason string, onRetry func(int, error, time.Duration)) (int, error) {
	defer close(s.done)
	for {
		s.mu.Lock()
		s.attempts++
		n := s.attempts
		ok := s.abortAfter >= 0 && n > s.abortAfter
		if ok {
			s.aborts = append(s.aborts, id+": "+reason)
		}
		s.mu.Unlock()
		if ok {
			return n, nil
		}
		onRetry(n, errors.New("still down"), time.Millisecond)
		select {
		case <-ctx.Done():
			return n, ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

func TestAFailedSendIsAbortedInTheBackground(t *testing.T) {
	sender := &flakySender{abortAfter: 2, done: make(chan struct{})}
	h := command.NewSendUploadHandler(sender, time.Minute, nil)
	defer h.Close()
	id := newID()
	_, err := h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: id}, Body: strings.NewReader("abc")})
	if err == nil || !strings.Contains(err.Error(), "broker down") {
		t.Fatalf("Handle returned %v; want the sender's failure", err)
	}
	select {
	case <-sender.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the abort did not get through")
	}
	if len(sender.aborts) != 1 || sender.aborts[0] != id+": broker down" || sender.attempts != 3 {
		t.Errorf("aborts %v after %d attempts; want one for %s after 3", sender.aborts, sender.attempts, id)
	}
}

func TestAbortsGiveUpAfterThePatienceOrWhenTheServiceStops(t *testing.T) {
	sender := &flakySender{abortAfter: -1, done: make(chan struct{})}
	h := command.NewSendUploadHandler(sender, 20*time.Millisecond, nil)
	h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: newID()}, Body: strings.NewReader("")})
	select {
	case <-sender.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the abort outlived its patience")
	}
	h.Close()

	sender = &flakySender{abortAfter: -1, done: make(chan struct{})}
	h = command.NewSendUploadHandler(sender, time.Hour, nil)
	h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: newID()}, Body: strings.NewReader("")})
	closed := make(chan struct{})
	go func() { h.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for an abort that would retry for an hour")
	}
	if len(sender.aborts) != 0 {
		t.Errorf("aborts %v got through a broker that never came back", sender.aborts)
	}
}

// journal is a SendJournal in memory.
type journal struct {
	mu   sync.Mutex
	in   map[string]bool
	left []string
}

func newJournal(left ...string) *journal {
	j := &journal{in: map[string]bool{}, left: left}
	for _, id := range left {
		j.in[id] = true
	}
	return j
}

func (j *journal) Begin(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.in[id] = true
	return nil
}
func (j *journal) End(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.in, id)
	return nil
}
func (j *journal) Left() []string     { return j.left }
func (j *journal) has(id string) bool { j.mu.Lock(); defer j.mu.Unlock(); return j.in[id] }

// goodSender sends every upload whole, and sees whether the journal holds
// it while it does.
type goodSender struct {
	journal *journal
	held    bool
}

func (s *goodSender) Send(_ context.Context, f messages.File, r io.Reader) (messages.Sent, error) {
	io.Copy(io.Discard, r)
	s.held = s.journal.has(f.UploadID)
	return messages.Sent{UploadID: f.UploadID}, nil
}

func (s *goodSender) AbortRetrying(context.Context, string, string, func(int, error, time.Duration)) (int, error) {
	return 0, errors.New("nothing to abort")
}

// An upload is in the journal from before its first chunk until it was sent
// whole or its abort got through; one whose abort never got through stays,
// for the next start.
func TestTheJournalHoldsAnUploadUntilItIsSentOrAborted(t *testing.T) {
	j := newJournal()
	good := &goodSender{journal: j}
	h := command.NewSendUploadHandler(good, time.Minute, nil, command.WithJournal(j))
	id := newID()
	if _, err := h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: id}, Body: strings.NewReader("abc")}); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if !good.held || j.has(id) {
		t.Errorf("sent whole: in the journal while sent %v, after %v; want true, false", good.held, j.has(id))
	}

	aborted := &flakySender{abortAfter: 1, done: make(chan struct{})}
	h = command.NewSendUploadHandler(aborted, time.Minute, nil, command.WithJournal(j))
	id = newID()
	h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: id}, Body: strings.NewReader("abc")})
	<-aborted.done
	h.Close()
	if j.has(id) {
		t.Error("aborted: still in the journal")
	}

	never := &flakySender{abortAfter: -1, done: make(chan struct{})}
	h = command.NewSendUploadHandler(never, time.Hour, nil, command.WithJournal(j))
	id = newID()
	h.Handle(t.Context(), command.SendUpload{File: messages.File{UploadID: id}, Body: strings.NewReader("abc")})
	h.Close()
	if !j.has(id) {
		t.Error("never aborted: not in the journal any more, so the next start cannot abort it")
	}
}

// At start, the uploads an earlier run left in the journal are aborted: the
// process that sent them is gone.
func TestUploadsLeftInTheJournalAreAborted(t *testing.T) {
	a, b := newID(), newID()
	j := newJournal(a, b)
	sender := &recordingSender{}
	h := command.NewSendUploadHandler(sender, time.Minute, nil, command.WithJournal(j))
	if n := h.AbortLeft(); n != 2 {
		t.Errorf("AbortLeft reports %d, want 2", n)
	}
	h.Close()
	got := sender.aborted()
	if len(got) != 2 || !slices.Contains(got, a+": "+command.ReasonSenderDied) || !slices.Contains(got, b+": "+command.ReasonSenderDied) {
		t.Errorf("aborts %v; want %s and %s, for their sender died", got, a, b)
	}
	if j.has(a) || j.has(b) {
		t.Error("aborted uploads are still in the journal")
	}
}

type recordingSender struct {
	goodSender
	mu     sync.Mutex
	aborts []string
}

func (s *recordingSender) AbortRetrying(_ context.Context, id, reason string, _ func(int, error, time.Duration)) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.aborts = append(s.aborts, id+": "+reason)
	return 1, nil
}

func (s *recordingSender) aborted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.aborts)
}
