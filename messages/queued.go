package messages

import "context"

type queuedKey struct{}

// WithQueuedNotice returns ctx carrying fn. A Sender sends each chunk with
// such a context, so that a publisher able to pipeline can tell it when the
// chunk holds its place in line: from then on the publisher delivers it to
// Kafka in order, before anything queued later for the same partition key,
// and reports its fate when Send returns. The Sender then reads, hashes and
// queues the next chunk while this one is on its way.
//
// A publisher that calls NotifyQueued must keep that promise of order
// (infra/kafka's does: one ordered input, an idempotent producer with one
// request in flight). Any other publisher simply never calls it, and the
// Sender waits for each Send to return, one chunk at a time.
func WithQueuedNotice(ctx context.Context, fn func()) context.Context {
	return context.WithValue(ctx, queuedKey{}, fn)
}

// NotifyQueued calls the function WithQueuedNotice put into ctx, if any.
// A publisher calls it with the context of a message it has queued in order,
// before it waits for the broker's acknowledgement.
func NotifyQueued(ctx context.Context) {
	if fn, ok := ctx.Value(queuedKey{}).(func()); ok && fn != nil {
		fn()
	}
}
