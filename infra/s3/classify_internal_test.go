package s3

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/baum-store/baum/app/domain"
)

// A server out of space says so in one of a few ways; the rest of what a
// server answers may pass, and a context's end is not an outage.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want error
	}{
		{minio.ErrorResponse{Code: "XMinioStorageFull", StatusCode: http.StatusInsufficientStorage}, domain.ErrStorageFull},
		{fmt.Errorf("put: %w", minio.ErrorResponse{Code: "QuotaExceeded", StatusCode: http.StatusForbidden}), domain.ErrStorageFull},
		{minio.ErrorResponse{Code: "InternalError", StatusCode: http.StatusInternalServerError}, domain.ErrUnavailable},
		{minio.ErrorResponse{Code: "AccessDenied", StatusCode: http.StatusForbidden}, domain.ErrUnavailable},
		{errors.New("dial tcp: connection refused"), domain.ErrUnavailable},
	} {
		if got := classify(context.Background(), c.err, "store x"); !errors.Is(got, c.want) {
			t.Errorf("classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := classify(ctx, fmt.Errorf("get: %w", context.Canceled), "read x")
	if !errors.Is(got, context.Canceled) || errors.Is(got, domain.ErrUnavailable) {
		t.Errorf("a canceled request: %v", got)
	}
	// The client's own timeout (a server that hangs) matches
	// DeadlineExceeded, but the caller's context is alive: an outage.
	timeout := fmt.Errorf("get: %w", &url.Error{Op: "Get", URL: "http://s3", Err: context.DeadlineExceeded})
	if got := classify(context.Background(), timeout, "read x"); !errors.Is(got, domain.ErrUnavailable) {
		t.Errorf("a request the client timed out: %v, want ErrUnavailable", got)
	}
	if classify(context.Background(), nil, "x") != nil {
		t.Error("classify(nil) is not nil")
	}
}
