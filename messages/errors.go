package messages

import (
	"errors"
	"fmt"
)

// Errors of a Client. Each error a Client returns wraps at most one of them;
// test with errors.Is.
var (
	// ErrUploadFailed: the services gave the upload up; it is stored nowhere.
	// The error is an *UploadFailedError that says why.
	ErrUploadFailed = errors.New("upload failed")
	// ErrNotSettled: the upload was sent (every chunk acknowledged by Kafka)
	// but its placement was not seen before the context ended. The services
	// go on with it; GET /data/uploads/{id} tells how it ends.
	ErrNotSettled = errors.New("upload sent but not yet placed")
	// ErrNotConfirmed: a DeleteFile was sent but not every service named
	// confirmed it before the context ended. A service that does not hold
	// the file never answers.
	ErrNotConfirmed = errors.New("delete sent but not confirmed")
	// ErrNoEvents: the Client was made without an event subscriber, so it
	// can send but not wait.
	ErrNoEvents = errors.New("the client has no event subscriber")
	// ErrEventsStopped: the event subscription ended (its subscriber was
	// closed) while the client was waiting.
	ErrEventsStopped = errors.New("the event subscription ended")
	// ErrClientClosed: the Client was closed.
	ErrClientClosed = errors.New("client closed")
)

// UploadFailedError is the UploadFailed event that ended an upload.
type UploadFailedError struct{ Event UploadFailed }

func (e *UploadFailedError) Error() string {
	msg := fmt.Sprintf("upload %s failed: %s (reported by %s)", e.Event.UploadID, e.Event.Reason, e.Event.Service)
	if e.Event.Detail != "" {
		msg += ": " + e.Event.Detail
	}
	return msg
}

// Is makes errors.Is(err, ErrUploadFailed) true.
func (e *UploadFailedError) Is(target error) bool { return target == ErrUploadFailed }
