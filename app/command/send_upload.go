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

// SendJournal records the uploads this process is sending, where a process
// killed in the middle of some finds them at its next start: a sender that
// is gone is known, and its upload can be aborted at once instead of at the
// stalled-upload sweep.
type SendJournal interface {
	// Begin records that the upload is being sent, before its first chunk.
	Begin(id string) error
	// End forgets it: it was sent whole, or its abort got through.
	End(id string) error
	// Left lists the uploads begun and never ended before this journal was
	// opened: by processes that died.
	Left() []string
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
	journal  SendJournal // nil: none

	stopping   context.Context
	stop       context.CancelFunc
	background sync.WaitGroup
}

// SendUploadOption configures a SendUploadHandler.
type SendUploadOption func(*SendUploadHandler)

// WithJournal records the uploads being sent in journal (nil: nowhere).
func WithJournal(journal SendJournal) SendUploadOption {
	return func(h *SendUploadHandler) { h.journal = journal }
}

// NewSendUploadHandler returns a SendUploadHandler that aborts for up to
// patience (0: DefaultAbortPatience); log may be nil. Close it.
func NewSendUploadHandler(sender UploadSender, patience time.Duration, log *slog.Logger, opts ...SendUploadOption) *SendUploadHandler {
	if patience == 0 {
		patience = DefaultAbortPatience
	}
	h := &SendUploadHandler{sender: sender, patience: patience, log: newObservers(nil, log).log}
	for _, opt := range opts {
		opt(h)
	}
	h.stopping, h.stop = context.WithCancel(context.Background())
	return h
}

// Handle sends the upload. It returns once Kafka acknowledged every chunk
// (from then on the upload is the services'), or with the failure of the
// body's reader (unwrapped) or of the bus (wrapping messages.ErrSend).
// With a journal, the upload is in it from before its first chunk until it
// was sent whole or its abort got through.
func (h *SendUploadHandler) Handle(ctx context.Context, c SendUpload) (messages.Sent, error) {
	id := c.File.UploadID
	journaled := h.journal != nil && id != ""
	if journaled {
		if err := h.journal.Begin(id); err != nil {
			journaled = false
			h.log.WarnContext(ctx, "cannot journal the upload; if this process dies while sending it, the stalled-upload sweep drops it", "upload_id", id, "error", err)
		}
	}
	sent, err := h.sender.Send(ctx, c.File, c.Body)
	switch {
	case err != nil:
		h.abort(messages.WithCorrelationID(h.stopping, messages.CorrelationIDFromContext(ctx)), id, err.Error(), journaled)
	case journaled:
		h.end(ctx, id)
	}
	return sent, err
}

// AbortLeft aborts, in the background, the uploads the journal holds from
// processes that died while sending them: their senders are gone.
func (h *SendUploadHandler) AbortLeft() int {
	if h.journal == nil {
		return 0
	}
	left := h.journal.Left()
	for _, id := range left {
		ctx := messages.WithCorrelationID(h.stopping, id)
		h.log.InfoContext(ctx, "aborting an upload whose sender died with an earlier run", "upload_id", id)
		h.abort(ctx, id, ReasonSenderDied, true)
	}
	return len(left)
}

// ReasonSenderDied is the detail of the abort of an upload whose sending
// process died before it was sent whole.
const ReasonSenderDied = "the service that received the upload stopped before it was sent whole"

func (h *SendUploadHandler) end(ctx context.Context, id string) {
	if err := h.journal.End(id); err != nil {
		h.log.ErrorContext(ctx, "cannot take the upload out of the journal; the next start aborts it", "upload_id", id, "error", err)
	}
}

// abort tells the services, in the background, to drop what they staged of
// an upload that failed, and takes it out of the journal once they were
// told (journaled). If it gives up, the upload stays in the journal, for the
// next start to abort.
func (h *SendUploadHandler) abort(ctx context.Context, id, reason string, journaled bool) {
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
			h.log.WarnContext(ctx, "gave up aborting upload; the next start or the stalled-upload sweep will drop it", "upload_id", id, "error", err)
			return
		case attempts > 1:
			h.log.InfoContext(ctx, "upload aborted", "upload_id", id, "attempts", attempts)
		}
		if journaled {
			h.end(ctx, id)
		}
	}()
}

// Close ends the aborts still retrying and waits for them.
func (h *SendUploadHandler) Close() {
	h.stop()
	h.background.Wait()
}
