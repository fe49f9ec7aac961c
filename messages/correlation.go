package messages

import "context"

type correlationKey struct{}

// WithCorrelationID returns ctx carrying a correlation id. Messages sent with
// such a context (through a bus configured by this module) carry it in the
// correlation_id header, and every log line written with it names it.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationIDFromContext returns the correlation id carried by ctx, or "".
func CorrelationIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}
