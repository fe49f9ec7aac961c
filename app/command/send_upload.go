package command

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/baum-store/baum/messages"
)

// UploadSender streams a file as ordered StoreChunk commands and, when that
// fails half-way, asks the services to drop what they got; *messages.Sender
// is one.
type UploadSender interface {
	Send(ctx context.Context, f messages.File, r io.Reader) (messages.Sent, error)
	AbortRetrying(ctx context.Context, uploadID, reason string, onRetry func(attempt int, err error, wait time.Duration)) (int, error)
}

// SendUpload is a file a client hands this service: its description and
// its bytes, read to their end.
type SendUpload struct {
	File messages.File
	Body io.Reader
}

// DefaultAbortPatience is how long a service keeps trying to abort an upload
// whose chunks did not all reach Kafka (by messages' abort policy). After
// that, or if the service stops, the stalled-upload sweep drops it.
const DefaultAbortPatience = 5 * time.Minute

// SendUploadHandler sends an upload's chunks onto the command bus. If that
// fails, it aborts the upload in the background, so the client hears of
// the failure at once while the abort rides out the outage that caused it.
type SendUploadHandler struct {
	sender   UploadSender
	patience time.Duration
	log      *slog.Logger

	stopping   context.Context
	stop       context.CancelFunc
	background sync.WaitGroup
}

// NewSendUploadHandler returns a SendUploadHandler that aborts for up to
// patience (0: DefaultAbortPatience); log may be nil. Close it.
func NewSendUploadHandler(sender UploadSender, patience time.Duration, log *slog.Logger) *SendUploadHandler {
	if patience == 0 {
		patience = DefaultAbortPatience
	}
	h := &SendUploadHandler{sender: sender, patience: patience, log: newObservers(nil, log).log}
	h.stopping, h.stop = context.WithCancel(context.Background())
	return h
}

// Handle sends the upload. It returns once Kafka acknowledged every chunk
// (from then on the upload is the services'), or with the failure of the
// body's reader (unwrapped) or of the bus (wrapping messages.ErrSend).
func (h *SendUploadHandler) Handle(ctx context.Context, c SendUpload) (messages.Sent, error) {
	sent, err := h.sender.Send(ctx, c.File, c.Body)
	if err != nil {
		h.abort(messages.WithCorrelationID(h.stopping, messages.CorrelationIDFromContext(ctx)), c.File.UploadID, err.Error())
	}
	return sent, err
}

// abort tells the services, in the background, to drop what they staged of
// an upload that failed.
func (h *SendUploadHandler) abort(ctx context.Context, id, reason string) {
	h.background.Add(1)
	go func() {
		defer h.background.Done()
		ctx, cancel := context.WithTimeout(ctx, h.patience)
		defer cancel()
		attempts, err := h.sender.AbortRetrying(ctx, id, reason, func(attempt int, err error, _ time.Duration) {
			if attempt == 1 {
				h.log.WarnContext(ctx, "cannot abort upload yet; retrying", "upload_id", id, "error", err)
			}
		})
		switch {
		case err != nil:
			h.log.WarnContext(ctx, "gave up aborting upload; the stalled-upload sweep will drop it", "upload_id", id, "error", err)
		case attempts > 1:
			h.log.InfoContext(ctx, "upload aborted", "upload_id", id, "attempts", attempts)
		}
	}()
}

// Close ends the aborts still retrying and waits for them.
func (h *SendUploadHandler) Close() {
	h.stop()
	h.background.Wait()
}
