package command_test

import (
	"context"
	"errors"
	"io"
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
